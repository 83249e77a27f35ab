"""The `vidqa` command line: click commands only, the work happens in the library."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import traceback
from pathlib import Path

import click

from vidqa import __version__
from vidqa.config import Config, cache_dir, config_file, load_config, setting_help
from vidqa.errors import VidqaError, printable
from vidqa.timecode import format_hms


def _fail(message: str) -> None:
    click.echo(f"Error: {printable(message)}", err=True)


class VideoCommand(click.Command):
    """A command whose arguments are file names: an existing file whose name starts with '-'
    is taken as a file, not as an unknown option (e.g. `vidqa ingest -clip.mp4`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        known = {name for p in self.get_params(ctx) for name in (*p.opts, *p.secondary_opts)}
        fixed, literal = [], False
        for arg in args:
            literal = literal or arg == "--"
            if (not literal and arg.startswith("-") and arg != "-"
                    and arg.split("=", 1)[0] not in known and os.path.isfile(arg)):
                arg = os.path.join(".", arg)
            fixed.append(arg)
        return super().parse_args(ctx, fixed)


def _run(func, *args, **kwargs):
    """Call into the library; a VidqaError becomes one line on stderr and exit status 1."""
    try:
        return func(*args, **kwargs)
    except VidqaError as exc:
        _fail(str(exc))
        sys.exit(exc.exit_code)


def _config(ctx: click.Context) -> Config:
    return _run(load_config, ctx.obj.get("config_path"))


def _progress(ctx: click.Context, total: float | None, desc: str):
    from tqdm import tqdm

    disable = ctx.obj.get("quiet") or not sys.stderr.isatty()
    bar = tqdm(total=round(total, 1) if total else None, unit="s", desc=desc, disable=disable,
               leave=False, file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| "
               "{n:.0f}/{total:.0f} s of video [{elapsed}<{remaining}]" if total else None)
    state = {"last": 0.0}

    def update(pts_s: float) -> None:
        step = round(pts_s - state["last"], 3)
        if step > 0:
            bar.update(step)
            state["last"] = pts_s

    return bar, update


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidqa")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="settings file (YAML, see configs/default.yaml) [default: the user's config "
                   "file, when it exists]")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, quiet: bool) -> None:
    """Ask questions about hour-long recordings; answers pinned to the second.

    Times are printed as HH:MM:SS.mmm, seconds since the start of the file as a player shows it.
    """
    ctx.ensure_object(dict)
    ctx.obj.update(config_path=config_path, quiet=quiet)


