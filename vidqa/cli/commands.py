"""The `vidqa` commands: options, one call into `vidqa.pipeline`, printing. Nothing else.

stdout carries results, stderr progress and errors; a `VidqaError` is one line and exit status 1
(2 for usage errors, 3 for an evaluation under --fail-under).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import traceback

import click

from vidqa import __version__
from vidqa.cli.options import (VideoCommand, call, check_exposed, fail, index_options,
                               ingest_options, model_named, model_options, pipeline,
                               report_failures, serve_key_option, serve_model_options,
                               serve_options, settings, speech_options)
from vidqa.paths import cache_dir, config_file
from vidqa.errors import VidqaError, printable
from vidqa.scopes import SCOPES
from vidqa.timecode import format_hms
from vidqa.tracks.base import track_names
from vidqa.tracks.writers import EDIT_WRITERS, EVENT_WRITERS, get_writer, write_hits

SCOPE_HELP = "; ".join(f"{name}: {scope.help}" for name, scope in SCOPES.items())


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
    """Duration, frame rates, displayed size, codec and streams of VIDEO (or a sound file)."""
    from vidqa.media.audio import choose_audio
    from vidqa.media.probe import probe

    info = call(probe, video)
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
    ]
    if info.has_picture:
        lines += [
            f"video:       stream {info.stream_index}, {info.codec}, {info.pix_fmt or '?'}",
            f"frame rate:  {rate(info.nominal_fps)} fps nominal, {rate(info.average_fps)} fps "
            "average" + (f", {info.frame_count} frames" if info.frame_count else ""),
            f"picture:     {info.display_width}x{info.display_height} displayed (stored "
            f"{info.coded_width}x{info.coded_height}, SAR {info.sample_aspect_ratio}{rotation})"]
    else:
        lines.append("video:       none: sound only (what is said is read; no frames)")
    heard = call(choose_audio, info)
    lines.append("streams:")
    for s in info.streams:
        extra = f" {s.width}x{s.height}" if s.width else ""
        extra += f" {s.sample_rate} Hz" if s.sample_rate else ""
        extra += f", {s.channels} ch" if s.channels else ""
        extra += f" [{s.language}]" if s.language and s.language != "und" else ""
        extra += " (cover art)" if s.attached_pic else ""
        mark = "  <- analysed" if s.index == info.stream_index else \
            "  <- heard" if heard is not None and s.index == heard.index else ""
        lines.append(f"  #{s.index} {s.kind}: {s.codec or '?'}{extra}{mark}")
    click.echo("\n".join(lines))


@cli.command(cls=VideoCommand)
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="one JSON document (a list, one per video)")
@ingest_options
@click.pass_context
def ingest(ctx: click.Context, videos: tuple[str, ...], as_json: bool, **options) -> None:
    """Decode, pick key frames and chunk each VIDEO; results are cached.

    A batch goes on past a bad file and lists every failure at the end (exit status 1).
    """
    pipe = pipeline(ctx, options, load_model=False, resolve=False)
    results, failures = [], []
    for video in videos:
        try:
            result = pipe.ingest(video)
        except VidqaError as exc:
            failures.append(str(exc))
            continue
        results.append(result)
        if not as_json:
            click.echo(_summary(result))
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=1))
    report_failures(failures, len(videos))


def _summary(result) -> str:
    s, info = result.stats, result.video
    where = "from cache" if s.cached else f"decoded in {s.decode_s:.1f} s"
    if not info.has_picture:
        return (f"{printable(info.path)}: {format_hms(s.end_s)}, sound only: no frames to "
                f"decode (what is said is read by the speech track)\n"
                f"  work dir: {result.workdir}")
    lines = [
        f"{printable(info.path)}: {format_hms(s.end_s)}, {len(result.scenes)} scenes, "
        f"{s.keyframes} key frames of {s.frames_sampled} sampled at "
        f"{result.config.decode.fps:g} fps",
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
@ingest_options
@click.pass_context
def scenes(ctx: click.Context, video: str, as_json: bool, as_csv: bool, **options) -> None:
    """The scenes (shots) of VIDEO with their start and end times."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    result = call(pipeline(ctx, options, load_model=False, resolve=False).ingest, video)
    counts: dict[int, int] = {}
    for kf in result.keyframes:
        counts[kf.scene_index] = counts.get(kf.scene_index, 0) + 1
    rows = [{"scene": s.index + 1, "start": format_hms(s.start_s), "end": format_hms(s.end_s),
             "start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3),
             "duration_s": round(s.length_s, 3), "keyframes": counts.get(s.index, 0)}
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


@cli.command(cls=VideoCommand)
@click.argument("videos", nargs=-1, type=click.Path())  # required: checked below (--ray DIR)
@click.option("--json", "as_json", is_flag=True, help="one JSON document (a list, one per video)")
@click.option("--captions/--no-captions", default=True, show_default=True,
              help="caption chunks with the model (--no-captions: on-screen text and speech "
                   "only, no model)")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None,
              metavar="[ADDRESS]",
              help="run every video's stages as Ray tasks: on the cluster at ADDRESS "
                   "(host:6379, ray://host:10001, auto), or alone on a Ray instance on this "
                   "machine; the cache ($VIDQA_HOME) and the videos must be shared folders "
                   "(pip install 'vidqa[ray]')")
