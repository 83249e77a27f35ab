"""Videos made for tests, and the reference decode they are checked against."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

from vidqa.config import DecodeConfig
from vidqa.evaluation.synth import drawtext
from vidqa.media.decode import FrameReader
from vidqa.media.ffmpeg import ffmpeg_exe
from vidqa.media.probe import probe


def make_video(path: Path, *, seconds: float, size: str, source: str = "testsrc2",
               text: str | None = None, audio: str | None = None) -> Path:
    """A small H.264 video from ffmpeg's lavfi sources (`source` with its options, e.g.
    `color=c=0x204060`; `text`: a caption burned in; `audio`: an audio codec for a sine tone,
    none by default)."""
    graph = f"{source}{':' if '=' in source else '='}size={size}:rate=25:duration={seconds}"
    if text:
        graph += "," + drawtext(text, 40, "(w-text_w)/2", "h/3", box=True)
    sound = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", audio] \
        if audio else []
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", graph, *sound,
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                    str(path)], check=True)
    return path


def all_frames(path: Path) -> tuple[list[float], list[np.ndarray]]:
    """Every frame of a video with its time, decoded without skipping (the reference)."""
    info = probe(path)
    frames = list(FrameReader(info, DecodeConfig(fps=1000.0, fast=False)))
    return [f.pts_s for f in frames], [f.bgr for f in frames]


def nearest_reference(image: np.ndarray, reference: list[np.ndarray]) -> int:
    """Index of the reference frame that looks most like `image` (the least squared error,
    summed exactly by OpenCV: a tenth of the time of numpy in float32)."""
    errors = [cv2.norm(image, ref, cv2.NORM_L2SQR) for ref in reference]
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
