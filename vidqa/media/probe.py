"""What a video file holds, read through PyAV (FFmpeg's libraries): no ffprobe binary needed.

Time convention: vidqa's times are seconds since the start of the file as players show it
(mpv, VLC): the stream's presentation time minus the container's start time. For
`delayed_start.mp4`, whose container starts at 1.075 s, the first frame is at 0.0 s;
`start_offset_s` keeps the 1.075 s so raw PTS can be recovered. ffmpeg's own command line
applies the same shift, so decoded frame times need no correction.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from vidqa.errors import VideoOpenError
from vidqa.media.ffmpeg import INPUT_OPTIONS, first_error, local_url


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # video, audio, subtitle, data, attachment
    codec: str | None
    language: str | None = None
    width: int | None = None
    height: int | None = None
    attached_pic: bool = False
    sample_rate: int | None = None  # audio: samples a second
    channels: int | None = None  # audio


@dataclass(frozen=True)
class VideoInfo:
    """One media file: its main video stream and what else it carries. A sound-only file
    (a recording with no picture: .m4a, .mp3, .wav, .flac, .opus...) has `stream_index` -1,
    no picture size and no frame rate: `has_picture` is False, and the run reads its sound."""

    path: str
    size_bytes: int
    container: str
    duration_s: float | None  # None when the container states no duration
    start_offset_s: float  # container start time, subtracted from every PTS
    stream_index: int  # absolute index of the main video stream
    codec: str
    coded_width: int
    coded_height: int
    sample_aspect_ratio: str  # "16:11"; "1:1" for square pixels
    rotation_deg: int  # clockwise rotation a player applies: 0, 90, 180 or 270
    display_width: int  # after sample aspect ratio and rotation
    display_height: int
    nominal_fps: float | None  # r_frame_rate: the stream's base rate
    average_fps: float | None
    frame_count: int | None  # as the container states it, when it does
    pix_fmt: str | None
    streams: list[StreamInfo] = field(default_factory=list)

    @property
    def has_picture(self) -> bool:
        return self.stream_index >= 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VideoInfo:
        return cls(**{**data, "streams": [StreamInfo(**s) for s in data.get("streams", [])]})

    def stream_key(self) -> str:
        """A digest of what the probe read that shapes decoding (the stream, its picture, its
        times): part of the cache key beside the file's content, so results are keyed by what
        was actually read."""
        facts = asdict(self)
        for name in ("path", "size_bytes", "streams"):
            facts.pop(name)
        return hashlib.blake2b(json.dumps(facts, sort_keys=True).encode(),
                               digest_size=6).hexdigest()


def open_local(path: str | os.PathLike):
    """A PyAV container for the local file at `path`, and nothing else (never a URL or another
    protocol, whatever the name looks like; see `vidqa.media.ffmpeg`)."""
    return av.open(local_url(path), options=dict(INPUT_OPTIONS), metadata_errors="ignore")


def check_path(path: str | os.PathLike) -> Path:
    """The path as a readable regular file, or a VideoOpenError naming what is wrong."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise VideoOpenError(f"cannot open '{p}': no such file; check the path") from None
    except PermissionError:
        raise VideoOpenError(f"cannot open '{p}': permission denied; make it readable "
                             f"(chmod +r)") from None
    if stat.S_ISDIR(st.st_mode):
        raise VideoOpenError(f"cannot open '{p}': it is a directory; pass the video files "
                             f"inside it, e.g. '{p}/*.mp4'")
    if not stat.S_ISREG(st.st_mode):
        raise VideoOpenError(f"cannot open '{p}': not a regular file; pass a video file")
    if st.st_size == 0:
        raise VideoOpenError(f"cannot open '{p}': the file is empty (0 bytes); copy or download "
                             "it again")
    if not os.access(p, os.R_OK):
        raise VideoOpenError(f"cannot open '{p}': permission denied; make it readable (chmod +r)")
    return p


def _unreadable(p: Path) -> str:
    """Why ffmpeg cannot open a file, in words a person can act on."""
    with open(p, "rb") as handle:
        head = handle.read(512)
    try:
        text = head.decode("utf-8")
        if all(ch.isprintable() or ch in "\r\n\t" for ch in text):
            return (f"cannot open '{p}': it is a text file, not a video; pass the video itself "
                    "(check what was saved under this name)")
    except UnicodeDecodeError:
        pass
    reason = first_error(p)
    if "moov atom" in reason and head[4:8] == b"ftyp":
        return (f"cannot open '{p}': the file is truncated ({reason}: its index is missing); "
                "copy it again in full")
    return (f"cannot open '{p}': not a video ffmpeg can read ({reason}); check that it is a "
            "complete video file")


def _rate(value) -> float | None:
    if value is None or value == 0:
        return None
    return float(Fraction(value.numerator, value.denominator))


