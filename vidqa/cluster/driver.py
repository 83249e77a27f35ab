"""The Ray executor (`vidqa index --ray`): every stage of every video's plan as a Ray task,
progress for the whole job, failures reported per video, and the runs assembled by the same
`vidqa.plan.assemble` a local run uses.

Per video the tasks are the stages of `Pipeline.plan`: ingest; each track that reads no frames
(speech) beside it; each track that reads frames after it, given the tracks it reads (its
`uses`: captions read on-screen text and speech); and the video's search index after all of
them. Each asks the cluster for the resources the `ray`
settings name (`ray.ingest_cpus`, ..., `ray.captions_gpus`), so decode, OCR and speech spread
over the CPU workers while captions wait on the model servers.

Results go to the same content-addressed cache a local run writes, written by the tasks
themselves: the cache must be one shared folder at the same path on every node ($VIDQA_HOME
on a network filesystem), and so must the videos. That is checked before any work starts (a
marker file the driver writes must be visible to every node). The tasks read what earlier
stages wrote (key frames are JPEG files) and write what they make next to it, so nothing the
size of a video or its frames goes through Ray's object store; the stages hand each other
only small results (key-frame lists, segments). A re-run finds every finished stage in the
cache and does only what is missing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from vidqa.config import Config
from vidqa.paths import cache_dir, cores, home_dir
from vidqa.errors import VidqaError, one_line
from vidqa.plan import INDEX, INGEST, Outcome, Plan, assemble

if TYPE_CHECKING:
    from vidqa.pipeline import Pipeline
    from vidqa.plan import VideoRun

LOCAL = "local"  # --ray with no address: a Ray instance on this machine
CHECK_TIMEOUT_S = 300.0  # every node answers the shared-cache check within this
CONNECT_TIMEOUT_S = 5.0  # the head's port answers within this
FIX = ("start the head with `ray start --head` and pass its address (host:6379), or --ray alone "
       "for a local instance")


def _ray():
    try:
        import ray
    except ImportError:
        raise VidqaError("--ray needs Ray; install it with: pip install 'vidqa[ray]'") from None
    return ray


def connect(address: str | None) -> bool:
    """Join the cluster at `address` (host:port, ray://host:10001 or auto), or start a local
    Ray instance with this machine's cores (None, "" or "local"). True when this call started
    Ray (and so should stop it)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    _messages_to_stderr()
    options: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                   logging_level=logging.ERROR)
    unreachable = _unreachable(address) if address and address != LOCAL else None
    if unreachable:  # Ray itself keeps trying for minutes, printing as it goes
        raise VidqaError(f"cannot reach the Ray cluster at {address}: {unreachable}; {FIX}")
    try:
        if not address or address == LOCAL:
            ray.init(num_cpus=cores(), **options)
        else:
            ray.init(address=address, **options)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
        where = f"the Ray cluster at {address}" if address and address != LOCAL else \
            "a local Ray instance"
        raise VidqaError(f"cannot start or reach {where}: {one_line(exc, 300)}; {FIX}") from None
    return True


def _unreachable(address: str) -> str | None:
    """Why nothing answers at `address`'s host and port (None: something does, or the address
    names no port, like `auto`)."""
    import socket

    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        return one_line(exc.strerror or exc, 200).lower()
    return None


def _messages_to_stderr() -> None:
    """Ray prints the cluster's messages to the driver (a node's lagging heartbeats, a worker
    that died) on stdout, where vidqa's results go (`--json`): they go to stderr instead."""
    try:
        from ray._private import worker as ray_worker

        original = ray_worker.print_to_stdstream
        if getattr(original, "vidqa", False):
            return

        def to_stderr(data, ignore_prefix):
            original({**data, "is_err": True}, ignore_prefix)

        to_stderr.vidqa = True
        ray_worker.print_to_stdstream = to_stderr
    except (ImportError, AttributeError):  # another Ray: its messages stay where they go
        pass


