"""Subtitles a file already carries: a text subtitle stream in the container (mov_text, subrip,
ass, webvtt) or a sidecar `.srt` / `.vtt` beside the video.

A container stream is converted by the bundled ffmpeg to SubRip on a pipe (ffmpeg gives its
times on the file's own timeline, seconds since the container's start); a sidecar is read as
it is. Either way the result is `Cue(start_s, end_s, text)`, half-open, in time order, with
markup (`<i>`, `{\\an8}`), speaker labels and line breaks flattened to one line of text.
"""

from __future__ import annotations

import glob
import html
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vidqa.errors import VidqaError, one_line
from vidqa.media.ffmpeg import command, input_args, log_problems
from vidqa.media.probe import StreamInfo, VideoInfo
from vidqa.timecode import Timed

TEXT_CODECS = ("mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text")
SIDECAR_SUFFIXES = (".srt", ".vtt")
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})"
_CUE = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAGS = re.compile(r"<[^>]+>|\{\\[^}]*\}")


@dataclass(frozen=True)
class Cue(Timed):
    start_s: float
    end_s: float
    text: str


def text_streams(info: VideoInfo) -> list[StreamInfo]:
    """The container's text subtitle streams (bitmap ones, PGS or DVB, carry no text)."""
    return [s for s in info.streams if s.kind == "subtitle" and (s.codec or "") in TEXT_CODECS]


_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")


def sidecar(info: VideoInfo, folder: str | Path | None = None) -> Path | None:
    """`talk.srt` or `talk.vtt` beside `talk.mp4`, else one with a language tag
    (`talk.en.srt`, `talk.pt-BR.vtt`), if there is one; then the same names in `folder` (a
    benchmark's subtitle folder). `talk.part2.srt` belongs to another video and is not taken."""
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


def _seconds(h, m, s, ms) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_cues(text: str) -> list[Cue]:
    """SubRip or WebVTT text as cues: each cue's time line, then its text up to a blank line."""
    cues: list[Cue] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        match = _CUE.match(lines[i])
        i += 1
        if not match:
            continue
        start, end = _seconds(*match.groups()[:4]), _seconds(*match.groups()[4:])
        body = []
        while i < len(lines) and lines[i].strip():
            body.append(lines[i])
            i += 1
        words = one_line(html.unescape(_TAGS.sub("", " ".join(body)).replace("\\N", " ")))
        if words and end >= start:
            cues.append(Cue(round(start, 3), round(end, 3), words))
    return sorted(cues, key=lambda c: (c.start_s, c.end_s))


def read_sidecar(path: Path) -> list[Cue]:
    try:
        return parse_cues(path.read_bytes().decode("utf-8-sig", "replace"))
    except OSError as exc:
        raise VidqaError(f"cannot read subtitles '{path}': {exc.strerror}; check the file") \
            from None


def read_stream(info: VideoInfo, stream: StreamInfo) -> list[Cue]:
    """The cues of one text subtitle stream of the container."""
    proc = subprocess.run(command([*input_args(info.path), "-map", f"0:{stream.index}",
                                   "-c:s", "srt", "-f", "srt", "pipe:"]),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        why = log_problems(proc.stderr.decode("utf-8", "replace")).summary
        raise VidqaError(f"cannot read subtitle stream #{stream.index} of '{info.path}' "
                         f"({why}); pass --speech asr to transcribe the audio instead")
    return parse_cues(proc.stdout.decode("utf-8", "replace"))
