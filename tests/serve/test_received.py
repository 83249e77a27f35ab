"""What a chat request may make the server keep: frames past 4K are refused before they are
decoded, recordings too long or too large are refused, and the newest files alone are kept."""

from __future__ import annotations

import io
import os
import time
from types import SimpleNamespace

import pytest

from vidqa.config import DecodeConfig
from vidqa.serve.library import Refused
from vidqa.serve import received

Image = pytest.importorskip("PIL.Image")


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def test_a_tiny_png_of_a_huge_picture_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDQA_HOME", str(tmp_path))
    bomb = png(7000, 7000)
    assert len(bomb) < 20_000  # 49 megapixels in a few KB
    start = time.perf_counter()
    with pytest.raises(Refused) as refused:
        received.store_frames([png(64, 36), bomb], DecodeConfig())
    assert time.perf_counter() - start < 0.5
    assert refused.value.status == 400 and "frame 2 of 2 is 7000x7000" in str(refused.value)
    assert not (tmp_path / "cache").exists() or not list(tmp_path.rglob("*.jpg"))


def test_recordings_too_long_or_too_large_for_a_request_are_refused():
    hours = SimpleNamespace(duration_s=5 * 3600.0, has_picture=True, display_width=640,
                            display_height=360)
    with pytest.raises(Refused) as refused:
        received.too_big(hours)
    assert refused.value.status == 413 and "5.0 h" in str(refused.value)
    huge = SimpleNamespace(duration_s=10.0, has_picture=True, display_width=15360,
                           display_height=8640)
    with pytest.raises(Refused):
        received.too_big(huge)
    received.too_big(SimpleNamespace(duration_s=600.0, has_picture=False, display_width=0,
                                     display_height=0))  # a ten-minute call is fine


def test_only_the_newest_received_files_are_kept(tmp_path):
    for i in range(6):
        path = tmp_path / f"{i}.mp4"
        path.write_bytes(b"x")
        os.utime(path, ns=(i * 10**9, i * 10**9))
    removed = received.prune(tmp_path, 4, "*.*")
    assert sorted(p.name for p in removed) == ["0.mp4", "1.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2.mp4", "3.mp4", "4.mp4", "5.mp4"]