def _check_nodes(ray, token: str, videos: list[str]) -> None:
    """Every node with CPUs runs vidqa's version, sees the driver's cache and reads the videos
    (a VidqaError naming the node and the fix otherwise)."""
    import vidqa
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from vidqa.cluster.tasks import check_node

    marker = (cache_dir() / "cluster" / f"{token}.check").resolve()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(token)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) > 0]
        if not nodes:
            raise VidqaError("the Ray cluster has no node with CPUs; start workers with "
                             "`ray start --address HEAD:6379 --num-cpus N`")
        check = ray.remote(check_node)
        home = str(home_dir() or "")
        refs = [check.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            n["NodeID"], soft=False)).remote(str(marker), videos, home, os.getcwd())
            for n in nodes]
        try:
            seen = ray.get(refs, timeout=CHECK_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a node that cannot import vidqa, mostly
            raise VidqaError(f"a Ray node cannot run vidqa's tasks ({one_line(_cause(exc), 300)});"
                             f" install vidqa {vidqa.__version__} with its extras on every "
                             "node") from None
        for node in seen:
            if node["version"] != vidqa.__version__:
                raise VidqaError(f"node {node['host']} runs vidqa {node['version']}, the driver "
                                 f"{vidqa.__version__}; install the same version on every node")
            if not node["shared"]:
                raise VidqaError(f"node {node['host']} does not see vidqa's cache at "
                                 f"{cache_dir()}; the cache must be one shared folder at the "
                                 "same path on every node: set VIDQA_HOME to it (e.g. on NFS) "
                                 "on the driver")
            if node["unreadable"]:
                raise VidqaError(f"node {node['host']} cannot read '{node['unreadable'][0]}'; "
                                 "the videos must be at the same path on every node (a shared "
                                 "folder)")
    finally:
        marker.unlink(missing_ok=True)


def _beside_driver(ray) -> dict[str, Any]:
    """Where the job's actors (the servers' ledger, the progress board) live: on the driver's
    node, which the job cannot outlive anyway, not on a worker that may die mid-run (a test
    killed the node the ledger had landed on, and every caption after it failed). Should
    that node go all the same, Ray starts them again (the counts start again from zero)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    return dict(num_cpus=0, max_restarts=-1, max_task_retries=-1,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True))


def _cause(exc: BaseException) -> str:
    """What went wrong in a task, without Ray's traceback."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _job_config(config: Config) -> Config:
    """The settings the tasks get: the model servers as URLs (a file of URLs is read here,
    on the driver, where it was named)."""
    if config.model.backend != "openai":
        return config
    from vidqa.model.backends import server_urls

    urls = tuple(server_urls(config.model.base_url))
    return dataclasses.replace(config, model=dataclasses.replace(config.model, base_url=urls))


def _gpus(config: Config) -> float:
    wanted = config.ray.captions_gpus
    return (1.0 if config.model.backend == "transformers" else 0.0) if wanted < 0 else wanted


class RayExecutor:
    """Runs the plans of many videos on the Ray cluster at `address` (host:port, or "local"
    for an instance on this machine). `api_key`: the model servers' key the tasks need;
    `with_model`: whether they make the tracks that need the model (captions)."""

    def __init__(self, address: str | None = LOCAL, *, api_key: str | None = None,
                 with_model: bool = False):
        self.address, self.api_key, self.with_model = address, api_key, with_model

    def run_all(self, pipeline: Pipeline, videos, on_done=None
                ) -> tuple[list[VideoRun], list[str]]:
        return run_on_ray(pipeline, list(videos), self.address, api_key=self.api_key,
                          with_model=self.with_model, on_done=on_done)


def run_on_ray(pipeline: Pipeline, videos: list[str], address: str | None, *,
               api_key: str | None = None, with_model: bool = False,
               on_done: Callable[[VideoRun], None] | None = None
               ) -> tuple[list[VideoRun], list[str]]:
    """(runs in the order of `videos`, one failure line per video that failed) of every video
    through the pipeline's stages as Ray tasks (see the module). `with_model`: captions are
    made (by the servers of the pipeline's settings, or a local model on GPU workers), else
    read from the cache."""
    ray = _ray()
    from vidqa.cluster import tasks
    from vidqa.cluster.shared import Board, RemoteLedger, Settled
    from vidqa.model.backends.pool import Ledger

    started = connect(address)
    token = secrets.token_hex(8)
    config = _job_config(pipeline.config)
    pool = pipeline.backend if hasattr(pipeline.backend, "ledger") else None
    ledger = None
    try:
        _check_nodes(ray, token, videos)
        if with_model and _gpus(config) > 0 and not ray.cluster_resources().get("GPU"):
            raise VidqaError("captions by a local model need a GPU worker, and the Ray cluster "
                             "has none (its tasks would wait for one forever); caption with "
                             "model servers (-b openai --base-url URL), or pass --no-captions")
        urls = list(config.model.base_url) if config.model.backend == "openai" else []
        here = _beside_driver(ray)
        if with_model and urls:  # one server too: the tasks share its places
            ledger = ray.remote(Ledger).options(max_concurrency=1024, **here).remote(
                urls, config.model.concurrency)
            if pool is not None:
                pool.ledger = RemoteLedger(ledger)
        board = ray.remote(Board).options(max_concurrency=64, **here).remote()
        api_key = api_key or os.environ.get("OPENAI_API_KEY")  # the driver's, for every node
        job = ray.put(tasks.Job(token, config, str(home_dir() or ""), os.getcwd(), api_key,
                                with_model, pipeline.allow_errors, ledger, board))
        chains = {video: _submit(ray, tasks, job, pipeline, config, video, with_model)
                  for video in videos}
        outcomes = _follow(ray, chains, board, pipeline, on_done)
    except KeyboardInterrupt:
        for _plan, chain in locals().get("chains", {}).values():
            for ref in chain.values():
                ray.cancel(ref, force=True)
        raise
    finally:
        if pool is not None and ledger is not None:
            try:
                pool.ledger = Settled(ray.get(ledger.counts.remote(), timeout=30))
            except Exception:  # noqa: BLE001 - the counts are lost with the cluster
                pool.ledger = Settled([])
        if started:
            ray.shutdown()
    runs = [outcomes[v] for v in videos if not isinstance(outcomes[v], str)]
    failures = [outcomes[v] for v in videos if isinstance(outcomes[v], str)]
    return runs, failures


def _submit(ray, tasks, job, pipeline: Pipeline, config: Config, video: str,
            with_model: bool) -> tuple[Plan, dict[str, Any]]:
    """(the plan of one video, its tasks: {stage name: ref}), each stage a task given the
    results of the stages it reads."""
    r = config.ray
    retry = dict(max_retries=r.retries, retry_exceptions=True)

    def cpus(name: str) -> float:
        return float(getattr(r, f"{name}_cpus", 1.0))

    plan = pipeline.plan(video)
    chain: dict[str, Any] = {}
    track = ray.remote(tasks.track)
    for stage in plan.stages:
        if stage.name == INGEST:
            chain[INGEST] = ray.remote(tasks.ingest).options(
                num_cpus=r.ingest_cpus, **retry).remote(job, video, r.ingest_cpus)
        elif stage.track:
            model = stage.model and with_model
            uses = stage.uses()  # on-screen text starts as soon as the ingest ends
            source = chain[INGEST] if INGEST in stage.reads else None
            chain[stage.name] = track.options(
                num_cpus=cpus(stage.name), num_gpus=_gpus(config) if model else 0,
                **retry).remote(job, stage.name, video, cpus(stage.name), model, source,
                                uses, *[chain[n] for n in uses])
        else:
            made = stage.uses()
            chain[INDEX] = ray.remote(tasks.index).options(num_cpus=r.index_cpus,
                                                           **retry).remote(
                job, video, r.index_cpus, chain[INGEST], made, *[chain[n] for n in made])
    return plan, chain


def _follow(ray, chains: dict[str, tuple[Plan, dict[str, Any]]], board, pipeline: Pipeline,
            on_done: Callable[[VideoRun], None] | None) -> dict[str, Any]:
    """Wait for every video, showing the job's progress: {video: its VideoRun, or a failure
    line}."""
    waiting = {chain[INDEX]: video for video, (_plan, chain) in chains.items()}
    outcomes: dict[str, Any] = {}
    with ExitStack() as bars:
        advance_videos = bars.enter_context(pipeline.progress("videos", len(chains), "video"))
        stages: dict[str, list] = {}  # stage -> [advance, shown]
        while waiting:
            ready, _ = ray.wait(list(waiting), num_returns=len(waiting), timeout=0.5)
            try:
                snapshot = ray.get(board.snapshot.remote(), timeout=10)
            except Exception:  # noqa: BLE001 - progress only
                snapshot = {}
            for stage, entry in snapshot.items():
                if stage not in stages:
                    stages[stage] = [bars.enter_context(pipeline.progress(
                        stage, None, entry["unit"] or "item")), 0.0]
                advance, shown = stages[stage]
                if entry["done"] > shown:
                    advance(round(entry["done"] - shown, 3))
                    stages[stage][1] = entry["done"]
            for ref in ready:
                video = waiting.pop(ref)
                outcomes[video] = _outcome(ray, video, *chains[video], pipeline)
                advance_videos(1)
                if on_done is not None and not isinstance(outcomes[video], str):
                    on_done(outcomes[video])
    return outcomes


def _outcome(ray, video: str, plan: Plan, chain: dict[str, Any], pipeline: Pipeline):
    """The video's VideoRun (`assemble`d as a local run's is), or its failure line."""
    from vidqa.cluster.tasks import Failed

    results: dict[str, Outcome] = {}
    for stage, ref in chain.items():
        try:
            results[stage] = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - a task that failed after Ray's retries
            return (f"{video}: its {stage} stage failed on the Ray cluster after "
                    f"{pipeline.config.ray.retries} retries ({one_line(_cause(exc), 300)}); "
                    "see the Ray logs (`ray logs`, or /tmp/ray/session_latest/logs on the node)")
        if isinstance(results[stage], Failed):
            return results[stage].message
    run = assemble(plan, results)
    for warning in run.warnings:
        if pipeline.warn is not None:
            pipeline.warn(warning)
    return run


__all__ = ["LOCAL", "RayExecutor", "connect", "run_on_ray"]
