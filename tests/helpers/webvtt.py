"""A strict WebVTT reader for the tests, from the W3C WebVTT spec's parsing rules, for files of
chapters (`<track kind="chapters">`: HTML's "WebVTT file using chapter title text").

    cues = read_chapters(text)     # [(start_s, end_s, title), ...], titles unescaped

It holds a file to: the `WEBVTT` signature line, then a blank line; cues separated by blank
lines, each an optional identifier (without `-->`), a timing line `[HH:]MM:SS.mmm -->
[HH:]MM:SS.mmm` (minutes and seconds under 60, exactly three decimals), and one or more
non-empty lines of chapter title text: no `-->`, no tags (`<`), every `&` an escape
(`&amp;`, `&lt;`, `&gt;` and the like). Chapters: start before end, in time order, none
overlapping the one before.
"""

from __future__ import annotations

import html
import re

_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_TIMING = re.compile(rf"^{_TIME} --> {_TIME}(?:[ \t]+.*)?$")
_ESCAPE = re.compile(r"&(?:amp|lt|gt|lrm|rlm|nbsp);")


class VTTError(ValueError):
    pass


def _seconds(hours, minutes, seconds, millis) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def read_chapters(text: str) -> list[tuple[float, float, str]]:
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = text.split("\n\n")
    header = blocks[0].split("\n")
    if not re.fullmatch(r"WEBVTT(?:[ \t].*)?", header[0]):
        raise VTTError("the file must start with the line WEBVTT")
    cues: list[tuple[float, float, str]] = []
    for block in blocks[1:]:
        lines = [line for line in block.split("\n")]
        while lines and lines[-1] == "":
            lines.pop()
        if not lines:
            continue
        if "-->" not in lines[0]:
            lines = lines[1:]  # the cue's identifier
            if not lines:
                raise VTTError("a cue identifier with no timing line after it")
        match = _TIMING.match(lines[0])
        if not match:
            raise VTTError(f"not a cue timing line: {lines[0]!r}")
        groups = match.groups()
        start, end = _seconds(*groups[:4]), _seconds(*groups[4:])
        payload = lines[1:]
        if not payload or any(not line.strip() for line in payload):
            raise VTTError(f"the cue at {lines[0]!r} has no text")
        for line in payload:
            if "-->" in line or "<" in line:
                raise VTTError(f"chapter title text holds '-->' or a tag: {line!r}")
            if "&" in _ESCAPE.sub("", line):
                raise VTTError(f"an '&' that is not an escape: {line!r}")
        if not start < end:
            raise VTTError(f"a chapter that ends before it starts: {lines[0]!r}")
        if cues and start < cues[-1][1]:
            raise VTTError(f"a chapter that overlaps the one before: {lines[0]!r}")
        cues.append((start, end, html.unescape("\n".join(payload))))
    return cues
