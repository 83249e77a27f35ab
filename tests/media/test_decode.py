"""Decode: every sampled frame carries the time the stream gave it, and the right picture."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.media import all_frames, nearest_reference
from vidqa.config import DecodeConfig
from vidqa.media.decode import FrameReader, build_command, frame_size
from vidqa.media.probe import probe


def _sample(path, **settings):
    info = probe(path)
    return info, list(FrameReader(info, DecodeConfig(**settings)))


@pytest.mark.parametrize("fast", [True, False])
def test_clock_frames_show_their_own_time(clock_video, fast):
    """Each sampled frame is the source frame with that timestamp (checked against a full
    decode), one per half-second slot, on an H.264 stream with B-frames."""
    path, truth = clock_video
    ref_times, ref_images = all_frames(path)
    _, frames = _sample(path, fast=fast)
    assert len(frames) == 20  # 10 s at 2 fps
    for frame in frames:
        assert frame.pts_s in ref_times, frame.pts_s
        assert 0 <= frame.pts_s - frame.index * 0.5 < 0.5  # the first decoded frame of its slot
        assert ref_times[nearest_reference(frame.bgr, ref_images)] == frame.pts_s
    if not fast:  # every frame decoded: exactly the slot starts
        assert [f.pts_s for f in frames] == pytest.approx([i * 0.5 for i in range(20)], abs=1e-9)


def test_counter_sampling(media):
    """counter.mp4: 10 fps, every frame shows its own PTS. At 2 fps without skipping we get
    PTS 0.0, 0.5, ... 2.5; with skipping, the first reference frame of each slot, and the
    picture always belongs to the time we report."""
    path = media / "pyscenedetect" / "counter.mp4"
    _, exact = _sample(path, fast=False)
    assert [f.pts_s for f in exact] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    ref_times, ref_images = all_frames(path)
    assert ref_times == pytest.approx([i / 10 for i in range(30)])
    _, fast = _sample(path, fast=True)
    assert len(fast) == 6
    for frame in fast:
        assert int(frame.pts_s * 2) == frame.index
        assert ref_times[nearest_reference(frame.bgr, ref_images)] == frame.pts_s


def test_variable_frame_rate_times_come_from_the_stream(media):
    path = media / "pyscenedetect" / "goldeneye-vfr-drop3.mp4"
    ref_times, _ = all_frames(path)
    assert len(ref_times) == 160
    info, frames = _sample(path)
    assert info.average_fps == pytest.approx(16.05, abs=0.01)
    assert info.nominal_fps == pytest.approx(23.976, abs=0.001)
    assert len(frames) == 20
    for frame in frames:
        assert min(abs(frame.pts_s - t) for t in ref_times) < 1e-9
        assert int(frame.pts_s * 2) == frame.index


def test_start_offset_convention(media):
    """delayed_start.mp4's container starts at 1.075 s: times count from there, as players show."""
    info, frames = _sample(media / "pyscenedetect" / "delayed_start.mp4", fast=False)
    assert info.start_offset_s == pytest.approx(1.075)
    assert info.duration_s == pytest.approx(0.96)
    assert frames[0].pts_s == 0.0
    assert [f.pts_s for f in frames] == pytest.approx([0.0, 0.52], abs=0.041)


@pytest.mark.parametrize("name,rotation,displayed", [
    ("video_90.mov", 90, (320, 568)), ("video_270.mov", 270, (320, 568)),
    ("video_180.mov", 180, (568, 320))])
def test_rotation_comes_out_as_displayed(media, name, rotation, displayed, tmp_path):
    path = media / "decord" / name
    info, frames = _sample(path)
    assert info.rotation_deg == rotation
    assert (info.display_width, info.display_height) == displayed
    height, width = frames[0].bgr.shape[:2]
    assert (height > width) == (displayed[1] > displayed[0])
    # Same picture as ffmpeg's own autorotation, scaled to our size.
    import subprocess
    from vidqa.media.ffmpeg import ffmpeg_exe
    w, h = frame_size(info, DecodeConfig())
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", "1",
                          "-vf", f"scale={w}:{h}:flags=area", "-f", "rawvideo", "-pix_fmt",
                          "bgr24", "-"], capture_output=True, check=True).stdout
    expected = np.frombuffer(raw, np.uint8).reshape(h, w, 3).astype(np.float32)
    assert np.mean(np.abs(frames[0].bgr.astype(np.float32) - expected)) < 6


def test_non_square_pixels_come_out_16_9(media):
    info, frames = _sample(media / "pyscenedetect" / "issue-195-aspect-ratio.mp4")
    assert info.sample_aspect_ratio == "16:11"
    assert (info.display_width, info.display_height) == (1024, 576)
    assert frames[0].bgr.shape == (352, 640, 3)


def test_main_video_stream_of_several(media):
    info, frames = _sample(media / "torchcodec" / "nasa_13013.mp4")
    assert [s.kind for s in info.streams].count("video") == 2
    assert info.stream_index == 3 and (info.coded_width, info.coded_height) == (480, 270)
    assert "0:3" in " ".join(build_command(info, DecodeConfig()))
    assert len(frames) == 26  # its last frame is at 12.98 s: slots 0.0 .. 12.5 at 2 fps


def test_window_decode_keeps_absolute_times(media):
    """Re-decoding a stretch (for refining a hit) seeks accurately and keeps absolute times."""
    path = media / "pyscenedetect" / "counter.mp4"
    ref_times, ref_images = all_frames(path)
    info = probe(path)
    frames = list(FrameReader(info, DecodeConfig(fps=8.0, fast=False), window=(1.05, 2.0)))
    assert frames and all(1.05 <= f.pts_s <= 2.0 for f in frames)
    for frame in frames:
        assert ref_times[nearest_reference(frame.bgr, ref_images)] == pytest.approx(frame.pts_s)
