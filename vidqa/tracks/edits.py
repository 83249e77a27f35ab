"""Edit lists: an event log or search hits as clips of their file, for an editing program.

Two forms, written by the thin `WriteEDL` and `WriteOTIO` of `vidqa.tracks.writers`:

- a CMX 3600 EDL (`edl_text`): one event per segment (a hit, an event of the log), the source
  in and out at the file's frame rate, laid end to end on the record side from 01:00:00:00,
  with the segment's text as a locator (`* LOC:`, read as a marker by Avid and Resolve);
- an OpenTimelineIO timeline (`otio_timeline`): one track of clips, each referring to the file
  by its absolute path with its available range, and a marker with the text on each clip.
  OpenTimelineIO (`pip install 'vidqa[edit]'`) is imported only here, only when one is made.

Times: a segment's [start_s, end_s) becomes the frames that show it, [the frame showing at
start_s, the first frame at or after end_s), at least one frame; a time within 0.1 ms of a
frame's start counts as that start (ffmpeg's times carry microseconds of noise).

The rate (`edit_rate`) is the file's when it is a standard one (23.976, 24, 25, 29.97, 30,
47.952, 48, 50, 59.94, 60, or within 2% of one, as an editing program conforms a variable rate),
else its own rounded. 29.97 and 59.94 are counted in drop-frame timecode unless the file's
own timecode is non-drop. A file that carries a start timecode (a camera's `tmcd` track) has its
source times counted from it, else from 00:00:00:00 at its first frame. A sound-only file has
no frame rate: its edit list counts 25 frames a second (non-drop: 40 ms a frame) and says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidqa.errors import VidqaError, one_line
from vidqa.timecode import format_hms

if TYPE_CHECKING:
    from vidqa.media.probe import VideoInfo
    from vidqa.tracks.base import Segment

NTSC = 1001
STANDARD_RATES = (Fraction(24000, NTSC), Fraction(24), Fraction(25), Fraction(30000, NTSC),
                  Fraction(30), Fraction(48000, NTSC), Fraction(48), Fraction(50),
                  Fraction(60000, NTSC), Fraction(60))
SOUND_RATE = Fraction(25)  # the timecode rate of a file with no picture
SNAP_S = Fraction(1, 10_000)  # a time this close to a frame's start is that frame's: times read
# from ffmpeg carry microseconds of noise (an OCR pin at 19.999977 s is the frame at 20 s)
RECORD_START = 3600  # the record side starts at 01:00:00:00, as editing programs do
REEL = "AX"  # an auxiliary source; the file is named in `* FROM CLIP NAME:`
MARKER_CHARS = 200  # a locator's text is cut to this length
INSTALL_OTIO = "pip install 'vidqa[edit]'"
# Locator colours (Avid's, which Resolve reads), as RGB: a track's lane colour picks the nearest.
LOCATOR_COLOURS = {"RED": (220, 50, 50), "GREEN": (60, 180, 90), "BLUE": (60, 90, 220),
                   "CYAN": (60, 200, 210), "MAGENTA": (200, 90, 210), "YELLOW": (230, 190, 60),
                   "WHITE": (235, 235, 235), "BLACK": (20, 20, 20)}
_TIMECODE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


@dataclass(frozen=True)
class EditRate:
    """A frame rate and its timecode: `fps` frames a second exactly (30000/1001), `base`
    frames counted in each timecode second (30), `drop` for drop-frame timecode, `note` when
    the rate is not the file's own (a sound-only file)."""

    fps: Fraction
    base: int
    drop: bool = False
    note: str | None = None

    @property
    def dropped(self) -> int:
        """Frame numbers skipped each minute but every tenth: 2 at 29.97, 4 at 59.94."""
        return self.base // 15 if self.drop else 0

    def frame_at(self, seconds: float) -> int:
        """The frame showing at `seconds`: the last one that starts at or before it (or within
        `SNAP_S` after it: 19.999977 is frame 600 at 30 fps)."""
        return max(0, math.floor((Fraction(seconds) + SNAP_S) * self.fps))

    def frame_after(self, seconds: float) -> int:
        """The first frame that starts at or after `seconds` (or within `SNAP_S` before it):
        an exclusive end."""
        return max(0, math.ceil((Fraction(seconds) - SNAP_S) * self.fps))

    def timecode(self, frame: int) -> str:
        """`HH:MM:SS:FF` of a frame count (`HH:MM:SS;FF` in drop-frame, whose labels skip
        `dropped` frame numbers at the start of each minute but every tenth)."""
        if frame < 0:
            raise ValueError(f"a timecode needs a frame count of 0 or more, got {frame}")
        drop = self.dropped
        if drop:
            per_ten = self.base * 600 - drop * 9
            per_minute = self.base * 60 - drop
            tens, rest = divmod(frame, per_ten)
            frame += drop * 9 * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
        hours, rest = divmod(frame, self.base * 3600)
        if hours > 23:
            raise VidqaError("the edit list runs past 24 hours of timecode; write fewer or "
                             "shorter clips (choose --tracks, or fewer hits with -k)")
        minutes, rest = divmod(rest, self.base * 60)
        secs, frames = divmod(rest, self.base)
        return f"{hours:02d}:{minutes:02d}:{secs:02d}{';' if drop else ':'}{frames:02d}"

    def frames(self, timecode: str) -> int:
        """The frame count of `HH:MM:SS:FF` (or `;FF`, counted as this rate counts)."""
        match = _TIMECODE.match(timecode.strip())
        if not match:
            raise ValueError(f"cannot read {timecode!r} as a timecode HH:MM:SS:FF")
        hours, minutes, secs, _, frames = (int(g) if g.isdigit() else g for g in match.groups())
        total_minutes = hours * 60 + minutes
        return ((total_minutes * 60 + secs) * self.base + frames
                - self.dropped * (total_minutes - total_minutes // 10))


def _standard(value: float | None, tolerance: float) -> Fraction | None:
    if not value or value <= 0:
        return None
    near = min(STANDARD_RATES, key=lambda r: abs(float(r) - value))
    return near if abs(float(near) - value) / float(near) <= tolerance else None


def edit_rate(info: VideoInfo, timecode: str | None = None) -> EditRate:
    """The rate an edit list of this file counts in: its nominal rate when standard, else its
    average one, else the nearest standard rate within 2% (a variable rate, as editing programs
    conform it), else its own rate rounded; 25 frames a second for a file with no picture.
    `timecode`: the file's own start timecode, whose `;` or `:` says drop-frame or not."""
    if not info.has_picture:
        return EditRate(SOUND_RATE, 25, False, "sound only: no picture, so no frame rate; "
                        "timecode counts 25 frames a second (non-drop, 40 ms a frame)")
    fps = _standard(info.nominal_fps, 1e-4) or _standard(info.average_fps, 1e-4) \
        or _standard(info.average_fps or info.nominal_fps, 0.02)
    if fps is None:
        own = info.average_fps or info.nominal_fps or 0.0
        if not 1 <= round(own) <= 99:
            return EditRate(SOUND_RATE, 25, False, f"the file states no usable frame rate "
                            f"({own:g}); timecode counts 25 frames a second (non-drop)")
        fps = Fraction(own).limit_denominator(NTSC)
    rate = EditRate(fps, round(fps), fps.denominator == NTSC and round(fps) in (30, 60))
    if rate.drop and timecode is not None and ";" not in timecode:
        rate = replace(rate, drop=False)  # the file counts 29.97 without dropping
    return rate


def start_timecode(info: VideoInfo) -> str | None:
    """The file's own start timecode (a camera's `tmcd` track, as FFmpeg reads it: the picture's
    stream, else any stream, else the container), or None."""
    if not info.has_picture:
        return None
    from vidqa.media.probe import open_local

    try:
        container = open_local(info.path)
    except Exception:  # noqa: BLE001 - read once already by the probe; without it, 00:00:00:00
        return None
    try:
        streams = sorted(container.streams, key=lambda s: s.index != info.stream_index)
        for metadata in [s.metadata for s in streams] + [container.metadata]:
            value = (metadata or {}).get("timecode")
            if value and _TIMECODE.match(value.strip()):
                return value.strip()
    finally:
        container.close()
    return None


def source_clock(info: VideoInfo) -> tuple[EditRate, int]:
    """(the rate an edit list of the file counts in, the frame count of its start timecode)."""
    timecode = start_timecode(info)
    rate = edit_rate(info, timecode)
    return rate, rate.frames(timecode) if timecode else 0


@dataclass(frozen=True)
class Clip:
    """One segment as a clip of its file: source frames [first, end) (from the file's first
    frame), the frame of its moment (a hit's pinned time), and what it says."""

    first: int
    end: int
    moment: int
    text: str
    source: str
    segment: Segment

    @property
    def length(self) -> int:
        return self.end - self.first


def clips(segments: list[Segment], rate: EditRate, duration_s: float | None) -> list[Clip]:
    """Each segment as the frames that show it, at least one, inside the file."""
    last = rate.frame_after(duration_s) if duration_s else None
    out = []
    for segment in segments:
        first = rate.frame_at(segment.start_s)
        end = max(rate.frame_after(segment.end_s), first + 1)
        if last is not None and last > 0:
            first = min(first, last - 1)
            end = max(min(end, last), first + 1)
        moment = rate.frame_at(segment.extras.get("time_s", segment.start_s))
        out.append(Clip(first, end, min(max(moment, first), end - 1), one_line(segment.text),
                        segment.source, segment))
    return out


def locator_colour(source: str) -> str:
    """The locator colour of a track's segments: the nearest to its lane's colour on the page
    (on-screen text yellow, speech green, captions magenta); white for an unknown source."""
    from vidqa.tracks.base import REGISTRY, get_track

    lane = getattr(get_track(source), "lane", None) if source in REGISTRY else None
    if lane is None or not re.fullmatch(r"#[0-9a-fA-F]{6}", lane.colour):
        return "WHITE"
    rgb = tuple(int(lane.colour[i:i + 2], 16) for i in (1, 3, 5))
    return min(LOCATOR_COLOURS, key=lambda name: sum(
        (a - b) ** 2 for a, b in zip(rgb, LOCATOR_COLOURS[name])))


def _channels(info: VideoInfo) -> str:
    """The EDL's channel field: picture and both sound channels (AA/V), picture alone (V),
    sound alone (AA for two channels or more, A for one)."""
    audio = [s for s in info.streams if s.kind == "audio"]
    if not info.has_picture:
        return "AA" if any((s.channels or 2) >= 2 for s in audio) else "A"
    return "AA/V" if audio else "V"


def _comment(clip: Clip) -> str:
    score = clip.segment.extras.get("score")
    moment = clip.segment.extras.get("time_s", clip.segment.start_s)
    kind = clip.segment.kind
    parts = [clip.source if kind == clip.source else f"{clip.source} {kind}",
             f"at {format_hms(moment)}"]
    if isinstance(score, (int, float)) and clip.segment.extras.get("rank") is not None:
        parts.append(f"hit {clip.segment.extras['rank']}, score {score:.2f}")
    return ", ".join(parts)


def edl_text(log, info: VideoInfo, rate: EditRate, start: int = 0) -> str:
    """The CMX 3600 EDL of a log's segments (see the module's docstring). `start`: the frame
    count of the file's own start timecode."""
    name = Path(info.path).name
    lines = [f"TITLE: {one_line(Path(log.video).stem, 70) or 'vidqa'}",
             f"FCM: {'DROP FRAME' if rate.drop else 'NON-DROP FRAME'}"]
    if rate.note:
        lines.append(f"* NOTE: {rate.note}")
    lines.append("")
    channels = _channels(info)
    record = rate.frames(f"{RECORD_START // 3600:02d}:00:00:00")
    duration_s = info.duration_s or log.duration_s or None
    for number, clip in enumerate(clips(log.segments, rate, duration_s), 1):
        tc = rate.timecode
        rec_out = record + clip.length
        lines.append(f"{number:03d}  {REEL:<8} {channels:<5} C        "
                     f"{tc(start + clip.first)} {tc(start + clip.end)} {tc(record)} "
                     f"{tc(rec_out)}")
        lines.append(f"* FROM CLIP NAME: {one_line(name)}")
        lines.append(f"* LOC: {tc(record + clip.moment - clip.first)} "
                     f"{locator_colour(clip.source):<7} {one_line(clip.text, MARKER_CHARS)}")
        lines.append(f"* COMMENT: {_comment(clip)}")
        lines.append("")
        record = rec_out
    return "\n".join(lines) + "\n"


def _otio():
    try:
        import opentimelineio
    except ImportError:
        raise VidqaError(f"-f otio needs OpenTimelineIO, which is not installed: "
                         f"{INSTALL_OTIO}") from None
    return opentimelineio


def check_otio() -> None:
    """A VidqaError with the install line when OpenTimelineIO is missing (before any work)."""
    _otio()


def otio_timeline(log, info: VideoInfo, rate: EditRate, start: int = 0) -> Any:
    """The OpenTimelineIO timeline of a log's segments: one track (video, or audio for a
    sound-only file) of clips referring to the file, each with a marker holding its text and
    vidqa's own values in `metadata["vidqa"]`."""
    otio = _otio()
    fps = float(rate.fps)

    def span(first: int, length: int):
        return otio.opentime.TimeRange(otio.opentime.RationalTime(first, fps),
                                       otio.opentime.RationalTime(length, fps))

    duration_s = info.duration_s or log.duration_s or 0.0
    available = span(start, max(rate.frame_after(duration_s), 1))
    url = Path(info.path).resolve().as_uri()
    timeline = otio.schema.Timeline(name=Path(log.video).stem)
    timeline.global_start_time = otio.opentime.RationalTime(
        rate.frames(f"{RECORD_START // 3600:02d}:00:00:00"), fps)
    kind = otio.schema.TrackKind.Video if info.has_picture else otio.schema.TrackKind.Audio
    track = otio.schema.Track(name="V1" if info.has_picture else "A1", kind=kind)
    timeline.metadata["vidqa"] = {"video": log.video, "fps": str(rate.fps),
                                  "drop_frame": rate.drop, "note": rate.note}
    for clip in clips(log.segments, rate, duration_s or None):
        segment = clip.segment
        item = otio.schema.Clip(
            name=f"{Path(info.path).name} {format_hms(segment.start_s)}",
            media_reference=otio.schema.ExternalReference(target_url=url,
                                                          available_range=available),
            source_range=span(start + clip.first, clip.length))
        item.markers.append(otio.schema.Marker(
            name=one_line(clip.text, MARKER_CHARS), marked_range=span(start + clip.moment, 1),
            color=getattr(otio.schema.MarkerColor, locator_colour(clip.source)),
            metadata={"vidqa": {"source": clip.source, "kind": segment.kind}}))
        values = {"start_s": round(segment.start_s, 6), "end_s": round(segment.end_s, 6),
                  "text": segment.text,
                  "source": clip.source, "kind": segment.kind}
        values.update({k: segment.extras[k] for k in ("time_s", "score", "rank")
                       if k in segment.extras})
        item.metadata["vidqa"] = values
        track.append(item)
    timeline.tracks.append(track)
    return timeline


def otio_text(log, info: VideoInfo, rate: EditRate, start: int = 0) -> str:
    """The timeline as OpenTimelineIO's own JSON (`.otio`), written by its `otio_json`
    adapter."""
    otio = _otio()
    return otio.adapters.write_to_string(otio_timeline(log, info, rate, start), "otio_json")
