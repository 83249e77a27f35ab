"""Tracks: what happens at which second, one source each, behind a small protocol and a registry.

A track turns an ingested video into `Segment`s: a half-open [start_s, end_s) in absolute seconds,
the text, the `source` (the track's name) and the `kind` of segment ("text" for a line of
on-screen text, "summary" and "event" for model captions, ...), with `extras` a track may add
(an OCR confidence, a chunk index). The index, `find`, the `ask` prompts and the event log read
segments from any track the same way, so a new source (speech) is one new class registered here,
not new wiring.

Each track declares what it needs (`needs`: nothing, an optional extra, or a model) and which
tracks it reads (`uses`: captions read the on-screen text, so OCR runs whenever captions do), says
whether it can run (`unavailable`: None, or why not and the fix), and caches its segments keyed by
the video's content and key frames (its work dir), its settings and its own `version`: a second
run with the same inputs reads the cache and does no work (`cached` reads it without working,
as `find` does when no model is loaded).

The registry maps a name to "module:Class" (as the backends' does), so listing the tracks (the
`--tracks` help) imports none of them. Plugins call `register_track`.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from vidqa.errors import ConfigError, VidqaError
from vidqa.timecode import Timed

if TYPE_CHECKING:
    from pathlib import Path

    from vidqa.config import Config
    from vidqa.keyframes.ingest import IngestResult
    from vidqa.media.probe import VideoInfo


@dataclass(frozen=True)
class Segment(Timed):
    """One thing a track says happens: half-open [start_s, end_s) in absolute seconds."""

    start_s: float
    end_s: float
    text: str
    source: str  # the track that made it: "ocr", "captions", ...
    kind: str  # what it is within the track: "text", "summary", "event", ...
    extras: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        data = asdict(self)
        if not self.extras:
            del data["extras"]
        return data


@dataclass(frozen=True)
class Media:
    """What a track that reads no key frames gets (`frames = False`: speech): the probed file
    and its cache folder. It runs beside the decode instead of after it. An `IngestResult` has
    the same two attributes, so such a track takes either."""

    video: VideoInfo
    folder: Path  # <cache>/videos/<fingerprint>


class Track(Protocol):
    """A source of segments. Capabilities and needs are plain class attributes."""

    name: ClassVar[str]  # registry name, and the `source` of its segments
    version: ClassVar[str]  # bump when the same input would give other segments
    kinds: ClassVar[tuple[str, ...]]  # the kinds of segment it makes
    log_kinds: ClassVar[tuple[str, ...]]  # the kinds that belong in the event log
    needs: ClassVar[str]  # "" (nothing), "model", or the pip extra it needs, e.g. "ocr"
    uses: ClassVar[tuple[str, ...]]  # tracks whose segments it reads (optional; none)
    unit: ClassVar[str]  # what `on_progress` counts: "frame" (key frames), "chunk" or "s"
    frames: ClassVar[bool]  # reads the key frames (optional; True): False runs it on `Media`,
    # beside the decode, and without one where only it is asked for (`vidqa transcript`)
    clock_kinds: ClassVar[tuple[str, ...]]  # kinds whose text may show a wall clock burned
    # into the picture, read as it changes (optional; none): `find --at` maps them

    def unavailable(self) -> str | None:
        """None when the track can run here; else why not, with the fix."""
        ...

    # Optional: `prepare()` loads what making segments needs (models), called in a thread
    # beside a decode that is not cached, so the loading hides behind it.

    def segments(self, result: IngestResult, earlier: dict[str, list[Segment]], *,
                 on_progress: Callable[[float], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[Segment]:
        """The video's segments, from the cache when there; `earlier` holds the segments of
        the tracks that run before it (captions read the on-screen text). `on_progress(n)`
        is called as work gets done, with how many `unit`s (key frames, chunks, seconds);
        `warn(text)` is told of what the track made but lost on the way (sound that stops
        decoding part way): the run goes on with what was made."""
        ...

    def cached(self, result: IngestResult, earlier: dict[str, list[Segment]]
               ) -> list[Segment] | None:
        """The cached segments, or None when any are missing; never does the work."""
        ...


class TrackSkipped(VidqaError):
    """A track that cannot be made for this video (a broken audio stream): the run goes on
    without it and says so."""


@dataclass(frozen=True)
class TrackSpec:
    name: str
    target: str  # "module:Class"
    summary: str


# In the order they run: a track may read the segments of those before it.
REGISTRY: dict[str, TrackSpec] = {
    "ocr": TrackSpec("ocr", "vidqa.tracks.ocr:OcrTrack",
                     "on-screen text read by OCR on the key frames (`pip install 'vidqa[ocr]'`)"),
    "speech": TrackSpec("speech", "vidqa.tracks.speech:SpeechTrack",
                        "what is said: the file's subtitles, or speech recognition "
                        "(`pip install 'vidqa[speech]'`)"),
    "captions": TrackSpec("captions", "vidqa.tracks.captions:CaptionsTrack",
                          "chunk summaries and timestamped events written by the model"),
}


def register_track(name: str, target: str, summary: str = "") -> None:
    """Add a track (a class following `Track`, named "module:Class") after the built-in ones."""
    REGISTRY[name] = TrackSpec(name, target, summary)


def track_names() -> list[str]:
    return list(REGISTRY)


def parse_tracks(value: str | None) -> tuple[str, ...] | None:
    """`--tracks ocr,captions` as names in registry order ("all" or None: every track)."""
    if value is None or value.strip() in ("", "all"):
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ConfigError(f"unknown track(s) {', '.join(map(repr, unknown))}; choose from "
                          f"{', '.join(REGISTRY)} or all")
    return tuple(n for n in REGISTRY if n in names)


def get_track(name: str) -> type:
    """The track class registered under `name`."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise ConfigError(f"unknown track '{name}'; choose one of: {', '.join(REGISTRY)}")
    module_name, class_name = spec.target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def segment_kinds() -> tuple[str, ...]:
    """Every kind of segment the registered tracks make, in registry order (looked up once
    per registry: every index open and search asks)."""
    return _kinds(tuple(REGISTRY.values()))


