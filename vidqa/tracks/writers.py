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

Beside the log's lines, two families read what else the log carries: chapters (YouTube's
description lines and WebVTT chapters, from the run's scenes: `vidqa.tracks.chapters`) and edit
lists (a CMX 3600 EDL and an OpenTimelineIO timeline, at the file's frame rate:
`vidqa.tracks.edits`), of the event log or of search hits (`EventLog.of_hits`). A writer declares
what it needs beyond the segments (`needs`: "video", the probed file, read when the log lacks
it) and checks what it needs installed before any work (`check`). `-f all` writes the log's own
formats (`in_all`); the others are asked for by name.
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, TextIO

from vidqa.errors import VidqaError, one_line
from vidqa.model.asr_guards import compression_ratio
from vidqa.store import atomic_open, output_folder, write_error
from vidqa.timecode import Timed, format_hms, format_srt, format_vtt
from vidqa.tracks import edits
from vidqa.tracks.base import Segment, track_classes
from vidqa.tracks.chapters import chapters_of

if TYPE_CHECKING:  # the captions' module reads frames (PyAV): imported where it is used
    from vidqa.media.probe import VideoInfo
    from vidqa.model.captions import VideoCaptions


@dataclass
class EventLog:
    """The event log of one video: segments in time order, and the captions they came from."""

    video: str
    duration_s: float
    segments: list[Segment]
    captions: VideoCaptions | None = None  # chunk summaries, for the JSON document
    tracks: tuple[str, ...] = field(default_factory=tuple)
    info: VideoInfo | None = None  # the probed file (frame rate, picture, sound): edit lists
    scenes: list[Timed] = field(default_factory=list)  # the shots: chapters

    @classmethod
    def from_captions(cls, captions: VideoCaptions) -> EventLog:
        from vidqa.tracks.captions import segments_from

        events = [s for s in segments_from(captions) if s.kind == "event"]
        events.sort(key=lambda s: (s.start_s, s.end_s))
        return cls(captions.video, captions.duration_s, events, captions, ("captions",))

    @classmethod
    def of_hits(cls, found: list) -> list[EventLog]:
        """Search hits (`vidqa.search.find.Found`, best first) as one log per video, in the
        order their best hits rank: each hit a segment of its track (by its kind), its rank,
        score and pinned time (`time_s`) in `extras`. The length is the file's (read with its
        `info` by a writer that needs it)."""
        sources = {kind: cls_.name for cls_ in track_classes() for kind in cls_.kinds}
        videos: dict[str, list[Segment]] = {}
        for rank, hit in enumerate(found, 1):
            videos.setdefault(hit.video, []).append(Segment(
                hit.start_s, hit.end_s, hit.text, sources.get(hit.kind, hit.kind), hit.kind,
                {"time_s": hit.time_s, "score": hit.score, "rank": rank}))
        return [cls(video, 0.0, segments) for video, segments in videos.items()]

    def to_dict(self) -> dict:
        captions = self.captions
        return {"video": self.video, "model": captions.model if captions else None,
                "duration_s": self.duration_s, "tracks": list(self.tracks),
                "chunks": [c.to_dict() for c in captions.chunks] if captions else [],
                "events": [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text,
                            "source": s.source, "kind": s.kind} for s in self.segments]}


def _log(log: EventLog | VideoCaptions) -> EventLog:
    return log if isinstance(log, EventLog) else EventLog.from_captions(log)


def _cue_times(event: Timed) -> tuple[float, float]:
    """Start and end for a subtitle cue, the end at least 1 ms after the start."""
    start_ms = round(event.start_s * 1000)
    end_ms = max(round(event.end_s * 1000), start_ms + 1)
    return start_ms / 1000, end_ms / 1000


class EventWriter:
    """Base class: subclasses set `extension` and implement `write`; they may declare `needs`
    ("video": the probed file), `check` what they need installed, and leave `-f all`."""

    extension: str
    needs: ClassVar[frozenset[str]] = frozenset()
    in_all: ClassVar[bool] = True  # written by `-f all`

    @classmethod
    def check(cls) -> None:
        """Raise a VidqaError naming what to install when the format cannot be written here."""

    def write(self, log: EventLog, file: TextIO) -> None:
        raise NotImplementedError

    def ready(self, log: EventLog) -> EventLog:
        """The log with what this writer `needs`: the probed file when it lacks it."""
        if "video" in self.needs and log.info is None:
            from vidqa.media.probe import probe

            info = probe(log.video)
            log = replace(log, info=info, duration_s=log.duration_s or info.duration_s or 0.0)
        return log

    def __call__(self, log: EventLog | VideoCaptions,
                 output_dir: str | os.PathLike) -> Path | None:
        """Write `<video stem>.<extension>` into `output_dir` (created if needed) and return its
        path; with "-", write to stdout and return None."""
        log = self.ready(_log(log))
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
            writer.writerow([f"{event.start_s:.3f}", f"{event.end_s:.3f}",
                             format_hms(event.start_s), format_hms(event.end_s), event.source,
                             one_line(event.text)])


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


