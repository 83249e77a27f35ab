"""What fast decoding (skip non-reference frames and the loop filter) costs the picture.

    python pipelines/bench_fast_quality.py VIDEO...

For every 2 fps sample decoded with `fast` on, finds the frame with the same PTS in a full
decode and prints the median and worst PSNR between the two (model frame size).
"""

from __future__ import annotations

import sys

import numpy as np

from vidqa.config import DecodeConfig
from vidqa.media.decode import FrameReader
from vidqa.media.probe import probe


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def main() -> None:
    print("| video | frames | median PSNR | worst PSNR |\n|---|---|---|---|")
    for path in sys.argv[1:]:
        info = probe(path)
        fast = {round(f.pts_s, 6): f.bgr for f in FrameReader(info, DecodeConfig())}
        values = [psnr(fast[round(f.pts_s, 6)], f.bgr)
                  for f in FrameReader(info, DecodeConfig(fast=False, fps=1000.0))
                  if round(f.pts_s, 6) in fast]
        print(f"| `{path}` | {len(values)} | {np.median(values):.1f} dB | {min(values):.1f} dB |")


if __name__ == "__main__":
    main()