@cli.command(cls=VideoCommand)
@click.argument("video", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
def inspect(video: str, as_json: bool) -> None:
    """Duration, frame rates, displayed size, codec and streams of VIDEO."""
    from vidqa.probe import probe

    info = _run(probe, video)
    if as_json:
        click.echo(json.dumps(info.to_dict(), indent=2))
        return
    duration = format_hms(info.duration_s) if info.duration_s else "unknown (not in the container)"
    rate = lambda v: f"{v:.3f}".rstrip("0").rstrip(".") if v else "unknown"  # noqa: E731
    rotation = f", rotated {info.rotation_deg} deg" if info.rotation_deg else ""
    lines = [
        f"file:        {info.path} ({info.size_bytes / 2**20:.1f} MiB, {info.container})",
        f"duration:    {duration}" + (f" (container starts at {info.start_offset_s:g} s; "
                                      "times count from there)" if info.start_offset_s else ""),
        f"video:       stream {info.stream_index}, {info.codec}, {info.pix_fmt or '?'}",
        f"frame rate:  {rate(info.nominal_fps)} fps nominal, {rate(info.average_fps)} fps average"
        + (f", {info.frame_count} frames" if info.frame_count else ""),
        f"picture:     {info.display_width}x{info.display_height} displayed "
        f"(stored {info.coded_width}x{info.coded_height}, SAR {info.sample_aspect_ratio}{rotation})",
        "streams:",
    ]
    for s in info.streams:
        extra = f" {s.width}x{s.height}" if s.width else ""
        extra += f" [{s.language}]" if s.language and s.language != "und" else ""
        extra += " (cover art)" if s.attached_pic else ""
        mark = "  <- analysed" if s.index == info.stream_index else ""
        lines.append(f"  #{s.index} {s.kind}: {s.codec or '?'}{extra}{mark}")
    click.echo("\n".join(lines))


def _ingest_options(func):
    options = [
        click.option("--fps", type=float, help=setting_help("decode", "fps")),
        click.option("--max-pixels", "frame_max_pixels", type=int,
                     help=setting_help("decode", "frame_max_pixels")),
        click.option("--fast/--no-fast", default=None, help=setting_help("decode", "fast")),
        click.option("--detector", type=click.Choice(["content+adaptive", "content", "adaptive", "histogram", "hash"]),
                     help=setting_help("select", "detector")),
        click.option("--policy", type=click.Choice(["scenes", "uniform"]),
                     help=setting_help("select", "policy")),
        click.option("--threshold", type=float, help=setting_help("select", "threshold")),
        click.option("--min-scene", "min_scene_s", type=float,
                     help=setting_help("select", "min_scene_s")),
        click.option("--max-gap", "max_gap_s", type=float, help=setting_help("select", "max_gap_s")),
        click.option("--max-tokens", type=int, help=setting_help("chunk", "max_tokens")),
        click.option("--max-span", "max_span_s", type=float,
                     help=setting_help("chunk", "max_span_s")),
        click.option("--allow-errors", is_flag=True,
                     help="keep the frames of a truncated or corrupt file instead of failing"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(ctx: click.Context, o: dict) -> Config:
    config = _config(ctx)
    config = _run(config.replace, "decode", fps=o["fps"], frame_max_pixels=o["frame_max_pixels"],
                  fast=o["fast"])
    config = _run(config.replace, "select", policy=o["policy"], detector=o["detector"],
                  threshold=o["threshold"],
                  min_scene_s=o["min_scene_s"], max_gap_s=o["max_gap_s"])
    return _run(config.replace, "chunk", max_tokens=o["max_tokens"], max_span_s=o["max_span_s"])


def _ingest_one(ctx: click.Context, video: str, config: Config, allow_errors: bool):
    from vidqa.ingest import ingest
    from vidqa.probe import probe

    info = probe(video)
    bar, update = _progress(ctx, info.duration_s, printable(Path(video).name))
    try:
        return ingest(info, config, allow_errors=allow_errors, on_progress=update)
    finally:
        bar.close()


@cli.command(cls=VideoCommand)
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="one JSON document (a list, one per video)")
@_ingest_options
@click.pass_context
def ingest(ctx: click.Context, videos: tuple[str, ...], as_json: bool, **options) -> None:
    """Decode, pick key frames and chunk each VIDEO; results are cached.

    A batch goes on past a bad file and lists every failure at the end (exit status 1).
    """
    config = _settings(ctx, options)
    results, failures = [], []
    for video in videos:
        try:
            result = _ingest_one(ctx, video, config, options["allow_errors"])
        except VidqaError as exc:
            failures.append(str(exc))
            continue
        results.append(result)
        if not as_json:
            click.echo(_summary(result))
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=1))
    _report_failures(failures, len(videos))


def _summary(result) -> str:
    s, info = result.stats, result.video
    where = "from cache" if s.cached else f"decoded in {s.decode_s:.1f} s"
    lines = [
        f"{printable(info.path)}: {format_hms(s.end_s)}, {len(result.scenes)} scenes, "
        f"{s.keyframes} key frames of {s.frames_sampled} sampled at {result.config.decode.fps:g} fps",
        f"  visual tokens: {s.tokens_kept:,} against {s.tokens_uniform:,} for uniform "
        f"{result.config.decode.fps:g} fps ({s.token_reduction:.1%} fewer; {s.frame_width}x"
        f"{s.frame_height} frames, {s.tokens_per_frame} tokens each)",
        f"  chunks: {len(result.chunks)} (at most {result.config.chunk.max_tokens:,} tokens and "
        f"{result.config.chunk.max_span_s:g} s each)",
        f"  work dir: {result.workdir} ({where})",
    ]
    if result.decode_problem:
        lines.append(f"  warning: {result.decode_problem.split(';')[0]}")
    return "\n".join(lines)


