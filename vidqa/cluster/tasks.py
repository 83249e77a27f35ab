"""What runs on the Ray workers: one stage of one video per task, through the same `Pipeline`
methods a local run calls, so a task writes the same cache entries a local run would.

A task returns an `Outcome` (the stage's result, as `vidqa.plan` has a local run's) or
`Failed` (a `VidqaError`: a bad file, a server
that refused; the same on every try, so it is returned, not raised, and Ray does not run it
again). Anything else it raises, and Ray runs it again (see `vidqa.cluster.driver`). A task
given a `Failed` from an earlier stage of its video passes it on.

A worker process keeps the job's `Pipeline`s (one with the model, one without: its OCR
engine, Whisper, embedder and model load once, however its tasks alternate) and runs one task
at a time, with `$VIDQA_CORES` set to the cores the stage asked for, so ffmpeg, onnxruntime and
CTranslate2 size their threads to it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from vidqa.config import Config
from vidqa.errors import VidqaError
from vidqa.plan import Outcome, VideoRun


@dataclass(frozen=True)
class Job:
    """What every task of one run is given (put in Ray's object store once)."""

    token: str  # tells one job's pipelines from another's in a worker process
    config: Config
    home: str  # $VIDQA_HOME of the driver ("" when unset): where the shared cache lives
    cwd: str  # the driver's folder: videos named relative to it are read from there
    api_key: str | None = None
    with_model: bool = False  # captions may be made (else read from the cache only)
    allow_errors: bool = False
    ledger: Any = None  # the servers' ledger actor (a pool of servers), or None
    board: Any = None  # the progress board actor


@dataclass
class Failed:
    stage: str
    message: str
    extra: dict = field(default_factory=dict)


_pipelines: dict[tuple[str, bool], Any] = {}


def _pipeline(job: Job, stage: str, cpus: float, model: bool = False):
    """This worker's pipeline for `job`, its progress going to the board under `stage`."""
    os.environ["VIDQA_CORES"] = str(max(1, int(cpus)))
    _place(job.home, job.cwd)
    key = (job.token, model)
    pipeline = _pipelines.get(key)
    if pipeline is None:
        from vidqa.pipeline import Pipeline

        backend = None
        if model:
            from vidqa.cluster.shared import RemoteLedger
            from vidqa.model.backends import open_backend

            backend = open_backend(job.config, api_key=job.api_key, pooled=bool(job.ledger),
                                   ledger=RemoteLedger(job.ledger) if job.ledger else None)
        for other in [k for k in _pipelines if k[0] != job.token]:  # one job at a time
            del _pipelines[other]
        pipeline = _pipelines[key] = Pipeline(job.config, backend=backend,
                                              allow_errors=job.allow_errors)
    if job.board is not None:
        from vidqa.cluster.shared import forward

        pipeline.progress = forward(job.board, stage)
    return pipeline


def _timed(stage: str, work) -> Outcome | Failed:
    started = time.perf_counter()
    try:
        value = work()
    except VidqaError as exc:
        return Failed(stage, str(exc))
    if isinstance(value, Outcome):
        value.seconds = round(time.perf_counter() - started, 2)
        return value
    return Outcome(value, round(time.perf_counter() - started, 2))


def _place(home: str, cwd: str) -> None:
    """This worker reads and writes where the driver does: its cache and its folder."""
    if home:
        os.environ["VIDQA_HOME"] = home
    if os.path.isdir(cwd) and os.getcwd() != cwd:
        os.chdir(cwd)


def check_node(marker: str, videos: list[str], home: str, cwd: str) -> dict:
    """What a node sees: vidqa's version, whether the driver's marker file in the cache is
    there (the cache is shared), and which of `videos` it cannot read."""
    import socket

    import vidqa

    _place(home, cwd)
    return {"host": socket.gethostname(), "version": vidqa.__version__,
            "shared": os.path.isfile(marker),
            "unreadable": [v for v in videos if not os.access(v, os.R_OK)][:3]}


def ingest(job: Job, video: str, cpus: float) -> Outcome | Failed:
    """Probe, decode, select key frames and chunk (cached)."""
    pipeline = _pipeline(job, "ingest", cpus)
    return _timed("ingest", lambda: pipeline.ingest(video))


def track(job: Job, name: str, video: str, cpus: float, model: bool, source: Any,
          names: tuple[str, ...], *earlier: Outcome | Failed) -> Outcome | Failed:
    """Track `name` of `video`: from its `Media` when `source` is None (a track that reads no
    frames), else from the ingest result, with the tracks it reads (`names`, `earlier`).
    The value is its segments (None when it cannot run here); `warning` when left out."""
    for upstream in (source, *earlier):
        if isinstance(upstream, Failed):
            return upstream
    pipeline = _pipeline(job, name, cpus, model)

    def work() -> Outcome:
        made = {n: d.value for n, d in zip(names, earlier) if d.value is not None}
        notes: list[str] = []
        segments, warning = pipeline.make(name, source.value if source is not None
                                          else pipeline.media(video), made, notes=notes)
        return Outcome(segments, warning=warning, notes=notes)

    return _timed(name, work)


def index(job: Job, video: str, cpus: float, source: Outcome | Failed, names: tuple[str, ...],
          *made: Outcome | Failed) -> Outcome | Failed:
    """The video's own search index (embedded here, kept in the shared cache); the value is
    its number of entries."""
    for upstream in (source, *made):
        if isinstance(upstream, Failed):
            return upstream
    pipeline = _pipeline(job, "index", cpus)

    def work() -> int:
        run = VideoRun(source.value, {n: d.value for n, d in zip(names, made)
                                      if d.value is not None})
        pipeline.index(run)
        return len(run.entries())

    return _timed("index", work)


__all__ = ["Failed", "Job", "check_node", "index", "ingest", "track"]
