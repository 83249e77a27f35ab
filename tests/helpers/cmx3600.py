"""A CMX 3600 EDL reader for the tests, written from the format's rules, not from vidqa's writer.

    edl = read_edl(text, base=30)      # base: frames in a timecode second (30 for 29.97)
    edl.title, edl.drop, edl.notes, edl.events[0].source_in, edl.events[0].locators[0].text

The rules it holds a file to: `TITLE:` first, then `FCM: DROP FRAME` or `FCM: NON-DROP FRAME`;
each event line `NNN  REEL CHANNELS TRANSITION SRC-IN SRC-OUT REC-IN REC-OUT` with events
numbered from 1 in order, a reel of at most 8 characters, a known channel code, a cut (`C`),
timecodes with `;` before the frames in drop-frame and `:` otherwise, each out after its in,
and the same length on both sides; `*` lines are comments of the event above them
(`* FROM CLIP NAME:`, `* LOC: TC COLOUR TEXT` in one of Avid's locator colours) or, before the
first event, of the file (`notes`).

Drop-frame timecode is counted here minute by minute (every minute but each tenth one starts
at frame label `base // 15`: 2 at 29.97, 4 at 59.94), a different sum from the writer's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CHANNELS = {"V", "A", "A2", "AA", "B", "A/V", "A2/V", "AA/V"}
LOCATOR_COLOURS = {"WHITE", "RED", "GREEN", "BLUE", "CYAN", "MAGENTA", "YELLOW", "BLACK"}
_TC = r"\d{2}:\d{2}:\d{2}[:;]\d{2}"
_EVENT = re.compile(rf"^(\d{{3,4}})  (\S+) +(\S+) +(C) +({_TC}) ({_TC}) ({_TC}) ({_TC})\s*$")


class EDLError(ValueError):
    pass


def timecode_frames(timecode: str, base: int, drop: bool) -> int:
    """The frame count of `HH:MM:SS:FF` (`;FF` in drop-frame) at `base` frames a second."""
    match = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})([:;])(\d{2})", timecode)
    if not match:
        raise EDLError(f"not a timecode: {timecode!r}")
    hours, minutes, seconds, sep, frames = match.groups()
    hours, minutes, seconds, frames = int(hours), int(minutes), int(seconds), int(frames)
    if (sep == ";") != drop:
        raise EDLError(f"{timecode}: '{sep}' before the frames, but the file is "
                       f"{'drop' if drop else 'non-drop'} frame")
    if minutes > 59 or seconds > 59 or frames >= base:
        raise EDLError(f"{timecode}: a field out of range at {base} frames a second")
    skipped = base // 15 if drop else 0
    total_minutes = hours * 60 + minutes
    first_label = skipped if total_minutes % 10 else 0
    if seconds == 0 and frames < first_label:
        raise EDLError(f"{timecode}: a label drop-frame timecode skips")
    count = 0
    for minute in range(total_minutes):
        count += base * 60 - (skipped if minute % 10 else 0)
    return count + seconds * base + frames - first_label


@dataclass
class Locator:
    frame: int  # record-side frame count
    colour: str
    text: str


@dataclass
class Event:
    number: int
    reel: str
    channels: str
    transition: str
    source_in: int
    source_out: int
    record_in: int
    record_out: int
    comments: list[str] = field(default_factory=list)
    clip_name: str | None = None
    locators: list[Locator] = field(default_factory=list)


@dataclass
class EDL:
    title: str
    drop: bool
    events: list[Event]
    notes: list[str]


def read_edl(text: str, base: int) -> EDL:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("TITLE: "):
        raise EDLError("the first line must be 'TITLE: ...'")
    title = lines[0][len("TITLE: "):]
    if len(lines) < 2 or lines[1] not in ("FCM: DROP FRAME", "FCM: NON-DROP FRAME"):
        raise EDLError("the second line must be 'FCM: DROP FRAME' or 'FCM: NON-DROP FRAME'")
    drop = lines[1] == "FCM: DROP FRAME"
    events: list[Event] = []
    notes: list[str] = []
    for number, line in enumerate(lines[2:], 3):
        if not line.strip():
            continue
        if line.startswith("*"):
            comment = line[1:].strip()
            if not events:
                notes.append(comment)
                continue
            event = events[-1]
            event.comments.append(comment)
            if comment.startswith("FROM CLIP NAME:"):
                event.clip_name = comment[len("FROM CLIP NAME:"):].strip()
            elif comment.startswith("LOC:"):
                parts = comment[len("LOC:"):].strip().split(None, 2)
                if len(parts) < 2 or parts[1] not in LOCATOR_COLOURS:
                    raise EDLError(f"line {number}: a locator is 'LOC: TC COLOUR TEXT'")
                event.locators.append(Locator(timecode_frames(parts[0], base, drop), parts[1],
                                              parts[2] if len(parts) > 2 else ""))
            continue
        match = _EVENT.match(line)
        if not match:
            raise EDLError(f"line {number} is neither an event, a comment nor blank: {line!r}")
        num, reel, channels, transition, *times = match.groups()
        if int(num) != len(events) + 1:
            raise EDLError(f"line {number}: event {num} out of order")
        if len(reel) > 8:
            raise EDLError(f"line {number}: reel {reel!r} is longer than 8 characters")
        if channels not in CHANNELS:
            raise EDLError(f"line {number}: unknown channels {channels!r}")
        src_in, src_out, rec_in, rec_out = (timecode_frames(t, base, drop) for t in times)
        if src_out <= src_in or rec_out - rec_in != src_out - src_in:
            raise EDLError(f"line {number}: an out before its in, or sides of unequal length")
        events.append(Event(int(num), reel, channels, transition, src_in, src_out, rec_in,
                            rec_out))
    return EDL(title, drop, events, notes)
