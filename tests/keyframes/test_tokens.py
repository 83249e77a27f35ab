"""The Qwen3-VL token rule: frame sizes and visual tokens per frame."""

from __future__ import annotations

import pytest

from vidqa.keyframes.tokens import smart_resize, visual_tokens


def test_qwen3_vl_token_rule():
    # 1280x720 capped at 640x360 worth of pixels: sides to multiples of 32.
    assert smart_resize(720, 1280, min_pixels=4096, max_pixels=230_400) == (352, 640)
    assert visual_tokens(352, 640) == 352 * 640 // 1024 == 220
    # Small pictures grow to the minimum area; sides stay multiples of 32.
    h, w = smart_resize(1, 1, min_pixels=4096, max_pixels=230_400)
    assert (h, w) == (64, 64) and visual_tokens(h, w) == 4
    # Already-rounded sizes are kept, so the processor will not resize stored frames again.
    assert smart_resize(352, 640, min_pixels=4096, max_pixels=230_400) == (352, 640)
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(1, 300, min_pixels=4096, max_pixels=230_400)
