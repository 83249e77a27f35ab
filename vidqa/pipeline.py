"""One run per video: ingest -> tracks -> index; find, ask and events over the result.

Every entry point goes through here: the CLI, the evaluator, the notebook and the public API
(`vidqa.index_video`, `vidqa.find`, `vidqa.ask`, `vidqa.events`). A `Pipeline` holds the settings
and what runs share (the model, the OCR engine, the embedder); `Pipeline.run(video)` gives a
`VideoRun`: the ingest result (key frames and chunks, cached per content and decode/select
settings), the segments of each track (each cached by its own key), and the entries of its
search index. Each stage's cache key is computed in one place (ingest, the track, the index), so
a video indexed from Python and from the command line with the same settings shares every
cache. The command line first resolves the model (`vidqa.model.presets.resolve_model`: the
hardware default, a preset's frame size and chunk budget); a `Pipeline` takes its config as
given, so resolve it the same way to share the caches of a preset model.

    pipeline = Pipeline(config, backend=open_backend(config))
    run = pipeline.run("talk.mp4")          # ingest, on-screen text, captions
    pipeline.find(["talk.mp4"], "invoice number")
    pipeline.ask(["talk.mp4"], "when is the budget shown?")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vidqa.config import Config
from vidqa.errors import VidqaError
from vidqa.tracks.base import REGISTRY, Segment, Tools, get_track, in_order

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult
    from vidqa.model.answers import Answer
    from vidqa.model.captions import VideoCaptions
    from vidqa.search.find import Found
    from vidqa.tracks.writers import EventLog


class Progress(Protocol):
    """Follows one stage: `progress(desc, total, unit)` opens a bar (a context manager) that
    yields `advance(amount)`. The CLI draws tqdm bars; the library default draws nothing."""

    def __call__(self, desc: str, total: float | None, unit: str
                 ) -> AbstractContextManager[Callable[[float], None]]: ...


@contextmanager
def no_progress(desc: str, total: float | None, unit: str) -> Iterator[Callable[[float], None]]:
    yield lambda amount=1: None


@dataclass
class VideoRun:
    """One video through the pipeline."""

    ingest: IngestResult
    tracks: dict[str, list[Segment]]  # track name -> its segments, in time order
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage
    _entries: list | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def video(self) -> str:
        return self.ingest.video.path

    def segments(self, tracks: Sequence[str] | None = None,
                 kinds: Sequence[str] | None = None) -> list[Segment]:
        """Segments of the named tracks (all), of the given kinds (all), in time order."""
        return in_order([s for name, segs in self.tracks.items()
                         if tracks is None or name in tracks for s in segs
                         if kinds is None or s.kind in kinds])

    def log(self, tracks: Sequence[str] | None = None) -> list[Segment]:
        """What the event log shows: each track's `log_kinds` (caption events, text lines, ...)."""
        shown = {name: get_track(name).log_kinds for name in self.tracks
                 if tracks is None or name in tracks}
        return in_order([s for name, kinds in shown.items() for s in self.tracks[name]
                         if s.kind in kinds])

    def event_log(self, tracks: Sequence[str] | None = None) -> EventLog:
        """The event log of the named tracks (all that ran), for the writers."""
        from vidqa.tracks.writers import EventLog

        names = tuple(n for n in self.tracks if tracks is None or n in tracks)
        return EventLog(self.video, self.ingest.stats.end_s, self.log(names),
                        self.captions if "captions" in names else None, names)

    @property
    def captions(self) -> VideoCaptions | None:
        """The chunk captions (summaries and events), when the captions track ran."""
        from vidqa.tracks.captions import captions_from

        return captions_from(self.tracks.get("captions", []), self.video,
                             self.ingest.stats.end_s)

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
        """The `vidqa index --json` document of this video."""
        captions = self.captions
        doc = captions.to_dict() if captions else {"video": self.video, "chunks": [],
                                                   "events": []}
        doc["text_lines"] = [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text}
                             for s in self.tracks.get("ocr", [])]
        doc["tracks"] = {name: len(segs) for name, segs in self.tracks.items()}
        return doc


