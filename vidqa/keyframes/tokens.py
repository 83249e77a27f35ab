"""Qwen3-VL's visual-token rule: frame sides rounded to multiples of 32 px, one token per 32x32.

Qwen3-VL cuts images into 16x16 patches and merges 2x2 of them into one token, so the processor
resizes every image to sides that are multiples of 32 within [min_pixels, max_pixels] (its
`smart_resize`), and the image costs h*w/1024 tokens. vidqa stores key frames at exactly that
size, so the processor does not resize them again.
"""

from __future__ import annotations

import math

FACTOR = 32  # patch_size 16 x spatial merge 2
MAX_ASPECT = 200


def smart_resize(height: int, width: int, *, min_pixels: int, max_pixels: int,
                 factor: int = FACTOR) -> tuple[int, int]:
    """(height, width) rounded to multiples of `factor` with the area kept in range."""
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > MAX_ASPECT:
        raise ValueError(f"aspect ratio of {width}x{height} is over {MAX_ASPECT}:1")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def visual_tokens(height: int, width: int, *, factor: int = FACTOR) -> int:
    """Tokens one frame of this (already rounded) size costs: h*w/1024 for Qwen3-VL."""
    return (height // factor) * (width // factor)