@index_options
@model_options
@ingest_options
@click.pass_context
def index(ctx: click.Context, videos: tuple[str, ...], as_json: bool, captions: bool,
          ray_address: str | None, **options) -> None:
    """Ingest each VIDEO (a folder: every video and sound file in it), make its tracks
    (on-screen text, what is said, and chunk captions by the model: a summary and timestamped
    events per chunk, cached per chunk, so an interrupted run resumes) and build its search
    index; for several videos, the index of the collection too."""
    if ray_address is not None and ray_address != "local" and os.path.exists(ray_address):
        videos, ray_address = (*videos, ray_address), "local"  # `--ray DIR`: DIR is a video
    if not videos:
        raise click.UsageError("Missing argument 'VIDEOS...'.")
    from vidqa.media.collection import any_picture

    config = settings(ctx, options)
    # On a cluster the tasks load a local model themselves; the driver needs servers' only.
    # Sound-only recordings have no frames to caption: no model for them.
    captions = captions and any_picture(list(videos))
    load = captions and (ray_address is None or config.model.backend == "openai")
    pipe = pipeline(ctx, options, load_model=load, config=config,
                    pooled=ray_address is not None)
    call(pipe.embedder)  # a bad --embedder fails before any video is read
    executor = None
    if ray_address is not None:
        from vidqa.cluster.driver import RayExecutor

        executor = RayExecutor(ray_address, api_key=options.get("api_key"), with_model=captions)
    documents: dict[str, dict] = {}

    def done(video_run) -> None:
        if as_json:
            documents[video_run.video] = video_run.to_dict()
        else:
            click.echo(f"{printable(video_run.video)}: {video_run.describe()}")

    runs, failures = call(pipe.index_all, videos, executor=executor, on_done=done)
    for note in pipe.absent() if runs else []:  # what would add a track, once indexed
        click.echo(f"note: {note}", err=True)
    if as_json:
        click.echo(json.dumps([documents[r.video] for r in runs], indent=1, ensure_ascii=False))
    total = len(runs) + len(failures)
    report_failures(failures, total if total else 1)
    if not total:
        fail(f"no video files in {', '.join(videos)}; pass video files or a folder holding some")
        sys.exit(1)


@cli.command(cls=VideoCommand)
@click.argument("video", type=click.Path())
@click.option("-f", "--format", "fmt", default="json", show_default=True,
              type=click.Choice([*EVENT_WRITERS, "all"]),
              help="event-log format (all writes json to txt); chapters: YouTube's chapter "
                   "lines, chapters.vtt: WebVTT chapters; edl: a CMX 3600 edit list, otio: an "
                   "OpenTimelineIO timeline (pip install 'vidqa[edit]'), a clip a line")
@click.option("-o", "--output", default="-", show_default=True,
              help="folder to write <video name>.<format> into (chapters: .chapters.txt), or "
                   "- for stdout")
