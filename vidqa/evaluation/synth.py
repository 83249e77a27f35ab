"""Videos the project makes itself with ffmpeg's `lavfi` sources: samples, tests, benchmarks.

A plan is a list of segments (each a shot with hard cuts between them) and of short events
drawn inside them, so every generated video comes with its ground truth: cut times and event
time ranges, in seconds.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidqa.errors import VidqaError
from vidqa.media.ffmpeg import local_url, run_ffmpeg
from vidqa.store import atomic_write_text, temp_path, write_error
from vidqa.timecode import Timed

FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                   "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                   "/Library/Fonts/Arial.ttf", "C:/Windows/Fonts/arial.ttf")
SHOT_KINDS = ("slide", "bars", "pattern", "life", "gradient", "cells", "plasma")
COLORS = ("0x1f3b73", "0x6b1f1f", "0x1f5b2f", "0x3f3f3f", "0x5b4a1f", "0x2f1f5b", "0x0f4f4f")


@dataclass
class Event(Timed):
    """Something on screen for a while: a caption box inside a shot (absolute seconds)."""

    start_s: float
    end_s: float
    text: str


@dataclass
class Shot:
    kind: str
    duration_s: float
    title: str
    seed: int = 0
    events: list[Event] = field(default_factory=list)  # times relative to the segment start


@dataclass
class Plan:
    segments: list[Shot]
    width: int = 1280
    height: int = 720
    fps: int = 30
    clock: bool = False  # burn the video's own time into every frame
    speech: list = field(default_factory=list)  # `spoken.Said`: sentences on the sound track

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    def cuts_s(self) -> list[float]:
        out, t = [], 0.0
        for seg in self.segments[:-1]:
            t += seg.duration_s
            out.append(round(t, 6))
        return out

    def events(self) -> list[Event]:
        out, t = [], 0.0
        for seg in self.segments:
            out += [Event(round(t + e.start_s, 6), round(t + e.end_s, 6), e.text) for e in seg.events]
            t += seg.duration_s
        return out

    def truth(self) -> dict:
        truth = {"duration_s": self.duration_s, "cuts_s": self.cuts_s(),
                 "events": [asdict(e) for e in self.events()]}
        if self.speech:
            truth["speech"] = [s.to_dict() for s in self.speech]
        return truth


def font_file() -> str | None:
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return None


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'").replace(",", "\\,")


def drawtext(text: str, size: int, x: str, y: str, color: str = "white", box: bool = False,
          enable: str | None = None, textfile: str | Path | None = None,
          expand: bool = False) -> str:
    """A drawtext filter. With `textfile` the words come from that file verbatim (no `%`
    expansion, no escaping to get wrong): the way to draw text a person wrote; `expand` lets
    drawtext expand its `%{...}` functions in the file (a clock)."""
    font = font_file()
    words = (f"textfile='{_escape(str(textfile))}'" + ("" if expand else ":expansion=none")
             if textfile is not None else f"text='{_escape(text)}'")
    parts = [words, f"fontsize={size}", f"fontcolor={color}", f"x={x}", f"y={y}"]
    if font:
        parts.insert(0, f"fontfile='{font}'")
    if box:
        parts += ["box=1", "boxcolor=black@0.85", "boxborderw=24"]
    if enable:
        parts.append(f"enable='{enable}'")
    return "drawtext=" + ":".join(parts)


def _source(seg: Shot, w: int, h: int, fps: int) -> str:
    d = f"{seg.duration_s:.3f}"
    rng = random.Random(seg.seed)
    if seg.kind == "slide":
        color = COLORS[seg.seed % len(COLORS)]
        return (f"color=c={color}:s={w}x{h}:r={fps}:d={d},"
                + drawtext(seg.title, h // 12, "(w-text_w)/2", "h/3") + ","
                + drawtext(f"slide {seg.seed}  -  vidqa sample", h // 30, "(w-text_w)/2", "h/2"))
    if seg.kind == "bars":
        return f"smptehdbars=s={w}x{h}:r={fps}:d={d}"
    if seg.kind == "pattern":
        return f"testsrc2=s={w}x{h}:r={fps}:d={d}"
    if seg.kind == "life":
        return (f"life=s={w // 8}x{h // 8}:r={fps}:seed={seg.seed}:mold=10:ratio=0.1:"
                f"life_color=0x{rng.randrange(0x404040, 0xffffff):06x}:death_color=0x101010,"
                f"scale={w}:{h}:flags=neighbor,trim=duration={d}")
    if seg.kind == "gradient":
        return (f"gradients=s={w}x{h}:r={fps}:d={d}:speed=0.005:seed={seg.seed}:"
                f"c0=0x{rng.randrange(0xffffff):06x}:c1=0x{rng.randrange(0xffffff):06x}")
    if seg.kind == "cells":
        return (f"cellauto=s={w // 4}x{h // 4}:r={fps}:rule={rng.choice([18, 30, 90, 110])}:"
                f"seed={seg.seed},scale={w}:{h}:flags=neighbor,trim=duration={d}")
    if seg.kind == "plasma":
        return (f"mandelbrot=s={w // 4}x{h // 4}:r={fps}:start_scale=3:end_scale=2.5:"
                f"end_pts={seg.duration_s * 40:.0f},scale={w}:{h},trim=duration={d}")
    raise ValueError(f"unknown segment kind {seg.kind!r}; valid: {', '.join(SHOT_KINDS)}")


def _segment_filter(seg: Shot, plan: Plan) -> str:
    w, h = plan.width, plan.height
    chain = [_source(seg, w, h, plan.fps)]
    for event in seg.events:
        when = f"between(t,{event.start_s:.3f},{event.end_s - 0.001:.3f})"
        chain.append(drawtext(event.text, h // 14, "(w-text_w)/2", "h*0.72", color="yellow",
                           box=True, enable=when))
    chain.append(f"format=yuv420p,setsar=1,fps={plan.fps}")
    return ",".join(chain)


def render(plan: Plan, path: str | Path, *, crf: int = 23, preset: str = "medium",
           threads: int = 0, write_truth: bool = True,
           encoder: Sequence[str] | None = None) -> Path:
    """Encode `plan` to an H.264 MP4 (libx264, B-frames on as by default), with an AAC sound
    track when the plan speaks; write its truth. `encoder` replaces the video encoder
    arguments (codec, preset, quality) when given."""
    parts, labels = [], []
    for i, seg in enumerate(plan.segments):
        parts.append(f"{_segment_filter(seg, plan)}[s{i}]")
        labels.append(f"[s{i}]")
    graph = ";".join(parts) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=1:a=0"
    if plan.clock:
        graph += "," + drawtext("%{pts:hms}", plan.height // 10, "w*0.05", "h*0.05",
                             box=True)
    graph += "[out]"
    audio_inputs, audio_maps = [], []
    if plan.speech:
        from vidqa.evaluation.spoken import AUDIO_ENCODER, sound_track

        audio_inputs, audio_graph = sound_track(plan.speech, plan.duration_s, 0)
        graph += ";" + audio_graph
        audio_maps = ["-map", "[aout]", *AUDIO_ENCODER]
    return _encode(path, [*audio_inputs, "-filter_complex", graph, "-map", "[out]", *audio_maps],
                   plan.truth() if write_truth else None, crf=crf, preset=preset,
                   threads=threads, encoder=encoder)


def _encode(path: str | Path, arguments: list[str], truth: dict | None, *, crf: int = 23,
            preset: str = "medium", threads: int = 0,
            encoder: Sequence[str] | None = None) -> Path:
    """Run ffmpeg with `arguments` (inputs, graph, maps) into `path` through a temporary, and
    write `truth` beside it as .truth.json."""
    path = Path(path)
    if path.is_dir():
        raise VidqaError(f"cannot write '{path}': it is a folder; pass a file name such as "
                         f"'{path / 'sample.mp4'}'")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path) from None
    tmp = temp_path(path, path.suffix)
    try:
        run_ffmpeg([*arguments,
                    *(encoder or ["-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                                  "-pix_fmt", "yuv420p"]),
                    "-threads", str(threads), "-movflags", "+faststart", local_url(tmp)],
                   what=f"cannot write '{path}'",
                   fix="check that the folder is writable and has free space")
    except VidqaError:
        tmp.unlink(missing_ok=True)
        raise
    try:
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(exc, path) from None
    if truth is not None:
        atomic_write_text(path.with_suffix(".truth.json"), json.dumps(truth, indent=1))
    return path


CLOCK_FORMAT = "%Y-%m-%d %H:%M:%S"


def render_camera(path: str | Path, *, duration_s: float = 180.0,
                  clock: Sequence[tuple[float, str]] = ((0.0, "2024-12-05 12:00:00"),),
                  label: str = "CAM 03", width: int = 1280, height: int = 720, fps: int = 30,
                  overlays: Sequence[tuple] = (), crf: int = 23,
                  preset: str = "medium", threads: int = 0) -> Path:
    """Footage like a security camera's: a moving picture (ffmpeg's testsrc2, its own counter
    cropped away) with a burned-in wall clock at the top left, `LABEL  YYYY-MM-DD HH:MM:SS`,
    ticking every second. `clock`: (video second, wall-clock time shown from then on) for the
    start and every restart (a camera that was reset jumps to another time). `overlays`:
    (start_s, end_s, text[, y]) lines drawn for a while (a caption, a score), centred, at the
    drawtext expression `y` (default "h*0.75": the lower third).
    The truth (.truth.json) lists the clock's stretches and the overlays."""
    import tempfile
    from datetime import datetime, timezone

    stretches = sorted((float(t), wall) for t, wall in clock)
    if not stretches or stretches[0][0] != 0.0:
        raise ValueError("the clock must start at 0.0 s")
    bounds = [t for t, _ in stretches[1:]] + [duration_s]
    crop = height // 18  # testsrc2 draws its own counter in the top rows
    filters, truth_clock = [f"crop={width}:{height}:0:{crop}"], []
    with tempfile.TemporaryDirectory(prefix="vidqa-camera-") as folder:
        for i, ((start, wall), end) in enumerate(zip(stretches, bounds)):
            epoch = datetime.strptime(wall, CLOCK_FORMAT).replace(tzinfo=timezone.utc)
            offset = epoch.timestamp() - start
            textfile = Path(folder) / f"clock{i}.txt"
            textfile.write_text(f"{label}  %{{pts:gmtime:{offset:.3f}:%Y-%m-%d %H\\:%M\\:%S}}",
                                encoding="utf-8")
            filters.append(drawtext("", height // 20, "w*0.02", "h*0.03", textfile=textfile,
                                    expand=True,
                                    enable=f"between(t,{start:.3f},{end - 0.001:.3f})")
                           + ":box=1:boxcolor=black@0.6:boxborderw=6")
            truth_clock.append({"start_s": start, "end_s": end, "wall": wall})
        for start, end, text, *where in overlays:
            filters.append(drawtext(text, height // 14, "(w-text_w)/2",
                                    where[0] if where else "h*0.75", color="yellow", box=True,
                                    enable=f"between(t,{start:.3f},{end - 0.001:.3f})"))
        filters.append("format=yuv420p,setsar=1")
        truth = {"duration_s": duration_s, "clock": truth_clock,
                 "events": [{"start_s": o[0], "end_s": o[1], "text": o[2]} for o in overlays]}
        source = f"testsrc2=s={width}x{height + crop}:r={fps}:d={duration_s:.3f}"
        return _encode(path, ["-f", "lavfi", "-i", source, "-vf", ",".join(filters)], truth,
                       crf=crf, preset=preset, threads=threads)


