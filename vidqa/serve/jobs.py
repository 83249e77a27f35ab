"""Indexing jobs of a server: one at a time, in the order asked, each with its progress.

A job's progress comes from the pipeline's own progress protocol (`vidqa.pipeline.Progress`):
every stage the run opens (the decode, on-screen text, speech, captions) is a bar with a total
and a count. Every change bumps the job's `version` and wakes who waits for one: `wait` (a
thread waiting for the end) and `next_change` (the page's server-sent events, in asyncio, with
no thread held and no polling). One job runs at a time: ffmpeg, OCR and speech recognition
already use the cores, and a second video at once would only slow both (and searches
meanwhile).
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vidqa.errors import VidqaError

_ids = itertools.count(1)


class Cancelled(Exception):
    """A job was cancelled (everyone who asked for it went away): raised in the job's thread
    at the next step of its progress, so the run stops there and keeps only what it finished
    whole. Not a VidqaError: nothing that reports a video's failure and goes on may take it."""


@dataclass
class Job:
    """One video being indexed."""

    id: str
    video: str  # the library's id of the video
    name: str
    state: str = "queued"  # queued, running, done, failed, cancelled
    stages: list[dict] = field(default_factory=list)  # {desc, total, done, unit}
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    version: int = 0  # bumped on every change: what event streams wait on
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(
        default_factory=list, repr=False)
    result: Any = field(default=None, repr=False)
    cancelled: bool = False
    asked: int = 0  # callers holding the job (`Jobs.submit`): a page, a chat request, MCP

    def release(self) -> bool:
        """One caller no longer wants the job; when none does, it is cancelled: a queued one
        never starts, a running one stops at its next step. Whether it was cancelled."""
        with self._changed:
            self.asked = max(0, self.asked - 1)
            if self.asked or self.state not in ("queued", "running"):
                return False
            self.cancelled = True
        self._bump()
        return True

    def stage_text(self) -> str | None:
        """The current stage as words, e.g. "decode 40/120 s" (None before the first)."""
        if not self.stages:
            return None
        stage = self.stages[-1]
        total = f"/{stage['total']:g}" if stage["total"] else ""
        return f"{stage['desc']} {stage['done']:g}{total} {stage['unit']}".strip()

    def fraction(self) -> float:
        """Stages finished plus the fraction of the current one: a number that only grows
        (what progress notifications carry)."""
        if not self.stages:
            return 0.0
        stage = self.stages[-1]
        part = stage["done"] / stage["total"] if stage["total"] else 0.0
        return round(len(self.stages) - 1 + min(part, 1.0), 3)

    def check(self) -> None:
        """Raise `Cancelled` when the job was cancelled (the job's thread, between steps)."""
        if self.cancelled:
            raise Cancelled(f"indexing '{self.name}' was cancelled")

    def to_dict(self) -> dict:
        return {"id": self.id, "video": self.video, "name": self.name, "state": self.state,
                "stages": [dict(s) for s in self.stages], "error": self.error,
                "warnings": list(self.warnings), "version": self.version}

    def _bump(self) -> None:
        with self._changed:
            self.version += 1
            self._changed.notify_all()
            for loop, changed in self._waiters:
                try:
                    loop.call_soon_threadsafe(changed.set)
                except RuntimeError:  # that loop is closed: its stream is gone
                    pass

    async def next_change(self, version: int, timeout_s: float) -> int:
        """Wait until the job's version passes `version`, or `timeout_s`; the version then. In
        asyncio: the wait holds no thread, and a change (from the job's thread) wakes it."""
        changed = asyncio.Event()
        waiter = (asyncio.get_running_loop(), changed)
        with self._changed:
            if self.version != version:
                return self.version
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(changed.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._changed:
                self._waiters.remove(waiter)
        return self.version

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the job has finished; whether it has."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._changed:
            while self.state in ("queued", "running"):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(timeout=left)
        return True

    @contextmanager
    def progress(self, desc: str, total: float | None, unit: str
                 ) -> Iterator[Callable[[float], None]]:
        """A stage of the run, as `vidqa.pipeline.Progress` opens one."""
        self.check()
        stage = {"desc": desc, "total": total, "done": 0.0, "unit": unit}
        self.stages.append(stage)
        self._bump()
        last = [0.0]

        def advance(amount: float = 1) -> None:
            self.check()
            stage["done"] = round(stage["done"] + amount, 3)
            now = time.monotonic()
            if now - last[0] >= 0.2:  # at most five events a second
                last[0] = now
                self._bump()

        try:
            yield advance
        except BaseException:
            self._bump()
            raise
        if total is not None:
            stage["done"] = total  # a stage read from the cache reports no steps
        self._bump()

    def finish(self, state: str, error: str | None = None, result: Any = None) -> None:
        self.state, self.error, self.result = state, error, result
        self.finished = time.time()
        self._bump()


class Jobs:
    """A queue of indexing jobs run by one thread. `work(job)` does the job (raises
    VidqaError for a video that cannot be indexed)."""

    def __init__(self, work: Callable[[Job], Any]):
        self._work = work
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="vidqa-jobs")
        self._thread.start()

    def submit(self, video: str, name: str) -> Job:
        """A job indexing `video`, held by one more caller (`Job.release` lets go): the one
        already queued or running for it, if any and not cancelled."""
        with self._lock:
            for job in self._jobs.values():
                if job.video == video and job.state in ("queued", "running"):
                    with job._changed:
                        if not job.cancelled:
                            job.asked += 1
                            return job
            job = Job(f"job-{next(_ids)}", video, name, asked=1)
            self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def close(self) -> None:
        """Stop the worker once the job under way (if any) ends; queued jobs are dropped."""
        self._queue.put(None)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job.state = "running"
            job._bump()
            try:
                result = self._work(job)
            except Cancelled as exc:
                job.finish("cancelled", str(exc))
            except VidqaError as exc:
                job.finish("failed", str(exc))
            except Exception as exc:  # noqa: BLE001 - a job's failure is reported, not fatal
                traceback.print_exc()
                job.finish("failed", f"unexpected {type(exc).__name__}: {exc}")
            else:
                job.finish("done", result=result)
