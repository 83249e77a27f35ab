"""Event-log writers: one class per format, in the manner of whisper's `ResultWriter` family.

An `EventLog` is what happens in one video, from every track chosen: its segments in time order,
each with its `source` (the track: "ocr", "captions", ...). Each writer has an `extension` and a
`write(log, file)` that puts every segment into an open text file. Calling a writer with an output
directory writes `<video stem>.<extension>` there atomically, or to stdout for "-":

    get_writer("srt", "out")(log)   # out/talk.srt
    get_writer("all", "out")(log)   # out/talk.json, out/talk.jsonl, ... one per format
    get_writer("txt", "-")(log)     # stdout

The tabular formats (JSONL, CSV, TSV, TXT) name each line's source; the subtitle formats (SRT,
VTT) hold the text alone, as players show it. Text is kept on one line (newlines and tabs become
spaces) in every format but JSON, which holds the segments as they are, and the chunk summaries
when the captions track is in the log. Writers take `VideoCaptions` too (their events).
"""

from __future__ import annotations

import csv
import html
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from vidqa.errors import VidqaError, one_line
from vidqa.model.captions import VideoCaptions
from vidqa.store import atomic_open, output_folder, write_error
from vidqa.timecode import Timed, format_hms, format_srt, format_vtt
from vidqa.tracks.base import Segment
from vidqa.tracks.captions import segments_from


@dataclass
class EventLog:
    """The event log of one video: segments in time order, and the captions they came from."""

    video: str
    duration_s: float
    segments: list[Segment]
    captions: VideoCaptions | None = None  # chunk summaries, for the JSON document
    tracks: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_captions(cls, captions: VideoCaptions) -> EventLog:
        events = [s for s in segments_from(captions) if s.kind == "event"]
        events.sort(key=lambda s: (s.start_s, s.end_s))
        return cls(captions.video, captions.duration_s, events, captions, ("captions",))

    def to_dict(self) -> dict:
        captions = self.captions
        return {"video": self.video, "model": captions.model if captions else None,
                "duration_s": self.duration_s, "tracks": list(self.tracks),
                "chunks": [c.to_dict() for c in captions.chunks] if captions else [],
                "events": [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text,
                            "source": s.source, "kind": s.kind} for s in self.segments]}


def _log(log: EventLog | VideoCaptions) -> EventLog:
    return EventLog.from_captions(log) if isinstance(log, VideoCaptions) else log


def _cue_times(event: Timed) -> tuple[float, float]:
    """Start and end for a subtitle cue, the end at least 1 ms after the start."""
    start_ms = round(event.start_s * 1000)
    end_ms = max(round(event.end_s * 1000), start_ms + 1)
    return start_ms / 1000, end_ms / 1000


class EventWriter:
    """Base class: subclasses set `extension` and implement `write`."""

    extension: str

    def write(self, log: EventLog, file: TextIO) -> None:
        raise NotImplementedError

    def __call__(self, log: EventLog | VideoCaptions,
                 output_dir: str | os.PathLike) -> Path | None:
        """Write `<video stem>.<extension>` into `output_dir` (created if needed) and return its
        path; with "-", write to stdout and return None."""
        log = _log(log)
        if str(output_dir) == "-":
            self.write(log, sys.stdout)
            return None
        directory = check_output_dir(output_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, directory, "the folder") from None
        path = directory / f"{Path(log.video).stem}.{self.extension}"
        with atomic_open(path, newline="") as handle:
            self.write(log, handle)
        return path


class WriteJSON(EventWriter):
    """The whole log: the segments with their source and kind, and the chunk summaries."""

    extension = "json"

    def write(self, log: EventLog, file: TextIO) -> None:
        json.dump(log.to_dict(), file, indent=1, ensure_ascii=False)
        file.write("\n")


class WriteJSONL(EventWriter):
    """One segment per line: seconds and `HH:MM:SS.mmm` side by side, its source, its text."""

    extension = "jsonl"

    def write(self, log: EventLog, file: TextIO) -> None:
        for event in log.segments:
            record = {"start_s": event.start_s, "end_s": event.end_s,
                      "start": format_hms(event.start_s), "end": format_hms(event.end_s),
                      "source": event.source, "text": one_line(event.text)}
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


class WriteCSV(EventWriter):
    """`start_s,end_s,start,end,source,text`, seconds with three decimals, quoted where
    needed."""

    extension = "csv"

    def write(self, log: EventLog, file: TextIO) -> None:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["start_s", "end_s", "start", "end", "source", "text"])
        for event in log.segments:
            writer.writerow([f"{event.start_s:.3f}", f"{event.end_s:.3f}", format_hms(event.start_s),
                             format_hms(event.end_s), event.source, one_line(event.text)])