DEMO_SPEECH = (  # (line, where: a fraction of the length, or "event" for the first event)
    ("demo-welcome", 0.0), ("demo-event", "event"), ("demo-invoices", 0.45),
    ("demo-budget", 0.75))


def demo_plan(minutes: float, *, seed: int = 0, event_every_s: float = 120.0,
              min_shot_s: float = 20.0, max_shot_s: float = 75.0, width: int = 1280,
              height: int = 720, fps: int = 30, speech: bool = False) -> Plan:
    """Varied shots of 20-75 s; static slides carry a 2-second caption event now and then.
    `speech`: a few shipped sentences on the sound track (one as the first event shows, one
    at the start, the others later), where they fit."""
    rng = random.Random(seed)
    total = minutes * 60.0
    segments: list[Shot] = []
    t, next_event, n = 0.0, event_every_s / 2, 0
    while t < total - 1e-6:
        duration = min(round(rng.uniform(min_shot_s, max_shot_s), 1), round(total - t, 3))
        kind = "slide" if n % 2 == 0 else rng.choice(SHOT_KINDS[1:])
        seg = Shot(kind=kind, duration_s=duration, title=f"Part {n + 1}", seed=seed * 1000 + n)
        if kind == "slide" and duration >= 8:
            while next_event < t + 2:
                next_event += event_every_s
            while next_event + 4 < t + duration:
                start = round(next_event - t, 1)
                seg.events.append(Event(start, start + 2.0, f"EVENT {len(seg.events) + 1} AT {n}"))
                next_event += event_every_s
        segments.append(seg)
        t += duration
        n += 1
    plan = Plan(segments, width=width, height=height, fps=fps)
    if speech:
        plan.speech = _demo_speech(plan)
    return plan


def _demo_speech(plan: Plan) -> list:
    from vidqa.evaluation.spoken import say

    events = plan.events()
    said: list = []
    for line_id, where in DEMO_SPEECH:
        if where == "event":
            if not events:
                continue
            start = events[0].start_s + 0.5
        else:
            start = 2.0 + where * plan.duration_s
        placed = say(line_id, start)
        if placed.end_s <= plan.duration_s - 0.5 and not any(placed.overlaps(s) for s in said):
            said.append(placed)
    return sorted(said, key=lambda s: s.start_s)
