"""Recordings given as files or folders: a folder stands for every video and sound file inside
it (meetings, interviews, podcasts and calls are often sound only)."""

from __future__ import annotations

import os
from pathlib import Path

VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".flv", ".mpg", ".mpeg", ".m4v",
                    ".ts", ".mts", ".m2ts", ".wmv", ".3gp", ".ogv"}
AUDIO_EXTENSIONS = {".m4a", ".mp3", ".wav", ".flac", ".ogg", ".opus", ".oga", ".aac", ".wma",
                    ".aif", ".aiff", ".mka", ".weba", ".amr"}
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS


def expand_videos(paths: list[str | os.PathLike]) -> list[str]:
    """Files as given; a directory becomes the video and sound files below it (sorted,
    recursive; hidden ones left out).
    A missing path stays in the list, so the caller reports it like any bad input."""
    out: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            out.extend(found)
        else:
            out.append(str(path))
    return out


def any_picture(paths: list[str | os.PathLike]) -> bool:
    """Whether any of these files (folders expanded) has a picture, so a model that reads
    frames has work; a file that does not open counts as one (its run reports it)."""
    from vidqa.errors import VidqaError
    from vidqa.media.probe import probe

    for path in expand_videos(paths):
        try:
            if probe(path).has_picture:
                return True
        except VidqaError:
            return True
    return False
