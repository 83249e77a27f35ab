"""Haystacks: long videos to hide needles in, and the ffmpeg splice that hides one.

A haystack is encoded once, H.264 at 30 fps with a closed GOP every 2 seconds and x264's
`stitchable` headers, then cut by stream copy into pieces of one GOP each (cached under
`<cache>/haystacks/`). A haystack of any length is a list of pieces: the first N, or all of
them looped for lengths beyond the source (a 10-hour haystack from a 1-hour one).

A needle at [start_s, end_s) re-encodes only the pieces it touches, with the same encoder
settings, and the cell video is the other pieces and that stretch joined by ffmpeg's concat
demuxer without re-encoding. The needle replaces the picture there (an image or a clip, full
frame) or is burned over it (text): nothing shifts, so every other frame keeps its time and its
pixels, and the range recorded is exact to the frame. Building a 60-minute cell costs a
second or two of copying instead of an hour's re-encode.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vidqa.paths import cache_dir
from vidqa.errors import VidqaError
from vidqa.media.ffmpeg import input_args, local_url, run_ffmpeg
from vidqa.evaluation.needles import Needle
from vidqa.media.probe import open_local, probe
from vidqa.store import atomic_write_text, building, clean_stale, temp_name, write_error
from vidqa.evaluation.synth import demo_plan, drawtext, render
from vidqa.timecode import Timed

FPS = 30
PIECE_FRAMES = 60
PIECE_S = PIECE_FRAMES / FPS
HAYSTACK_VERSION = "1"
WIDTH, HEIGHT = 1280, 720


def encoder_args() -> list[str]:
    """The one encoder setting every piece and every spliced stretch share."""
    return ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-x264-params", f"keyint={PIECE_FRAMES}:min-keyint={PIECE_FRAMES}:scenecut=0:"
            "open-gop=0:stitchable=1", "-r", str(FPS)]


@dataclass(frozen=True)
class Haystack:
    """A cached haystack: `pieces` of PIECE_S seconds each, in order."""

    key: str
    directory: Path
    source: str  # "generated (seed 0)" or the source videos
    width: int
    height: int
    pieces: tuple[Path, ...]

    @property
    def duration_s(self) -> float:
        return len(self.pieces) * PIECE_S

    def length_for(self, length_s: float) -> float:
        """The length a haystack asked to be `length_s` long has: whole pieces."""
        return max(1, round(length_s / PIECE_S)) * PIECE_S

    def pieces_for(self, length_s: float) -> list[Path]:
        """The pieces of a haystack `length_s` long (rounded to whole pieces), looped as needed."""
        count = round(self.length_for(length_s) / PIECE_S)
        return [self.pieces[i % len(self.pieces)] for i in range(count)]

    def to_dict(self) -> dict:
        return {"key": self.key, "source": self.source, "width": self.width,
                "height": self.height, "fps": FPS, "duration_s": self.duration_s}


def _concat_list(paths: Sequence[Path], where: Path) -> Path:
    lines = []
    for p in paths:
        escaped = str(Path(p).resolve()).replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    where.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return where


def _cut_pieces(video: Path, folder: Path, frames: int) -> list[Path]:
    """Stream-copy `video` into one-GOP pieces; a partial last piece is dropped."""
    splits = ",".join(str(PIECE_FRAMES * i) for i in range(1, frames // PIECE_FRAMES + 1))
    args = [*input_args(video), "-map", "0:v:0", "-c", "copy", "-f", "segment",
            "-reset_timestamps", "1", "-segment_format", "mp4"]
    if splits:
        args += ["-segment_frames", splits]
    run_ffmpeg([*args, local_url(folder / "p%06d.mp4")], f"cannot cut '{video}' into pieces",
                "check free space")
    pieces = sorted(folder.glob("p*.mp4"))
    whole = frames // PIECE_FRAMES
    for extra in pieces[whole:]:
        extra.unlink()
    return pieces[:whole]


def _frame_count(video: Path) -> int:
    with open_local(video) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


def _key(*parts) -> str:
    text = json.dumps([HAYSTACK_VERSION, encoder_args(), *parts], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _source_videos_digest(videos: Sequence[Path]) -> list:
    from vidqa.store import fingerprint

    return [fingerprint(v) for v in videos]  # content, not the path it was given by


def _normalise_args(videos: Sequence[Path], width: int, height: int, seconds: float) -> list[str]:
    """One ffmpeg call: every source scaled into width x height (square pixels, rotation
    applied), 30 fps, joined end to end, cut to `seconds`."""
    inputs, chains, labels = [], [], []
    for i, video in enumerate(videos):
        inputs += input_args(video)
        chains.append(f"[{i}:v:0]scale='iw*sar':ih,setsar=1,scale={width}:{height}:"
                      "force_original_aspect_ratio=decrease,pad="
                      f"{width}:{height}:(ow-iw)/2:(oh-ih)/2,fps={FPS},format=yuv420p[v{i}]")
        labels.append(f"[v{i}]")
    graph = ";".join(chains) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=1:a=0[out]"
    return [*inputs, "-filter_complex", graph, "-map", "[out]", "-t", f"{seconds:.3f}"]


def build_haystack(videos: Sequence[str | os.PathLike] = (), *, minutes: float = 10.0,
                   seed: int = 0, on_status: Callable[[str], None] | None = None) -> Haystack:
    """The haystack made from `videos` (joined in order, as long as they last) or, without
    videos, generated by the tool: `minutes` of varied shots with caption events (which are
    distractors for text needles). Cached; a second call returns at once."""
    paths = [Path(v) for v in videos]
    if paths:
        infos = [probe(p) for p in paths]  # a bad file fails here, with its own message
        sound = next((i.path for i in infos if not i.has_picture), None)
        if sound is not None:
            raise VidqaError(f"'{sound}' has no picture, and a haystack is made of videos; pass "
                             "videos (with --sound-only the cells keep only their sound)")
        width = min(WIDTH, max(i.display_width for i in infos)) // 2 * 2
        height = min(HEIGHT, max(i.display_height for i in infos)) // 2 * 2
        total = sum(i.duration_s or 0.0 for i in infos)
        seconds = math.floor(min(total or minutes * 60, minutes * 60) / PIECE_S) * PIECE_S
        if seconds < PIECE_S:
            raise VidqaError(f"'{paths[0]}' is too short for a haystack: the videos last "
                             f"{total:.1f} s, at least {PIECE_S:g} s are needed")
        key = _key("videos", _source_videos_digest(paths), width, height, seconds)
        source = ", ".join(str(p) for p in paths)
    else:
        width, height = WIDTH, HEIGHT
        seconds = max(PIECE_S, round(minutes * 60 / PIECE_S) * PIECE_S)
        key = _key("generated", seed, seconds, width, height)
        source = f"generated (seed {seed})"
    directory = cache_dir() / "haystacks" / key
    cached = _load(directory, key)
    if cached is not None:
        return cached
    with building(directory, "the haystack cache at", tag=key) as tmp:
        (tmp / "pieces").mkdir()
        base = tmp / "base.mp4"
        if on_status:
            on_status(f"encoding a {seconds / 60:g}-minute haystack ({source})")
        if paths:
            run_ffmpeg([*_normalise_args(paths, width, height, seconds), *encoder_args(),
                         local_url(base)],
                        f"cannot make a haystack of '{source}'", "check that the videos decode "
                        "(vidqa ingest shows which one fails)")
        else:
            plan = demo_plan(seconds / 60, seed=seed, event_every_s=90.0, width=width,
                             height=height, fps=FPS)
            render(plan, base, encoder=encoder_args(), write_truth=False)
        pieces = _cut_pieces(base, tmp / "pieces", _frame_count(base))
        base.unlink()
        manifest = {"key": key, "source": source, "width": width, "height": height,
                    "pieces": [p.name for p in pieces]}
        atomic_write_text(tmp / "haystack.json", json.dumps(manifest))
    loaded = _load(directory, key)
    if loaded is None:
        raise VidqaError(f"cannot store the haystack in '{directory}'; remove it and run again")
    return loaded


def _load(directory: Path, key: str) -> Haystack | None:
    try:
        data = json.loads((directory / "haystack.json").read_text(encoding="utf-8"))
        pieces = tuple(directory / "pieces" / name for name in data["pieces"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if data.get("key") != key or not pieces or not all(p.is_file() for p in pieces):
        return None
    return Haystack(key, directory, data["source"], data["width"], data["height"], pieces)


# --- splicing a needle in ------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell(Timed):
    """A haystack with one needle in it: the video and the needle's exact range."""

    video: Path
    duration_s: float
    needle: Needle
    start_s: float
    end_s: float  # half-open [start_s, end_s)
    spliced_s: tuple[float, float]  # the stretch that was re-encoded


