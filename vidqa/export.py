"""Event-log writers: one class per format, in the manner of whisper's `ResultWriter` family.

Each writer has an `extension` and a `write(captions, file)` that puts every event of
`captions.events()` (time order) into an open text file. Calling a writer with an output
directory writes `<video stem>.<extension>` there atomically, or to stdout for "-":

    get_writer("srt", "out")(captions)   # out/talk.srt
    get_writer("all", "out")(captions)   # out/talk.json, out/talk.jsonl, ... one per format
    get_writer("txt", "-")(captions)     # stdout

Event text is kept on one line (newlines and tabs become spaces) in every format but JSON,
which holds the captions as they are.
"""

from __future__ import annotations

import csv
import html
import json
import os
import sys
from pathlib import Path
from typing import Callable, TextIO

from vidqa.caption import CaptionEvent, VideoCaptions
from vidqa.errors import VidqaError
from vidqa.store import atomic_open, output_folder, write_error
from vidqa.timecode import format_hms, format_srt, format_vtt


def _one_line(text: str) -> str:
    """`"a\\n b\\tc"` -> `"a b c"`: runs of whitespace of any kind become one space."""
    return " ".join(text.split())


def _cue_times(event: CaptionEvent) -> tuple[float, float]:
    """Start and end for a subtitle cue, the end at least 1 ms after the start."""
    start_ms = round(event.start_s * 1000)
    end_ms = max(round(event.end_s * 1000), start_ms + 1)
    return start_ms / 1000, end_ms / 1000


class EventWriter:
    """Base class: subclasses set `extension` and implement `write`."""

    extension: str

    def write(self, captions: VideoCaptions, file: TextIO) -> None:
        raise NotImplementedError

    def __call__(self, captions: VideoCaptions, output_dir: str | os.PathLike) -> Path | None:
        """Write `<video stem>.<extension>` into `output_dir` (created if needed) and return its
        path; with "-", write to stdout and return None."""
        if str(output_dir) == "-":
            self.write(captions, sys.stdout)
            return None
        directory = check_output_dir(output_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, directory, "the folder") from None
        path = directory / f"{Path(captions.video).stem}.{self.extension}"
        with atomic_open(path, newline="") as handle:
            self.write(captions, handle)
        return path


class WriteJSON(EventWriter):
    """The whole `VideoCaptions`: chunks with their summaries, and the sorted events."""

    extension = "json"

    def write(self, captions: VideoCaptions, file: TextIO) -> None:
        json.dump(captions.to_dict(), file, indent=1, ensure_ascii=False)
        file.write("\n")


class WriteJSONL(EventWriter):
    """One event per line: seconds and `HH:MM:SS.mmm` side by side."""

    extension = "jsonl"

    def write(self, captions: VideoCaptions, file: TextIO) -> None:
        for event in captions.events():
            record = {"start_s": event.start_s, "end_s": event.end_s,
                      "start": format_hms(event.start_s), "end": format_hms(event.end_s),
                      "text": _one_line(event.text)}
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


class WriteCSV(EventWriter):
    """`start_s,end_s,start,end,text`, seconds with three decimals, quoted where needed."""

    extension = "csv"

    def write(self, captions: VideoCaptions, file: TextIO) -> None:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["start_s", "end_s", "start", "end", "text"])
        for event in captions.events():
            writer.writerow([f"{event.start_s:.3f}", f"{event.end_s:.3f}", format_hms(event.start_s),
                             format_hms(event.end_s), _one_line(event.text)])


class WriteTSV(EventWriter):
    """whisper's TSV: `start<TAB>end<TAB>text` with integer milliseconds, for spreadsheets."""

    extension = "tsv"

    def write(self, captions: VideoCaptions, file: TextIO) -> None:
        file.write("start\tend\ttext\n")
        for event in captions.events():
            file.write(f"{round(event.start_s * 1000)}\t{round(event.end_s * 1000)}\t"
                       f"{_one_line(event.text)}\n")


class WriteSRT(EventWriter):
    """SubRip: cues numbered from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`.

    SRT has no escapes: players read `<...>` in text as a tag (use VTT for text as it is)."""

    extension = "srt"

    def write(self, captions: VideoCaptions, file: TextIO) -> None:
        for number, event in enumerate(captions.events(), start=1):
            start, end = _cue_times(event)
            file.write(f"{number}\n{format_srt(start)} --> {format_srt(end)}\n"
                       f"{_one_line(event.text)}\n\n")


class WriteVTT(EventWriter):
    """WebVTT: a `WEBVTT` header, cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`, `&<>` escaped."""

    extension = "vtt"

    def write(self, captions: VideoCaptions, file: TextIO) -> None:
        file.write("WEBVTT\n\n")
        for event in captions.events():
            start, end = _cue_times(event)
            text = html.escape(_one_line(event.text), quote=False)
            file.write(f"{format_vtt(start)} --> {format_vtt(end)}\n{text}\n\n")


class WriteTXT(EventWriter):
    """One line per event for people: `[HH:MM:SS.mmm --> HH:MM:SS.mmm] text`."""

    extension = "txt"

    def write(self, captions: VideoCaptions, file: TextIO) -> None:
        for event in captions.events():
            file.write(f"[{format_hms(event.start_s)} --> {format_hms(event.end_s)}] "
                       f"{_one_line(event.text)}\n")


WRITERS: dict[str, type[EventWriter]] = {
    cls.extension: cls
    for cls in (WriteJSON, WriteJSONL, WriteCSV, WriteTSV, WriteSRT, WriteVTT, WriteTXT)
}
FORMATS: tuple[str, ...] = tuple(WRITERS)


def check_output_dir(output_dir: str | os.PathLike) -> Path:
    """The folder -o names for event logs (see `vidqa.store.output_folder`)."""
    return output_folder(output_dir, "each log is written inside it as <video name>.<format>; "
                         "or - for stdout")


def get_writer(fmt: str, output_dir: str | os.PathLike) -> Callable[[VideoCaptions], list[Path]]:
    """A callable that writes captions in `fmt` ("all" for every format) into `output_dir`
    ("-" for stdout) and returns the paths written."""
    if fmt == "all":
        if str(output_dir) == "-":
            raise VidqaError("cannot write every format to stdout: pass -o DIR to write them "
                             "to a directory")
        writers = [cls() for cls in WRITERS.values()]
    elif fmt in WRITERS:
        writers = [WRITERS[fmt]()]
    else:
        raise VidqaError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)} or all")
    if str(output_dir) != "-":
        check_output_dir(output_dir)

    def write(captions: VideoCaptions) -> list[Path]:
        written = (writer(captions, output_dir) for writer in writers)
        return [path for path in written if path is not None]

    return write
