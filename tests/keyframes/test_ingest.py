"""Ingest and its store: cached by content and settings, safe against SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidqa.config import Config
from vidqa.keyframes.ingest import ingest
from vidqa.store import MANIFEST

from helpers.processes import kill_when
from helpers.store import complete_manifests


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

    monkeypatch.setattr(sys.modules["vidqa.keyframes.ingest"], "FrameReader", NoDecode)
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


# Ingest slowed by 20 ms a sampled frame (180 frames), so it is still decoding, seconds short of
# the end, when the test kills it: the kill always lands.
SLOW_INGEST = ("import sys, time; from vidqa import ingest; "
               "ingest(sys.argv[1], on_progress=lambda pts_s: time.sleep(0.02))")


def _start(path: Path, home: Path) -> subprocess.Popen:
    env = {**os.environ, "VIDQA_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-c", SLOW_INGEST, str(path)], env=env)


def _keyframes_written(home: Path) -> int:
    """Key frames in the first temporary work dir under `home` (0 when none is there)."""
    tmp = [d for d in home.rglob(".tmp-*") if d.is_dir()]
    return len(list(tmp[0].rglob("*.jpg"))) if tmp else 0


@pytest.mark.parametrize("when", ["at once", "first key frame",
                                  pytest.param("late", marks=pytest.mark.slow)])
def test_sigkill_leaves_nothing_complete_and_next_run_finishes(event_video, vidqa_home, when):
    path, _ = event_video
    proc = _start(path, vidqa_home)
    try:
        if when == "at once":
            time.sleep(0.3)
            kill_when(proc)
        else:
            need = 1 if when == "first key frame" else 2
            kill_when(proc, lambda: _keyframes_written(vidqa_home) >= need,
                      what=f"key frame {need}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert complete_manifests(vidqa_home) == []
    result = ingest(path)
    assert len(result.keyframes) == 3
    assert len(complete_manifests(vidqa_home)) == 1
    # The dead run's temporary directory is gone.
    assert not [d for d in vidqa_home.rglob(".tmp-*")]


@pytest.mark.parametrize("name", ["cuts", "clock"])
def test_parts_decoded_at_once_give_what_one_pass_gives(request, name, vidqa_home):
    """A video decoded in three parts by three ffmpeg processes at once: the same sampled
    frames with the same times, the same key frames (times, reasons, scenes, frame indexes)
    and the same scenes as one pass; the progress adds up."""
    path, _ = request.getfixturevalue(f"{name}_video")
    one = ingest(path, Config().replace("decode", segments=1))
    seen = []
    parts = ingest(path, Config().replace("decode", segments=3), on_progress=seen.append)
    assert parts.workdir != one.workdir
    assert parts.stats.frames_sampled == one.stats.frames_sampled
    assert [(k.pts_s, k.reason, k.scene_index, k.frame_index) for k in parts.keyframes] == \
        [(k.pts_s, k.reason, k.scene_index, k.frame_index) for k in one.keyframes]
    assert [(s.start_s, s.end_s) for s in parts.scenes] == [(s.start_s, s.end_s) for s in one.scenes]
    assert all(parts.image_path(k).is_file() for k in parts.keyframes)
    assert seen == sorted(seen) and seen[-1] >= one.stats.end_s - 3.0
