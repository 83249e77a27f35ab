"""Videos given as files or folders: a folder stands for every video inside it."""

from __future__ import annotations

import os
from pathlib import Path

VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".flv", ".mpg", ".mpeg", ".m4v",
                    ".ts", ".mts", ".m2ts", ".wmv", ".3gp", ".ogv"}


def expand_videos(paths: list[str | os.PathLike]) -> list[str]:
    """Files as given; a directory becomes the video files below it (sorted, recursive).
    A missing path stays in the list, so the caller reports it like any bad input."""
    out: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            out.extend(found)
        else:
            out.append(str(path))
    return out