@functools.lru_cache(maxsize=8)
def _kinds(specs: tuple[TrackSpec, ...]) -> tuple[str, ...]:
    kinds: list[str] = []
    for spec in specs:
        kinds += [k for k in get_track(spec.name).kinds if k not in kinds]
    return tuple(kinds)


def in_order(segments: list[Segment]) -> list[Segment]:
    """Segments sorted by time, then by track (registry order), keeping each track's order."""
    rank = {name: i for i, name in enumerate(REGISTRY)}
    return sorted(segments, key=lambda s: (s.start_s, s.end_s, rank.get(s.source, len(rank))))


_TOOLS_LOCK = threading.RLock()


@dataclass
class Tools:
    """What the runs of a pipeline share, each made once: the OCR engine (on first use, from
    the settings, unless `engine_set` says `engine` was given), the embedder, and the model
    (`backend`, when one is loaded; without one, model tracks give what their cache holds)."""

    config: Config
    backend: Any = None
    engine: Any = None
    embedder: Any = None
    engine_set: bool = False
    asr: Any = None  # the speech recogniser, loaded once

    def ocr_engine(self):
        """The OCR engine the settings ask for (`index.ocr`), or None when OCR is off, or
        "auto" and the OCR library is not installed. Made once, whichever thread asks first
        (a track's `prepare` may, beside the decode)."""
        with _TOOLS_LOCK:
            if not self.engine_set:
                from vidqa.tracks.ocr import engine_for

                index = self.config.index
                self.engine = engine_for(index.ocr, index.ocr_threads, index.ocr_size)
                self.engine_set = True
        return self.engine

    def ocr_name(self) -> str | None:
        """The name of the engine `ocr_engine()` gives (its text tracks are cached under it),
        None when it gives none; known without loading the OCR library when no engine was
        made or given yet."""
        if self.engine_set:
            return getattr(self.engine, "name", None)
        from vidqa.tracks.ocr import engine_name, ocr_available

        mode = self.config.index.ocr
        if mode == "off" or (mode == "auto" and not ocr_available()):
            return None
        return engine_name(self.config.index.ocr_size)

    def search_embedder(self):
        """The embedder the settings name (`index.embedder`), loaded once."""
        if self.embedder is None:
            from vidqa.search.index import get_embedder

            self.embedder = get_embedder(self.config.index.embedder)
        return self.embedder
