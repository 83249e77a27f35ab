"""Ingest and its store: cached by content and settings, safe against SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidqa.config import Config
from vidqa.ingest import ingest
from vidqa.store import MANIFEST


def complete_manifests(home: Path) -> list[Path]:
    """Manifests a reader would take as complete (not inside a .tmp-* directory)."""
    return [p for p in home.rglob(MANIFEST) if not any(part.startswith(".tmp-") for part in p.parts)]


def test_result_carries_absolute_times_and_images(cuts_video, vidqa_home):
    path, truth = cuts_video
    result = ingest(path)
    assert result.stats.frames_sampled == 53  # 26.04 s of video: slots 0.0 .. 26.0
    assert result.stats.tokens_per_frame == 220 and result.stats.frame_width == 640
    assert result.stats.tokens_uniform == 53 * 220
    assert result.stats.tokens_kept == len(result.keyframes) * 220
    for kf in result.keyframes:
        image = result.image_path(kf)
        assert image.is_file() and image.read_bytes()[:2] == b"\xff\xd8"  # JPEG
    assert result.chunks[0].start_s == 0.0
    assert result.chunks[-1].end_s == pytest.approx(truth["duration_s"], abs=0.1)
    chunk_frames = [k for c in result.chunks for k in c.keyframes]
    assert chunk_frames == result.keyframes
    data = result.to_dict()
    json.dumps(data)
    assert data["keyframes"][0]["pts_s"] == 0.0


def test_rerun_decodes_nothing(cuts_video, monkeypatch, tmp_path):
    path, _ = cuts_video
    first = ingest(path)
    assert not first.stats.cached

    class NoDecode:
        def __init__(self, *args, **kwargs):
            raise AssertionError("decoded again")

    monkeypatch.setattr(sys.modules["vidqa.ingest"], "FrameReader", NoDecode)
    again = ingest(path)
    assert again.stats.cached and again.keyframes == first.keyframes
    # Same content under another name: same fingerprint, still no decode.
    copy = tmp_path / "renamed copy.mp4"
    shutil.copy(path, copy)
    assert ingest(copy).stats.cached
    # A new chunk budget re-chunks from the stored key frames without decoding.
    small = ingest(path, Config().replace("chunk", max_tokens=660))
    assert small.stats.cached and all(c.tokens <= 660 for c in small.chunks)
    assert len(small.chunks) > len(first.chunks)
    # A new sampling rate needs a decode.
    with pytest.raises(AssertionError, match="decoded again"):
        ingest(path, Config().replace("decode", fps=1.0))


def test_damaged_manifest_is_rebuilt(cuts_video, vidqa_home):
    path, _ = cuts_video
    result = ingest(path)
    (result.workdir / MANIFEST).write_text('{"format": 1, "keyfr')
    again = ingest(path)
    assert not again.stats.cached and again.keyframes == result.keyframes
    next(iter(again.workdir.glob("keyframes/*.jpg"))).unlink()
    assert not ingest(path).stats.cached


def _start(path: Path, home: Path) -> subprocess.Popen:
    code = "import sys; from vidqa import ingest; ingest(sys.argv[1])"
    env = {**os.environ, "VIDQA_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-c", code, str(path)], env=env)


@pytest.mark.parametrize("when", ["at once", "first key frame", "late"])
def test_sigkill_leaves_nothing_complete_and_next_run_finishes(event_video, vidqa_home, when):
    path, _ = event_video
    proc = _start(path, vidqa_home)
    deadline = time.monotonic() + 60
    if when != "at once":
        need = 1 if when == "first key frame" else 2
        while time.monotonic() < deadline and proc.poll() is None:
            tmp = [d for d in vidqa_home.rglob(".tmp-*") if d.is_dir()]
            if tmp and len(list(tmp[0].rglob("*.jpg"))) >= need:
                break
            time.sleep(0.005)
    else:
        time.sleep(0.3)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.returncode == -signal.SIGKILL:
        assert complete_manifests(vidqa_home) == []
    result = ingest(path)
    assert len(result.keyframes) == 3
    assert len(complete_manifests(vidqa_home)) == 1
    # The dead run's temporary directory is gone.
    assert not [d for d in vidqa_home.rglob(".tmp-*")]
