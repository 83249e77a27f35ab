"""Temporaries left by runs killed in the middle of a write are removed by the next writer in
that folder; a live writer's are left alone, whoever and wherever it is."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from vidqa.store import (STALE_ELSEWHERE_S, atomic_write_text, clean_stale, host_tag,
                         temp_name, temp_owner)

from helpers.processes import kill_when

WRITER = """
import sys, time
from pathlib import Path
from vidqa.store import atomic_open
with atomic_open(Path(sys.argv[1])) as handle:
    handle.write("half of it")
    handle.flush()
    print("writing", flush=True)
    time.sleep(120)  # killed here, inside the write
"""


def _writer(target: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


def _temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".tmp-*"))


def test_a_writer_killed_mid_write_leaves_a_temporary_the_next_write_removes(tmp_path):
    target = tmp_path / "captions.json"
    dead = _writer(target)
    live = _writer(tmp_path / "other.json")
    try:
        kill_when(dead)
        left = _temps(tmp_path)
        assert {temp_owner(p)[0] for p in left} == {dead.pid, live.pid}
        assert not target.exists()  # never taken for the finished file

        atomic_write_text(target, "whole")  # the next writer in that folder cleans up
        assert target.read_text() == "whole"
        (kept,) = _temps(tmp_path)
        assert temp_owner(kept) == (live.pid, host_tag())  # still writing: left alone
    finally:
        live.kill()
        live.wait()
    clean_stale(tmp_path)
    assert _temps(tmp_path) == []


def test_temporary_names_stay_short_for_long_names(tmp_path):
    long = tmp_path / ("x" * 250)
    atomic_write_text(long, "ok")  # the old `.NAME.HEX.tmp` was 264 bytes: ENAMETOOLONG
    assert long.read_text() == "ok"
    assert len(temp_name()) < 40


def test_other_hosts_and_older_versions(tmp_path):
    """A shared cache: another host's live temporary is kept until it is a day old; the old
    writer's pid-less `.NAME.HEX.tmp` files likewise."""
    fresh_elsewhere = tmp_path / ".tmp-f-123@ffffff-0badc0de"
    old_elsewhere = tmp_path / ".tmp-f-124@ffffff-0badbeef"
    fresh_legacy = tmp_path / ".captions.json.1a2b3c4d.tmp"
    old_legacy = tmp_path / ".events.srt.5e6f7a8b.tmp"
    dead_here = tmp_path / f".tmp-idx-{_dead_pid()}-0000beef-idx"  # an older name, this host
    for path in (fresh_elsewhere, old_elsewhere, fresh_legacy, old_legacy):
        path.write_text("partial")
    dead_here.mkdir()
    day_ago = time.time() - STALE_ELSEWHERE_S - 60
    for path in (old_elsewhere, old_legacy):
        os.utime(path, (day_ago, day_ago))
    clean_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [fresh_elsewhere.name, fresh_legacy.name])


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
