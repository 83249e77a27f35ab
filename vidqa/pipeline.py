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

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vidqa.config import Config
from vidqa.errors import VidqaError, tell
from vidqa.tracks.base import REGISTRY, Media, Segment, Tools, TrackSkipped, get_track, in_order

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult
    from vidqa.media.probe import VideoInfo
    from vidqa.model.answers import Answer
    from vidqa.model.captions import VideoCaptions
    from vidqa.search.clock import ClockLookup
    from vidqa.search.find import Found
    from vidqa.tracks.writers import EventLog


def left_out(name: str, why: str) -> str:
    return f"{why}; the {name} track is left out"


class _Stopped(Exception):
    """Ends a background track when the run it belongs to failed."""


class _Background:
    """`work()` in a daemon thread: `result()` waits for it and returns what it returned, or
    raises what it raised. A daemon thread, so a run that fails or is interrupted never waits
    for it (it stops at its next progress report, or with the process)."""

    def __init__(self, work: Callable[[], Any]):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True,
                                        name="vidqa-track")
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits
            self._error = exc

    def raise_if_failed(self) -> None:
        if not self._thread.is_alive() and self._error is not None:
            raise self._error

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


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
    warnings: list[str] = field(default_factory=list)  # tracks left out, and why
    missing: list[str] = field(default_factory=list)  # model tracks not made yet (`load`)
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

    def _declared(self, attribute: str, tracks: Sequence[str] | None = None) -> list[Segment]:
        """The segments of the kinds each track names in `attribute`, in time order."""
        shown = {name: getattr(get_track(name), attribute, ()) for name in self.tracks
                 if tracks is None or name in tracks}
        return in_order([s for name, kinds in shown.items() for s in self.tracks[name]
                         if s.kind in kinds])

    def log(self, tracks: Sequence[str] | None = None) -> list[Segment]:
        """What the event log shows: each track's `log_kinds` (caption events, text lines, ...)."""
        return self._declared("log_kinds", tracks)

    def clock_segments(self) -> list[Segment]:
        """What may show a wall clock burned into the picture: each track's `clock_kinds`
        (on-screen text lines, one segment per reading as the clock changes), in time order."""
        return self._declared("clock_kinds")

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
        doc["speech"] = [s.to_dict() for s in self.tracks.get("speech", [])]
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
        from vidqa.config import cache_dir
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
        if stop is not None and stop.is_set():
            raise _Stopped
        track = get_track(name)(self.config, self.tools)
        video = source.video.path
        why = track.unavailable()
        if why is not None:
            cached = track.cached(source, earlier or {})
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
                    raise _Stopped
                advance(amount)

            def note(text: str) -> None:
                if notes is not None:
                    notes.append(text)
                tell(text, self.warn)

            try:
                return track.segments(source, earlier or {}, on_progress=on_progress,
                                      warn=note), None
            except TrackSkipped as exc:
                if self.warn is not None and tell_skipped:
                    self.warn(left_out(name, str(exc)))
                return None, str(exc)

    def run(self, video: str) -> VideoRun:
        """Ingest `video` and make each track's segments (from their caches when there).
        Tracks that read no frames (speech) run in a thread beside the decode and the tracks
        that read frames (ocr, captions): ffmpeg, OCR and the recogniser work at once. When
        the run fails (a broken video, Ctrl-C) the thread stops at its next progress report
        and is never waited for."""
        names = self.track_names()
        seconds: dict[str, float] = {}
        media = self.media(video)
        stop = threading.Event()
        notes: list[str] = []  # what tracks lost on the way (told to `warn` as they go)

        def timed(name: str, source, earlier=None):
            started = time.perf_counter()
            try:
                return self.make(name, source, earlier, stop=stop, notes=notes)
            finally:
                seconds[name] = round(time.perf_counter() - started, 2)

        beside = [n for n in names if not getattr(get_track(n), "frames", True)]
        background = _Background(lambda: {name: timed(name, media) for name in beside}) \
            if beside else None
        try:
            started = time.perf_counter()
            result = self.ingest(media.video, on_build=lambda: self._prepare(
                [n for n in names if n not in beside]))
            seconds["ingest"] = round(time.perf_counter() - started, 2)
            if background is not None:
                background.raise_if_failed()  # a bad --audio-stream: now, not after OCR
            made: dict[str, tuple[list[Segment] | None, str | None]] = {}
            tracks: dict[str, list[Segment]] = {}
            for name in names:
                made[name] = background.result()[name] if name in beside else \
                    timed(name, result, tracks)
                if made[name][0] is not None:
                    tracks[name] = made[name][0]
        except BaseException:
            stop.set()
            raise
        warnings = [left_out(name, why) for name, (_segs, why) in made.items() if why]
        return VideoRun(result, tracks, seconds, warnings + notes)

    def _prepare(self, names: list[str]) -> None:
        """Tracks that read key frames load what they need (`prepare`: the OCR models) in a
        thread beside the decode, which was not cached (a new work dir: they will have work),
        so the loading hides behind it."""
        ready = [track.prepare for name in names
                 if hasattr(track := get_track(name)(self.config, self.tools), "prepare")
                 and track.unavailable() is None]
        if ready:
            _Background(lambda: [prepare() for prepare in ready])

    def index_all(self, videos: Sequence[str], *, ray: str | None = None,
                  api_key: str | None = None, with_model: bool | None = None,
                  on_done: Callable[[VideoRun], None] | None = None
                  ) -> tuple[list[VideoRun], list[str]]:
        """(runs, one failure line per video that failed) of every video of `videos` (a
        folder: the videos in it) run and indexed, then the collection's index built once. A
        video that fails is reported, the others go on. Locally one video after another, or,
        with `ray` (an address, or "local" for an instance on this machine), every stage of
        every video as a Ray task (`vidqa.cluster`; `api_key`: the model servers' key the
        tasks need, `with_model`: whether they make captions, default: when this pipeline has
        a model). `on_done` is called with each run as it finishes."""
        from vidqa.media.collection import expand_videos

        paths = expand_videos(list(videos))
        if ray is not None:
            from vidqa.cluster.driver import run_on_ray

            runs, failures = run_on_ray(self, paths, ray, api_key=api_key, on_done=on_done,
                                        with_model=self.backend is not None
                                        if with_model is None else with_model)
        else:
            runs, failures = [], []
            for video in paths:
                try:
                    done = self.run(video)
                    self.index(done)
                except VidqaError as exc:
                    failures.append(str(exc))
                    continue
                runs.append(done)
                if on_done is not None:
                    on_done(done)
        self.index_collection(runs)
        return runs, failures

    def index_collection(self, runs: list[VideoRun]):
        """The search index over several videos (what `find` on their folder opens), built
        from each video's own vectors; None for fewer than two videos with entries."""
        from vidqa.search.find import collection_index

        parts = [(r.ingest, r.entries()) for r in runs if r.entries()]
        return collection_index(parts, self.embedder()) if len(parts) > 1 else None

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
            frames = getattr(track, "frames", True)
            segments = track.cached(result if frames else media, tracks)
            if segments is None:
                if track.unavailable() is None:
                    if getattr(track, "needs", "") != "model":
                        return None
                    missing.append(name)
                continue
            tracks[name] = segments
        return VideoRun(result, tracks, missing=missing)

    def transcript(self, video: str) -> tuple[EventLog, str | None]:
        """(what is said in `video` as a log for the writers, why it was left out or None):
        the speech track alone, without decoding the frames; empty for a file with no audio and
        no subtitles. Why it was left out is returned, not told to `warn` (the caller says it);
        what it lost on the way is told."""
        from vidqa.tracks.writers import EventLog

        media = self.media(video)
        segments, warning = self.make("speech", media, tell_skipped=False)
        return EventLog(media.video.path, media.video.duration_s or 0.0, segments or [], None,
                        ("speech",)), warning

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

        return search([(r.ingest, r.entries()) for r in runs], query, self.embedder(), k=k)

    def find(self, targets: Sequence[str] | str, query: str, *, k: int = 5,
             refine: bool = True, refine_backend: Any = None,
             runs: list[VideoRun] | None = None) -> list[Found]:
        """Where `query` happens: ranked hits pinned to where they begin (text hits by OCR at
        8 fps when indexed, speech by its words; the top caption and event hits by
        `refine_backend`, a model, at 4 fps).
        `runs`: videos already run (else `targets` are)."""
        from vidqa.search.find import refine as pin

        runs = runs if runs is not None else self._targets(targets)
        found = self.search(runs, query, k=k)
        if refine:
            def by_segment(track: str, extra: str) -> dict:
                return {(r.video, s.start_s, s.end_s, s.text.strip()): s.extras.get(extra)
                        for r in runs for s in r.tracks.get(track, [])
                        if s.extras.get(extra) is not None}

            found = pin(found, {r.video: r.ingest for r in runs}, self.config,
                        top=self.config.index.refine_top, backend=refine_backend, query=query,
                        words=by_segment("speech", "words"), pinned=by_segment("ocr", "seen_s"))
        return found

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
            top_k: int = 2, runs: list[VideoRun] | None = None,
            max_steps: int = 8) -> tuple[str, Answer]:
        """(the video that answers, the answer). `scope`: "chunks" shows the model the key
        frames of the chunks retrieval ranks first (and every chunk summary); "all" answers
        from every chunk summary by map-reduce; "full" shows every key frame of the video in
        one request, with what is said and shown at their times (thinned to the model's
        context, or answered by "chunks" when even that does not fit: the answer says which);
        "agent" lets the model search, read and inspect through tools for at most `max_steps`
        calls. Of a collection, the video of the best hit answers. `runs`: videos already run
        (else `targets` are)."""
        from vidqa.model.answers import ask, ask_all, ask_full, context_tokens

        if self.backend is None:
            raise VidqaError("answers need a model: pass -m/--model (and -b openai for a "
                             "server)")
        runs = runs if runs is not None else self._targets(targets)
        hits = self.search(runs, question, k=10) if any(r.entries() for r in runs) else []
        video = hits[0].video if hits else runs[0].video
        run = next(r for r in runs if r.video == video)
        m = self.config.model
        speech = run.segments(["speech"], ["speech"])
        own = [h for h in hits if h.video == video]

        def by_chunks() -> Answer:
            captions = self._captions(run)
            return ask(run.ingest, captions, self.backend, question, top_k=top_k,
                       max_new_tokens=m.max_new_tokens, temperature=m.temperature, hits=own,
                       speech=speech)

        if scope == "full":
            return video, ask_full(run.ingest, self.backend, question, speech=speech,
                                   shown=run.segments(["ocr"], ["text"]),
                                   context=context_tokens(self.backend),
                                   max_new_tokens=m.max_new_tokens,
                                   temperature=m.temperature,
                                   fallback=by_chunks if run.captions else None)
        if scope == "agent":
            import tempfile

            from vidqa.model.agent import ask_agent

            with tempfile.TemporaryDirectory(prefix="vidqa-agent-") as scratch:
                return video, ask_agent(self._agent_tools(run, Path(scratch)), self.backend,
                                        question, max_steps=max_steps,
                                        max_new_tokens=m.max_new_tokens,
                                        temperature=m.temperature)
        if scope == "all":
            return video, ask_all(self._captions(run), self.backend, question, speech=speech,
                                  max_new_tokens=m.max_new_tokens, temperature=m.temperature)
        return video, by_chunks()

    @staticmethod
    def _captions(run: VideoRun):
        captions = run.captions
        if captions is None:
            raise VidqaError(f"'{run.video}' has no captions to answer from; run `vidqa index` "
                             "with a model (the captions track), or ask with --scope full")
        return captions

    def _agent_tools(self, run: VideoRun, scratch: Path):
        """The agent's tools over one video: the index, the captions, the speech track, and
        frames decoded at a higher rate."""
        from vidqa.model.agent import INSPECT_MAX_FRAMES, AgentTools

        def lines(segments) -> list[str]:
            return [f"[{s.start_s:.1f}-{s.end_s:.1f} s] {s.text.strip()}" for s in segments]

        def search(query: str) -> list[str]:
            if not run.entries():
                return []
            return [f"[{h.start_s:.1f}-{h.end_s:.1f} s] ({h.kind}) {h.text}"
                    for h in self.search([run], query, k=8)]

        def within(start_s: float, end_s: float, track: str, kinds: tuple[str, ...]) -> list:
            return [s for s in run.segments([track], kinds)
                    if s.end_s > start_s and s.start_s < end_s]

        def inspect(start_s: float, end_s: float) -> list[tuple[float, str]]:
            import dataclasses

            import cv2

            from vidqa.media.decode import FrameReader

            fps = min(4.0, INSPECT_MAX_FRAMES / max(end_s - start_s, 0.25))
            decode = dataclasses.replace(self.config.decode, fps=max(fps, 0.05))
            out = []
            for frame in FrameReader(run.ingest.video, decode, window=(start_s, end_s),
                                     allow_errors=True):
                path = scratch / f"inspect_{frame.pts_s:.3f}.jpg"
                path.write_bytes(cv2.imencode(".jpg", frame.bgr,
                                              [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
                out.append((frame.pts_s, str(path)))
            return out[:INSPECT_MAX_FRAMES]

        return AgentTools(
            duration_s=run.ingest.stats.end_s, search=search,
            summaries=lambda a, b: lines(within(a, b, "captions", ("summary", "event"))),
            transcript=lambda a, b: lines(within(a, b, "speech", ("speech",))),
            inspect=inspect)


# --- the public API: one call each, through a Pipeline ------------------------------------------

def _pipeline(config: Config | None, backend, **options) -> Pipeline:
    return Pipeline(config, backend=backend, **options)


def index_video(video: str, config: Config | None = None, backend=None, **options) -> VideoRun:
    """Ingest `video`, make its tracks and build its search index (each step cached)."""
    pipeline = _pipeline(config, backend, **options)
    run = pipeline.run(video)
    pipeline.index(run)
    return run


def index_folder(videos: Sequence[str] | str, config: Config | None = None, backend=None, *,
                 ray: str | None = None, api_key: str | None = None, **options
                 ) -> tuple[list[VideoRun], list[str]]:
    """(runs, failure lines) of every video of `videos` (files, or folders holding them)
    indexed, and their collection's index; `ray`: on a Ray cluster at that address ("local":
    a Ray instance on this machine), see `vidqa.cluster`."""
    videos = [videos] if isinstance(videos, str) else videos
    return _pipeline(config, backend, **options).index_all(videos, ray=ray, api_key=api_key)


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


def transcript(video: str, config: Config | None = None, **options) -> list[Segment]:
    """What is said in `video` (its subtitles, or speech recognition), without decoding the
    frames; each segment's `extras["words"]` holds word times when recognised."""
    return _pipeline(config, None, tracks=("speech",), **options).transcript(video)[0].segments