class WriteTSV(EventWriter):
    """whisper's TSV with a source column: `start<TAB>end<TAB>source<TAB>text`, integer
    milliseconds, for spreadsheets."""

    extension = "tsv"

    def write(self, log: EventLog, file: TextIO) -> None:
        file.write("start\tend\tsource\ttext\n")
        for event in log.segments:
            file.write(f"{round(event.start_s * 1000)}\t{round(event.end_s * 1000)}\t"
                       f"{event.source}\t{one_line(event.text)}\n")


class WriteSRT(EventWriter):
    """SubRip: cues numbered from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`.

    SRT has no escapes: players read `<...>` in text as a tag (use VTT for text as it is)."""

    extension = "srt"

    def write(self, log: EventLog, file: TextIO) -> None:
        for number, event in enumerate(log.segments, start=1):
            start, end = _cue_times(event)
            file.write(f"{number}\n{format_srt(start)} --> {format_srt(end)}\n"
                       f"{one_line(event.text)}\n\n")


class WriteVTT(EventWriter):
    """WebVTT: a `WEBVTT` header, cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`, `&<>` escaped."""

    extension = "vtt"

    def write(self, log: EventLog, file: TextIO) -> None:
        file.write("WEBVTT\n\n")
        for event in log.segments:
            start, end = _cue_times(event)
            text = html.escape(one_line(event.text), quote=False)
            file.write(f"{format_vtt(start)} --> {format_vtt(end)}\n{text}\n\n")


class WriteTXT(EventWriter):
    """One line per segment for people: `[HH:MM:SS.mmm --> HH:MM:SS.mmm] source: text`."""

    extension = "txt"

    def write(self, log: EventLog, file: TextIO) -> None:
        for event in log.segments:
            file.write(f"[{format_hms(event.start_s)} --> {format_hms(event.end_s)}] "
                       f"{event.source}: {one_line(event.text)}\n")


class WriteTranscriptTXT(EventWriter):
    """whisper's TXT: what was said, one segment per line, no times."""

    extension = "txt"

    def write(self, log: EventLog, file: TextIO) -> None:
        for segment in log.segments:
            file.write(one_line(segment.text) + "\n")


class WriteTranscriptJSON(EventWriter):
    """Laid out as whisper's JSON (the whole text, then each segment with its words), with
    vidqa's names: `start_s`/`end_s` in seconds, and `from` (the subtitle stream, the sidecar
    file, or the model that heard it); words only when recognised."""

    extension = "json"

    def write(self, log: EventLog, file: TextIO) -> None:
        segments = [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text,
                     "from": s.extras.get("from", s.source),
                     "words": [{"start_s": w[0], "end_s": w[1], "word": w[2]}
                               for w in s.extras.get("words", [])]} for s in log.segments]
        json.dump({"video": log.video, "duration_s": log.duration_s,
                   "text": " ".join(one_line(s.text) for s in log.segments),
                   "segments": segments}, file, indent=1, ensure_ascii=False)
        file.write("\n")


WRITERS: dict[str, type[EventWriter]] = {
    cls.extension: cls
    for cls in (WriteJSON, WriteJSONL, WriteCSV, WriteTSV, WriteSRT, WriteVTT, WriteTXT)
}
FORMATS: tuple[str, ...] = tuple(WRITERS)
# `vidqa transcript`: what was said, in whisper's formats.
TRANSCRIPT_WRITERS: dict[str, type[EventWriter]] = {
    cls.extension: cls for cls in (WriteSRT, WriteVTT, WriteTranscriptTXT, WriteTranscriptJSON)
}


def check_output_dir(output_dir: str | os.PathLike) -> Path:
    """The folder -o names for event logs (see `vidqa.store.output_folder`)."""
    return output_folder(output_dir, "each log is written inside it as <video name>.<format>; "
                         "or - for stdout")


def get_writer(fmt: str, output_dir: str | os.PathLike,
               writers: dict[str, type[EventWriter]] = WRITERS,
               ) -> Callable[[EventLog | VideoCaptions], list[Path]]:
    """A callable that writes an event log in `fmt` ("all" for every format) into `output_dir`
    ("-" for stdout) and returns the paths written. `writers`: the family of formats (the
    event log's, or `TRANSCRIPT_WRITERS`)."""
    if fmt == "all":
        if str(output_dir) == "-":
            raise VidqaError("cannot write every format to stdout: pass -o DIR to write them "
                             "to a directory")
        chosen = [cls() for cls in writers.values()]
    elif fmt in writers:
        chosen = [writers[fmt]()]
    else:
        raise VidqaError(f"unknown export format {fmt!r}: choose one of {', '.join(writers)} or "
                         "all")
    if str(output_dir) != "-":
        check_output_dir(output_dir)

    def write(log: EventLog | VideoCaptions) -> list[Path]:
        written = (writer(log, output_dir) for writer in chosen)
        return [path for path in written if path is not None]

    return write
