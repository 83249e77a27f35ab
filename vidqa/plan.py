"""The stage plan of one video, and the run it makes: what both executors share.

`Pipeline.plan(video)` says the stages in the order they may start: the ingest (probe, decode,
select, chunk), each track, and the video's search index. Each `Stage` says what it reads
(`reads`: "ingest" for the key frames, "media" for the file alone, and the tracks it declares
in `uses`) and what it writes. An executor runs the plan: the local one (`vidqa.execute`:
threads on this machine) and the Ray one (`vidqa.cluster.driver`: one task per stage). Both
hand what each stage gave to `assemble`, which makes the `VideoRun`, so a run looks the same
whichever executed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vidqa.tracks.base import REGISTRY, Segment, get_track, in_order, kinds_of, track_classes

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult
    from vidqa.model.captions import VideoCaptions
    from vidqa.tracks.writers import EventLog

INGEST, MEDIA, INDEX = "ingest", "media", "index"


def left_out(name: str, why: str) -> str:
    return f"{why}; the {name} track is left out"


@dataclass(frozen=True)
class Stage:
    """One stage of a video's plan."""

    name: str  # "ingest", a track's name, or "index"
    reads: tuple[str, ...]  # "ingest" (key frames), "media" (the file), tracks' names
    writes: str  # "keyframes", "segments" or "index"
    model: bool = False  # needs the model (a GPU or the model servers) to make anything

    @property
    def track(self) -> bool:
        return self.writes == "segments"

    @property
    def beside(self) -> bool:
        """A track that reads no key frames: it starts with the ingest, not after it."""
        return self.track and INGEST not in self.reads

    def uses(self) -> tuple[str, ...]:
        """The tracks whose segments this stage reads."""
        return tuple(r for r in self.reads if r not in (INGEST, MEDIA))


@dataclass(frozen=True)
class Plan:
    video: str
    stages: tuple[Stage, ...]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def tracks(self) -> list[Stage]:
        return [s for s in self.stages if s.track]

    def track_names(self) -> list[str]:
        return [s.name for s in self.tracks]


def make_plan(video: str, tracks: Sequence[str]) -> Plan:
    """The plan of `video` with these tracks (registry order; each one's `uses` among them):
    the ingest, the tracks that read no frames, those that do, then the index."""
    stages = [Stage(INGEST, (MEDIA,), "keyframes")]
    classes = {name: get_track(name) for name in tracks}
    ordered = [n for n in tracks if not classes[n].frames] + \
        [n for n in tracks if classes[n].frames]
    for name in ordered:
        cls = classes[name]
        source = (INGEST,) if cls.frames else (MEDIA,)
        stages.append(Stage(name, source + tuple(u for u in cls.uses if u in classes),
                            "segments", model=cls.needs == "model"))
    stages.append(Stage(INDEX, (INGEST, *ordered), "index"))
    return Plan(video, tuple(stages))


@dataclass
class Outcome:
    """What one stage gave: its value (key frames, segments or None, entries), its wall time,
    why a track was left out (`warning`) and what it lost on the way (`notes`)."""

    value: Any = None
    seconds: float = 0.0
    warning: str | None = None
    notes: list[str] = field(default_factory=list)


def assemble(plan: Plan, outcomes: dict[str, Outcome]) -> VideoRun:
    """The `VideoRun` of a plan from what its stages gave (any executor's): tracks in registry
    order, the wall time of each stage, and every warning (tracks left out, then what tracks
    lost on the way)."""
    made = {s.name for s in plan.tracks if s.name in outcomes}
    tracks = {name: outcomes[name].value for name in REGISTRY
              if name in made and outcomes[name].value is not None}
    warnings = [left_out(s.name, outcomes[s.name].warning) for s in plan.tracks
                if s.name in outcomes and outcomes[s.name].warning]
    warnings += [note for s in plan.stages if s.name in outcomes
                 for note in outcomes[s.name].notes]
    seconds = {name: outcome.seconds for name, outcome in outcomes.items()}
    return VideoRun(outcomes[INGEST].value, tracks, seconds, warnings)


