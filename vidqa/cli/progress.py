"""Progress bars on stderr for the pipeline's stages: one helper, tqdm, off when stderr is not a
terminal or with `-q`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from vidqa.errors import printable


def bars(quiet: bool):
    """A `vidqa.pipeline.Progress` that draws a tqdm bar per stage (seconds of video, frames,
    chunks, cells), or nothing when `quiet` or stderr is not a terminal."""

    @contextmanager
    def progress(desc: str, total: float | None, unit: str) -> Iterator[Callable[[float], None]]:
        from tqdm import tqdm

        seconds = unit == "s"
        bar = tqdm(total=(round(total, 1) if seconds else total) if total else None, unit=unit,
                   desc=printable(desc), leave=False, file=sys.stderr,
                   disable=quiet or not sys.stderr.isatty(),
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of video "
                              "[{elapsed}<{remaining}]" if seconds and total else None)
        try:
            yield bar.update
        finally:
            bar.close()

    return progress
