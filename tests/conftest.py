"""Shared fixtures: an isolated VIDQA_HOME, the real media folder, generated videos."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vidqa.config import DecodeConfig
from vidqa.decode import FrameReader
from vidqa.ffmpeg import ffmpeg_exe
from vidqa.probe import probe
from vidqa.synth import Event, Plan, Segment, drawtext, render

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("VIDQA_TEST_MEDIA", ROOT.parent / "shared" / "media"))


@pytest.fixture(autouse=True)
def vidqa_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache and config location."""
    home = tmp_path / "vidqa-home"
    monkeypatch.setenv("VIDQA_HOME", str(home))
    return home


@pytest.fixture
def no_openai_env(monkeypatch):
    """Requests to 127.0.0.1 go straight to the test server; the user's settings stay out."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def media() -> Path:
    """../shared/media; under CI its absence is a failure, elsewhere a skip."""
    if not (MEDIA / "README.md").exists():
        message = f"real test media not found at {MEDIA} (set VIDQA_TEST_MEDIA)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return MEDIA


@pytest.fixture(scope="session")
def gen(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generated")


def _plan_video(gen: Path, name: str, plan: Plan) -> tuple[Path, dict]:
    path = gen / f"{name}.mp4"
    if not path.exists():
        render(plan, path, preset="veryfast")
    return path, json.loads(path.with_suffix(".truth.json").read_text())


@pytest.fixture(scope="session")
def cuts_video(gen):
    """Five shots with hard cuts at known times (B-frames on)."""
    plan = Plan([Segment("slide", 6.3, "One", 1), Segment("pattern", 5.2, "", 2),
                 Segment("slide", 4.6, "Three", 3), Segment("life", 5.0, "", 4),
                 Segment("bars", 4.9, "", 5)], width=640, height=360, fps=25)
    return _plan_video(gen, "cuts", plan)


@pytest.fixture(scope="session")
def event_video(gen):
    """A 90-second static slide with one 2-second caption event in the middle of it."""
    plan = Plan([Segment("slide", 90.0, "Quarterly review", 11,
                         events=[Event(41.3, 43.3, "FIRE ALARM TEST")])],
                width=640, height=360, fps=30)
    return _plan_video(gen, "event", plan)


@pytest.fixture(scope="session")
def clock_video(gen):
    """Shots with the video's own time burned in (an on-screen clock), 30 fps, B-frames on."""
    plan = Plan([Segment("pattern", 4.0, "", 1), Segment("slide", 3.0, "Clock", 2),
                 Segment("gradient", 3.0, "", 3)], width=640, height=360, fps=30, clock=True)
    return _plan_video(gen, "clock", plan)


def make_video(path: Path, *, seconds: float, size: str, source: str = "testsrc2",
               text: str | None = None) -> Path:
    """A small H.264 video from ffmpeg's lavfi sources (`source` with its options, e.g.
    `color=c=0x204060`; `text`: a caption burned in)."""
    graph = f"{source}{':' if '=' in source else '='}size={size}:rate=25:duration={seconds}"
    if text:
        graph += "," + drawtext(text, 40, "(w-text_w)/2", "h/3", box=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", graph,
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                    str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """`short3`: 3 s at 160x120; `base`: 8 s at 640x360 (a different size and length, so a
    file read in place of another is caught); `slide`: 6 s with a caption to read."""
    folder = tmp_path_factory.mktemp("hostile-clips")
    return {"short3": make_video(folder / "short3.mp4", seconds=3, size="160x120",
                                 source="testsrc"),
            "base": make_video(folder / "base.mp4", seconds=8, size="640x360"),
            "slide": make_video(folder / "slide.mp4", seconds=6, size="640x360",
                                source="color=c=0x204060", text="QUARTERLY BUDGET REVIEW")}


def all_frames(path: Path) -> tuple[list[float], list[np.ndarray]]:
    """Every frame of a video with its time, decoded without skipping (the reference)."""
    info = probe(path)
    frames = list(FrameReader(info, DecodeConfig(fps=1000.0, fast=False)))
    return [f.pts_s for f in frames], [f.bgr.astype(np.float32) for f in frames]


def nearest_reference(image: np.ndarray, reference: list[np.ndarray]) -> int:
    """Index of the reference frame that looks most like `image` (mean squared error)."""
    errors = [float(np.mean((image.astype(np.float32) - ref) ** 2)) for ref in reference]
    return int(np.argmin(errors))


def cut_copy(src: Path, dst: Path, *, faststart: bool = False) -> Path:
    """A copy of `src` cut to its first half (moov first when `faststart`)."""
    if faststart:
        remuxed = dst.with_name("remux-" + dst.name)
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-c", "copy",
                        "-movflags", "+faststart", str(remuxed)], check=True)
        src = remuxed
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst
