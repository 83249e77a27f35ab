"""Seconds-first time values: the one time-range type, formatting for people and subtitle files,
parsing what people type.

Every time in vidqa is a float number of seconds since the start of the file as a player shows
it (see `vidqa.media.probe` for the convention). Every span of time is half-open
[start_s, end_s): a scene, a chunk, a caption event, a line of on-screen text, a track segment,
an index entry, a search hit, a citation, a needle. Each of those classes is `Timed` (it has
`start_s` and `end_s`), so overlap and containment are written once, here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


class Timed:
    """Behaviour of anything with a half-open [start_s, end_s) in absolute seconds. A mixin for
    dataclasses that declare `start_s` and `end_s` among their fields (in the order their data
    format has them)."""

    __slots__ = ()
    start_s: float
    end_s: float

    @property
    def range(self) -> TimeRange:
        return TimeRange(self.start_s, self.end_s)

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    def contains(self, time_s: float, *, tolerance_s: float = 0.0) -> bool:
        """`time_s` lies in [start_s - tolerance_s, end_s + tolerance_s); a zero-length range
        holds its own start."""
        end_s = max(self.end_s, self.start_s + 1e-9)
        return self.start_s - tolerance_s <= time_s < end_s + tolerance_s

    def overlaps(self, other: Timed) -> bool:
        """The two ranges share some time (ranges that only touch do not; a zero-length range
        overlaps a range that contains its start)."""
        if self.start_s == self.end_s:
            return other.contains(self.start_s)
        if other.start_s == other.end_s:
            return self.contains(other.start_s)
        return self.start_s < other.end_s and other.start_s < self.end_s

    def covers(self, other: Timed) -> bool:
        """`other` lies wholly inside this range."""
        return self.start_s <= other.start_s and other.end_s <= self.end_s


@dataclass(frozen=True)
class TimeRange(Timed):
    """A half-open [start_s, end_s) in absolute seconds."""

    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)) \
                or self.end_s < self.start_s:
            raise ValueError(f"a time range needs finite start_s <= end_s, got "
                             f"[{self.start_s!r}, {self.end_s!r})")

    def __str__(self) -> str:
        return f"{format_hms(self.start_s)}-{format_hms(self.end_s)}"


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


def seconds_and_hms(start_s: float, end_s: float | None = None) -> dict:
    """A time, or a time range, as data: in seconds (to the millisecond) and as HH:MM:SS.mmm,
    `{"start_s", "start"}` (and `"end_s", "end"`), as vidqa's APIs give every time."""
    out: dict = {"start_s": round(start_s, 3), "start": format_hms(start_s)}
    if end_s is not None:
        out.update(end_s=round(end_s, 3), end=format_hms(end_s))
    return out


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