@cli.command(cls=VideoCommand)
@click.argument("video", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row")
@_ingest_options
@click.pass_context
def scenes(ctx: click.Context, video: str, as_json: bool, as_csv: bool, **options) -> None:
    """The scenes (shots) of VIDEO with their start and end times."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    config = _settings(ctx, options)
    result = _run(_ingest_one, ctx, video, config, options["allow_errors"])
    counts: dict[int, int] = {}
    for kf in result.keyframes:
        counts[kf.scene_index] = counts.get(kf.scene_index, 0) + 1
    rows = [{"scene": s.index + 1, "start": format_hms(s.start_s), "end": format_hms(s.end_s),
             "start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3),
             "duration_s": round(s.end_s - s.start_s, 3), "keyframes": counts.get(s.index, 0)}
            for s in result.scenes]
    if as_json:
        click.echo(json.dumps({"video": result.video.path, "scenes": rows}, indent=1))
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["scene"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
    else:
        click.echo(f"{'scene':>5}  {'start':<12}  {'end':<12}  {'duration':>10}  key frames")
        for r in rows:
            click.echo(f"{r['scene']:>5}  {r['start']:<12}  {r['end']:<12}  "
                       f"{r['duration_s']:>9.3f}s  {r['keyframes']:>10}")


def _model_options(func):
    from vidqa.backends import backend_names

    options = [
        click.option("-m", "--model", help="hub id, local directory, preset (2b, 8b, "
                     "30b-a3b-thinking, ...) or served model name; also $VIDQA_MODEL "
                     "[default: by hardware]"),
        click.option("-b", "--backend", type=click.Choice(backend_names()),
                     help="where the model runs; also $VIDQA_BACKEND [default: transformers]"),
        click.option("--base-url", help="openai backend: server URL; also $OPENAI_BASE_URL"),
        click.option("--api-key", help="openai backend: API key; also $OPENAI_API_KEY"),
        click.option("--max-new-tokens", type=int, help=setting_help("model", "max_new_tokens")),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _index_options(func):
    options = [
        click.option("--ocr", type=click.Choice(["auto", "on", "off"]),
                     help=setting_help("index", "ocr")),
        click.option("--embedder", help=setting_help("index", "embedder")),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _model_settings(ctx: click.Context, o: dict, *, load: bool = True):
    """The resolved config and, when `load`, the backend it names (the model is loaded)."""
    from vidqa.backends import open_backend
    from vidqa.presets import resolve_model

    config = _settings(ctx, o)
    config = _run(config.replace, "model", model=o.get("model"), backend=o.get("backend"),
                  base_url=o.get("base_url"), max_new_tokens=o.get("max_new_tokens"))
    config = _run(config.replace, "index", ocr=o.get("ocr"), embedder=o.get("embedder"))
    config = resolve_model(config)
    return config, (_run(open_backend, config, api_key=o.get("api_key")) if load else None)


def _bar(ctx: click.Context, total: int, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, leave=False, file=sys.stderr,
                disable=ctx.obj.get("quiet") or not sys.stderr.isatty())


def _gather(ctx: click.Context, video: str, config: Config, backend, allow_errors: bool):
    """Ingest, read on-screen text, caption (with `backend`; else captions already cached)."""
    from vidqa.caption import cached_captions, caption_video
    from vidqa.find import text_lines

    result = _ingest_one(ctx, video, config, allow_errors)
    name = printable(Path(video).name)
    bar = _bar(ctx, len(result.keyframes), f"{name} text", "frame")
    try:
        lines = text_lines(result, config.index.ocr, config.index.ocr_threads,
                           on_progress=lambda *_: bar.update(1))
    finally:
        bar.close()
    m = config.model
    if backend is None:
        from vidqa.backends import backend_identity

        captions = cached_captions(result, m.backend, m.model,
                                   identity=backend_identity(m.backend, m.model, m.base_url),
                                   max_new_tokens=m.max_new_tokens, temperature=m.temperature,
                                   text_lines=lines)
        return result, captions, lines
    bar = _bar(ctx, len(result.chunks), f"{name} captions", "chunk")
    try:
        captions = caption_video(result, backend, max_new_tokens=m.max_new_tokens,
                                 temperature=m.temperature, text_lines=lines,
                                 on_chunk=lambda caption: bar.update(1))
    finally:
        bar.close()
    return result, captions, lines


def _index_one(ctx: click.Context, video: str, config: Config, backend, allow_errors: bool):
    result, captions, _ = _gather(ctx, video, config, backend, allow_errors)
    return result, captions


@cli.command(cls=VideoCommand)
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="one JSON document (a list, one per video)")
@click.option("--captions/--no-captions", default=True, show_default=True,
              help="caption chunks with the model (--no-captions: on-screen text only, no model)")
@_index_options
@_model_options
@_ingest_options
@click.pass_context
def index(ctx: click.Context, videos: tuple[str, ...], as_json: bool, captions: bool,
          **options) -> None:
    """Ingest each VIDEO (a folder: every video in it), read its on-screen text, caption its
    chunks with the model (a summary and timestamped events per chunk, cached per chunk, so an
    interrupted run resumes) and build its search index."""
    from vidqa.collection import expand_videos
    from vidqa.find import index_entries, open_index, _video_index_dir
    from vidqa.index import get_embedder

    config, backend = _model_settings(ctx, options, load=captions)
    embedder = _run(get_embedder, config.index.embedder)
    paths = expand_videos(videos)
    documents, failures = [], []
    for video in paths:
        try:
            result, caps, lines = _gather(ctx, video, config, backend, options["allow_errors"])
            entries = index_entries(result, caps, lines)
            if entries:
                open_index(entries, embedder, _video_index_dir(result, entries, embedder))
        except VidqaError as exc:
            failures.append(str(exc))
            continue
        doc = caps.to_dict() if caps else {"video": result.video.path, "chunks": [], "events": []}
        doc["text_lines"] = [{"start_s": l.start_s, "end_s": l.end_s, "text": l.text} for l in lines]
        documents.append(doc)
        if not as_json:
            parts = [f"{len(lines)} on-screen text lines", f"{len(entries)} index entries"]
            if caps:
                raw = sum(1 for c in caps.chunks if c.warning)
                parts.insert(0, f"{len(caps.chunks)} chunks captioned by {caps.model}, "
                             f"{len(caps.events())} events"
                             + (f" ({raw} chunks kept as raw text)" if raw else ""))
            click.echo(f"{printable(result.video.path)}: " + ", ".join(parts))
    if as_json:
        click.echo(json.dumps(documents, indent=1, ensure_ascii=False))
    _report_failures(failures, len(paths) if paths else 1)
    if not paths:
        _fail(f"no video files in {', '.join(videos)}; pass video files or a folder holding some")
        sys.exit(1)


def _report_failures(failures: list[str], total: int) -> None:
    if not failures:
        return
    if total > 1:
        _fail(f"{len(failures)} of {total} videos failed:")
        for message in failures:
            click.echo(f"  {printable(message)}", err=True)
    else:
        _fail(failures[0])
    sys.exit(1)


@cli.command(cls=VideoCommand)
@click.argument("video", type=click.Path())
@click.option("-f", "--format", "fmt", default="json", show_default=True,
              type=click.Choice(["json", "jsonl", "csv", "tsv", "srt", "vtt", "txt", "all"]),
              help="event-log format; all writes every one")
@click.option("-o", "--output", default="-", show_default=True,
              help="folder to write <video name>.<format> into, or - for stdout")
@_index_options
@_model_options
@_ingest_options
@click.pass_context
def events(ctx: click.Context, video: str, fmt: str, output: str, **options) -> None:
    """The timestamped event log of VIDEO (captions are made first if needed)."""
    from vidqa.export import get_writer

    writer = _run(get_writer, fmt, output)
    config, backend = _model_settings(ctx, options)
    _, captions, _ = _run(_gather, ctx, video, config, backend, options["allow_errors"])
    for path in _run(writer, captions) or []:
        click.echo(f"wrote {printable(path)}", err=True)


def _search_parts(ctx, target: str, config: Config, backend, allow_errors: bool):
    from vidqa.collection import expand_videos

    paths = expand_videos([target])
    if not paths:
        raise VidqaError(f"no video files in '{target}'; pass a video or a folder holding some")
    return [_gather(ctx, video, config, backend, allow_errors) for video in paths]


@cli.command(cls=VideoCommand)
@click.argument("target", metavar="VIDEO|DIR", type=click.Path())
@click.argument("query")
@click.option("-k", "--top", "k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="hits to show")
@click.option("--refine/--no-refine", default=True, show_default=True,
              help="pin the top text hits by decoding their window again at 8 fps")
@click.option("--refine-model", is_flag=True,
              help="also pin caption and event hits: the model looks at their window at 4 fps")
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
@_index_options
@_model_options
@_ingest_options
@click.pass_context
def find(ctx: click.Context, target: str, query: str, k: int, refine: bool, refine_model: bool,
         as_json: bool, **options) -> None:
    """Where QUERY happens in VIDEO (or in every video of DIR): ranked hits with their times
    and the text that matched (captions, events, on-screen text). Needs no model: it searches
    what `vidqa index` made (on-screen text is read here when missing)."""
    from vidqa.find import index_entries, ocr_engine, refine as pin, search
    from vidqa.index import get_embedder

    config, backend = _model_settings(ctx, options, load=refine and refine_model)
    parts = _run(_search_parts, ctx, target, config, None, options["allow_errors"])
    embedder = _run(get_embedder, config.index.embedder)
    entries = [(r, index_entries(r, c, lines)) for r, c, lines in parts]
    found = _run(search, entries, query, embedder, k=k)
    if refine and config.index.refine_top:
        engine = _run(ocr_engine, config.index.ocr, config.index.ocr_threads)
        results = {r.video.path: r for r, _, _ in parts}
        found = _run(pin, found, results, config, engine, top=config.index.refine_top,
                     backend=backend)
    if as_json:
        click.echo(json.dumps({"query": query, "hits": [f.to_dict() for f in found]},
                              indent=1, ensure_ascii=False))
        return
    for rank, hit in enumerate(found, 1):
        pinned = f" (pinned at {format_hms(hit.refined_s)} by {hit.refined_by})" \
            if hit.refined_s is not None else ""
        where = f"{printable(hit.video)}  " if len(parts) > 1 else ""
        click.echo(f"{rank:>2}. {format_hms(hit.time_s)}  {where}[{hit.kind}] {hit.text}  "
                   f"(score {hit.score:.2f}, {format_hms(hit.start_s)}-{format_hms(hit.end_s)})"
                   f"{pinned}")


@cli.command(cls=VideoCommand)
@click.argument("target", metavar="VIDEO|DIR", type=click.Path())
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
@click.option("--top-k", type=click.IntRange(1, 20), default=2, show_default=True,
              help="chunks (plus their neighbours) whose key frames the model sees")
@click.option("--scope", type=click.Choice(["chunks", "all"]), default="chunks", show_default=True,
              help="all: whole-video questions (summarise, how many times) by map-reduce over "
                   "every chunk summary")
@_index_options
@_model_options
@_ingest_options
@click.pass_context
def ask(ctx: click.Context, target: str, question: str, as_json: bool, top_k: int, scope: str,
        **options) -> None:
    """Answer QUESTION about VIDEO (or the videos of DIR) from the most relevant chunks' key
    frames and every chunk's summary, citing time ranges."""
    from vidqa.answer import ask as answer, ask_all
    from vidqa.find import index_entries, search
    from vidqa.index import get_embedder

    config, backend = _model_settings(ctx, options)
    parts = _run(_search_parts, ctx, target, config, backend, options["allow_errors"])
    embedder = _run(get_embedder, config.index.embedder)
    entries = [(r, index_entries(r, c, lines)) for r, c, lines in parts]
    hits = _run(search, entries, question, embedder, k=10)
    # A collection: the video of the best hit answers.
    video = hits[0].video if hits else parts[0][0].video.path
    result, captions, _ = next(p for p in parts if p[0].video.path == video)
    m = config.model
    if scope == "all":
        reply = _run(ask_all, captions, backend, question, max_new_tokens=m.max_new_tokens,
                     temperature=m.temperature)
    else:
        own = [h for h in hits if h.video == video]
        reply = _run(answer, result, captions, backend, question, top_k=top_k,
                     max_new_tokens=m.max_new_tokens, temperature=m.temperature, hits=own)
    if as_json:
        click.echo(json.dumps({"video": video, **reply.to_dict()}, indent=1, ensure_ascii=False))
        return
    click.echo(reply.text)
    cited = ", ".join(f"{format_hms(c.start_s)}-{format_hms(c.end_s)}" for c in reply.citations)
    click.echo(f"\nsources: {printable(video)}: {cited}")
    if reply.warning:
        click.echo(f"warning: {reply.warning}", err=True)


@cli.group(name="eval")
def eval_group() -> None:
    """Measure vidqa on videos with known answers."""


@eval_group.command(name="needle", cls=VideoCommand)
@click.argument("videos", nargs=-1, type=click.Path())
@click.option("--sweep", "sweep_path", type=click.Path(dir_okay=False),
              help="YAML with the grid (configs/needle-standard.yaml is the standard sweep); "
                   "the options below override it")
@click.option("--lengths", help="haystack lengths in minutes, e.g. 5,10,30,60 [default: 5,10,30,60]")
@click.option("--depths", help="needle depths: a count (11: 0%, 10%, ..., 100%) or a list of "
              "percentages, e.g. 0,50,100 (one depth: 50%) [default: 11]")
@click.option("--needles", "needle_set", help="builtin, builtin-text, builtin-image, "
              "builtin-clip, or a YAML/JSON file of needles [default: builtin-text]")
@click.option("--selectors", help="scenes (vidqa's key frames), uniform (every sampled frame) "
              "or both, comma-separated; sets the key-frame policy of each run "
              "[default: scenes,uniform]")
@click.option("--mode", type=click.Choice(["find", "ask"]),
              help="find: retrieval recall and time error; ask: the model's answer accuracy "
                   "[default: find]")
@click.option("--seed", type=int, help="varies the generated haystack [default: 0]")
@click.option("--top-k", type=click.IntRange(1, 100), help="hits that count for recall@k "
              "[default: 5]")
@click.option("--tolerance", type=click.FloatRange(0, 60), help="seconds a hit may lie outside "
              "the needle's range and still count [default: 1]")
@click.option("-o", "--out", "out_dir", default="needle-eval", show_default=True,
              type=click.Path(file_okay=False), help="folder for results.jsonl and heatmap.png; "
              "a re-run there skips finished cells")
@click.option("--fail-under", type=click.FloatRange(0, 100),
              help="exit with status 3 when a selector's recall@1 (ask: accuracy) is below "
                   "this: a fraction up to 1 (0.95), or a percentage above 1 (95)")
@click.option("--keep-videos", is_flag=True, help="keep each cell's video and work files")
@click.option("--json", "as_json", is_flag=True, help="the summary as one JSON document")
@_index_options
@_model_options
@_ingest_options
@click.pass_context
def eval_needle(ctx: click.Context, videos: tuple[str, ...], sweep_path: str | None,
                lengths: str | None, depths: str | None, needle_set: str | None,
                selectors: str | None, mode: str | None, seed: int | None, top_k: int | None,
                tolerance: float | None, out_dir: str, fail_under: float | None,
                keep_videos: bool, as_json: bool, **options) -> None:
    """Needle-in-a-haystack: hide needles at a grid of depths in haystacks of several lengths
    (made from VIDEOS, looped as needed, or generated), find them (or ask about them), and
    compare vidqa's key frames with uniform 2 fps sampling. Writes OUT/results.jsonl (one line
    per cell), OUT/heatmap.png, and a summary table."""
    from vidqa.evaluate import (Sweep, cell_count, format_table, load_sweep, needle_eval,
                                parse_depths, parse_lengths, sweep_with)

    sweep = _run(load_sweep, sweep_path) if sweep_path else Sweep()
    for name, value in (("--lengths", lengths), ("--depths", depths), ("--needles", needle_set),
                        ("--selectors", selectors)):
        if value is not None and not value.strip():
            raise click.BadParameter("is empty; give a value or leave the option out",
                                     param_hint=f"'{name}'")
    sweep = _run(lambda: sweep_with(  # an empty option is an error, never the default
        sweep, lengths_min=parse_lengths(lengths) if lengths is not None else None,
        depths=parse_depths(depths) if depths is not None else None, needles=needle_set,
        selectors=tuple(s.strip() for s in selectors.split(",")) if selectors is not None
        else None,
        mode=mode, seed=seed, top_k=top_k, tolerance_s=tolerance,
        videos=tuple(videos) or None).validated())
    # A model named in find mode captions the chunks, so needles without text can be found.
    config, backend = _model_settings(ctx, options,
                                      load=sweep.mode == "ask" or bool(options.get("model")))
    bar = _bar(ctx, cell_count(sweep), "needle cells", "cell")

    def on_cell(record: dict, skipped: bool) -> None:
        bar.set_postfix_str(f"{record['length_min']:g} min, {record['depth']:.0%}, "
                            f"{record['selector']}" + (" (done before)" if skipped else ""))
        bar.update(1)

    try:
        report = _run(needle_eval, sweep, out_dir, config=config, backend=backend,
                      ocr=config.index.ocr != "off", keep_videos=keep_videos, on_cell=on_cell,
                      on_status=lambda text: click.echo(text, err=True))
    finally:
        bar.close()
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
    if fail_under is not None:
        threshold = fail_under / 100 if fail_under > 1 else fail_under
        low = {s: v for s, v in scores.items() if v is not None and v < threshold}
        if low:
            _fail(", ".join(f"{s} {report.metric_name} {v:.1%}" for s, v in low.items())
                  + f" is below --fail-under {threshold:.1%}")
            sys.exit(3)


@cli.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--minutes", type=click.FloatRange(0.1, 600), default=2.0, show_default=True,
              help="length of the video")