class WriteChapters(EventWriter):
    """YouTube's chapters, for a video's description: `MM:SS Title` a line (`HH:MM:SS` for a
    video of an hour or more), whole seconds, the first at 00:00, each at least 10 s long."""

    extension = "chapters.txt"
    in_all = False

    def write(self, log: EventLog, file: TextIO) -> None:
        hours = log.duration_s >= 3600
        for chapter in chapters_of(log):
            h, rest = divmod(int(math.floor(chapter.start_s + 1e-6)), 3600)
            stamp = f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}" if hours else \
                f"{rest // 60 + h * 60:02d}:{rest % 60:02d}"
            file.write(f"{stamp} {one_line(chapter.title)}\n")


class WriteChaptersVTT(EventWriter):
    """WebVTT chapters, for `<track kind="chapters">`: a `WEBVTT` header, one cue a chapter
    (`HH:MM:SS.mmm --> HH:MM:SS.mmm`, to the next chapter or the end), its title, `&<>`
    escaped."""

    extension = "chapters.vtt"
    in_all = False

    def write(self, log: EventLog, file: TextIO) -> None:
        file.write("WEBVTT\n\n")
        for chapter in chapters_of(log):
            start, end = _cue_times(chapter)
            title = html.escape(one_line(chapter.title), quote=False)
            file.write(f"{format_vtt(start)} --> {format_vtt(end)}\n{title}\n\n")


class WriteEDL(EventWriter):
    """A CMX 3600 EDL: one event a segment, at the file's frame rate (drop-frame at 29.97 and
    59.94), laid end to end from 01:00:00:00, the text as a locator (`vidqa.tracks.edits`)."""

    extension = "edl"
    in_all = False
    needs = frozenset({"video"})

    def write(self, log: EventLog, file: TextIO) -> None:
        rate, start = edits.source_clock(log.info)
        file.write(edits.edl_text(log, log.info, rate, start))


class WriteOTIO(EventWriter):
    """An OpenTimelineIO timeline (`.otio` JSON, by OpenTimelineIO's own adapter): a track of
    clips of the file, each with a marker holding its text (`vidqa.tracks.edits`)."""

    extension = "otio"
    in_all = False
    needs = frozenset({"video"})

    @classmethod
    def check(cls) -> None:
        edits.check_otio()

    def write(self, log: EventLog, file: TextIO) -> None:
        rate, start = edits.source_clock(log.info)
        file.write(edits.otio_text(log, log.info, rate, start))


class WriteTranscriptTXT(EventWriter):
    """whisper's TXT: what was said, one segment per line, no times."""

    extension = "txt"

    def write(self, log: EventLog, file: TextIO) -> None:
        for segment in log.segments:
            file.write(one_line(segment.text) + "\n")


class WriteTranscriptJSON(EventWriter):
    """whisper's JSON: what `whisper.transcribe()` returns and its `WriteJSON` dumps, so that
    whisper's writers, faster-whisper's `Segment`/`Word` and whisperX's `align()` read it.

    Top level: `text` (the segments' texts joined), `segments`, `language` (the most common
    segment language, the first heard among equals; null when none is known). Each segment:
    `id` (from 0), `seek`, `start`, `end` (seconds), `text`, `tokens`, `temperature`,
    `avg_logprob`, `compression_ratio`, `no_speech_prob`, and `words` ({`word`, `start`, `end`,
    `probability`}). Texts are on one line, and segments and words have whisper's leading space
    (`" Hello"`: whisper's subtitle writers join the words as they are), except in the languages
    whisper writes without spaces (`UNSPACED_LANGUAGES`); a word's space is read from its
    segment's text where the word is found there.

    What vidqa does not keep is written as whisper's value for "none": `tokens` [] (as whisper
    writes for a segment it cleared), and null for `seek`, `temperature`, `avg_logprob`,
    `no_speech_prob` and a word's `probability` when recognition did not give one (whisper's
    `DecodingResult` defaults are NaN, which strict JSON writes as null). `compression_ratio` is
    whisper's `compression_ratio()` of the segment's own text (whisper's is of its 30-s window).

    `words` is on every segment when any has word times (whisper's `word_timestamps=True`;
    [] for one without, which whisper's subtitle writers then skip, as they skip whisper's own)
    and on none otherwise (subtitles: whisper's writers then cue each segment whole; [] on
    every segment would leave them nothing to write). vidqa's own keys come after whisper's:
    `video` and `duration_s` at the top, and per segment `from` (the subtitle stream, the
    sidecar file, or the model that heard it) and `language` when known."""

    extension = "json"

    def write(self, log: EventLog, file: TextIO) -> None:
        language = _most_common_language(log.segments)
        timed = any(s.extras.get("words") for s in log.segments)
        segments = [_whisper_segment(i, s, language, timed) for i, s in enumerate(log.segments)]
        json.dump({"text": "".join(s["text"] for s in segments), "segments": segments,
                   "language": language, "video": log.video, "duration_s": log.duration_s},
                  file, indent=1, ensure_ascii=False)
        file.write("\n")


# Languages whisper writes without spaces between words (whisper/tokenizer.py
# `split_to_word_tokens`): no leading space on their segments and words.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


def _most_common_language(segments: list[Segment]) -> str | None:
    counts = Counter(s.extras["language"] for s in segments if s.extras.get("language"))
    return counts.most_common(1)[0][0] if counts else None


def _whisper_segment(index: int, segment: Segment, language: str | None, timed: bool) -> dict:
    said = one_line(segment.text)
    own_language = segment.extras.get("language")
    spaced = (own_language or language) not in UNSPACED_LANGUAGES
    out = {"id": index, "seek": None, "start": segment.start_s, "end": segment.end_s,
           "text": " " + said if spaced and said else said, "tokens": [],
           "temperature": None, "avg_logprob": None,
           "compression_ratio": compression_ratio(said),
           "no_speech_prob": None}
    if timed:
        out["words"] = _whisper_words(segment.extras.get("words") or [], said, spaced)
    out["from"] = segment.extras.get("from", segment.source)
    if own_language:
        out["language"] = own_language
    return out


def _whisper_words(words: list, said: str, spaced: bool) -> list[dict]:
    """vidqa's [start_s, end_s, word] or [start_s, end_s, word, probability] as whisper's
    words, each with the space before it in `said` (the first: `spaced`)."""
    out, at = [], 0
    for start_s, end_s, word, *rest in words:
        text = one_line(word)
        if not text:
            continue
        found = said.find(text, at)
        space = said[found - 1] == " " if found > 0 else spaced
        at = found + len(text) if found >= 0 else at
        probability = rest[0] if rest else None
        if probability is not None and not math.isfinite(probability):
            probability = None
        out.append({"word": " " + text if space else text, "start": start_s, "end": end_s,
                    "probability": probability})
    return out


WRITERS: dict[str, type[EventWriter]] = {
    cls.extension: cls
    for cls in (WriteJSON, WriteJSONL, WriteCSV, WriteTSV, WriteSRT, WriteVTT, WriteTXT)
}
FORMATS: tuple[str, ...] = tuple(WRITERS)
# Edit lists: of search hits (`vidqa find -f`) and of the event log.
EDIT_WRITERS: dict[str, type[EventWriter]] = {"edl": WriteEDL, "otio": WriteOTIO}
# `vidqa events -f`: the log's own formats, then chapters and edit lists, by name.
EVENT_WRITERS: dict[str, type[EventWriter]] = {
    **WRITERS, "chapters": WriteChapters, "chapters.vtt": WriteChaptersVTT, **EDIT_WRITERS}
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
        chosen = [cls() for cls in writers.values() if cls.in_all]
    elif fmt in writers:
        chosen = [writers[fmt]()]
    else:
        raise VidqaError(f"unknown export format {fmt!r}: choose one of {', '.join(writers)} or "
                         "all")
    if str(output_dir) != "-":
        check_output_dir(output_dir)
    for writer in chosen:
        writer.check()

    def write(log: EventLog | VideoCaptions) -> list[Path]:
        written = (writer(log, output_dir) for writer in chosen)
        return [path for path in written if path is not None]

    return write


def write_hits(found: list, fmt: str, output_dir: str | os.PathLike,
               writers: dict[str, type[EventWriter]] = EDIT_WRITERS) -> list[Path]:
    """Search hits (best first) in `fmt`, one file per video (`<video stem>.<ext>`, an edit
    list holds one source), or to stdout ("-") when they are of one video. The paths written."""
    write = get_writer(fmt, output_dir, writers)
    logs = EventLog.of_hits(found)
    if str(output_dir) == "-" and len(logs) > 1:
        raise VidqaError(f"the hits are in {len(logs)} videos and a {fmt} file holds one: pass "
                         "-o DIR to write one file per video")
    stems: dict[str, str] = {}
    for log in logs:
        other = stems.setdefault(Path(log.video).stem, log.video)
        if other != log.video:
            raise VidqaError(f"'{other}' and '{log.video}' would both be written as "
                             f"{Path(other).stem}.{fmt}: search them one at a time, each with "
                             "its own -o DIR")
    return [path for log in logs for path in write(log)]
