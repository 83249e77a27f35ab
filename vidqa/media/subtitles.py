"""Subtitles a file already carries: a text subtitle stream in the container (mov_text, subrip,
ass, webvtt) or a sidecar `.srt` / `.vtt` beside the video.

A container stream is converted by the bundled ffmpeg to SubRip on a pipe (ffmpeg gives its
times on the file's own timeline, seconds since the container's start); a sidecar is read as
it is. Either way the result is `Cue(start_s, end_s, text)`, half-open, in time order, with
markup (`<i>`, `{\\an8}`), speaker labels and line breaks flattened to one line of text.

What is read, and what is refused (`SubtitlesRefused`, one line with the fix):
- a sidecar is read only when its real path lies inside the folder it was found in: a link
  leading elsewhere (`talk.srt -> /elsewhere/secret.srt`) is not read, so a folder of videos
  never hands out a file from outside it;
- at most `max_mb` MiB (the `speech.max_subtitles_mb` setting) of a sidecar or of ffmpeg's
  output for a stream: a sidecar's size is checked before it is read, a stream stops being
  read past the limit;
- the text is UTF-8 (with or without a BOM), or UTF-16/UTF-32 with a BOM (UTF-16 also without
  one); bytes that do not decode become U+FFFD, and a file that is not SubRip or WebVTT gives
  no cues. It is parsed a line at a time, never split into a list of every line.
A cue whose time line is not a time (`00:61:00,000`: minutes or seconds of 60 or more) is
skipped; with the video's length known, a cue that starts at or after its end is dropped and
one that runs past it ends there.
"""

from __future__ import annotations

import glob
import html
import io
import os
import re
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vidqa.errors import VidqaError, one_line
from vidqa.media.ffmpeg import LogProblems, command, input_args
from vidqa.media.probe import StreamInfo, VideoInfo
from vidqa.timecode import Timed

TEXT_CODECS = ("mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text")
SIDECAR_SUFFIXES = (".srt", ".vtt")
MIB = 1 << 20
PARSER_VERSION = "2"  # bump when the same subtitles would give other cues (2: checked times,
# cut at the video's end, UTF-16)
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})"
_CUE = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAGS = re.compile(r"<[^>]+>|\{\\[^}]*\}")
_BLOCK = 1 << 16


@dataclass(frozen=True, slots=True)
class Cue(Timed):
    start_s: float
    end_s: float
    text: str


class SubtitlesRefused(VidqaError):
    """Subtitles that are not read: a link out of their folder, or over the size limit."""


def text_streams(info: VideoInfo) -> list[StreamInfo]:
    """The container's text subtitle streams (bitmap ones, PGS or DVB, carry no text)."""
    return [s for s in info.streams if s.kind == "subtitle" and (s.codec or "") in TEXT_CODECS]


_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")


def sidecar(info: VideoInfo, folder: str | Path | None = None) -> Path | None:
    """`talk.srt` or `talk.vtt` beside `talk.mp4`, else one with a language tag
    (`talk.en.srt`, `talk.pt-BR.vtt`), if there is one; then the same names in `folder` (a
    benchmark's subtitle folder). `talk.part2.srt` belongs to another video and is not taken.
    The path is as found (in its folder); `check_sidecar` says whether it may be read."""
    video = Path(info.path)
    for place in [video.parent] + ([Path(folder)] if folder else []):
        named = place / video.name
        for suffix in SIDECAR_SUFFIXES:
            exact = named.with_suffix(suffix)
            if exact.is_file():
                return exact
        found = sorted(p for p in place.glob(f"{glob.escape(video.stem)}.*.*")
                       if p.suffix.lower() in SIDECAR_SUFFIXES and p.is_file()
                       and _LANGUAGE_TAG.fullmatch(p.name[len(video.stem) + 1:-len(p.suffix)]))
        if found:
            return found[0]
    return None


def check_sidecar(path: str | Path, max_mb: float | None = None) -> Path:
    """The real file behind sidecar `path` (found in `path`'s folder), when it may be read: it
    lies inside that folder (a link that leads out of it is refused) and is at most `max_mb`
    MiB; else a SubtitlesRefused naming the file, what is wrong and the fix."""
    path = Path(path)
    try:
        real, home = path.resolve(strict=True), path.parent.resolve(strict=True)
        size = real.stat().st_size
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links
        why = getattr(exc, "strerror", None) or "a loop of links"
        raise VidqaError(f"cannot read subtitles '{path}': {why}; check the file") from None
    if not real.is_relative_to(home):
        raise SubtitlesRefused(f"subtitles '{path}' are a link to a file outside '{home}', so "
                               "they are not read; copy the file beside the video instead of "
                               "linking it")
    if max_mb is not None and size > max_mb * MIB:
        raise SubtitlesRefused(_too_big(f"subtitles '{path}' are {size / MIB:.1f} MiB",
                                        max_mb))
    return real


def _too_big(what: str, max_mb: float, *, it: bool = False) -> str:
    them = "it" if it else "them"
    return (f"{what}, over the {max_mb:g} MiB limit, so {'it is' if it else 'they are'} not "
            f"read; pass --max-subtitles-mb N (or set speech.max_subtitles_mb in the config "
            f"file) to read {them}")