def _main_video(container) -> av.video.stream.VideoStream | None:
    """The stream a player shows: default disposition first, then the largest picture."""
    candidates = [s for s in container.streams.video
                  if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not candidates:
        return None
    default = [s for s in candidates if s.disposition & av.stream.Disposition.default]
    pool = default or candidates
    return max(pool, key=lambda s: (s.codec_context.width or 0) * (s.codec_context.height or 0))


def _first_frame_rotation(container, stream) -> int:
    """Clockwise display rotation from the first decoded frame's display matrix."""
    for frame in container.decode(stream):
        return int(round(-(frame.rotation or 0))) % 360
    raise av.error.InvalidDataError(1, "no frame could be decoded")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a media file's metadata: a video, or a sound-only recording (`has_picture` False).
    Raises VideoOpenError with the reason and the fix."""
    p = check_path(path)
    name = str(p)
    try:
        container = open_local(p)
    except av.error.FFmpegError:
        raise VideoOpenError(_unreadable(p)) from None
    try:
        streams = [
            StreamInfo(
                index=s.index, kind=s.type, codec=getattr(s.codec_context, "name", None),
                language=s.language,
                width=getattr(s.codec_context, "width", None) if s.type == "video" else None,
                height=getattr(s.codec_context, "height", None) if s.type == "video" else None,
                attached_pic=bool(s.disposition & av.stream.Disposition.attached_pic),
                sample_rate=getattr(s.codec_context, "sample_rate", None) or None
                if s.type == "audio" else None,
                channels=getattr(s.codec_context, "channels", None) or None
                if s.type == "audio" else None,
            )
            for s in container.streams
        ]
        video = _main_video(container)
        if video is None:
            return _sound_only(p, container, streams)
        cc = video.codec_context
        if not cc.width or not cc.height:
            raise VideoOpenError(f"cannot use '{name}': its video stream has no picture size "
                                 "(damaged header); re-encode or remux it with ffmpeg")
        try:
            rotation = _first_frame_rotation(container, video)
        except (av.error.FFmpegError, StopIteration):
            raise VideoOpenError(f"cannot decode '{name}': no frame of its video stream decodes "
                                 f"({first_error(name)}); the file is damaged, "
                                 "copy it again or re-encode it") from None
        sar = cc.sample_aspect_ratio or video.sample_aspect_ratio
        sar = Fraction(sar.numerator, sar.denominator) if sar else Fraction(1)
        width, height = cc.width, cc.height
        if sar > 1:
            width = round(width * sar)
        elif sar < 1:
            height = round(height / sar)
        if rotation in (90, 270):
            width, height = height, width
        start = container.start_time / av.time_base if container.start_time is not None else 0.0
        duration = container.duration / av.time_base if container.duration else None
        if video.duration and video.time_base:
            # The video stream's own end, relative to the container's start.
            stream_start = float((video.start_time or 0) * video.time_base)
            duration = float(video.duration * video.time_base) + stream_start - start
        return VideoInfo(
            path=name, size_bytes=p.stat().st_size, container=container.format.name,
            duration_s=round(duration, 6) if duration else None, start_offset_s=round(start, 6),
            stream_index=video.index, codec=cc.name, coded_width=cc.width,
            coded_height=cc.height, sample_aspect_ratio=f"{sar.numerator}:{sar.denominator}",
            rotation_deg=rotation, display_width=width, display_height=height,
            nominal_fps=_rate(video.base_rate), average_fps=_rate(video.average_rate),
            frame_count=video.frames or None, pix_fmt=cc.format.name if cc.format else None,
            streams=streams,
        )
    finally:
        container.close()


def _sound_only(p: Path, container, streams: list[StreamInfo]) -> VideoInfo:
    """A file with sound and no picture (a cover image does not count as one): its length is
    the sound's. One with neither is refused."""
    audio = [s for s in container.streams.audio]
    if not audio:
        kinds = ", ".join(sorted({s.kind for s in streams})) or "no streams"
        raise VideoOpenError(f"cannot use '{p}': it has neither picture nor sound ({kinds} "
                             "only); pass a video or a sound recording")
    start = container.start_time / av.time_base if container.start_time is not None else 0.0
    duration = container.duration / av.time_base if container.duration else None
    first = audio[0]
    if first.duration and first.time_base:
        stream_start = float((first.start_time or 0) * first.time_base)
        duration = float(first.duration * first.time_base) + stream_start - start
    return VideoInfo(
        path=str(p), size_bytes=p.stat().st_size, container=container.format.name,
        duration_s=round(duration, 6) if duration else None, start_offset_s=round(start, 6),
        stream_index=-1, codec="", coded_width=0, coded_height=0, sample_aspect_ratio="1:1",
        rotation_deg=0, display_width=0, display_height=0, nominal_fps=None, average_fps=None,
        frame_count=None, pix_fmt=None, streams=streams)
