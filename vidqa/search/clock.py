"""Wall-clock time burned into the picture: read it, map it to video time, look a time up.

Security cameras, dashcams, broadcasts and screen recordings show when they were made
("CAM 03  2024-12-05 12:01:30"). A track whose segments may show such a clock declares their
kinds as `clock_kinds` (on-screen text lines, read as they change: one segment per reading, from
when the display changed to it). Here:

- `read_clock(text)` reads a clock in a line of text (lenient: a label around it, OCR quirks: no
  space between date and time, `O` for `0`); `parse_at(text)` reads what a person typed
  (strict: the whole value is a date and time, or a time alone; `BadTime` otherwise).
- `ClockMap.build(video, segments)` maps wall time to video time: stretches where both advance
  together, a jump (a camera that restarted, a clock set back or forward) starting a new one.
- `ClockMap.lookup(value)` gives the video second(s) where the clock shows a time, or says why
  it is not on the recording. Inside a stretch the time comes from the readings around it: each
  was shown when it was read (from its segment's start, when the display changed to it), so
  the clock's offset lies within a step of `wall - start`; the readings either side narrow it,
  and the time inside the second follows at the video's pace.

Layouts: 2024-12-05 (or with / or . between), 05.12.2024, 05-12-2024, 12/05/2024, "Dec 5 2024",
"5 December 2024", then HH:MM or HH:MM:SS (a fraction, AM/PM, "T" or no space before it), or a
time alone. Years have four digits. Day and month of a year-last date: a value over 12 decides;
else the order the video's clock shows its own dates in; else the one of the two dates the
clock shows; else dots and dashes are day first (05.12.2024, as in Europe) and slashes month
first (12/05/2024, as US cameras show). A time typed with no date matches the time of day when
the clock shows no date, or shows that time on one day only.

Stretches: readings in video order; a reading joins the stretch whose offset (wall seconds minus
video seconds; the median of its last few readings) is within the clock's step (1 s, 60 s for a
clock without seconds) plus SLACK_S of its own (and DRIFT per second since), else it starts a new
one. A clock without a date wraps at midnight. Left out as misreadings: a reading whose time goes
back within its stretch, a lone reading inside another stretch (a misread digit), a lone reading
that stays longer than two steps or shows neither date nor seconds (a time printed on a slide).
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from vidqa.errors import VidqaError, one_line
from vidqa.timecode import Timed, format_hms

DAY_S = 86400.0
SLACK_S = 1.0  # sampling jitter allowed beyond the clock's step
DRIFT = 0.005  # clock drift allowed per second of video between two readings
RECENT = 5  # readings of a stretch whose median offset a new reading is compared with
NEAR = 4  # readings either side whose bounds give the offset at a time
STATIC_S = 2.0  # a lone reading shown longer than two steps and this is not a ticking clock
MAX_JUMP_NOTES = 5
FORMS = ("2024-12-05 12:01:30, 2024/12/05 12:01, 05.12.2024 12:01:30, 12/05/2024 1:01:30 PM, "
         "Dec 5 2024 12:01:30, or a time alone (12:01:30)")


class BadTime(VidqaError):
    """A wall-clock time that does not read as one: a usage error (exit status 2)."""

    exit_code = 2


class NoClock(VidqaError):
    """None of the videos shows a wall clock."""


# -- reading a clock

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_YMD = re.compile(r"(\d{4})\s?([-/.])\s?(1[0-2]|0?[1-9])\s?\2\s?(3[01]|[12]\d|0?[1-9])")
_XXY = re.compile(r"(?<![\d:;])(\d{1,2})\s?([-/.])\s?(\d{1,2})\s?\2\s?(\d{4})")
_NAMED = re.compile(r"(?:(?<![\d:;])(\d{1,2})(?:st|nd|rd|th)?[\s.,-]*)?(?<![a-z])("
                    + "|".join(_MONTHS)
                    + r")[a-z]*\.?[\s,-]*(?:(\d{1,2})(?:st|nd|rd|th)?[\s,.-]+)?(\d{4})",
                    re.IGNORECASE)
_TIME = re.compile(r"(\d{1,2})\s?[:;]\s?([0-5]\d)(?:\s?[:;]\s?([0-5]\d)(?:[.,](\d{1,3}))?)?"
                   r"(?:[:;]\d\d)?(?!\d)(?:\s*([ap])\.?\s?m(?![a-z])\.?)?",
                   re.IGNORECASE)
_OH = re.compile(r"(?<=[\d:/.\-])[Oo]|[Oo](?=[\d:/.\-])")  # O read for 0 beside digits
_FILLER = re.compile(r"^(?:\s|[,@]|\bat\b|\bon\b|T|Z)*$", re.IGNORECASE)  # around the time


@dataclass(frozen=True)
class ClockValue:
    """A wall-clock time read from text: the date (None: a time alone), the time of day in
    seconds (None: a date alone) and the step the clock shows (1 s; 60 s without seconds).
    `other`: the date read with day and month the other way (05/12/2024), when both read;
    `order`: how `day` was read ("ymd", "named", "dmy", "mdy"), `decided`: by a value over 12."""

    day: date | None
    seconds: float | None
    step_s: float = 1.0
    other: date | None = None
    order: str = ""
    decided: bool = False

    @property
    def wall_s(self) -> float:
        """Seconds since 0001-01-01 (dated), or since midnight (a time alone)."""
        base = self.day.toordinal() * DAY_S if self.day else 0.0
        return base + (self.seconds or 0.0)

    def in_order(self, order: str | None) -> ClockValue:
        """This value with its date read in `order` ("dmy"/"mdy") where both orders read."""
        if order and self.other is not None and not self.decided and order != self.order:
            return replace(self, day=self.other, other=self.day, order=order)
        return self


def _date_in(text: str) -> tuple[ClockValue | None, tuple[int, int] | None]:
    """The first date in `text` and where it is."""
    found = []
    for m in _YMD.finditer(text):
        day = _day(int(m[1]), int(m[3]), int(m[4]))
        if day:
            found.append((m.start(), m.span(), ClockValue(day, None, order="ymd")))
            break
    for m in _XXY.finditer(text):
        a, b, year = int(m[1]), int(m[3]), int(m[4])
        dmy, mdy = _day(year, b, a), _day(year, a, b)
        if not (dmy or mdy):
            continue
        first = "dmy" if m[2] in ".-" else "mdy"
        decided = not (dmy and mdy)
        order = first if not decided else ("dmy" if dmy else "mdy")
        one, two = (dmy, mdy) if order == "dmy" else (mdy, dmy)
        other = two if not decided and two != one else None
        found.append((m.start(), m.span(),
                      ClockValue(one, None, other=other, order=order, decided=decided)))
        break
    for m in _NAMED.finditer(text):
        number = m[3] or m[1]
        day = _day(int(m[4]), _MONTHS.index(m[2].lower()) + 1, int(number)) if number else None
        if day:
            found.append((m.start(), m.span(), ClockValue(day, None, order="named")))
            break
    if not found:
        return None, None
    _start, span, value = min(found, key=lambda f: f[0])
    return value, span


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day) if 1900 <= year <= 2199 else None
    except ValueError:
        return None


def _time_in(text: str) -> tuple[float, float, tuple[int, int]] | None:
    """(seconds since midnight, step, where) of the first time of day in `text`."""
    for m in _TIME.finditer(text):
        hour, minute = int(m[1]), int(m[2])
        if m[5]:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if m[5].lower() == "p" else 0)
        elif hour > 23:
            continue
        seconds = hour * 3600 + minute * 60 + int(m[3] or 0) + float(f"0.{m[4] or 0}")
        return float(seconds), 1.0 if m[3] else 60.0, m.span()
    return None


def _fix(text: str) -> str:
    return _OH.sub("0", _OH.sub("0", text))


def _parse(text: str) -> tuple[ClockValue | None, str]:
    """The clock in `text` (date, time or both) and what is left of the text around it."""
    text = _fix(text)
    value, span = _date_in(text)
    rest = text if span is None else text[:span[0]] + " " + text[span[1]:]
    time = _time_in(rest)
    if time is not None:
        seconds, step, (start, end) = time
        value = replace(value, seconds=seconds, step_s=step) if value else \
            ClockValue(None, seconds, step)
        rest = rest[:start] + " " + rest[end:]
    return value, rest


def read_clock(text: str) -> ClockValue | None:
    """The wall clock a line of text shows (a date and time, a time, or a date alone), or None.
    A label around it is ignored ("CAM 03  2024-12-05 12:01:30")."""
    return _parse(text)[0]


def parse_at(text: str) -> ClockValue:
    """A wall-clock time as a person types it: a date and a time, or a time alone (a leading
    "@" or "at" is allowed); `BadTime` naming the value and the forms otherwise."""
    value, rest = _parse(text or "")
    if value is not None and value.seconds is None:
        raise BadTime(f"'{one_line(text, 60)}' has a date but no time; add the time of "
                      f"day, e.g. '{format_wall(value.wall_s + 12 * 3600, True)}'")
    if value is None or not _FILLER.match(rest):
        raise BadTime(f"cannot read '{one_line(text, 60)}' as a wall-clock time; use "
                      f"{FORMS}")
    return value


def format_wall(wall_s: float, dated: bool) -> str:
    """`2024-12-05 12:01:30` (dated) or `12:01:30`; a fraction when there is one."""
    seconds = round(wall_s % DAY_S, 3)
    day = int(wall_s // DAY_S)
    if seconds >= DAY_S:
        seconds, day = seconds - DAY_S, day + 1
    whole = int(seconds)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    if seconds - whole > 0.0005:
        text += f"{seconds - whole:.3f}"[1:].rstrip("0")
    return f"{date.fromordinal(day).isoformat()} {text}" if dated else text


def _span(seconds: float) -> str:
    """`2 h 30 min 8 s`: a length of time for people."""
    seconds = round(abs(seconds))
    parts = [(seconds // 86400, "days" if seconds >= 2 * 86400 else "day"),
             (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "min"), (seconds % 60, "s")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n) or "0 s"


# -- the map from wall time to video time

@dataclass(frozen=True)
class Reading(Timed):
    """One reading of the clock: the segment that shows it, and the time it shows."""

    start_s: float
    end_s: float
    text: str
    wall_s: float  # see ClockValue.wall_s (a clock without a date: unwrapped past midnight)
    step_s: float
    dated: bool

    def to_dict(self) -> dict:
        return {"start_s": self.start_s, "end_s": self.end_s, "time": format_hms(self.start_s),
                "text": self.text, "wall": format_wall(self.wall_s, self.dated)}


@dataclass
class Stretch:
    """Readings whose wall and video times advance together, in video order."""

    readings: list[Reading]
    first: Reading = field(init=False)
    last: Reading = field(init=False)

    def __post_init__(self) -> None:
        self.first, self.last = self.readings[0], self.readings[-1]
        self.start_s, self.end_s = self.first.start_s, self.last.end_s  # its video time

    def offset_near(self, i: int) -> float:
        """The clock's offset (wall minus video seconds) around reading `i`. Each reading
        bounds it: the display showed its time when it was read, so the offset lies in
        [wall - start, wall - start + step). The tightest lower bound of the readings around
        that agree: a reading taken late in its second moves nothing, and of two that cannot
        both hold, the one more others disagree with is left out."""
        bounds = [(r.wall_s - r.start_s, r.wall_s - r.start_s + r.step_s)
                  for r in self.readings[max(0, i - NEAR):i + NEAR + 1]]
        while len(bounds) > 1:
            low = max(bounds)
            high = min(bounds, key=lambda b: b[1])
            if low[0] < high[1]:
                break
            against_low = sum(b[1] <= low[0] for b in bounds)
            against_high = sum(b[0] >= high[1] for b in bounds)
            bounds.remove(low if against_low >= against_high else high)
        return max(b[0] for b in bounds)

    def time_of(self, wall_s: float) -> tuple[float, int] | None:
        """(video seconds where the clock shows `wall_s`, index of the reading that shows its
        second), or None outside this stretch. After its last reading the clock goes on at the
        video's pace while that reading's segment lasts (a tick the track did not read)."""
        first, last = self.first, self.last
        if not first.wall_s <= wall_s < last.wall_s + max(last.step_s, last.length_s):
            return None
        i = bisect.bisect_right([r.wall_s for r in self.readings], wall_s) - 1
        time_s = max(wall_s - self.offset_near(i), first.start_s)
        return (round(time_s, 3), i) if time_s < self.end_s else None

    def to_dict(self) -> dict:
        return {"start_s": self.start_s, "end_s": self.end_s, "start": format_hms(self.start_s),
                "end": format_hms(self.end_s), "first": format_wall(self.first.wall_s,
                                                                    self.first.dated),
                "last": format_wall(self.last.wall_s, self.last.dated),
                "readings": len(self.readings)}


@dataclass(frozen=True)
class Jump:
    """Where the clock stops advancing with the video: a restart, or the clock was set."""

    at_s: float
    before: Reading
    after: Reading

    @property
    def by_s(self) -> float:
        """How far the clock moved against the video (negative: set back)."""
        return (self.after.wall_s - self.after.start_s) - (self.before.wall_s
                                                           - self.before.start_s)

    def describe(self) -> str:
        way = "back" if self.by_s < 0 else "forward"
        return (f"the clock jumps at {format_hms(self.at_s)} from "
                f"{format_wall(self.before.wall_s, self.before.dated)} to "
                f"{format_wall(self.after.wall_s, self.after.dated)} ({way} {_span(self.by_s)}: "
                "a restart, or the clock was set)")

    def to_dict(self) -> dict:
        return {"at_s": self.at_s, "at": format_hms(self.at_s),
                "from": format_wall(self.before.wall_s, self.before.dated),
                "to": format_wall(self.after.wall_s, self.after.dated),
                "by_s": round(self.by_s, 3)}


@dataclass(frozen=True)
class ClockMatch:
    """One place where the clock shows the time looked up."""

    time_s: float
    wall_s: float
    stretch: int
    before: Reading  # the reading that shows the time's second (or minute)
    after: Reading | None  # the next reading of its stretch

    def to_dict(self) -> dict:
        return {"time_s": self.time_s, "time": format_hms(self.time_s),
                "wall": format_wall(self.wall_s, self.before.dated), "stretch": self.stretch,
                "between": [self.before.to_dict(), self.after.to_dict() if self.after else None]}


def _rising(readings: list[Reading]) -> list[Reading]:
    """The longest run of readings (in video order) whose walls strictly rise."""
    tails: list[int] = []  # the last reading of the best run of each length
    walls: list[float] = []  # their walls
    back = [-1] * len(readings)
    for i, r in enumerate(readings):
        j = bisect.bisect_left(walls, r.wall_s)
        back[i] = tails[j - 1] if j else -1
        tails[j:j + 1], walls[j:j + 1] = [i], [r.wall_s]
    out, i = [], tails[-1] if tails else -1
    while i >= 0:
        out.append(readings[i])
        i = back[i]
    return out[::-1]


def _readings(segments: Sequence) -> tuple[list[Reading], str | None]:
    """(the clock readings of `segments`, anything with start_s, end_s and text; the order of
    day and month its year-last dates are read in, None when it shows none)."""
    values = [(s, v) for s in segments for v in [read_clock(s.text)] if v is not None]
    decided = {v.order for _, v in values if v.decided and v.order in ("dmy", "mdy")}
    shown = {v.order for _, v in values if v.order in ("dmy", "mdy")}
    order = decided.pop() if len(decided) == 1 else shown.pop() if len(shown) == 1 else None
    values = [(s, v.in_order(order)) for s, v in values]
    dates = [(s, v.day) for s, v in values if v.seconds is None]  # a date in a box of its own
    timed = []
    for s, v in values:
        if v.seconds is None:
            continue
        if v.day is None:
            shown = [d for seg, d in dates if seg.start_s < s.end_s and s.start_s < seg.end_s]
            v = replace(v, day=shown[0]) if shown else v
        timed.append((s, v))
    dated = [(s, v) for s, v in timed if v.day is not None]
    out = []
    for s, v in timed:
        wall_s = v.wall_s
        if dated and v.day is None:  # the date of the nearest dated reading, across midnight
            near_s, near = min(dated, key=lambda d: abs(d[0].start_s - s.start_s))
            expected = near.wall_s + (s.start_s - near_s.start_s)
            base = near.day.toordinal() * DAY_S + v.seconds
            wall_s = min((base + k * DAY_S for k in (-1, 0, 1)), key=lambda w: abs(w - expected))
        out.append(Reading(float(s.start_s), float(s.end_s), one_line(s.text), wall_s,
                           v.step_s, bool(dated)))
    return sorted(out, key=lambda r: (r.start_s, r.end_s)), order


def _stretches(readings: list[Reading]) -> tuple[list[Stretch], int]:
    """(the stretches of `readings`, how many readings were left out as misreadings)."""
    groups: list[list[Reading]] = []
    for r in readings:
        best, best_d = None, 0.0
        for group in groups:
            last = group[-1]
            d = (r.wall_s - r.start_s) - statistics.median(x.wall_s - x.start_s
                                                           for x in group[-RECENT:])
            if not r.dated:  # a time alone wraps at midnight
                d = (d + DAY_S / 2) % DAY_S - DAY_S / 2
            tolerance = max(r.step_s, last.step_s) + SLACK_S + DRIFT * (r.start_s - last.start_s)
            if abs(d) <= tolerance and (best is None or abs(d) < abs(best_d)):
                best, best_d = group, d
        if best is None:
            groups.append([r])
            continue
        if not r.dated:
            expected = best[-1].wall_s + (r.start_s - best[-1].start_s)
            r = replace(r, wall_s=r.wall_s + round((expected - r.wall_s) / DAY_S) * DAY_S)
        best.append(r)
    cleaned = []
    for group in groups:
        merged: list[Reading] = []
        for r in group:  # the same time read again: one reading
            if merged and r.wall_s == merged[-1].wall_s:
                merged[-1] = replace(merged[-1], end_s=max(merged[-1].end_s, r.end_s))
            else:
                merged.append(r)
        cleaned.append(_rising(merged))
    spans = [(g[0].start_s, g[-1].end_s) for g in cleaned if len(g) > 1]

    def lone_misread(group: list[Reading]) -> bool:
        r = group[0]
        return len(group) == 1 and (r.length_s > 2 * r.step_s + STATIC_S
                                    or (not r.dated and r.step_s > 1)  # "at 14:00" on a slide
                                    or any(a <= r.start_s < b for a, b in spans))

    kept = sorted((Stretch(g) for g in cleaned if not lone_misread(g)),
                  key=lambda st: st.start_s)
    return kept, len(readings) - sum(len(st.readings) for st in kept)


@dataclass
class ClockMap:
    """A video's wall clock: its stretches in video order and the jumps between them."""

    video: str
    stretches: list[Stretch]
    left_out: int = 0  # readings taken for misreadings
    order: str | None = None  # "dmy" or "mdy": how its year-last dates read

    @classmethod
    def build(cls, video: str, segments: Sequence) -> ClockMap:
        """The map of the clock shown in `segments` (a track's `clock_kinds` segments)."""
        readings, order = _readings(segments)
        stretches, left_out = _stretches(readings)
        return cls(video, stretches, left_out, order)

    @property
    def dated(self) -> bool:
        return bool(self.stretches) and self.stretches[0].first.dated

    @property
    def jumps(self) -> list[Jump]:
        return [Jump(b.start_s, a.last, b.first)
                for a, b in zip(self.stretches, self.stretches[1:])]

    def shows(self) -> str:
        """What the clock shows: `2024-12-05 12:00:00 to 12:03:00`, per stretch when it jumps."""
        def one(st: Stretch) -> str:
            first = format_wall(st.first.wall_s, self.dated)
            last = format_wall(st.last.wall_s, self.dated)
            if self.dated and first[:10] == last[:10]:
                last = last[11:]
            return f"{first} to {last}"

        if len(self.stretches) == 1:
            return one(self.stretches[0])
        return ", then ".join(f"{one(st)} ({format_hms(st.start_s)}-{format_hms(st.end_s)})"
                              for st in self.stretches)

    def matches(self, wall_s: float) -> list[ClockMatch]:
        out = []
        for n, st in enumerate(self.stretches):
            found = st.time_of(wall_s)
            if found is not None:
                time_s, i = found
                after = st.readings[i + 1] if i + 1 < len(st.readings) else None
                out.append(ClockMatch(time_s, wall_s, n, st.readings[i], after))
        return out

    def lookup(self, value: ClockValue, at: str = "") -> ClockLookup:
        """Where the clock shows `value` (from `parse_at`): every match, and notes that say
        why there is none (before, after, or between what the clock shows; a time with no
        date on a clock that shows it on several days) and where the clock jumps."""
        at = at or format_wall(value.wall_s, value.day is not None)
        if not self.stretches:
            why = "no wall clock: no on-screen text reads as a date and time"
            return ClockLookup(self.video, at, "", [], [why], self)
        notes: list[str] = []
        first = min(st.first.wall_s for st in self.stretches)
        last = max(st.last.wall_s + st.last.step_s for st in self.stretches)
        if value.day is not None and self.dated:
            value = value.in_order(self.order)
            if value.other is not None and self.order is None and not self.matches(value.wall_s):
                other = value.in_order("dmy" if value.order == "mdy" else "mdy")
                value = other if self.matches(other.wall_s) else value  # the one it shows
            if value.other is not None:
                way = "day" if value.order == "dmy" else "month"
                notes.append(f"{at} is read as {format_wall(value.wall_s, True)} ({way} first); "
                             "write the date year first (2024-12-05) to be sure")
            walls = [value.wall_s]
        else:
            if value.day is not None:
                notes.append(f"the clock shows no date: {at} is matched on its time of day")
            days = range(int(first // DAY_S), int(last // DAY_S) + 1)
            walls = [d * DAY_S + value.seconds for d in days]
        found = {w: self.matches(w) for w in walls}
        hit = [w for w in walls if found[w]]
        if self.dated and value.day is None and len(hit) > 1:
            dates = " and ".join(format_wall(w, True)[:10] for w in hit)
            example = format_wall(hit[0], True)
            notes.append(f"{at} has no date and the clock shows it on {dates}; add the date, "
                         f"e.g. '{example}'")
            return ClockLookup(self.video, at, "", [], notes, self)
        if not hit:
            if len(walls) > 1 and self.dated:
                notes.append(f"the clock shows {self.shows()}; {at} is not on any day it shows")
                return ClockLookup(self.video, at, "", [], self._with_jumps(notes), self)
            wall = min(walls, key=lambda w: max(first - w, w - last, 0.0))  # the nearest day
            notes.append(self._outside(wall, at))
            return ClockLookup(self.video, at, format_wall(wall, self.dated), [],
                               self._with_jumps(notes), self)
        matches = [m for w in hit for m in found[w]]
        if len(matches) > 1:
            notes.append(f"{format_wall(hit[0], self.dated)} shows {len(matches)} times: the "
                         "clock jumps")
        return ClockLookup(self.video, at, format_wall(hit[0], self.dated), matches,
                           self._with_jumps(notes), self)

    def _outside(self, wall_s: float, at: str) -> str:
        shown = format_wall(wall_s, self.dated)
        what = at if shown.startswith(at) else f"{at} ({shown})"
        first = min(st.first.wall_s for st in self.stretches)
        if wall_s < first:
            return f"the clock shows {self.shows()}; {what} is before the recording"
        if all(wall_s >= st.last.wall_s for st in self.stretches):
            return f"the clock shows {self.shows()}; {what} is after the recording"
        for jump in self.jumps:
            if jump.before.wall_s < wall_s < jump.after.wall_s:
                return f"{what} is not on the recording: {jump.describe()}"
        return f"{what} is not on the recording: the clock shows {self.shows()}"

    def _with_jumps(self, notes: list[str]) -> list[str]:
        """`notes` and a note for each jump of the clock (those they do not tell already)."""
        jumps = self.jumps
        more = [j.describe() for j in jumps[:MAX_JUMP_NOTES]]
        if len(jumps) > MAX_JUMP_NOTES:
            more.append(f"and {len(jumps) - MAX_JUMP_NOTES} more jumps (--json lists them)")
        return notes + [n for n in more if not any(n in note for note in notes)]

    def to_dict(self) -> dict:
        return {"dated": self.dated, "readings": sum(len(st.readings) for st in self.stretches),
                "left_out": self.left_out, "stretches": [st.to_dict() for st in self.stretches],
                "jumps": [j.to_dict() for j in self.jumps]}


@dataclass
class ClockLookup:
    """Where one video's clock shows a time: the matches (none: `notes` say why)."""

    video: str
    at: str  # as typed
    wall: str  # as matched: `2024-12-05 12:01:30` ("" when no one time was looked up)
    matches: list[ClockMatch]
    notes: list[str]
    map: ClockMap

    @property
    def has_clock(self) -> bool:
        return bool(self.map.stretches)

    def to_dict(self) -> dict:
        """One video's part of the `find --at --json` document (docs/commands.md, "Wall-clock time")."""
        first = self.matches[0] if self.matches else None
        return {"video": self.video, "wall": self.wall, "found": first is not None,
                "time_s": first.time_s if first else None,
                "time": format_hms(first.time_s) if first else None,
                "matches": [m.to_dict() for m in self.matches], "notes": list(self.notes),
                "clock": self.map.to_dict()}

    def lines(self, *, several: bool = False) -> list[str]:
        """What `vidqa find --at` prints: one line per match, then the notes."""
        where = f"{self.video}  " if several else ""
        out = []
        for rank, m in enumerate(self.matches, 1):
            before = f"\"{m.before.text}\" at {format_hms(m.before.start_s)}"
            readings = f"between {before} and \"{m.after.text}\" at " \
                f"{format_hms(m.after.start_s)}" if m.after else f"after {before}"
            out.append(f"{rank:>2}. {format_hms(m.time_s)}  {where}"
                       f"{format_wall(m.wall_s, m.before.dated)}  ({m.time_s:.3f} s, {readings})")
        return out + [f"note: {where}{note}" for note in self.notes]


def document(at: str, lookups: list[ClockLookup]) -> dict:
    """The `find --at --json` document (and `/v1/find` with `at`): the value as typed and as
    read, and each video's part (`ClockLookup.to_dict`)."""
    value = parse_at(at)
    return {"at": at, "wall": format_wall(value.wall_s, value.day is not None),
            "videos": [lookup.to_dict() for lookup in lookups]}


def no_clock(lookups: list[ClockLookup], without: tuple[str, str] | None = None) -> NoClock:
    """The error for videos none of which shows a clock; `without`: (the track that reads
    clocks and did not run, why not and the fix)."""
    what = f"'{lookups[0].video}'" if len(lookups) == 1 else f"any of {len(lookups)} videos"
    if without is not None:
        return NoClock(f"cannot read a wall clock in {what} without the {without[0]} track: "
                       f"{without[1]}")
    return NoClock(f"no wall clock in {what}: no on-screen text reads as a date and time; "
                   "--at needs footage with a date and time burned into the picture")