def _seconds(h, m, s, ms) -> float | None:
    if int(m) >= 60 or int(s) >= 60:  # 00:61:00,000 is not 01:01:00
        return None
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _encoding(head: bytes) -> str:
    """The text encoding of a subtitle file from its first bytes: a BOM when there is one, the
    zero bytes of UTF-16 without one, else UTF-8."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # the BOM says which byte order, and is dropped
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if len(head) >= 4 and head[0] and not head[1] and head[2] and not head[3]:
        return "utf-16-le"
    if len(head) >= 4 and not head[0] and head[1] and not head[2] and head[3]:
        return "utf-16-be"
    return "utf-8"


def _lines(text: str | bytes | io.BufferedReader) -> Iterator[str]:
    """The lines of `text` (bytes, or a binary file: decoded as `_encoding` says), any line
    ending as `\\n`, one at a time."""
    if isinstance(text, str):
        return io.StringIO(text, newline=None)
    binary = io.BufferedReader(io.BytesIO(text)) if isinstance(text, bytes) else text
    return io.TextIOWrapper(binary, encoding=_encoding(binary.peek(4)[:4]), errors="replace",
                            newline=None)


class _TooBig(Exception):
    """More bytes than the limit came."""


class _Capped(io.RawIOBase):
    """A binary file read through, that raises _TooBig past `limit` bytes (None: no limit)."""

    def __init__(self, raw: BinaryIO, limit: int | None):
        self.raw, self.limit, self.read_bytes = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        self.read_bytes += len(data)
        if self.limit is not None and self.read_bytes > self.limit:
            raise _TooBig
        buffer[:len(data)] = data
        return len(data)


def _capped(raw: BinaryIO, max_mb: float | None) -> io.BufferedReader:
    return io.BufferedReader(_Capped(raw, int(max_mb * MIB) if max_mb is not None else None),
                             buffer_size=_BLOCK)


def parse_cues(text: str | bytes | io.BufferedReader, *, duration_s: float | None = None
               ) -> list[Cue]:
    """SubRip or WebVTT text (or the bytes of a file, or the file) as cues, read a line at a
    time: each cue's time line, then its text up to a blank line. `duration_s`: the video's
    length, when known (cues after it are dropped, one that runs past it ends there)."""
    cues: list[Cue] = []
    times: tuple[float, float] | None = None
    body: list[str] = []
    for line in _chain(_lines(text), "\n"):
        if times is None:
            match = _CUE.match(line)
            if match:
                start, end = _seconds(*match.groups()[:4]), _seconds(*match.groups()[4:])
                if start is not None and end is not None:
                    times = (start, end)
            continue
        if line.strip():
            body.append(line)
            continue
        cue = _cue(*times, body, duration_s)
        if cue is not None:
            cues.append(cue)
        times, body = None, []
    cues.sort(key=lambda c: (c.start_s, c.end_s))
    return cues


def _chain(lines: Iterable[str], last: str) -> Iterator[str]:
    yield from lines
    yield last  # ends the last cue when the text does not end in a blank line


def _cue(start: float, end: float, body: list[str], duration_s: float | None) -> Cue | None:
    words = one_line(html.unescape(_TAGS.sub("", " ".join(body)).replace("\\N", " ")))
    if not words or end < start:
        return None
    if duration_s is not None and duration_s > 0:
        if start >= duration_s:
            return None
        end = min(end, duration_s)
    return Cue(round(start, 3), round(end, 3), words)


def read_sidecar(path: str | Path, *, max_mb: float | None = None,
                 duration_s: float | None = None) -> list[Cue]:
    """The cues of a sidecar file, checked by `check_sidecar` (inside its folder, at most
    `max_mb` MiB: else SubtitlesRefused); `duration_s` as for `parse_cues`."""
    real = check_sidecar(path, max_mb)
    try:  # the real path, never a link again (it could have been swapped for one)
        with open(os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb",
                  buffering=0) as handle:
            return parse_cues(_capped(handle, max_mb), duration_s=duration_s)
    except OSError as exc:
        raise VidqaError(f"cannot read subtitles '{path}': {exc.strerror}; check the file") \
            from None
    except _TooBig:  # it grew past the limit since it was checked
        raise SubtitlesRefused(_too_big(f"subtitles '{path}' grew", max_mb)) from None


def _read_log(stream, problems: LogProblems) -> None:
    for raw in stream:
        problems.feed(raw.decode("utf-8", "replace").rstrip())


def read_stream(info: VideoInfo, stream: StreamInfo, *, max_mb: float | None = None
                ) -> list[Cue]:
    """The cues of one text subtitle stream of the container, reading at most `max_mb` MiB of
    ffmpeg's SubRip (else SubtitlesRefused); cues past the video's end are dropped."""
    proc = subprocess.Popen(command([*input_args(info.path), "-map", f"0:{stream.index}",
                                     "-c:s", "srt", "-f", "srt", "pipe:"]),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    problems = LogProblems()
    drain = threading.Thread(target=_read_log, args=(proc.stderr, problems), daemon=True)
    drain.start()
    cues = None
    try:
        cues = parse_cues(_capped(proc.stdout, max_mb), duration_s=info.duration_s)
    except _TooBig:
        raise SubtitlesRefused(_too_big(f"subtitle stream #{stream.index} of '{info.path}' "
                                        "is larger", max_mb, it=True)) from None
    finally:
        if cues is None:  # over the limit, or stopped by an error: ffmpeg need not go on
            proc.kill()
        proc.stdout.close()
        code = proc.wait()
        drain.join(timeout=5)
    if code != 0:
        raise VidqaError(f"cannot read subtitle stream #{stream.index} of '{info.path}' "
                         f"({problems.summary}); pass --speech asr to transcribe the audio "
                         "instead")
    return cues