@click.option("--tracks", "track_list", metavar="NAMES",
              help=f"tracks in the log, comma-separated: {', '.join(track_names())}, or all "
                   "[default: all that are there; captions when a model is named or its "
                   "captions are cached]")
@index_options
@model_options
@ingest_options
@click.pass_context
def events(ctx: click.Context, video: str, fmt: str, output: str, track_list: str | None,
           **options) -> None:
    """The timestamped event log of VIDEO: what every track says happens, each line with its
    source (on-screen text, the model's caption events). Captions are made first when a model
    is named; without one the log holds the on-screen text and any cached captions."""
    from vidqa.tracks.base import get_track, parse_tracks, track_names

    writer = call(get_writer, fmt, output, EVENT_WRITERS)
    tracks = call(parse_tracks, track_list)
    # The model is loaded only for the tracks it makes (captions): asked for by --tracks, or
    # a model was named.
    config = settings(ctx, options)
    by_model = [n for n in track_names() if get_track(n).needs == "model"]
    asked = tracks is not None and any(n in tracks for n in by_model)
    load = asked or (tracks is None and model_named(config))
    done = call(pipeline(ctx, options, load_model=load, tracks=tracks, config=config).run, video)
    absent = [n for n in by_model if n not in done.tracks]
    if absent and tracks is None:
        click.echo(f"note: no {', '.join(absent)} in the log (none cached for this model); "
                   "pass -m MODEL to make them", err=True)
    for path in call(writer, done.event_log(tracks)) or []:
        click.echo(f"wrote {printable(path)}", err=True)


@cli.command(cls=VideoCommand)
@click.argument("video", type=click.Path())
@click.option("-f", "--format", "fmt", default="srt", show_default=True,
              type=click.Choice(["srt", "vtt", "txt", "json", "all"]),
              help="transcript format (whisper's); all writes every one")
@click.option("-o", "--output", default="-", show_default=True,
              help="folder to write <video name>.<format> into, or - for stdout")
@speech_options
@click.pass_context
def transcript(ctx: click.Context, video: str, fmt: str, output: str, **options) -> None:
    """What is said in VIDEO, with times: the file's own subtitles (a text stream, or a .srt or
    .vtt beside it), else speech recognition (`pip install 'vidqa[speech]'`). The frames are
    not decoded."""
    from vidqa.tracks.writers import TRANSCRIPT_WRITERS

    writer = call(get_writer, fmt, output, TRANSCRIPT_WRITERS)
    from vidqa.tracks.base import kinds_of

    pipe = pipeline(ctx, options, load_model=False, tracks=tuple(kinds_of("said_kinds")),
                    resolve=False)
    log, warning = call(pipe.transcript, video)
    if warning is not None:
        fail(warning)
        sys.exit(1)
    if not log.segments:
        click.echo(f"note: nothing is said in '{printable(video)}' (no speech heard, no "
                   "subtitles); the transcript is empty", err=True)
    for path in call(writer, log) or []:
        click.echo(f"wrote {printable(path)}", err=True)


@cli.command(cls=VideoCommand)
@click.argument("target", metavar="VIDEO|DIR", type=click.Path())
@click.argument("query", required=False)
@click.option("--at", "at", metavar="TIME",
              help="instead of QUERY: where the wall clock burned into the picture (a camera's, "
                   "a broadcast's) shows TIME, e.g. '2024-12-05 12:01:30' or '12:01:30'")
@click.option("--image", "image", metavar="PICTURE",
              help="instead of QUERY: where this picture (a photo of a slide, a screenshot, a "
                   "crop of a frame, a logo: PNG, JPEG, WebP, BMP) is shown, each showing "
                   "pinned to its first sampled frame; no model needed")