class Pipeline:
    """The settings and shared tools of a run over one or more videos.

    `backend`: the model (captions, answers, model refinement); without one, the captions track
    gives what its cache holds. `tracks`: the names to run (default: every registered track
    that can run here); a named track that cannot run is an error with its fix, an unnamed one
    is left out. `cache_root` moves ingest work dirs (the evaluator keeps its cells apart).
    """

    def __init__(self, config: Config | None = None, *, backend: Any = None,
                 tracks: Sequence[str] | None = None, allow_errors: bool = False,
                 progress: Progress = no_progress, cache_root: Path | None = None,
                 tools: Tools | None = None):
        self.config = config or Config()
        self.tools = tools or Tools(self.config, backend=backend)
        if backend is not None:
            self.tools.backend = backend
        self.requested = tuple(tracks) if tracks is not None else None
        self.allow_errors = allow_errors
        self.progress = progress
        self.cache_root = cache_root

    @property
    def backend(self):
        return self.tools.backend

    # -- stages

    def ingest(self, video: str) -> IngestResult:
        """Probe, decode, select key frames and chunk (cached)."""
        from vidqa.keyframes.ingest import ingest
        from vidqa.media.probe import probe

        info = probe(video)
        with self.progress(Path(video).name, info.duration_s, "s") as advance:
            seen = [0.0]

            def on_frame(pts_s: float) -> None:
                if pts_s > seen[0]:
                    advance(round(pts_s - seen[0], 3))
                    seen[0] = pts_s

            return ingest(info, self.config, allow_errors=self.allow_errors,
                          on_progress=on_frame, cache_root=self.cache_root)

    def track_names(self) -> list[str]:
        """The tracks this pipeline runs, in registry order: those asked for (all by default)
        and the tracks they read (`uses`: captions read the on-screen text), so a track's
        output never depends on which others were asked for."""
        names = set(self.requested if self.requested is not None else REGISTRY)
        for name in list(names):
            names.update(getattr(get_track(name), "uses", ()))
        return [n for n in REGISTRY if n in names]

    def run(self, video: str) -> VideoRun:
        """Ingest `video` and make each track's segments (from their caches when there)."""
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        result = self.ingest(video)
        seconds["ingest"] = round(time.perf_counter() - started, 2)
        tracks: dict[str, list[Segment]] = {}
        for name in self.track_names():
            track = get_track(name)(self.config, self.tools)
            started = time.perf_counter()
            why = track.unavailable()
            if why is None:
                unit = getattr(track, "unit", "frame")
                total = {"frame": len(result.keyframes), "chunk": len(result.chunks),
                         "s": result.stats.end_s}.get(unit)
                with self.progress(f"{Path(video).name} {name}", total, unit) as advance:
                    tracks[name] = track.segments(result, tracks, on_progress=advance)
            else:
                cached = track.cached(result, tracks)
                if cached is not None:
                    tracks[name] = cached
                elif self.requested is not None and name in self.requested:
                    raise VidqaError(f"cannot make the {name} track of '{video}': {why}")
            seconds[name] = round(time.perf_counter() - started, 2)
        return VideoRun(result, tracks, seconds)

    # -- search

    def embedder(self):
        return self.tools.search_embedder()

    def index(self, run: VideoRun):
        """The search index of one video (built when missing; None when it has no text)."""
        from vidqa.search.find import open_index, video_index_dir

        entries = run.entries()
        if not entries:
            return None
        return open_index(entries, self.embedder(), video_index_dir(run.ingest, entries,
                                                                    self.embedder()))

    def _targets(self, targets: Sequence[str] | str) -> list[VideoRun]:
        from vidqa.media.collection import expand_videos

        targets = [targets] if isinstance(targets, str) else list(targets)
        paths = expand_videos(targets)
        if not paths:
            raise VidqaError(f"no video files in '{', '.join(targets)}'; pass a video or a "
                             "folder holding some")
        return [self.run(video) for video in paths]

    def search(self, runs: list[VideoRun], query: str, *, k: int = 5) -> list[Found]:
        """Ranked hits for `query` over the runs' indexes (one video's, or a collection's)."""
        from vidqa.search.find import search

        return search([(r.ingest, r.entries()) for r in runs], query, self.embedder(), k=k)

    def find(self, targets: Sequence[str] | str, query: str, *, k: int = 5,
             refine: bool = True, refine_backend: Any = None,
             runs: list[VideoRun] | None = None) -> list[Found]:
        """Where `query` happens: ranked hits, the top ones pinned to where they begin (text
        hits by OCR at 8 fps; caption and event hits by `refine_backend`, a model, at 4 fps).
        `runs`: videos already run (else `targets` are)."""
        from vidqa.search.find import refine as pin

        runs = runs if runs is not None else self._targets(targets)
        found = self.search(runs, query, k=k)
        if refine and self.config.index.refine_top:
            found = pin(found, {r.video: r.ingest for r in runs}, self.config,
                        self.tools.ocr_engine(), top=self.config.index.refine_top,
                        backend=refine_backend)
        return found

    def ask(self, targets: Sequence[str] | str, question: str, *, scope: str = "chunks",
            top_k: int = 2) -> tuple[str, Answer]:
        """(the video that answers, the answer): `scope` "chunks" shows the model the key
        frames of the chunks retrieval ranks first (and every chunk summary); "all" answers
        from every chunk summary by map-reduce. Of a collection, the video of the best hit
        answers."""
        from vidqa.model.answers import ask, ask_all

        if self.backend is None:
            raise VidqaError("answers need a model: pass -m/--model (and -b openai for a "
                             "server)")
        runs = self._targets(targets)
        hits = self.search(runs, question, k=10)
        video = hits[0].video if hits else runs[0].video
        run = next(r for r in runs if r.video == video)
        captions = run.captions
        if captions is None:
            raise VidqaError(f"'{video}' has no captions to answer from; run `vidqa index` "
                             "with a model (the captions track)")
        m = self.config.model
        if scope == "all":
            return video, ask_all(captions, self.backend, question,
                                  max_new_tokens=m.max_new_tokens, temperature=m.temperature)
        own = [h for h in hits if h.video == video]
        return video, ask(run.ingest, captions, self.backend, question, top_k=top_k,
                          max_new_tokens=m.max_new_tokens, temperature=m.temperature, hits=own)


# --- the public API: one call each, through a Pipeline ------------------------------------------

def _pipeline(config: Config | None, backend, **options) -> Pipeline:
    return Pipeline(config, backend=backend, **options)


def index_video(video: str, config: Config | None = None, backend=None, **options) -> VideoRun:
    """Ingest `video`, make its tracks and build its search index (each step cached)."""
    pipeline = _pipeline(config, backend, **options)
    run = pipeline.run(video)
    pipeline.index(run)
    return run


def find(video: str, query: str, config: Config | None = None, *, k: int = 5, backend=None,
         **options) -> list[Found]:
    """Where `query` happens in `video` (or in every video of a folder)."""
    return _pipeline(config, backend, **options).find(video, query, k=k)


def ask(video: str, question: str, backend, config: Config | None = None, *,
        scope: str = "chunks", **options) -> Answer:
    """The model's answer to `question` about `video`, citing time ranges."""
    return _pipeline(config, backend, **options).ask(video, question, scope=scope)[1]


def events(video: str, config: Config | None = None, *, backend=None,
           tracks: Sequence[str] | None = None, **options) -> list[Segment]:
    """The event log of `video`: every track's log segments in time order."""
    return _pipeline(config, backend, tracks=tracks, **options).run(video).log()