def needle_start(length_s: float, depth: float, duration_s: float) -> float:
    """Where a needle `duration_s` long starts at `depth` (0..1) of a haystack, on a frame."""
    room = max(0.0, length_s - duration_s)
    return round(depth * room * FPS) / FPS


def _needle_filter(needle: Needle, first: int, last: int, stretch_s: float, width: int,
                   height: int, work: Path) -> tuple[list[str], str]:
    """Extra inputs and the filter graph that puts `needle` on frames first..last (inclusive)
    of a re-encoded stretch `stretch_s` long."""
    enable = f"between(n\\,{first}\\,{last})"
    if needle.kind == "text":
        words = work / "needle.txt"
        words.write_text(needle.text, encoding="utf-8")
        # About 0.6 em per character: shrink a long line so it stays on screen.
        size = min(height // 14, int(width * 0.9 / (0.6 * max(1, len(needle.text)))))
        text = drawtext("", size, "(w-text_w)/2", "h*0.12", box=True, textfile=words)
        return [], f"[0:v]{text}:enable='{enable}'[out]"
    fit = (f"scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:"
           f"(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p")
    if needle.kind == "image":
        inputs = ["-loop", "1", "-framerate", str(FPS), "-t", f"{stretch_s:.3f}",
                  *input_args(needle.path)]
        return inputs, (f"[1:v]{fit}[n];[0:v][n]overlay=0:0:eof_action=pass:"
                        f"enable='{enable}'[out]")
    # A clip: its frames on the 30 fps grid, shifted by whole frames to the needle's start.
    inputs = input_args(needle.path)
    return inputs, (f"[1:v:0]fps={FPS},trim=duration={needle.duration_s:.3f},{fit},"
                    f"settb=1/{FPS},setpts=PTS-STARTPTS+{first}[n];"
                    f"[0:v][n]overlay=0:0:eof_action=pass:enable='{enable}'[out]")


def _extradata(path: Path) -> bytes:
    with open_local(path) as container:
        return bytes(container.streams.video[0].codec_context.extradata or b"")


def _speak(pieces: Sequence[Path], needle: Needle, start_s: float, total_s: float, out: Path,
           work: Path, *, sound_only: bool = False) -> None:
    """Write `out`: the pieces joined as they are, with a sound track of quiet pink noise and
    the needle's sentence from `start_s` (a haystack has no sound of its own); `sound_only`:
    that sound track alone, no picture (`out` a sound file name: .m4a)."""
    from vidqa.evaluation.spoken import AUDIO_ENCODER, SAMPLE_RATE, Said, sound_track

    said = Said(start_s, start_s + needle.duration_s, needle.text, needle.path)
    bed = f"anoisesrc=r={SAMPLE_RATE}:color=pink:amplitude=0.01:duration={total_s:.3f}"
    inputs, graph = sound_track([said], total_s, 0 if sound_only else 1, bed=bed)
    tmp = work / f"cell{out.suffix}"
    picture = [] if sound_only else \
        ["-f", "concat", "-safe", "0", *input_args(_concat_list(pieces, work / "all.txt"))]
    run_ffmpeg([*picture, *inputs, "-filter_complex", graph,
                *([] if sound_only else ["-map", "0:v", "-c:v", "copy"]), "-map", "[aout]",
                *AUDIO_ENCODER, "-movflags", "+faststart", local_url(tmp)],
               f"cannot put needle '{needle.id}' into '{out}'",
               f"check '{needle.path}' (a sound file ffmpeg can read)")
    tmp.replace(out)


def splice(haystack: Haystack, length_s: float, needle: Needle, start_s: float,
           out: str | os.PathLike, *, threads: int = 0, sound_only: bool = False) -> Cell:
    """Write `out`: the haystack `length_s` long with `needle` from `start_s` for its
    duration. Only the pieces under the needle are re-encoded. `sound_only` (a spoken
    needle): the sound alone, no picture."""
    out = Path(out)
    pieces = haystack.pieces_for(length_s)
    total_s = len(pieces) * PIECE_S
    first_frame = round(start_s * FPS)
    frames = max(1, round(needle.duration_s * FPS))
    if first_frame + frames > len(pieces) * PIECE_FRAMES:
        raise VidqaError(f"needle '{needle.id}' at {start_s:.2f} s for {needle.duration_s:g} s "
                         f"does not fit in a {total_s:g}-second haystack; use a shorter needle")
    i1 = first_frame // PIECE_FRAMES
    i2 = math.ceil((first_frame + frames) / PIECE_FRAMES)
    local_first = first_frame - i1 * PIECE_FRAMES
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out.parent)
        work = out.parent / temp_name("cell")
        work.mkdir()
    except OSError as exc:
        raise write_error(exc, out) from None
    if sound_only and needle.kind != "spoken":
        raise VidqaError(f"needle '{needle.id}' is a {needle.kind} needle, which a sound-only "
                         "cell cannot hold; use spoken needles (--needles builtin-spoken)")
    try:
        if needle.kind == "spoken":  # the picture stays as it is: only a sound track is added
            _speak(pieces, needle, first_frame / FPS, total_s, out, work, sound_only=sound_only)
            return Cell(out, total_s, needle, first_frame / FPS, (first_frame + frames) / FPS,
                        (0.0, 0.0))
        stretch = work / "stretch.mp4"
        inputs, graph = _needle_filter(needle, local_first, local_first + frames - 1,
                                       (i2 - i1) * PIECE_S, haystack.width, haystack.height,
                                       work)
        run_ffmpeg(["-f", "concat", "-safe", "0", *input_args(_concat_list(pieces[i1:i2],
                                                                            work / "under.txt")),
                     *inputs, "-filter_complex", graph, "-map", "[out]", *encoder_args(),
                     "-threads", str(threads),
                     "-frames:v", str((i2 - i1) * PIECE_FRAMES), local_url(stretch)],
                    f"cannot put needle '{needle.id}' into '{out}'",
                    "check the needle's text" if needle.kind == "text" else
                    f"check '{needle.path}' (vidqa inspect shows whether it decodes)")
        if _extradata(stretch) != _extradata(pieces[0]):
            raise VidqaError(f"cannot splice needle '{needle.id}' into '{out}': the re-encoded "
                             "stretch has other stream headers than the haystack; report this "
                             "with `vidqa --version` and the ffmpeg version")
        joined = [*pieces[:i1], stretch, *pieces[i2:]]
        tmp = work / f"cell{out.suffix}"  # beside `out`: the rename is atomic; removed on failure
        run_ffmpeg(["-f", "concat", "-safe", "0", *input_args(_concat_list(joined, work / "all.txt")),
                     "-c", "copy", "-movflags", "+faststart", local_url(tmp)],
                    f"cannot write '{out}'", "check free space")
        tmp.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Cell(out, total_s, needle, first_frame / FPS, (first_frame + frames) / FPS,
                (i1 * PIECE_S, i2 * PIECE_S))