@dataclass
class VideoRun:
    """One video through the pipeline."""

    ingest: IngestResult
    tracks: dict[str, list[Segment]]  # track name -> its segments, in time order
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage
    warnings: list[str] = field(default_factory=list)  # tracks left out, and why
    missing: list[str] = field(default_factory=list)  # model tracks not made yet (`load`)
    _entries: list | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def video(self) -> str:
        return self.ingest.video.path

    @property
    def duration_s(self) -> float:
        return self.ingest.stats.end_s

    def segments(self, tracks: Sequence[str] | None = None,
                 kinds: Sequence[str] | None = None) -> list[Segment]:
        """Segments of the named tracks (all), of the given kinds (all), in time order."""
        return in_order([s for name, segs in self.tracks.items()
                         if tracks is None or name in tracks for s in segs
                         if kinds is None or s.kind in kinds])

    def declared(self, attribute: str, tracks: Sequence[str] | None = None) -> list[Segment]:
        """The segments of the kinds each track that ran names in `attribute` (`log_kinds`,
        `said_kinds`, `prompt_kinds`, ...), in time order."""
        shown = kinds_of(attribute, [n for n in self.tracks if tracks is None or n in tracks])
        return in_order([s for name, kinds in shown.items() for s in self.tracks[name]
                         if s.kind in kinds])

    def log(self, tracks: Sequence[str] | None = None) -> list[Segment]:
        """What the event log shows: each track's `log_kinds` (caption events, text lines, ...)."""
        return self.declared("log_kinds", tracks)

    def said(self) -> list[Segment]:
        """What is said (each track's `said_kinds`: the speech track's lines)."""
        return self.declared("said_kinds")

    def clock_segments(self) -> list[Segment]:
        """What may show a wall clock burned into the picture: each track's `clock_kinds`
        (on-screen text lines, one segment per reading as the clock changes), in time order."""
        return self.declared("clock_kinds")

    def prompt_lines(self) -> list[tuple[str, Segment]]:
        """(label, segment) of what a prompt places among the frames by time: each track's
        `prompt_kinds` under its `label` ("Said", "On screen"), in time order."""
        labels = {cls.name: cls.label for cls in track_classes(self.tracks)}
        return [(labels[s.source], s) for s in self.declared("prompt_kinds")
                if labels.get(s.source)]

    def event_log(self, tracks: Sequence[str] | None = None) -> EventLog:
        """The event log of the named tracks (all that ran), for the writers, with the probed
        file and the scenes (for edit lists and chapters)."""
        from vidqa.tracks.writers import EventLog

        names = tuple(n for n in self.tracks if tracks is None or n in tracks)
        return EventLog(self.video, self.duration_s, self.log(names), self._captions(names),
                        names, info=self.ingest.video, scenes=list(self.ingest.scenes))

    def _captions(self, names) -> VideoCaptions | None:
        for cls in track_classes(names):
            made = getattr(cls, "captions", None)
            if made is not None and cls.name in self.tracks:
                captions = made(self.tracks[cls.name], self.video, self.duration_s)
                if captions is not None:
                    return captions
        return None

    @property
    def captions(self) -> VideoCaptions | None:
        """The chunk captions (summaries and events) of the track that makes them, when it
        ran."""
        return self._captions(list(self.tracks))

    def entries(self) -> list:
        """What this video puts in the search index: every segment with text (made once:
        search, the index and the evaluator all ask)."""
        if self._entries is None:
            from vidqa.search.index import Entry

            self._entries = [Entry(self.video, s.kind, float(s.start_s), float(s.end_s),
                                   s.text.strip())
                             for name in self.tracks for s in self.tracks[name] if s.text.strip()]
        return self._entries

    def to_dict(self) -> dict:
        """The `vidqa index --json` document of this video: each registered track's keys
        (`to_json`, given [] when it did not run), and the number of segments of each that
        ran."""
        doc: dict[str, Any] = {"video": self.video, "duration_s": self.duration_s,
                               "has_picture": self.ingest.video.has_picture}
        for cls in track_classes():
            doc.update(cls.to_json(self.tracks.get(cls.name, [])))
        doc["tracks"] = {name: len(segs) for name, segs in self.tracks.items()}
        return doc

    def shown(self) -> list[str]:
        """The tracks that ran and have something to say of this recording: all of them, or
        of a sound-only one those that read no frames (the others had nothing to read)."""
        picture = self.ingest.video.has_picture
        return [name for name in self.tracks if picture or not get_track(name).frames]

    def describe(self) -> str:
        """One line of what it holds, for `vidqa index`: each shown track's `describe`, and
        the index entries."""
        parts = [get_track(name).describe(self.tracks[name]) for name in self.shown()]
        parts = parts if self.ingest.video.has_picture else ["sound only", *parts]
        return ", ".join(parts + [f"{len(self.entries())} index entries"])
