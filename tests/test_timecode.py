"""Time text: formatting and parsing."""

from __future__ import annotations

import dataclasses

import pytest

from helpers.extras import modules
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


def _time_spans() -> list[type]:
    """Every dataclass of vidqa whose fields hold a time span (`start_s` and `end_s`)."""
    import vidqa

    found = {}
    for module in modules(vidqa, skip=("vidqa.__main__",)):  # __main__ runs the CLI
        for obj in vars(module).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) \
                    and obj.__module__ == module.__name__:
                names = {f.name for f in dataclasses.fields(obj)}
                if {"start_s", "end_s"} <= names or issubclass(obj, Timed):
                    found[_name(obj)] = obj
    return [found[name] for name in sorted(found)]


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_every_class_with_a_time_span_is_timed():
    """Scenes, chunks, caption events, chunk captions, citations, index entries, hits, text
    lines and their clock readings, segments, subtitle cues, recognised speech, timeline items,
    needles in haystacks, events and lines of generated footage: one range type. Found by
    walking every module, so a new class with a span is checked without being listed here."""
    spans = _time_spans()
    names = {cls.__name__ for cls in spans}
    assert {"Scene", "Chunk", "CaptionEvent", "Segment", "Found", "TextLine"} <= names, names
    untimed = [_name(cls) for cls in spans if not issubclass(cls, Timed)]
    assert not untimed, f"spans that are not Timed: {untimed}"
    unnamed = [_name(cls) for cls in spans  # a Timed class names its span as Timed reads it
               if not {"start_s", "end_s"} <= {f.name for f in dataclasses.fields(cls)}]
    assert not unnamed, f"Timed without start_s and end_s fields: {unnamed}"

    from vidqa.keyframes.chunking import Chunk
    from vidqa.keyframes.selection import Scene
    from vidqa.search.find import Found

    hit = Found("v.mp4", "text", 10.0, 12.0, "EXIT", 0.9)
    chunk = Chunk(0, 8.0, 10.0)
    assert hit.range == TimeRange(10.0, 12.0) and not chunk.overlaps(hit)
    assert Scene(0, 9.0, 11.0).overlaps(hit) and not chunk.contains(hit.start_s)
