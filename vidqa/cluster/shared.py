"""What the tasks of one `vidqa index --ray` job share, each in a Ray actor: the ledger of the
model servers (so "least busy" counts the whole cluster's requests) and the progress board
(so the driver shows the whole job's progress).

Both are plain classes run as threaded actors (`max_concurrency`), with no CPU of their own;
the proxies below give tasks the same methods a local object has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

FLUSH_S = 0.5  # a task tells the board what it did at most this often


class RemoteLedger:
    """`vidqa.model.backends.pool.Accounts` through the job's ledger actor (picklable: tasks
    receive it)."""

    def __init__(self, actor: Any):
        self.actor = actor

    def _call(self, method: str, *args: Any) -> Any:
        import ray

        return ray.get(getattr(self.actor, method).remote(*args))

    def acquire(self, exclude: tuple[str, ...] = ()) -> str | None:
        return self._call("acquire", exclude)

    def release(self, url: str, ok: bool, seconds: float = 0.0, why: str = "") -> None:
        self._call("release", url, ok, seconds, why)

    def due(self) -> list[str]:
        return self._call("due")

    def back(self, url: str) -> None:
        self._call("back", url)

    def counts(self) -> list[dict]:
        return self._call("counts")


class Settled:
    """The counts of a pool's ledger after its cluster stopped (the driver's report)."""

    def __init__(self, counts: list[dict]):
        self._counts = counts

    def counts(self) -> list[dict]:
        return self._counts

    def acquire(self, exclude: tuple[str, ...] = ()) -> str | None:
        return None

    def release(self, url: str, ok: bool, seconds: float = 0.0, why: str = "") -> None:
        pass

    def due(self) -> list[str]:
        return []

    def back(self, url: str) -> None:
        pass


class Board:
    """The job's progress: per stage, the work done and the work known (tasks add to both)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stages: dict[str, dict[str, Any]] = {}

    def open(self, stage: str, total: float | None, unit: str) -> None:
        with self._lock:
            entry = self._stages.setdefault(stage, {"done": 0.0, "total": 0.0, "unit": unit})
            entry["total"] += total or 0.0

    def add(self, stage: str, amount: float) -> None:
        with self._lock:
            self._stages.setdefault(stage, {"done": 0.0, "total": 0.0, "unit": ""})
            self._stages[stage]["done"] += amount

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {stage: dict(entry) for stage, entry in self._stages.items()}


def forward(board: Any, stage: str):
    """A `vidqa.pipeline.Progress` for a task: what the pipeline reports goes to the job's
    board under `stage`, at most every FLUSH_S (fire and forget)."""

    @contextmanager
    def progress(desc: str, total: float | None, unit: str
                 ) -> Iterator[Callable[[float], None]]:
        board.open.remote(stage, total, unit)
        pending = [0.0, time.monotonic()]

        def advance(amount: float = 1) -> None:
            pending[0] += amount
            if time.monotonic() - pending[1] >= FLUSH_S:
                board.add.remote(stage, pending[0])
                pending[:] = [0.0, time.monotonic()]

        try:
            yield advance
        finally:
            if pending[0]:
                board.add.remote(stage, pending[0])

    return progress


__all__ = ["Board", "RemoteLedger", "Settled", "forward"]
