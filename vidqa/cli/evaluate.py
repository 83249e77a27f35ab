"""`vidqa eval`: needle-in-a-haystack sweeps and multiple-choice benchmarks, each through a
`Pipeline` (the settings and model of the command), with `--fail-under` exiting 3."""

from __future__ import annotations

import json
import sys

import click

from vidqa.cli.commands import SCOPE_HELP, cli
from vidqa.cli.options import (VideoCommand, call, fail, index_options, ingest_options,
                               model_options, pipeline, settings, with_flags)
from vidqa.config import Config, setting_help
from vidqa.scopes import SCOPES


def fail_below(fail_under: float | None, scores: dict[str, float]) -> None:
    """`--fail-under`: exit with status 3, naming them, when any of `scores` (fractions) is
    below it (given as a fraction up to 1, or a percentage above 1)."""
    if fail_under is None:
        return
    threshold = fail_under / 100 if fail_under > 1 else fail_under
    low = {name: value for name, value in scores.items() if value < threshold}
    if low:
        fail(", ".join(f"{name} {value:.1%}" for name, value in low.items())
             + f" is below --fail-under {threshold:.1%}")
        sys.exit(3)


@cli.group(name="eval")
def eval_group() -> None:
    """Measure vidqa on videos with known answers."""


def _needle_help(name: str) -> str:
    return setting_help("needle", name)


@eval_group.command(name="needle", cls=VideoCommand)
@click.argument("videos", nargs=-1, type=click.Path())
@click.option("--sweep", "sweep_path", type=click.Path(dir_okay=False),
              help="YAML with the grid (configs/needle-standard.yaml is the standard sweep); "
                   "the options below override it")
@click.option("--lengths", help=_needle_help("lengths_min"))
@click.option("--depths", help=_needle_help("depths"))
@click.option("--needles", "needle_set", help=_needle_help("needles"))
@click.option("--selectors", help=_needle_help("selectors"))
@click.option("--mode", type=click.Choice(["find", "ask"]), help=_needle_help("mode"))
@click.option("--scope", type=click.Choice(list(SCOPES)), help=_needle_help("scope"))
@click.option("--seed", type=int, help=_needle_help("seed"))
@click.option("--top-k", type=click.IntRange(1, 100), help=_needle_help("top_k"))
@click.option("--tolerance", type=click.FloatRange(0, 60), help=_needle_help("tolerance_s"))
@click.option("--sound-only", is_flag=True, default=None, help=_needle_help("sound_only"))
@click.option("-o", "--out", "out_dir", default="needle-eval", show_default=True,
              type=click.Path(file_okay=False), help="folder for results.jsonl and heatmap.png; "
              "a re-run there skips finished cells")
@click.option("--fail-under", type=click.FloatRange(0, 100),
              help="exit with status 3 when a selector's recall@1 (ask: accuracy) is below "
                   "this: a fraction up to 1 (0.95), or a percentage above 1 (95)")
@click.option("--keep-videos", is_flag=True, help="keep each cell's video and work files")
@click.option("--json", "as_json", is_flag=True, help="the summary as one JSON document")
@index_options
@model_options
@ingest_options
@click.pass_context
def eval_needle(ctx: click.Context, videos: tuple[str, ...], sweep_path: str | None,
                lengths: str | None, depths: str | None, needle_set: str | None,
                selectors: str | None, mode: str | None, scope: str | None, seed: int | None,
                top_k: int | None,
                tolerance: float | None, sound_only: bool | None, out_dir: str,
                fail_under: float | None,
                keep_videos: bool, as_json: bool, **options) -> None:
    """Needle-in-a-haystack: hide needles at a grid of depths in haystacks of several lengths
    (made from VIDEOS, looped as needed, or generated), find them (or ask about them), and
    compare vidqa's key frames with uniform 2 fps sampling. Writes OUT/results.jsonl (one line
    per cell), OUT/heatmap.png, and a summary table."""
    from vidqa.evaluation.needle import cell_count, format_table, load_sweep, needle_eval

    for name, value in (("--lengths", lengths), ("--depths", depths), ("--needles", needle_set),
                        ("--selectors", selectors)):
        # An empty option is an error, never the default.
        if value is not None and not value.strip():
            raise click.BadParameter("is empty; give a value or leave the option out",
                                     param_hint=f"'{name}'")
    config = settings(ctx, options)
    sweep = call(load_sweep, sweep_path, config.needle) if sweep_path else config.needle
    flags = {"lengths_min": lengths, "depths": depths, "needles": needle_set,
             "selectors": selectors, "mode": mode, "scope": scope, "seed": seed,
             "top_k": top_k,
             "tolerance_s": tolerance, "sound_only": sound_only or None,
             "videos": list(videos) or None}
    sweep = call(lambda: with_flags(Config(needle=sweep), "needle", flags).needle.validated())
    # A model named by -m in find mode captions the chunks, so needles without text can be
    # found (as before: $VIDQA_MODEL and the config file name the model, not the mode).
    pipe = pipeline(ctx, options, config=config,
                    load_model=sweep.mode == "ask" or bool(options.get("model__model")))
    with pipe.progress("needle cells", cell_count(sweep), "cell") as advance:
        report = call(needle_eval, sweep, out_dir, pipe, keep_videos=keep_videos,
                      on_cell=lambda _record, _skipped: advance(1),
                      on_status=lambda text: click.echo(text, err=True))
    scores = {s: report.score(s) for s in sweep.selectors}
    if as_json:
        click.echo(json.dumps({"results": str(report.results_path),
                               "heatmap": str(report.heatmap_path), "metric": report.metric_name,
                               "scores": scores, "rows": report.rows, "ran": report.ran,
                               "skipped": report.skipped}, indent=1))
    else:
        click.echo(format_table(report.rows, sweep))
        click.echo(f"\n{report.ran} cells run, {report.skipped} done before; results in "
                   f"{report.results_path}, heatmap in {report.heatmap_path}")
    fail_below(fail_under, {f"{s} {report.metric_name}": v for s, v in scores.items()
                            if v is not None})


