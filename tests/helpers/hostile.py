"""What the hostile-input tests share: a full disk, the CLI's one line (videos: `clips` in
conftest.py).

The tests in `tests/hostile/` feed vidqa what an attacker or an unlucky user would: file names
that look like URLs or options, servers that misbehave (`openai_server.MISBEHAVING`), full disks
(a real tmpfs, or an injected ENOSPC where a tmpfs cannot reach), settings files built to
explode, and runs killed half way. Each failure must be one line naming the file, what is wrong
and the fix, exit status 1, and nothing half-written taken for complete. Later features (speech,
the server, the cluster runner) add their own cases here.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from vidqa.cli.commands import cli


def run(*args: str, input: str | None = None):
    """The CLI in process; exceptions are caught so an unexpected one shows as a failure."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=True)


def one_line_error(result, *, code: int = 1) -> str:
    """The single `Error: ...` line of a failed run (and nothing unexpected behind it)."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr,
                                      result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    line = errors[0]
    assert "unexpected" not in line and "Traceback" not in result.stderr, result.stderr
    return line


@contextmanager
def small_disk(where: Path, size: str = "16m"):
    """A real tmpfs of `size` mounted at `where` (root only; skipped elsewhere)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to fill a disk ({mounted.stderr.strip()}); "
                    "run the tests as root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path, leave_bytes: int = 0) -> Path:
    """Fill `disk` to the last page, then free `leave_bytes` of it (a ballast file; unlink it
    to free the disk again)."""
    ballast = disk / f"ballast-{uuid.uuid4().hex[:6]}"
    with open(ballast, "wb", buffering=0) as handle:
        for block in (1 << 20, 1 << 12, 1):
            try:
                while handle.write(b"\0" * block):
                    pass
            except OSError:
                pass  # full at this block size: go on with smaller ones
    if leave_bytes:
        os.truncate(ballast, max(0, ballast.stat().st_size - leave_bytes))
    return ballast


def temporaries(root: Path) -> list[Path]:
    """vidqa's temporaries (files and folders) anywhere under `root`."""
    return [p for p in root.rglob(".tmp-*")]
