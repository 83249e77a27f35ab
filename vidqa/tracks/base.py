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

Each track also declares how it shows wherever segments are shown (`TrackBase` holds the
defaults): the label a prompt puts before its lines (`label`, "Said"), the page's timeline lane
(`lane`), the agent's tool that reads it (`tool`), its key in `vidqa index --json` (`to_json`)
and the event log's kinds (`log_kinds`). The prompts, the page, the agent, `--json`, the report
and the event log loop over the registry: none of them names a track.

The registry maps a name to "module:Class" (as the backends' does), so listing the tracks (the
`--tracks` help) imports none of them. Plugins call `register_track`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from vidqa.errors import ConfigError, VidqaError
from vidqa.timecode import Timed

if TYPE_CHECKING:
    from pathlib import Path

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


@dataclass(frozen=True)
class Lane:
    """A track's lane on the page's timeline: its `key` in the timeline data, the `title`
    written beside it, the segment `kinds` it draws, and its CSS `colour`."""

    key: str
    title: str
    kinds: tuple[str, ...]
    colour: str


@dataclass(frozen=True)
class AgentTool:
    """The agent's tool that reads a track over a time range: `{"tool": name, "args":
    {"start_s": .., "end_s": ..}}`; `about` completes "- name: ... {about}" in the prompt."""

    name: str
    about: str
    kinds: tuple[str, ...]


