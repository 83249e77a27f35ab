"""Event-log writers: every format against its golden file, byte for byte, and ffmpeg's reading.

The golden files live in tests/golden/events.<format>. After a deliberate change of format,
regenerate them and read the diff before keeping it:

    VIDQA_UPDATE_GOLDEN=1 python3 -m pytest -q tests/tracks/test_export.py
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from vidqa.tracks import writers as export
from vidqa.model.captions import CaptionEvent, ChunkCaption, VideoCaptions
from vidqa.errors import CacheError, VidqaError
from vidqa.tracks.base import Segment, in_order
from vidqa.tracks.captions import segments_from
from vidqa.tracks.writers import FORMATS, EventLog, get_writer
from vidqa.media.ffmpeg import ffmpeg_exe

from helpers import GOLDEN

UPDATE = os.environ.get("VIDQA_UPDATE_GOLDEN") == "1"


@pytest.fixture
def captions() -> VideoCaptions:
    """An hour-long video in two chunks; events out of order, one of zero length."""
    first = ChunkCaption(0, 0.0, 1875.6, "A lobby, then a meeting room.", model="test-vlm", events=[
        CaptionEvent(12.25, 15.0, "Café sign: ¿Dónde?"),
        CaptionEvent(61.0, 61.0, "Door slams"),
        CaptionEvent(1200.125, 1204.0, 'Presenter says "next slide, please"'),
    ])
    second = ChunkCaption(1, 1875.6, 3751.2, "Slides, then an alarm.", model="test-vlm", events=[
        CaptionEvent(3723.5, 3726.75, "Slide title: Q3 results\nSubtitle: draft & <internal>"),
        CaptionEvent(3701.0, 3705.333, "Fire alarm test"),
    ])
    return VideoCaptions("events.mp4", "test-vlm", 3751.2, [first, second])


@pytest.fixture
def log(captions) -> EventLog:
    """The captions' events and two lines of on-screen text, as `vidqa events` passes them."""
    ocr = [Segment(0.0, 12.0, "Lobby — Floor 3", "ocr", "text", {"score": 0.97}),
           Segment(3700.0, 3751.2, "FIRE EXIT", "ocr", "text", {"score": 0.91})]
    events = [s for s in segments_from(captions) if s.kind == "event"]
    return EventLog("events.mp4", 3751.2, in_order(ocr + events), captions, ("ocr", "captions"))


def _check_golden(path: Path) -> None:
    golden = GOLDEN / path.name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_bytes(path.read_bytes())
    assert path.read_bytes() == golden.read_bytes(), f"{path.name} differs from {golden}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_matches_golden(fmt, log, tmp_path):
    assert get_writer(fmt, tmp_path)(log) == [tmp_path / f"events.{fmt}"]
    _check_golden(tmp_path / f"events.{fmt}")


def test_all_writes_every_format(log, tmp_path):
    out = tmp_path / "new" / "dir"
    written = get_writer("all", str(out))(log)
    assert sorted(p.name for p in written) == sorted(f"events.{fmt}" for fmt in FORMATS)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"events.{fmt}" for fmt in FORMATS)
    for path in written:
        assert path.read_bytes() == (GOLDEN / path.name).read_bytes()


def test_dash_writes_to_stdout(log, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert get_writer("txt", "-")(log) == []
    assert capsys.readouterr().out == (GOLDEN / "events.txt").read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == []


def test_captions_alone_are_a_log_of_their_events(captions, capsys):
    get_writer("csv", "-")(captions)
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "start_s,end_s,start,end,source,text"
    assert len(rows) == 1 + len(captions.events())
    assert all(",captions," in row for row in rows[1:])


def test_bad_requests_say_the_fix():
    with pytest.raises(VidqaError, match="pass -o DIR"):
        get_writer("all", "-")
    with pytest.raises(VidqaError, match="json, jsonl, csv, tsv, srt, vtt, txt or all"):
        get_writer("docx", "out")


def _ffmpeg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_ffmpeg_reads_subtitles(fmt, log, tmp_path):
    path = get_writer(fmt, tmp_path)(log)[0]
    # The null muxer has no default subtitle encoder ("Output file does not contain any
    # stream"), so name one: decoding every cue is the point.
    proc = _ffmpeg("-i", str(path), "-c:s", "ass", "-f", "null", "-")
    assert (proc.returncode, proc.stderr) == (0, "")


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_ffmpeg_converts_every_cue(fmt, log, tmp_path):
    path = get_writer(fmt, tmp_path)(log)[0]
    ass = tmp_path / "events.ass"
    proc = _ffmpeg("-i", str(path), str(ass))
    assert (proc.returncode, proc.stderr) == (0, "")
    dialogues = [line for line in ass.read_text(encoding="utf-8").splitlines()
                 if line.startswith("Dialogue:")]
    assert len(dialogues) == len(log.segments)
    assert dialogues[0].endswith(",Lobby — Floor 3") and dialogues[1].endswith(",Café sign: ¿Dónde?")
    if fmt == "vtt":  # escaped, so it comes back whole; SRT has no escapes and loses "<internal>"
        assert dialogues[-1].endswith(",Slide title: Q3 results Subtitle: draft & <internal>")


def test_failed_write_leaves_old_file_and_no_temporary(captions, tmp_path, monkeypatch):
    target = tmp_path / "events.srt"
    target.write_text("old\n", encoding="utf-8")

    def half_then_fail(self, captions, file):
        file.write("1\n00:00:12,250 --> ")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export.WriteSRT, "write", half_then_fail)
    with pytest.raises(CacheError, match="disk is full") as info:
        get_writer("srt", tmp_path)(captions)
    assert str(target) in str(info.value) and "free space" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["events.srt"]
    assert target.read_text(encoding="utf-8") == "old\n"

    target.unlink()
    with pytest.raises(CacheError, match="disk is full"):
        get_writer("srt", tmp_path)(captions)
    assert list(tmp_path.iterdir()) == []