@click.option("-k", "--top", "k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="hits to show")
@click.option("--refine/--no-refine", default=True, show_default=True,
              help="report text hits at the 8 fps frame the index pinned them to, and speech "
                   "hits at their first matching word")
@click.option("--refine-model", is_flag=True,
              help="also pin caption and event hits: the model looks at their window at 4 fps")
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
@click.option("-f", "--format", "fmt", type=click.Choice(list(EDIT_WRITERS)),
              help="the hits as an edit list, a clip per hit, best first: edl (CMX 3600) or "
                   "otio (OpenTimelineIO, pip install 'vidqa[edit]'); one file per video")
@click.option("-o", "--output", default="-", show_default=True,
              help="with -f: folder to write <video name>.<format> into (one per video with "
                   "hits), or - for stdout (hits of one video)")
@index_options
@model_options
@ingest_options
@click.pass_context
def find(ctx: click.Context, target: str, query: str | None, at: str | None,
         image: str | None, k: int, refine: bool, refine_model: bool, as_json: bool,
         fmt: str | None, output: str, **options) -> None:
    """Where QUERY happens in VIDEO (or in every video of DIR): ranked hits with their times
    and the text that matched (captions, events, on-screen text, speech). Needs no model: it
    searches what `vidqa index` made (on-screen text and speech are made here when missing).

    With --at TIME instead of QUERY: the second where the clock burned into the picture shows
    TIME, the readings either side, and notes (outside the recording, the clock jumps).

    With --image PICTURE instead of QUERY: where that picture is shown (reverse video search:
    rescaled, recompressed, cropped, letterboxed or photographed off a screen); a picture the
    video does not show gives no hit."""
    from vidqa.media.collection import expand_videos

    given = [name for name, value in (("QUERY", query), ("--at TIME", at),
                                      ("--image PICTURE", image)) if value is not None]
    if len(given) > 1:
        raise click.UsageError(f"give one of QUERY, --at TIME and --image PICTURE, not "
                               f"{' and '.join(given)}: --at looks a wall-clock time up, "
                               "--image finds a picture, QUERY searches what is shown and said")
    if not given:
        raise click.UsageError("Missing argument 'QUERY' (or --at TIME, or --image PICTURE).")
    if fmt is not None and (as_json or at is not None):
        raise click.UsageError("-f writes the hits of QUERY as an edit list: give it without "
                               "--json and --at")
    if fmt is not None:
        call(get_writer, fmt, output, EDIT_WRITERS)  # a missing package or bad -o: before work
    elif output != "-":
        raise click.UsageError("-o DIR goes with -f edl or -f otio")
    pipe = pipeline(ctx, options, load_model=False)  # the index holds what the model wrote
    if at is not None:
        _find_at(pipe, target, at, as_json)
        return
    if image is not None:
        from vidqa.search.pictures import Picture

        query = call(Picture.from_path, image)
        call(query.described)  # a file that is no picture: one line, before any video is read
    pinner = None
    if refine and refine_model and image is None:  # the model pins caption hits
        from vidqa.model.backends import open_backend

        pinner = call(open_backend, pipe.config, api_key=options.get("api_key"))
    found = call(pipe.find, [target], query, k=k, refine=refine, refine_backend=pinner)
    if fmt is not None:
        if not found:
            click.echo(f"note: no hits for {_asked(query)}; nothing written", err=True)
        for path in call(write_hits, found, fmt, output):
            click.echo(f"wrote {printable(path)}", err=True)
        return
    if as_json:
        asked = {"image": image} if image is not None else {"query": query}
        click.echo(json.dumps({**asked, "hits": [f.to_dict() for f in found]},
                              indent=1, ensure_ascii=False))
        return
    if image is not None and not found:
        click.echo(f"no frame shows the picture '{printable(image)}'", err=True)
    several = len(expand_videos([target])) > 1
    for rank, hit in enumerate(found, 1):
        pinned = f" (pinned at {format_hms(hit.refined_s)} by {hit.refined_by})" \
            if hit.refined_s is not None else ""
        where = f"{printable(hit.video)}  " if several else ""
        click.echo(f"{rank:>2}. {format_hms(hit.time_s)}  {where}[{hit.kind}] {hit.text}  "
                   f"(score {hit.score:.2f}, {format_hms(hit.start_s)}-{format_hms(hit.end_s)})"
                   f"{pinned}")


def _asked(query) -> str:
    """What was searched for, as a note says it: the query, or the picture's name."""
    return repr(query) if isinstance(query, str) else f"the picture '{query.name}'"


def _find_at(pipe, target: str, at: str, as_json: bool) -> None:
    """`find --at`: the clock lookups of `Pipeline.clock`, as lines or one JSON document."""
    from vidqa.search.clock import document

    lookups = call(pipe.clock, [target], at)
    if as_json:
        click.echo(json.dumps(document(at, lookups), indent=1, ensure_ascii=False))
        return
    several = len(lookups) > 1 or os.path.isdir(target)
    for lookup in lookups:
        for line in lookup.lines(several=several):
            click.echo(printable(line))


@cli.command(cls=VideoCommand)
@click.argument("target", metavar="VIDEO|DIR", type=click.Path())
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
@click.option("--top-k", type=click.IntRange(1, 20), default=2, show_default=True,
              help="chunks (plus their neighbours) whose key frames the model sees")
@click.option("--scope", type=click.Choice(list(SCOPES)), default="chunks", show_default=True,
              help=SCOPE_HELP)
@click.option("--max-steps", type=click.IntRange(1, 50), default=8, show_default=True,
              help="agent: tool calls before it must answer")
@index_options
@model_options
@ingest_options
@click.pass_context
def ask(ctx: click.Context, target: str, question: str, as_json: bool, top_k: int, scope: str,
        max_steps: int, **options) -> None:
    """Answer QUESTION about VIDEO (or the videos of DIR) from the most relevant chunks' key
    frames and every chunk's summary, citing time ranges."""
    pipe = pipeline(ctx, options, load_model=True)
    video, reply = call(pipe.ask, [target], question, scope=scope, top_k=top_k,
                        max_steps=max_steps)
    if as_json:
        click.echo(json.dumps({"video": video, **reply.to_dict()}, indent=1, ensure_ascii=False))
        return
    click.echo(reply.text)
    cited = ", ".join(str(c.range) for c in reply.citations)
    click.echo(f"\nsources: {printable(video)}: {cited}")
    if reply.strategy and scope in ("full", "agent"):
        click.echo(f"note: {reply.strategy}", err=True)
    if reply.warning:
        click.echo(f"warning: {reply.warning}", err=True)


@cli.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--minutes", type=click.FloatRange(0.1, 600), default=2.0, show_default=True,
              help="length of the video")