class Track(Protocol):
    """A source of segments. Capabilities, needs and how it shows are plain class attributes
    (defaults in `TrackBase`, which every track subclasses)."""

    name: ClassVar[str]  # registry name, and the `source` of its segments
    version: ClassVar[str]  # bump when the same input would give other segments
    kinds: ClassVar[tuple[str, ...]]  # the kinds of segment it makes
    needs: ClassVar[str]  # "" (nothing), "model", or the pip extra it needs, e.g. "ocr"

    def unavailable(self) -> str | None:
        """None when the track can run here; else why not, with the fix."""
        ...

    # Optional: `prepare()` loads what making segments needs (models), called in a thread
    # beside a decode that is not cached, so the loading hides behind it.

    def segments(self, result: IngestResult, earlier: dict[str, list[Segment]], *,
                 on_progress: Callable[[float], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[Segment]:
        """The video's segments, from the cache when there; `earlier` holds the segments of
        the tracks it declares in `uses` (captions read the on-screen text and speech), and
        only those. `on_progress(n)` is called as work gets done, with how many `unit`s (key
        frames, chunks, seconds); `warn(text)` is told of what the track made but lost on the
        way (sound that stops decoding part way): the run goes on with what was made."""
        ...

    def cached(self, result: IngestResult, earlier: dict[str, list[Segment]]
               ) -> list[Segment] | None:
        """The cached segments, or None when any are missing; never does the work."""
        ...

    # Optional, for a track that declares `finds`: `find(result, segments, query, *, k)` gives
    # `vidqa.search.find.Found` hits (best first, at most `k`) for `query`, a text (str) or a
    # picture (`vidqa.search.pictures.Picture`), from its own `segments` of `result` and what
    # it stored beside them.


class TrackBase:
    """What a track declares beyond the `Track` protocol, with its defaults."""

    log_kinds: ClassVar[tuple[str, ...]] = ()  # the kinds that belong in the event log
    uses: ClassVar[tuple[str, ...]] = ()  # tracks whose segments it reads (it sees no others)
    unit: ClassVar[str] = "frame"  # what `on_progress` counts: "frame", "chunk" or "s"
    frames: ClassVar[bool] = True  # reads the key frames; False: runs on `Media`, beside the
    # decode, and without one where only it is asked for (`vidqa transcript`)
    clock_kinds: ClassVar[tuple[str, ...]] = ()  # kinds whose text may show a wall clock
    # burned into the picture, read as it changes: `find --at` maps them
    said_kinds: ClassVar[tuple[str, ...]] = ()  # kinds that are what is said: the transcript
    title_kinds: ClassVar[tuple[str, ...]] = ()  # kinds whose text, showing as a scene
    # begins, may title a chapter (`vidqa.tracks.chapters`): on-screen text
    label: ClassVar[str | None] = None  # put before its lines among the frames in a prompt:
    # "<13.4 seconds> {label}: {text}"; None: its lines are not in prompts
    prompt_kinds: ClassVar[tuple[str, ...]] = ()  # the kinds a prompt shows under `label`
    lane: ClassVar[Lane | None] = None  # its lane on the page's timeline
    tool: ClassVar[AgentTool | None] = None  # the agent's tool that reads it
    noun: ClassVar[str] = "segments"  # what `vidqa index` counts: "12 {noun}"
    finds: ClassVar[tuple[str, ...]] = ()  # the queries it answers from what it stored, beside
    # the text index, through `find(result, segments, query, k=)`: "picture" (`find --image`:
    # where a picture is shown), "text" (a text query over its own vectors, fused with the
    # index's hits)
    tell_absent: ClassVar[bool] = False  # `vidqa index` says once why it did not run and how
    # to add it (a track that needs weights only some users have)

    @classmethod
    def to_json(cls, segments: list[Segment]) -> dict[str, Any]:
        """Its keys in the `vidqa index --json` document (given [] when it did not run)."""
        return {cls.name: [s.to_dict() for s in segments]}  # type: ignore[attr-defined]

    @classmethod
    def describe(cls, segments: list[Segment]) -> str:
        """What `vidqa index` prints of it after a video: "12 speech lines"."""
        return f"{len(segments)} {cls.noun}"


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
    "pictures": TrackSpec("pictures", "vidqa.tracks.pictures:PicturesTrack",
                          "what each key frame looks like (ORB features), for `find --image`"),
    "visual": TrackSpec("visual", "vidqa.tracks.visual:VisualTrack",
                        "what each key frame shows, for text queries (CLIP/SigLIP weights from "
                        "the Hugging Face cache; docs/visual.md)"),
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
    """The track class registered under `name` (a `TrackBase`: its declarations' defaults)."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise ConfigError(f"unknown track '{name}'; choose one of: {', '.join(REGISTRY)}")
    module_name, class_name = spec.target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not issubclass(cls, TrackBase):
        raise ConfigError(f"track '{name}' ({spec.target}) must subclass "
                          "vidqa.tracks.base.TrackBase, which holds the defaults of what a "
                          "track declares")
    return cls


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


def track_classes(names=None) -> list[type]:
    """The classes of the named tracks (every registered one), in registry order: what the
    consumers that show segments (prompts, the page, the agent, --json) loop over."""
    return [get_track(n) for n in REGISTRY if names is None or n in names]


def keyframes_digest(result: IngestResult) -> str:
    """A short hash of the key frames (their times and images): what a track that reads them
    keys its cache by."""
    import hashlib

    listing = "\n".join(f"{k.pts_s:.6f} {k.image}" for k in result.keyframes)
    return hashlib.blake2b(listing.encode(), digest_size=8).hexdigest()


def keyframe_spans(result: IngestResult, source: str, kind: str) -> list[Segment]:
    """One segment with no text per key frame, from it to the next (the last to the end of the
    video), its index in `extras["row"]`: what a track that keeps something per key frame
    beside its segments (pictures, visual) gives."""
    keyframes = result.keyframes
    ends = [k.pts_s for k in keyframes[1:]] + [max(result.stats.end_s, keyframes[-1].pts_s)
                                                if keyframes else 0.0]
    return [Segment(k.pts_s, end_s, "", source, kind, {"row": i})
            for i, (k, end_s) in enumerate(zip(keyframes, ends))]


def finders(kind: str, names=None) -> list[str]:
    """The named tracks (all) that answer queries of `kind` ("picture", "text") themselves
    (`finds`), in registry order."""
    return [cls.name for cls in track_classes(names) if kind in getattr(cls, "finds", ())]


def kinds_of(attribute: str, names=None) -> dict[str, tuple[str, ...]]:
    """{track: the kinds it declares in `attribute`} of the named tracks (all), in registry
    order, for those that declare any ("said_kinds": {"speech": ("speech",)})."""
    return {cls.name: kinds for cls in track_classes(names)
            if (kinds := getattr(cls, attribute, ()))}
