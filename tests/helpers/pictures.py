"""Pictures as people would hold them: a frame cut from a video, then what happens to a picture
on its way (rescaled, recompressed, cropped, letterboxed, photographed off a screen, colours
shifted). Each transformation is deterministic for a given `seed`."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import cv2
import numpy as np

from vidqa.media.ffmpeg import ffmpeg_exe


def grab(video: str | Path, time_s: float) -> np.ndarray:
    """The frame shown at `time_s`, at the video's own size (BGR), decoded by ffmpeg."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-ss", f"{time_s:.3f}", "-i", str(video),
                          "-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-"],
                         capture_output=True, check=True).stdout
    image = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"no frame of {video} at {time_s}"
    return image


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def _rescaled(image, rng):
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, w // 3), max(1, h // 3)), interpolation=cv2.INTER_AREA)


def _recompressed(image, rng):
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 25])[1], 1)


def _cropped(image, rng):  # a part of the frame, 60% of each side
    h, w = image.shape[:2]
    cw, ch = int(w * 0.6), int(h * 0.6)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return image[y:y + ch, x:x + cw]


def _letterboxed(image, rng):  # padded to a square with black bars
    h, w = image.shape[:2]
    side = max(h, w)
    out = np.zeros((side, side, 3), np.uint8)
    out[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = image
    return out


def _colour_shifted(image, rng):  # hue turned, saturation down, gamma up
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + 12) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * 0.6, 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    return np.clip(((out / 255.0) ** 0.7) * 255, 0, 255).astype(np.uint8)


def _photographed(image, rng):
    """A photo of a screen at a slight angle: a perspective warp inside a grey surround,
    blur, a brightness change, noise, and a JPEG."""
    h, w = image.shape[:2]
    d = 0.07
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + np.float32([[rng.uniform(-d, d) * w, rng.uniform(-d, d) * h] for _ in range(4)])
    dst += np.float32([w * 0.1, h * 0.1])
    out = cv2.warpPerspective(image, cv2.getPerspectiveTransform(src, dst),
                              (int(w * 1.2), int(h * 1.2)), borderValue=(60, 60, 60))
    out = cv2.GaussianBlur(out, (5, 5), 1.2)
    noise = np.random.default_rng(rng.randint(0, 1 << 30)).normal(0, 6, out.shape)
    out = np.clip(out.astype(np.float32) * 1.1 + rng.uniform(-20, 20) + noise, 0, 255)
    return cv2.imdecode(cv2.imencode(".jpg", out.astype(np.uint8),
                                     [cv2.IMWRITE_JPEG_QUALITY, 80])[1], 1)


TRANSFORMS = {
    "as cut": lambda image, rng: image,
    "rescaled to a third": _rescaled,
    "recompressed (JPEG 25)": _recompressed,
    "cropped (60% of each side)": _cropped,
    "letterboxed": _letterboxed,
    "colours shifted": _colour_shifted,
    "photographed off a screen": _photographed,
}


def transformed(image: np.ndarray, name: str, seed: int = 0) -> bytes:
    """`image` after the transformation `name` (a key of TRANSFORMS), as PNG bytes."""
    return png(TRANSFORMS[name](image, random.Random(seed)))