@click.option("--seed", type=int, default=0, show_default=True, help="varies shots and colours")
@click.option("--event-every", type=click.FloatRange(5, 3600), default=40.0, show_default=True,
              help="seconds between 2-second caption events on static slides")
@click.option("--speech/--no-speech", default=True, show_default=True,
              help="speak a few sentences on the sound track (shipped clips)")
def sample(output: str, minutes: float, seed: int, event_every: float, speech: bool) -> None:
    """Make a sample video with ffmpeg's lavfi sources (shots with hard cuts, static slides with
    2-second caption events, a few spoken sentences), and OUTPUT's .truth.json with its cut,
    event and speech times."""
    from vidqa.evaluation.synth import demo_plan, render

    plan = demo_plan(minutes, seed=seed, event_every_s=event_every, speech=speech)
    path = call(render, plan, output)
    truth = plan.truth()
    spoken = f", {len(plan.speech)} spoken sentences" if plan.speech else ""
    click.echo(f"{path}: {format_hms(plan.duration_s)}, {len(truth['cuts_s']) + 1} shots, "
               f"{len(truth['events'])} caption events{spoken} (truth in "
               f"{path.with_suffix('.truth.json')})")


@cli.command(cls=VideoCommand)
@click.argument("video", type=click.Path())
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="the HTML file to write [default: <video name>.report.html beside the video]")
@index_options
@model_options
@ingest_options
@click.pass_context
def report(ctx: click.Context, video: str, output: str | None, **options) -> None:
    """One HTML file with VIDEO's timeline (scenes with thumbnails, speech, on-screen text,
    caption events), its event log and transcript, that opens offline next to the video (it
    plays the video through a relative link): for sharing. VIDEO is indexed first when it is
    not (captions when a model is named or cached)."""
    from pathlib import Path

    from vidqa.serve.report import write_report

    config = settings(ctx, options)
    pipe = pipeline(ctx, options, load_model=model_named(config), config=config)
    done = call(pipe.run, video)
    target = Path(output) if output else Path(video).with_suffix(".report.html")
    path = call(write_report, done, target)
    size = path.stat().st_size
    shown = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"
    click.echo(f"wrote {printable(path)} ({shown}; keep it beside {printable(Path(video).name)} "
               "to play it)", err=True)


