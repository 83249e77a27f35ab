"""A real Ray cluster on this machine for the `--ray` tests: a head (no CPUs of its own, so
every task runs on a worker) and worker nodes, each a `ray start --block` process in its own
process group, so a test can kill one node as a machine would die.

    with RayCluster(workers=2) as cluster:
        cluster.address               # "IP:PORT" of the head, for `vidqa index --ray`
        cluster.kill_worker(1)        # SIGKILL the second worker node and everything it runs

Ray puts every node on the machine's own address (it replaces 127.0.0.1 by design, see
`ray._private.services.resolve_ip_for_localhost`); nothing leaves the machine. Token
authentication is off for this throwaway cluster (`RAY_AUTH_MODE=disabled`), and nodes are
declared dead after five missed one-second health checks instead of Ray's default minute.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {"RAY_AUTH_MODE": "disabled", "RAY_health_check_period_ms": "1000",
       "RAY_health_check_failure_threshold": "5", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env() -> dict[str, str]:
    """The environment of every process of the test cluster, the driver's included. The
    nodes declare no GPU (`--num-gpus=0`) instead of inheriting the GPU hiding of
    `helpers.hardware` (an empty CUDA_VISIBLE_DEVICES, PYTORCH_NVML_BASED_CUDA_CHECK), with
    which a Ray 2.60 worker node never finishes joining."""
    env = {**os.environ, **ENV}
    if not env.get("CUDA_VISIBLE_DEVICES", "x"):
        del env["CUDA_VISIBLE_DEVICES"]
    env.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)  # the same: set by helpers.hardware
    return env


def node_env() -> dict[str, str]:
    """The nodes' environment: no VIDQA_HOME (the driver hands its own to every task; a
    worker node started with the tests' per-test one set also never joined)."""
    env = ray_env()
    env.pop("VIDQA_HOME", None)
    return env


class RayCluster:
    def __init__(self, workers: int = 2, cpus_per_worker: int = 1):
        self.workers, self.cpus = workers, cpus_per_worker
        self.port = _free_port()
        self.temp = Path(tempfile.mkdtemp(prefix="vr"))  # short: Ray's socket paths have a limit
        self.address = ""
        self._nodes: list[subprocess.Popen] = []

    def _start(self, *args: str) -> subprocess.Popen:
        ray = str(Path(sys.executable).with_name("ray"))
        log = open(self.temp / f"node{len(self._nodes)}.log", "wb")
        node = subprocess.Popen([ray if os.path.exists(ray) else "ray", "start", "--block",
                                 "--temp-dir", str(self.temp), "--disable-usage-stats", "--num-gpus=0",
                                 *args],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=node_env(),
                                start_new_session=True)
        self._nodes.append(node)
        return node

    def alive_nodes(self) -> int:
        code = ("import ray, logging; ray.init(address=%r, logging_level=logging.ERROR); "
                "print('alive nodes:', sum(1 for n in ray.nodes() if n['Alive']))" % self.address)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=ray_env(), timeout=120)
        # Ray may print its own lines too ("raylet has lagging heartbeats ..." on a busy
        # machine): the count is the line that says it.
        counts = [line.split(":")[1] for line in out.stdout.splitlines()
                  if line.startswith("alive nodes:")]
        return int(counts[-1]) if out.returncode == 0 and counts else -1

    def alive_nodes_after_a_kill(self, expected: int, timeout_s: float = 30) -> int:
        """The nodes Ray counts alive, asked again until they are `expected` or `timeout_s`
        passed: Ray counts a killed node dead only once it missed five health checks (5 s
        here), and a job may finish before that."""
        deadline = time.monotonic() + timeout_s
        while (alive := self.alive_nodes()) != expected and time.monotonic() < deadline:
            time.sleep(1)
        return alive

    def __enter__(self) -> RayCluster:
        try:
            return self._up()
        except BaseException:
            self.__exit__()
            raise

    def _up(self) -> RayCluster:
        host = socket.gethostbyname(socket.gethostname())
        self._start("--head", f"--port={self.port}", "--num-cpus=0",
                    "--include-dashboard=false")
        self.address = f"{host}:{self.port}"
        deadline = time.monotonic() + 60
        while self.alive_nodes() < 1:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not start: {self.log(0)}")
            time.sleep(1)
        for i in range(self.workers):  # one at a time: two joining at once can time out
            self._start(f"--address={self.address}", f"--num-cpus={self.cpus}")
            while self.alive_nodes() < 2 + i:
                if time.monotonic() > deadline + 60 * (i + 1):
                    raise RuntimeError(f"Ray worker {i} did not join: {self.log(1 + i)}")
                time.sleep(1)
        return self

    def log(self, node: int) -> str:
        path = self.temp / f"node{node}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def kill_worker(self, worker: int) -> None:
        """SIGKILL worker node `worker` (0-based) and every process it started."""
        node = self._nodes[1 + worker]
        os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=30)

    def __exit__(self, *exc: object) -> None:
        """Every node and everything it started SIGKILLed at once (its process group): a
        throwaway cluster needs no orderly stop, and a head given SIGTERM was still running
        30 s later on this machine (each node given 5 s to stop cost 10 s a cluster)."""
        for node in self._nodes:
            try:
                os.killpg(node.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for node in self._nodes:
            node.wait(timeout=30)
        shutil.rmtree(self.temp, ignore_errors=True)
