"""Time text: formatting and parsing."""

from __future__ import annotations

import pytest

from vidqa.timecode import TimeRange, Timed, format_hms, format_srt, parse_time


def test_timecode_round_trip():
    assert format_hms(3723.5) == "01:02:03.500"
    assert format_srt(0.0015) == "00:00:00,002"
    assert format_hms(59.9996) == "00:01:00.000"
    assert parse_time("1:02:03.5") == 3723.5
    assert parse_time("62:03") == 3723.0
    assert parse_time("3723.5s") == 3723.5
    assert parse_time(12) == 12.0
    with pytest.raises(ValueError, match="cannot read"):
        parse_time("yesterday")


def test_time_ranges_are_half_open():
    r = TimeRange(1.0, 3.0)
    assert r.contains(1.0) and r.contains(2.999) and not r.contains(3.0)
    assert r.contains(3.4, tolerance_s=0.5) and not r.contains(0.4, tolerance_s=0.5)
    assert r.overlaps(TimeRange(2.9, 4.0)) and not r.overlaps(TimeRange(3.0, 4.0))
    assert not TimeRange(0.0, 1.0).overlaps(r)  # ranges that touch share no time
    assert TimeRange(2.0, 2.0).overlaps(r) and not TimeRange(3.0, 3.0).overlaps(r)
    assert TimeRange(2.0, 2.0).contains(2.0)  # an instant holds its own time
    assert r.covers(TimeRange(1.0, 3.0)) and not r.covers(TimeRange(0.5, 2.0))
    assert r.length_s == 2.0
    assert str(r) == "00:00:01.000-00:00:03.000"
    for start, end in ((2.0, 1.0), (0.0, float("inf")), (float("nan"), 1.0)):
        with pytest.raises(ValueError, match="start_s <= end_s"):
            TimeRange(start, end)


def test_every_class_with_a_time_span_is_timed():
    """Scenes, chunks, caption events, chunk captions, citations, index entries, hits, text
    lines, segments, needles in haystacks, events of generated footage: one range type."""
    from vidqa.evaluation.haystack import Cell
    from vidqa.evaluation.synth import Event
    from vidqa.keyframes.chunking import Chunk
    from vidqa.keyframes.selection import Scene
    from vidqa.model.answers import Citation
    from vidqa.model.captions import CaptionEvent, ChunkCaption
    from vidqa.search.find import Found
    from vidqa.search.index import Entry
    from vidqa.tracks.base import Segment
    from vidqa.tracks.ocr import TextLine

    for cls in (Scene, Chunk, CaptionEvent, ChunkCaption, Citation, Entry, Found, TextLine,
                Event, Cell, Segment):
        assert issubclass(cls, Timed), cls
    hit = Found("v.mp4", "text", 10.0, 12.0, "EXIT", 0.9)
    chunk = Chunk(0, 8.0, 10.0)
    assert hit.range == TimeRange(10.0, 12.0) and not chunk.overlaps(hit)
    assert Scene(0, 9.0, 11.0).overlaps(hit) and not chunk.contains(hit.start_s)
