"""Where vidqa keeps its state, and how many cores it may use.

Everything lives under platformdirs locations, or under `$VIDQA_HOME` when it is set: the
cache (per-video work directories, indexes) and the config file. Model weights stay in the
Hugging Face cache (`$HF_HOME`).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "vidqa"


def home_dir() -> Path | None:
    home = os.environ.get("VIDQA_HOME")
    return Path(home).expanduser() if home else None


def cores() -> int:
    """CPU cores this process may use: $VIDQA_CORES when set (a Ray task sets it to the cores it
    was given), else the cores the scheduler lets it run on (a container's or taskset's limit),
    else every core. Thread counts left automatic (0) follow it."""
    value = os.environ.get("VIDQA_CORES", "").strip()
    if value:
        try:
            return max(1, int(float(value)))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cache_dir() -> Path:
    """Where per-video work directories live."""
    home = home_dir()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME))


def config_file() -> Path:
    home = home_dir()
    return home / "config.yaml" if home else Path(platformdirs.user_config_dir(APP_NAME)) / "config.yaml"
