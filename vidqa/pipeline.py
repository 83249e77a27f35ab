"""One run per video: ingest -> tracks -> index; find, ask and events over the result.

Every entry point goes through here: the CLI, the evaluator, the server, the notebook, the
cluster's tasks and the public API (`vidqa.api`). A `Pipeline` holds the settings and what runs
share (`Tools`: the model, the OCR engine, the embedder). `Pipeline.plan(video)` says a
video's stages and what each reads (`vidqa.plan`); an executor runs it: `Pipeline.run(video)` on
this machine (`vidqa.execute`), `index_all(..., executor=RayExecutor(...))` on a cluster
(`vidqa.cluster`), both through `Pipeline.make` for each track. A run is a
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

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vidqa.config import Config
from vidqa.errors import VidqaError, tell
from vidqa.plan import Plan, VideoRun, left_out, make_plan
from vidqa.tools import Tools
from vidqa.tracks.base import REGISTRY, Media, Segment, TrackSkipped, get_track

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult
    from vidqa.media.probe import VideoInfo
    from vidqa.model.answers import Answer
    from vidqa.search.clock import ClockLookup
    from vidqa.search.find import Found
    from vidqa.search.pictures import Picture
    from vidqa.tracks.writers import EventLog


class Executor(Protocol):
    """Runs the plans of many videos: `vidqa.execute.LocalExecutor` (this machine, one video
    after another) or `vidqa.cluster.driver.RayExecutor` (every stage a Ray task)."""

    def run_all(self, pipeline: Pipeline, videos: Sequence[str],
                on_done: Callable[[VideoRun], None] | None = None
                ) -> tuple[list[VideoRun], list[str]]: ...


class Progress(Protocol):
    """Follows one stage: `progress(desc, total, unit)` opens a bar (a context manager) that
    yields `advance(amount)`. The CLI draws tqdm bars; the library default draws nothing."""

    def __call__(self, desc: str, total: float | None, unit: str
                 ) -> AbstractContextManager[Callable[[float], None]]: ...


@contextmanager
def no_progress(desc: str, total: float | None, unit: str) -> Iterator[Callable[[float], None]]:
    yield lambda amount=1: None


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
                 tools: Tools | None = None, warn: Callable[[str], None] | None = None):
        self.config = config or Config()
        self.tools = tools or Tools(self.config, backend=backend)
        if backend is not None:
            self.tools.backend = backend
        self.requested = tuple(tracks) if tracks is not None else None
        self.allow_errors = allow_errors
        self.progress = progress
        self.cache_root = cache_root
        self.warn = warn  # told of each track left out of a run (also in VideoRun.warnings)

    @property
    def backend(self):
        return self.tools.backend

    # -- stages

    def media(self, video: str) -> Media:
        """The probed file and its cache folder: what tracks that read no frames work on."""
        from vidqa.paths import cache_dir
        from vidqa.media.probe import probe
        from vidqa.store import fingerprint

        info = probe(video)
        return Media(info, (self.cache_root or cache_dir()) / "videos" / fingerprint(info.path))

    def ingest(self, video: str | VideoInfo, *,
               on_build: Callable[[], None] | None = None) -> IngestResult:
        """Probe, decode, select key frames and chunk (cached). `on_build()` is called before a
        decode that the cache does not answer."""
        from vidqa.keyframes.ingest import ingest
        from vidqa.media.probe import VideoInfo, probe

        info = video if isinstance(video, VideoInfo) else probe(video)
        with self.progress(Path(info.path).name, info.duration_s, "s") as advance:
            seen = [0.0]

            def on_frame(pts_s: float) -> None:
                if pts_s > seen[0]:
                    advance(round(pts_s - seen[0], 3))
                    seen[0] = pts_s

            return ingest(info, self.config, allow_errors=self.allow_errors,
                          on_progress=on_frame, cache_root=self.cache_root, on_build=on_build)

    def track_names(self) -> list[str]:
        """The tracks this pipeline runs, in registry order: those asked for (all by default)
        and the tracks they read (`uses`: captions read the on-screen text), so a track's
        output never depends on which others were asked for."""
        names = set(self.requested if self.requested is not None else REGISTRY)
        for name in list(names):
            names.update(getattr(get_track(name), "uses", ()))
        return [n for n in REGISTRY if n in names]

    def absent(self) -> list[str]:
        """One line for each track of this pipeline that declares `tell_absent` and cannot
        run here: why, and how to add it (`vidqa index` says them once)."""
        out = []
        for name in self.track_names():
            if getattr(get_track(name), "tell_absent", False):
                why = get_track(name)(self.config, self.tools).unavailable()
                if why:
                    out.append(f"no {name} track: {why}")
        return out

    def make(self, name: str, source: IngestResult | Media,
             earlier: dict[str, list[Segment]] | None = None, *,
             stop: threading.Event | None = None, notes: list[str] | None = None,
             tell_skipped: bool = True) -> tuple[list[Segment] | None, str | None]:
        """(segments, warning) of track `name` on an ingested video (or, for a track that
        reads no frames, its `Media`): made, or read from its cache when it cannot run here;
        (None, None) when it can do neither and was not asked for by name; (None, why) when
        it cannot be made for this video (a sound that does not decode; `warn` is told unless
        not `tell_skipped`: the caller reports it).
        What a track made but lost on the way (sound that stops decoding part way) goes to
        `warn` and `notes`. `stop`, once set, ends the work at its next progress report (the
        run failed elsewhere)."""
        from vidqa.execute import Stopped

        if stop is not None and stop.is_set():
            raise Stopped
        track = get_track(name)(self.config, self.tools)
        earlier = {n: segs for n, segs in (earlier or {}).items() if n in track.uses}
        video = source.video.path
        why = track.unavailable()
        if why is not None:
            cached = track.cached(source, earlier)
            if cached is None and self.requested is not None and name in self.requested:
                raise VidqaError(f"cannot make the {name} track of '{video}': {why}")
            return cached, None
        unit = getattr(track, "unit", "frame")
        stats = getattr(source, "stats", None)  # an ingest result: what was decoded
        total = (stats.end_s if stats else source.video.duration_s) if unit == "s" else \
            {"frame": len(getattr(source, "keyframes", ())),
             "chunk": len(getattr(source, "chunks", ()))}.get(unit)
        with self.progress(f"{Path(video).name} {name}", total, unit) as advance:
            def on_progress(amount: float = 1) -> None:
                if stop is not None and stop.is_set():
                    raise Stopped
                advance(amount)

            def note(text: str) -> None:
                if notes is not None:
                    notes.append(text)
                tell(text, self.warn)

            try:
                return track.segments(source, earlier, on_progress=on_progress,
                                      warn=note), None
            except TrackSkipped as exc:
                if self.warn is not None and tell_skipped:
                    self.warn(left_out(name, str(exc)))
                return None, str(exc)

    def plan(self, video: str) -> Plan:
        """The stages of `video`'s run (see `vidqa.plan`): the ingest, this pipeline's tracks
        (`track_names`), each reading what it declares, and the search index."""
        return make_plan(video, self.track_names())

    def run(self, video: str) -> VideoRun:
        """Ingest `video` and make each track's segments (from their caches when there), on
        this machine (`vidqa.execute.run_plan`); its search index is built when first
        searched (`index`)."""
        from vidqa.execute import run_plan

        return run_plan(self, self.plan(video))

    def prepare(self, names: Sequence[str]) -> None:
        """The named tracks load what they need (`prepare`: the OCR models) in a thread, called
        beside a decode that was not cached (a new work dir: they will have work), so the
        loading hides behind it."""
        from vidqa.execute import Background

        ready = [track.prepare for name in names
                 if hasattr(track := get_track(name)(self.config, self.tools), "prepare")
                 and track.unavailable() is None]
        if ready:
            Background(lambda: [prepare() for prepare in ready])

    def index_all(self, videos: Sequence[str], *, executor: Executor | None = None,
                  on_done: Callable[[VideoRun], None] | None = None
                  ) -> tuple[list[VideoRun], list[str]]:
        """(runs, one failure line per video that failed) of every video of `videos` (a
        folder: the videos in it) run and indexed by `executor` (default: this machine, one
        video after another; `vidqa.cluster.driver.RayExecutor` on a Ray cluster), then the
        collection's index built once. A video that fails is reported, the others go on.
        `on_done` is called with each run as it finishes."""
        from vidqa.execute import LocalExecutor
        from vidqa.media.collection import expand_videos

        paths = expand_videos(list(videos))
        runs, failures = (executor or LocalExecutor()).run_all(self, paths, on_done)
        self.index_collection(runs)
        return runs, failures

    def index_collection(self, runs: list[VideoRun]):
        """The search index over several videos (what `find` on their folder opens), built
        from each video's own vectors; None for fewer than two videos with entries."""
        from vidqa.search.find import collection_index

        parts = [(r.ingest, r.entries()) for r in runs if r.entries()]
        return collection_index(parts, self.embedder(), warn=self.warn) if len(parts) > 1 else None

    def load(self, video: str) -> VideoRun | None:
        """`video` as an earlier run left it, read from the caches without doing any work;
        None when it is not indexed with these settings (the ingest, or a track this pipeline
        could make, is not cached). A track made by the model (captions) that is not cached
        yet is listed in `missing` instead: the video can be searched, and a run adds it.
        A server asks this to tell which videos are indexed."""
        from vidqa.keyframes.ingest import ingest

        media = self.media(video)
        result = ingest(media.video, self.config, allow_errors=self.allow_errors,
                        cache_root=self.cache_root, cached_only=True)
        if result is None:
            return None
        tracks: dict[str, list[Segment]] = {}
        missing: list[str] = []
        for name in self.track_names():
            track = get_track(name)(self.config, self.tools)
            segments = track.cached(result if track.frames else media,
                                    {n: tracks[n] for n in track.uses if n in tracks})
            if segments is None:
                if track.unavailable() is None:
                    if track.needs != "model":
                        return None
                    missing.append(name)
                continue
            tracks[name] = segments
        return VideoRun(result, tracks, missing=missing)

    def transcript(self, video: str) -> tuple[EventLog, str | None]:
        """(what is said in `video` as a log for the writers, why it was left out or None):
        the track whose kinds are what is said (`said_kinds`: speech) alone, without decoding
        the frames; empty for a file with no audio and no subtitles. Why it was left out is
        returned, not told to `warn` (the caller says it); what it lost on the way is told."""
        from vidqa.tracks.base import kinds_of
        from vidqa.tracks.writers import EventLog

        media = self.media(video)
        name, kinds = next(iter(kinds_of("said_kinds").items()))  # the first, in registry order
        segments, warning = self.make(name, media, tell_skipped=False)
        said = [s for s in segments or [] if s.kind in kinds]
        return EventLog(media.video.path, media.video.duration_s or 0.0, said, None,
                        (name,)), warning

    # -- search

    def embedder(self):
        return self.tools.search_embedder()

    def index(self, run: VideoRun):
        """The search index of one video (built when missing; None when it has no text)."""
        from vidqa.search.find import open_index, video_index_dir

        entries = run.entries()
        if not entries:
            return None
        return open_index(entries, self.embedder(),
                          video_index_dir(run.ingest, entries, self.embedder()), warn=self.warn)

    def _targets(self, targets: Sequence[str] | str) -> list[VideoRun]:
        """The runs of `targets` (videos, or folders: the videos below them). Of several, a
        video that fails (a broken file `vidqa index` reported) is left out with a warning
        and the rest are searched; an error only when none is left."""
        from vidqa.media.collection import expand_videos

        targets = [targets] if isinstance(targets, str) else list(targets)
        paths = expand_videos(targets)
        if not paths:
            raise VidqaError(f"no video files in '{', '.join(targets)}'; pass a video or a "
                             "folder holding some")
        if len(paths) == 1:
            return [self.run(paths[0])]
        runs, failures = [], []
        for video in paths:
            try:
                runs.append(self.run(video))
            except VidqaError as exc:
                failures.append(str(exc))
        if not runs:
            raise VidqaError(f"none of the {len(paths)} videos can be used; the first: "
                             f"{failures[0]}")
        for failure in failures:
            tell(f"left out ({len(failures)} of {len(paths)} videos): {failure}", self.warn)
        return runs

    def search(self, runs: list[VideoRun], query: str, *, k: int = 5) -> list[Found]:
        """Ranked hits for `query` over the runs' indexes (one video's, or a collection's)."""
        from vidqa.search.find import search

        return search([(r.ingest, r.entries()) for r in runs], query, self.embedder(), k=k,
                      warn=self.warn)

    def find(self, targets: Sequence[str] | str, query: str | Picture, *, k: int = 5,
             refine: bool = True, refine_backend: Any = None,
             runs: list[VideoRun] | None = None) -> list[Found]:
        """Where `query` happens: ranked hits pinned to where they begin (text hits by OCR at
        8 fps when indexed, speech by its words; the top caption and event hits by
        `refine_backend`, a model, at 4 fps), fused with the hits of the tracks that answer a
        text themselves (`finds`: the visual track). `query` a `Picture`
        (`vidqa.search.pictures`): where that picture is shown, by the tracks that find
        pictures. `runs`: videos already run (else `targets` are)."""
        from vidqa.search.find import fuse
        from vidqa.search.find import refine as pin
        from vidqa.search.pictures import Picture

        runs = runs if runs is not None else self._targets(targets)
        if isinstance(query, Picture):
            return self._found_by_tracks(runs, query, "picture", k=k)
        own = self._found_by_tracks(runs, query, "text", k=k, needed=False)
        if own and not any(r.entries() for r in runs):
            return own  # nothing written or said to search: what the picture tracks found
        found = self.search(runs, query, k=k)
        if refine:
            def by_segment(extra: str) -> dict:
                return {(r.video, s.start_s, s.end_s, s.text.strip()): s.extras[extra]
                        for r in runs for s in r.segments() if s.extras.get(extra) is not None}

            found = pin(found, {r.video: r.ingest for r in runs}, self.config,
                        top=self.config.index.refine_top, backend=refine_backend, query=query,
                        words=by_segment("words"), pinned=by_segment("seen_s"),
                        embedder=self.embedder())
        return fuse([found, own], k) if own else found

    def _found_by_tracks(self, runs: list[VideoRun], query, kind: str, *, k: int,
                         needed: bool = True) -> list[Found]:
        """The hits of the tracks that answer a query of `kind` themselves ("picture",
        "text"; `TrackBase.finds`), over every run, best first. With `needed`, an error
        when none of them ran."""
        from vidqa.tracks.base import finders

        names = finders(kind)
        found: list[Found] = []
        ran = False
        for run in runs:
            for name in names:
                if name in run.tracks:
                    ran = True
                    track = get_track(name)(self.config, self.tools)
                    found += track.find(run.ingest, run.tracks[name], query, k=k)
        if needed and not ran:
            why = [f"{n}: {w}" for n in names
                   if (w := get_track(n)(self.config, self.tools).unavailable())]
            raise VidqaError(f"no track that finds a {kind} ran ({', '.join(names) or 'none'} "
                             "registered); " + ("; ".join(why) if why else
                                               f"run with --tracks all or add {names[0]}"
                                               if names else "register one"))
        return sorted(found, key=lambda f: -f.score)[:k]

    def clock(self, targets: Sequence[str] | str, at: str, *,
              runs: list[VideoRun] | None = None) -> list[ClockLookup]:
        """Where the wall clock burned into the picture shows `at` ("2024-12-05 12:01:30", a
        time alone, see `vidqa.search.clock`): one lookup per video with a clock, each with
        its matches (the video second, the readings either side) or notes that say why there
        is none (before or after the recording, inside a jump). `BadTime` (a usage error) for
        an `at` that does not read, before any work; `NoClock` when no video shows a clock.
        `runs`: videos already run (else `targets` are)."""
        from vidqa.search.clock import ClockMap, no_clock, parse_at

        value = parse_at(at)
        runs = runs if runs is not None else self._targets(targets)
        lookups = [ClockMap.build(r.video, r.clock_segments()).lookup(value, at.strip())
                   for r in runs]
        shown = [lookup for lookup in lookups if lookup.has_clock]
        if not shown:
            readers = [n for n in REGISTRY if getattr(get_track(n), "clock_kinds", ())]
            ran = [n for n in readers if any(n in r.tracks for r in runs)]
            missing = [n for n in readers if n not in ran]
            why = missing and not ran and \
                get_track(missing[0])(self.config, self.tools).unavailable()
            raise no_clock(lookups, (missing[0], why) if why else None)
        if len(shown) < len(lookups):
            names = ", ".join(lookup.video for lookup in lookups if not lookup.has_clock)
            tell(f"{len(lookups) - len(shown)} of {len(lookups)} videos show no wall clock and "
                 f"are left out: {names}", self.warn)
        return shown

    def ask(self, targets: Sequence[str] | str, question: str, *, scope: str = "chunks",
            top_k: int = 2, runs: list[VideoRun] | None = None, max_steps: int = 8,
            hits: list[Found] | None = None) -> tuple[str, Answer]:
        """(the video that answers, the answer) by `scope`, a name in `vidqa.scopes.SCOPES`
        ("chunks", "all", "full", "agent"; `top_k` chunks are shown, at most `max_steps` tool
        calls made). Of a collection, the video of the best hit answers. `hits`: the index's
        hits for the question when already searched (`eval needle` pins them first), else
        they are searched here. `runs`: videos already run (else `targets` are)."""
        from vidqa.scopes import SCOPES

        if scope not in SCOPES:
            raise VidqaError(f"unknown answer scope {scope!r}; choose one of: "
                             f"{', '.join(SCOPES)}")
        if self.backend is None:
            raise VidqaError("answers need a model: pass -m/--model (and -b openai for a "
                             "server)")
        runs = runs if runs is not None else self._targets(targets)
        if hits is None:
            hits = self.search(runs, question, k=10) if any(r.entries() for r in runs) else []
        video = hits[0].video if hits else runs[0].video
        run = next(r for r in runs if r.video == video)
        own = [h for h in hits if h.video == video]
        answer = SCOPES[scope].answer_for(run.ingest.video.has_picture)
        return video, answer(self, run, question, own, top_k=top_k, max_steps=max_steps)
