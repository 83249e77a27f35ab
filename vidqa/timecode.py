"""Seconds-first time values: formatting for people and subtitle files, parsing what people type.

Every time in vidqa is a float number of seconds since the start of the file as a player shows
it (see `vidqa.probe` for the convention); this module only converts to and from text.
"""

from __future__ import annotations

import math
import re

_HMS = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)\s*s?$")


def _split_ms(seconds: float) -> tuple[int, int, int, int]:
    if seconds < 0 or math.isnan(seconds):
        raise ValueError(f"time must be a non-negative number of seconds, got {seconds!r}")
    total_ms = int(round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return hours, minutes, secs, ms


def format_hms(seconds: float, *, sep: str = ".") -> str:
    """`3723.5` -> `01:02:03.500` (`sep=","` gives the SRT form)."""
    h, m, s, ms = _split_ms(seconds)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def format_srt(seconds: float) -> str:
    """SRT time: `HH:MM:SS,mmm`."""
    return format_hms(seconds, sep=",")


def format_vtt(seconds: float) -> str:
    """WebVTT time: `HH:MM:SS.mmm`."""
    return format_hms(seconds, sep=".")


def parse_time(text: str | float | int) -> float:
    """Seconds from `"1:02:03.5"`, `"62:03"`, `"3723.5s"`, `"3723.5"` or a number."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = text.strip()
        match = _HMS.match(raw)
        if match:
            hours, minutes, secs = match.groups()
            value = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
        else:
            match = _SECONDS.match(raw)
            if not match:
                raise ValueError(
                    f"cannot read {text!r} as a time; use seconds (3723.5 or 3723.5s) "
                    "or HH:MM:SS(.mmm) such as 1:02:03.5"
                )
            value = float(match.group(1))
    if value < 0 or math.isnan(value):
        raise ValueError(f"time must be a non-negative number of seconds, got {text!r}")
    return value