@cli.command(cls=VideoCommand)
@click.argument("folders", metavar="[DIR]...", nargs=-1, type=click.Path())
@serve_key_option("key every request must carry (Authorization: Bearer KEY; the page asks for "
                  "it once)")
@serve_options
@index_options
@serve_model_options
@ingest_options
@click.pass_context
def serve(ctx: click.Context, folders: tuple[str, ...], serve_key: str | None,
          **options) -> None:
    """Serve the videos under each DIR (default: the current folder): a web page to watch,
    search, ask and index, and an OpenAI-compatible API (/v1/models, /v1/chat/completions,
    /v1/find). The model (-m), the embedder and OCR load once and stay loaded; without a model
    the server searches, and indexes without captions."""
    from pathlib import Path

    from vidqa.media.collection import AUDIO_EXTENSIONS
    from vidqa.serve.app import bind, create_app
    from vidqa.serve.service import Service

    try:
        import uvicorn
    except ImportError:
        fail("vidqa serve needs the serve extra: pip install 'vidqa[serve]'")
        sys.exit(1)
    config = settings(ctx, options)
    host = config.serve.host
    check_exposed(host, serve_key)
    named = model_named(config)
    pipe = pipeline(ctx, {**options, "api_key": options.get("api_key")}, load_model=named,
                    config=config)
    service = call(Service, list(folders) or ["."], pipe.config, backend=pipe.backend)
    call(service.warm)
    sock = call(bind, host, config.serve.port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    entries = service.library.scan(force=True)
    count = len(entries)
    sound = sum(1 for e in entries if Path(e.path).suffix.lower() in AUDIO_EXTENSIONS)
    model = f"model {pipe.backend.model}" if pipe.backend is not None else \
        "no model: search only, -m MODEL to answer and caption"
    folders = ", ".join(printable(str(root)) for root in service.library.roots)
    of_sound = f" ({sound} sound files)" if sound else ""
    click.echo(f"vidqa: serving {count} recording{'' if count == 1 else 's'}{of_sound} from "
               f"{folders} at "
               f"http://{shown}:{port}/ ({model}); Ctrl-C stops", err=True)
    server = uvicorn.Server(uvicorn.Config(create_app(service, api_key=serve_key, host=host),
                                           log_level="warning", access_log=False))
    server.run(sockets=[sock])


@cli.command()
def paths() -> None:
    """Where vidqa keeps its cache and looks for its config file ($VIDQA_HOME moves both)."""
    click.echo(f"cache:  {cache_dir()}")
    click.echo(f"config: {config_file()}" + ("" if config_file().exists() else " (not present)"))


def main() -> None:
    try:
        cli.main(prog_name="vidqa")
    except KeyboardInterrupt:
        fail("interrupted; nothing incomplete was kept, run the command again to finish")
        sys.exit(130)
    except OSError as exc:  # a write or read the library did not name: still one line
        if os.environ.get("VIDQA_DEBUG"):
            traceback.print_exc()
        from vidqa.store import write_error

        fail(str(write_error(exc, exc.filename or "a file", verb="read or write")))
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - one line unless debugging
        if os.environ.get("VIDQA_DEBUG"):
            traceback.print_exc()
        else:
            first = str(exc).splitlines()[0] if str(exc) else ""
            fail(f"unexpected {type(exc).__name__}: {first} (set VIDQA_DEBUG=1 for the "
                  "traceback, and report it)")
        sys.exit(1)


if __name__ == "__main__":
    main()