@click.option("--seed", type=int, default=0, show_default=True, help="varies shots and colours")
@click.option("--event-every", type=click.FloatRange(5, 3600), default=40.0, show_default=True,
              help="seconds between 2-second caption events on static slides")
def sample(output: str, minutes: float, seed: int, event_every: float) -> None:
    """Make a sample video with ffmpeg's lavfi sources (shots with hard cuts, static slides with
    2-second caption events), and OUTPUT's .truth.json with its cut and event times."""
    from vidqa.synth import demo_plan, render

    plan = demo_plan(minutes, seed=seed, event_every_s=event_every)
    path = _run(render, plan, output)
    truth = plan.truth()
    click.echo(f"{path}: {format_hms(plan.duration_s)}, {len(truth['cuts_s']) + 1} shots, "
               f"{len(truth['events'])} caption events (truth in {path.with_suffix('.truth.json')})")


@cli.command()
def paths() -> None:
    """Where vidqa keeps its cache and looks for its config file ($VIDQA_HOME moves both)."""
    click.echo(f"cache:  {cache_dir()}")
    click.echo(f"config: {config_file()}" + ("" if config_file().exists() else " (not present)"))


def main() -> None:
    try:
        cli.main(prog_name="vidqa")
    except KeyboardInterrupt:
        _fail("interrupted; nothing incomplete was kept, run the command again to finish")
        sys.exit(130)
    except OSError as exc:  # a write or read the library did not name: still one line
        if os.environ.get("VIDQA_DEBUG"):
            traceback.print_exc()
        from vidqa.store import write_error

        _fail(str(write_error(exc, exc.filename or "a file", verb="read or write")))
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - one line unless debugging
        if os.environ.get("VIDQA_DEBUG"):
            traceback.print_exc()
        else:
            first = str(exc).splitlines()[0] if str(exc) else ""
            _fail(f"unexpected {type(exc).__name__}: {first} (set VIDQA_DEBUG=1 for the "
                  "traceback, and report it)")
        sys.exit(1)


if __name__ == "__main__":
    main()