@eval_group.command(name="mcq", cls=VideoCommand)
@click.argument("questions", type=click.Path())
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "videomme", "lvbench", "longvideobench", "mlvu",
                                 "egoschema", "jsonl"]),
              help="the annotation file's benchmark (auto: from its name)")
@click.option("--videos", "videos_dir", required=True, type=click.Path(),
              help="folder holding the benchmark's videos (found by id, anywhere below)")
@click.option("--scope", type=click.Choice(list(SCOPES)), default="chunks", show_default=True,
              help=f"what the model sees (as `vidqa ask --scope`): {SCOPE_HELP}")
@click.option("--with-subtitles", is_flag=True,
              help="what is said, among the frames by time: the file's subtitles (a stream or "
                   "a .srt beside it) or vidqa's speech recognition (else speech is off)")
@click.option("--subtitles", "subtitles_dir", type=click.Path(file_okay=False),
              help="the benchmark's subtitle folder (Video-MME's subtitle/): <id>.srt there is "
                   "read for each video (implies --with-subtitles)")
@click.option("--limit", type=click.IntRange(1), help="answer only the first N questions "
              "(a smoke run)")
@click.option("-o", "--out", "out_dir", default="mcq-eval", show_default=True,
              type=click.Path(file_okay=False),
              help="folder for results.jsonl; a re-run there skips answered questions")
@click.option("--fail-under", type=click.FloatRange(0, 100),
              help="exit with status 3 when the overall accuracy is below this: a fraction "
                   "up to 1 (0.6), or a percentage above 1 (60)")
@click.option("--json", "as_json", is_flag=True, help="the summary as one JSON document")
@index_options
@model_options
@ingest_options
@click.pass_context
def eval_mcq(ctx: click.Context, questions: str, fmt: str, videos_dir: str, scope: str,
             with_subtitles: bool, subtitles_dir: str | None, limit: int | None, out_dir: str,
             fail_under: float | None, as_json: bool, **options) -> None:
    """Multiple-choice benchmarks (Video-MME, LVBench, LongVideoBench, MLVU, EgoSchema, or a
    plain JSONL) on a local copy: each question with its options goes to the model through the
    pipeline, the letter is read from the reply (the reply is kept), and every budget (scope,
    fps, frame size, frames and visual tokens sent, context, model, subtitles) is written with
    every result. Decoding is greedy unless the config file sets model.temperature."""
    from pathlib import Path

    from vidqa.evaluation.benchmarks import load_questions
    from vidqa.evaluation.mcq import VideoFiles, format_table, mcq_eval

    items = call(load_questions, questions, fmt, limit=limit)
    files = call(VideoFiles, videos_dir)
    if subtitles_dir:
        with_subtitles = True
        options["speech__subtitles_dir"] = str(Path(subtitles_dir).resolve())
    if not with_subtitles and options.get("speech__mode") is None:
        options["speech__mode"] = "off"
    pipe = pipeline(ctx, options, load_model=True)
    total = min(len(items), limit) if limit else len(items)
    with pipe.progress("questions", total, "question") as advance:
        report = call(mcq_eval, items, files, out_dir, pipeline=pipe, scope=scope,
                      subtitles=with_subtitles, limit=limit,
                      on_question=lambda _record, _q: advance(1))
    overall = report.accuracy().get("all", (0.0, 0))
    if as_json:
        click.echo(json.dumps({"results": str(report.results_path), "accuracy": overall[0],
                               "questions": overall[1], "ran": report.ran,
                               "skipped": report.skipped, "missing_videos": report.missing,
                               "refused": report.refused,
                               "by_task": report.accuracy("task"),
                               "by_duration": report.accuracy("duration")}, indent=1))
    else:
        click.echo(format_table(report))
        click.echo(f"\n{report.ran} answered now, {report.skipped} before; results in "
                   f"{report.results_path}")
    if report.missing:
        click.echo(f"warning: no file for {len(report.missing)} videos under {videos_dir} "
                   f"(e.g. {report.missing[0]}); their questions were left out", err=True)
    for line in report.refused:
        click.echo(f"warning: {line}", err=True)
    fail_below(fail_under, {"accuracy": overall[0] if overall[1] else 0.0})
