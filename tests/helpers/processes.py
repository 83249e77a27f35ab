"""Killing a child process at a chosen point, so a kill test asserts only what happened."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool] = lambda: True, *,
              timeout_s: float = 60.0, what: str = "the point to kill it at") -> None:
    """Wait until `ready()` (the child still running, within `timeout_s`), assert the child is
    alive, SIGKILL it and assert that the kill is what ended it."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, f"the child ended ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"the child did not reach {what} in {timeout_s:g} s"
        time.sleep(0.002)
    assert proc.poll() is None, "the child ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
