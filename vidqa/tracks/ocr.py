"""On-screen text: OCR on the key frames, one `TextLine` per line of text and the time it shows.

Burned-in subtitles, slide titles, signs, UI text and camera clocks are often the answer to a
question ("what did the caption say when...", "when does 'Enter Password' appear", "what happened
at 12:01:30"), and a vision model asked about a 640x352 frame misreads small text that a
dedicated OCR model reads exactly. The key frames already mark every change of picture, so OCR
runs on them: a caption that stays on screen across several key frames is read where it changed
and merged into one line, half-open [start_s, end_s) from the first frame that shows it to the
next key frame that no longer does (or the video end); a line that changes in place (a clock, a
score) is kept as a series of readings, each with its own time range. Times are the frames' own
absolute times, never recomputed.

The stages, one module each:
- `vidqa.tracks.ocr_engine`: RapidOCR with the models of its wheel, detection and recognition
  as separate steps, one set of sessions per thread, and the cache of what each picture read.
- `vidqa.tracks.ocr_read`: what each key frame gets (a full detection, a cheap look at its own
  size, a region, or nothing) and the merging of readings into lines and series.
- `vidqa.tracks.ocr_pin`: each line pinned to its first frame, and series read at every sampled
  frame where their box changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from vidqa.store import atomic_write_text, write_error
from vidqa.tracks.base import AgentTool, Lane, Segment, TrackBase, keyframes_digest
from vidqa.tracks.ocr_engine import (  # noqa: F401
    DET_SIDE,
    INSTALL_HINT,
    OCR_VERSION,
    OcrEngine,
    engine_name,
    ocr_available,
    similar,
)
from vidqa.tracks.ocr_pin import PIN_FPS, PIN_MATCH, PIN_MAX_S, pin_lines, read_series
from vidqa.tracks.ocr_read import (  # noqa: F401
    MERGE_RATIO,
    MIN_CHARS,
    MIN_SCORE,
    TextLine,
    merge_lines,
    read_keyframes,
)

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult
    from vidqa.tools import Tools


def cache_path(result: IngestResult, engine: str) -> Path:
    """Where the text track of `result` read by the engine named `engine` is kept."""
    settings = (f"{OCR_VERSION}\n{engine}\n{MIN_SCORE}\n{MIN_CHARS}\n{MERGE_RATIO}\n"
                f"{PIN_FPS} {PIN_MAX_S} back {PIN_MATCH} series")  # the work dir keys the fps
    key = hashlib.blake2b(settings.encode(), digest_size=8).hexdigest()
    return result.workdir / "ocr" / f"{key}.json"


def _load(path: Path, engine: str, digest: str, pin: bool = True) -> list[TextLine] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if (data.get("version") != OCR_VERSION or data.get("engine") != engine
                or data.get("keyframes") != digest or data.get("pinned", False) != pin):
            return None
        return [TextLine(float(d["start_s"]), float(d["end_s"]), str(d["text"]),
                         float(d["score"]), d.get("seen_s"),
                         tuple(d["box"]) if d.get("box") else None, d.get("series"))
                for d in data["lines"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def text_track(result: IngestResult, engine: OcrEngine | None = None, *, threads: int = 0,
               on_progress: Callable[[float], None] | None = None,
               pin: bool = True) -> list[TextLine]:
    """The on-screen text of an ingested video, each line pinned to the first 8 fps frame that
    shows it and each series read at every sampled frame (`pin`), cached in its work
    directory.

    A second call with the same key frames and engine reads the cache and runs no OCR.
    `threads` is used only when no `engine` is given.
    """
    engine = engine or OcrEngine(threads=threads)
    path = cache_path(result, engine.name)
    digest = keyframes_digest(result)
    cached = _load(path, engine.name, digest, pin)
    if cached is not None:
        return cached
    lines = read_keyframes(result, engine, on_progress=on_progress)
    if pin:
        lines = read_series(result, pin_lines(result, lines, engine), engine)
    document = {"version": OCR_VERSION, "engine": engine.name, "keyframes": digest,
                "pinned": pin, "lines": [line.to_dict() for line in lines]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path.parent, "the text track in") from None
    atomic_write_text(path, json.dumps(document, ensure_ascii=False, indent=1))
    return lines


def _segment(line: TextLine) -> Segment:
    extras = {"score": line.score, "seen_s": line.seen_s}
    if line.series is not None:
        extras["series"] = line.series
    return Segment(line.start_s, line.end_s, line.text, OcrTrack.name, "text", extras)


class OcrTrack(TrackBase):
    """The on-screen text track (see the module's docstring): one "text" segment per line."""

    name: ClassVar[str] = "ocr"
    version: ClassVar[str] = OCR_VERSION
    kinds: ClassVar[tuple[str, ...]] = ("text",)
    log_kinds: ClassVar[tuple[str, ...]] = ("text",)
    clock_kinds: ClassVar[tuple[str, ...]] = ("text",)
    title_kinds: ClassVar[tuple[str, ...]] = ("text",)
    needs: ClassVar[str] = "ocr"
    unit: ClassVar[str] = "frame"
    label: ClassVar[str] = "On screen"
    prompt_kinds: ClassVar[tuple[str, ...]] = ("text",)
    lane: ClassVar[Lane] = Lane("text", "On screen", ("text",), "#e0a84f")
    tool: ClassVar[AgentTool] = AgentTool("screen_text", "reads the text written on screen in a "
                                          "time range", ("text",))
    noun: ClassVar[str] = "on-screen text lines"

    @classmethod
    def to_json(cls, segments: list[Segment]) -> dict:
        return {"text_lines": [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text}
                               for s in segments]}

    def __init__(self, config, tools: Tools):
        self.config, self.tools = config, tools

    def unavailable(self) -> str | None:
        if self.tools.ocr_name() is not None:  # None: off, or "auto" without the library
            return None
        if self.config.ocr.mode == "off":
            return "on-screen text is off (--ocr off); drop it or pass --ocr on"
        if not ocr_available():
            return f"on-screen text needs the OCR library; {INSTALL_HINT}"
        return "on-screen text is off for this run"

    def prepare(self) -> None:
        self.tools.ocr_engine()  # RapidOCR's import and models: about a second

    def segments(self, result: IngestResult, earlier=None, *,
                 on_progress: Callable[[float], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[Segment]:
        cached = self.cached(result)  # without loading the engine
        if cached is not None:
            return cached
        step = (lambda _pts_s: on_progress(1)) if on_progress else None
        return [_segment(line) for line in
                text_track(result, self.tools.ocr_engine(), on_progress=step)]

    def cached(self, result: IngestResult, earlier=None) -> list[Segment] | None:
        name = self.tools.ocr_name()
        if name is None:
            return None
        lines = _load(cache_path(result, name), name, keyframes_digest(result))
        return None if lines is None else [_segment(line) for line in lines]
