"""The local executor: a video's plan run by threads on this machine.

Tracks that read no frames (speech) run in a thread beside the ingest, the tracks that read
frames (on-screen text, captions) after it, each given the segments of the tracks it declares
in `uses` (`Pipeline.make` hands it only those); the index last, when asked for. ffmpeg, OCR
and the recogniser work at once. When the run fails (a broken video, Ctrl-C) the thread stops
at its next progress report and is never waited for. `vidqa.cluster.driver.RayExecutor` runs
the same plan as Ray tasks; both assemble the run with `vidqa.plan.assemble`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vidqa.errors import VidqaError
from vidqa.plan import INGEST, INDEX, Outcome, Plan, VideoRun, assemble

if TYPE_CHECKING:
    from vidqa.pipeline import Pipeline


class Stopped(Exception):
    """Ends a background track when the run it belongs to failed."""


class Background:
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


def run_plan(pipeline: Pipeline, plan: Plan, *, index: bool = False) -> VideoRun:
    """The run of `plan` on this machine (the video's search index built too, with `index`;
    else it is built when first searched)."""
    media = pipeline.media(plan.video)
    stop = threading.Event()
    outcomes: dict[str, Outcome] = {}

    def timed(name: str, source, earlier=None) -> Outcome:
        started = time.perf_counter()
        notes: list[str] = []
        try:
            segments, warning = pipeline.make(name, source, earlier, stop=stop, notes=notes)
        finally:
            seconds = round(time.perf_counter() - started, 2)
        return Outcome(segments, seconds, warning, notes)

    beside = [s.name for s in plan.tracks if s.beside]
    after = [s.name for s in plan.tracks if not s.beside]
    background = Background(lambda: {name: timed(name, media) for name in beside}) \
        if beside else None
    try:
        started = time.perf_counter()
        result = pipeline.ingest(media.video, on_build=lambda: pipeline.prepare(after))
        outcomes[INGEST] = Outcome(result, round(time.perf_counter() - started, 2))
        if background is not None:
            background.raise_if_failed()  # a bad --audio-stream: now, not after OCR
        for name in after:
            if background is not None and set(plan.stage(name).uses()) & set(beside):
                outcomes.update(background.result())  # it reads a track made beside
            made = {n: o.value for n, o in outcomes.items()
                    if n not in (INGEST, INDEX) and o.value is not None}
            outcomes[name] = timed(name, result, made)
        if background is not None:
            outcomes.update(background.result())
    except BaseException:
        stop.set()
        raise
    run = assemble(plan, outcomes)
    if index:
        started = time.perf_counter()
        pipeline.index(run)
        run.seconds[INDEX] = round(time.perf_counter() - started, 2)
    return run


class LocalExecutor:
    """Videos one after another on this machine, each through `run_plan`."""

    def run_all(self, pipeline: Pipeline, videos: Sequence[str],
                on_done: Callable[[VideoRun], None] | None = None
                ) -> tuple[list[VideoRun], list[str]]:
        """(runs, one failure line per video that failed): a video that fails is reported,
        the others go on."""
        runs, failures = [], []
        for video in videos:
            try:
                done = run_plan(pipeline, pipeline.plan(video), index=True)
            except VidqaError as exc:
                failures.append(str(exc))
                continue
            runs.append(done)
            if on_done is not None:
                on_done(done)
        return runs, failures
