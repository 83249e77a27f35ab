"""Chapters: YouTube's rules on what comes out (the first at 0, each at least 10 s, titles on
one line), each source of titles (captions, on-screen text, speech, scenes alone), the two
writers against their golden files, a strict WebVTT reader and ffmpeg reading the chapters,
and `vidqa events -f chapters` on a real video.

Regenerate the golden files after a deliberate change, and read the diff:

    VIDQA_UPDATE_GOLDEN=1 python3 -m pytest -q tests/tracks/test_chapters.py
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import GOLDEN
from helpers.webvtt import read_chapters
from vidqa.cli.commands import cli
from vidqa.media.ffmpeg import ffmpeg_exe
from vidqa.model.captions import ChunkCaption, VideoCaptions
from vidqa.timecode import TimeRange
from vidqa.tracks.base import Segment, in_order
from vidqa.tracks.chapters import (MAX_CHAPTERS, MIN_CHAPTER_S, TITLE_CHARS, Chapter, chapters_of,
                                   make_chapters, title_of)
from vidqa.tracks.writers import EVENT_WRITERS, EventLog, get_writer

UPDATE = os.environ.get("VIDQA_UPDATE_GOLDEN") == "1"


def check_rules(chapters: list[Chapter], duration_s: float, shortest_s: float = MIN_CHAPTER_S):
    """YouTube's rules, and what vidqa adds: tiling [0, duration), titles one line."""
    assert chapters and chapters[0].start_s == 0.0
    assert chapters[-1].end_s == pytest.approx(duration_s)
    for before, after in zip(chapters, chapters[1:]):
        assert before.end_s == after.start_s
    if len(chapters) > 1:
        assert all(c.length_s >= shortest_s - 1e-9 for c in chapters), chapters
    for chapter in chapters:
        assert chapter.title and chapter.title == chapter.title.strip()
        assert not re.search(r"[\n\r\t]", chapter.title) and len(chapter.title) <= TITLE_CHARS


def seg(start, end, text, source="ocr", kind="text"):
    return Segment(start, end, text, source, kind)


def scenes(*starts, end):
    return [TimeRange(a, b) for a, b in zip(starts, [*starts[1:], end])]


def test_captions_title_the_scenes_of_their_chunk():
    summaries = [seg(0, 62, "A lobby, then a meeting room. People sit down.", "captions",
                     "summary"),
                 seg(62, 125, "slides about the budget", "captions", "summary"),
                 seg(125, 140, "An alarm!", "captions", "summary")]
    chapters = make_chapters(140, scenes(0, 5, 30, 62, 95, 125, end=140), summaries=summaries,
                             titles=[seg(0, 140, "IGNORED WHEN CAPTIONED")])
    assert [(c.start_s, c.title) for c in chapters] == [
        (0.0, "A lobby, then a meeting room"), (62.0, "Slides about the budget"),
        (125.0, "An alarm!")]
    check_rules(chapters, 140)


def test_a_chunk_kept_raw_titles_nothing_and_the_log_gives_the_sources(tmp_path):
    captions = VideoCaptions("v.mp4", "m", 100.0, [
        ChunkCaption(0, 0.0, 40.0, "A kitchen. Someone cooks."),
        ChunkCaption(1, 40.0, 70.0, '{"summary": "broken', warning="kept raw"),
        ChunkCaption(2, 70.0, 100.0, "A garden at dusk.")])
    log = EventLog("v.mp4", 100.0, [], captions, ("captions",), scenes=scenes(0, 40, 70, end=100))
    assert [(c.start_s, c.title) for c in chapters_of(log)] == [
        (0.0, "A kitchen"), (70.0, "A garden at dusk")]


def test_on_screen_titles_arrive_with_their_scene():
    """The line that arrives with a scene titles it, in the order the track read them; a logo
    there all along, a clock's digits and a scene with no new line title nothing."""
    titles = [seg(0.0, 6.56, "One"), seg(0.0, 6.56, "slide 1 - vidqa sample"),
              seg(0.0, 26.0, "LOGO TV"), seg(6.8, 7.3, "00:00:00.480"),
              seg(11.28, 16.56, "Three"), seg(21.6, 26.0, "Credits\troll")]
    chapters = make_chapters(26.0, scenes(0, 6.3, 11.5, 16.1, 21.1, end=26.0), titles=titles)
    assert [(c.start_s, c.title) for c in chapters] == [(0.0, "One"), (11.5, "Three")]
    # 21.1 is 9.6 s after 11.5: too close; alone it would be a chapter, on one line
    alone = make_chapters(40.0, scenes(0, 21.1, end=40.0), titles=titles)
    assert [c.title for c in alone] == ["One", "Credits roll"]
    check_rules(alone, 40.0)


def test_a_scene_with_no_title_on_screen_takes_the_first_line_said_in_it():
    """The README's demo: a slide titled "Part 1", then a shot with no text, where the budget
    is mentioned; an event on the slide is no scene's start."""
    titles = [seg(0.0, 66.5, "Part 1"), seg(0.0, 66.5, "slide 0 - vidqa sample"),
              seg(20.0, 23.0, "EVENT 1 AT 0")]
    said = [seg(1.62, 6.4, "Welcome to the Vidca demo.", "speech", "speech"),
            seg(91.87, 94.87, "Next year the budget grows by 12%.", "speech", "speech")]
    chapters = make_chapters(120.0, scenes(0, 66.25, end=120.0), titles=titles, said=said)
    assert [(c.start_s, c.title) for c in chapters] == [
        (0.0, "Part 1"), (66.25, "Next year the budget grows by 12%")]


def test_speech_cuts_a_recording_of_one_scene_where_lines_are_said():
    said = [seg(1.62, 6.4, "Welcome to the demo. Today we talk about the budget.", "speech",
                "speech"),
            seg(8.0, 9.0, "Second line, too close.", "speech", "speech"),
            seg(20.3, 23.8, "the first event is on screen now in a yellow box.", "speech",
                "speech"),
            seg(56.04, 58.82, "Please send your invoices to Maria before Friday.", "speech",
                "speech"),
            seg(91.87, 94.87, "Next year the budget grows by 12%.", "speech", "speech")]
    chapters = make_chapters(100.0, scenes(0, end=100.0), said=said)
    assert [(c.start_s, c.title) for c in chapters] == [
        (0.0, "Welcome to the demo"), (20.3, "The first event is on screen now in a yellow box"),
        (56.04, "Please send your invoices to Maria before Friday")]
    check_rules(chapters, 100.0)
    # With shots, a shot takes the first line said in it; one without a line joins the one before.
    shots = make_chapters(100.0, scenes(0, 19.9, 40, 55.9, end=100.0), said=said)
    assert [(c.start_s, c.title) for c in shots] == [
        (0.0, "Welcome to the demo"), (19.9, "The first event is on screen now in a yellow box"),
        (55.9, "Please send your invoices to Maria before Friday")]


def test_scenes_alone_and_the_edges():
    chapters = make_chapters(35.0, scenes(0, 4, 12, 30, end=35.0))
    assert [(c.start_s, c.end_s, c.title) for c in chapters] == [
        (0.0, 12.0, "Scene 1"), (12.0, 35.0, "Scene 3")]
    assert make_chapters(0.0, []) == []
    assert make_chapters(8.0, []) == [Chapter(0.0, 8.0, "Scene 1")]  # shorter than 10 s: one
    # The first title moves to 0 when it comes within the shortest length; later, "Start".
    said = [seg(3.0, 5.0, "hello there", "speech", "speech")]
    assert make_chapters(60.0, [], said=said)[0] == Chapter(0.0, 60.0, "Hello there")
    late = make_chapters(60.0, [], said=[seg(30.0, 32.0, "late words", "speech", "speech")])
    assert [(c.start_s, c.title) for c in late] == [(0.0, "Start"), (30.0, "Late words")]


def test_a_long_video_gets_at_most_max_chapters():
    duration = 7200.0
    starts = [i * 7.2 for i in range(1000)]
    titles = [seg(s, s + 7.2, f"Slide number {i}") for i, s in enumerate(starts)]
    chapters = make_chapters(duration, scenes(*starts, end=duration), titles=titles)
    assert 40 <= len(chapters) <= MAX_CHAPTERS
    check_rules(chapters, duration, shortest_s=duration / MAX_CHAPTERS)


def test_titles_are_one_short_line():
    assert title_of("first line\nsecond\tpart. Then more.") == "First line second part"
    long = title_of("word " * 40)
    assert len(long) <= TITLE_CHARS and long.endswith("…") and " " not in long[-2:]
    assert title_of("Q3 results: 12% up") == "Q3 results: 12% up"
    assert title_of("Dr. No is here") == "Dr. No is here"  # too short a first sentence


# --- the writers -------------------------------------------------------------------------------


@pytest.fixture
def hour_log() -> EventLog:
    """An hour-long video: scenes, captions with a title that needs escaping, text and speech."""
    captions = VideoCaptions("events.mp4", "test-vlm", 3751.2, [
        ChunkCaption(0, 0.0, 1875.6, "A lobby, then a meeting room."),
        ChunkCaption(1, 1875.6, 3600.0, "Q&A <live> with the board; slides"),
        ChunkCaption(2, 3600.0, 3751.2, "Fire alarm test. Everyone leaves.")])
    segments = in_order([seg(0.0, 12.0, "Lobby — Floor 3"), seg(3700.0, 3751.2, "FIRE EXIT"),
                         seg(5.0, 9.0, "Good morning", "speech", "speech")])
    return EventLog("events.mp4", 3751.2, segments, captions, ("ocr", "speech", "captions"),
                    scenes=scenes(0.0, 61.0, 1875.6, 2400.5, 3600.0, 3701.0, end=3751.2))


def _golden(path: Path) -> None:
    golden = GOLDEN / path.name
    if UPDATE:
        golden.write_bytes(path.read_bytes())
    assert path.read_bytes() == golden.read_bytes(), f"{path.name} differs from {golden}"


@pytest.mark.parametrize("fmt", ["chapters", "chapters.vtt"])
def test_chapter_writers_match_golden(fmt, hour_log, tmp_path):
    (path,) = get_writer(fmt, tmp_path, EVENT_WRITERS)(hour_log)
    assert path.name == {"chapters": "events.chapters.txt",
                         "chapters.vtt": "events.chapters.vtt"}[fmt]
    _golden(path)


_LINE = re.compile(r"^(?:(\d{2}):)?(\d{2}):(\d{2}) (\S.*)$")


def read_youtube(text: str) -> list[tuple[int, str]]:
    out = []
    for line in text.splitlines():
        match = _LINE.match(line)
        assert match, f"not a chapter line: {line!r}"
        hours, minutes, seconds, title = match.groups()
        out.append((int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds), title))
    return out


def test_youtube_lines_are_the_chapters_in_whole_seconds(hour_log, tmp_path, capsys):
    chapters = chapters_of(hour_log)
    (path,) = get_writer("chapters", tmp_path, EVENT_WRITERS)(hour_log)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "00:00:00 A lobby, then a meeting room"  # an hour or more: HH:MM:SS
    assert all(re.match(r"^\d{2}:\d{2}:\d{2} ", line) for line in lines)
    read = read_youtube(path.read_text(encoding="utf-8"))
    assert read == [(math.floor(c.start_s), c.title) for c in chapters]
    assert read[0][0] == 0 and len(read) >= 3
    assert all(b[0] - a[0] >= 10 for a, b in zip(read, read[1:]))
    assert 3751.2 - read[-1][0] >= 10
    short = EventLog("talk.mp4", 130.0, [], scenes=scenes(0, 61.5, end=130.0))
    get_writer("chapters", "-", EVENT_WRITERS)(short)
    assert capsys.readouterr().out == "00:00 Scene 1\n01:01 Scene 2\n"  # MM:SS under an hour


def test_webvtt_chapters_read_back(hour_log, tmp_path):
    chapters = chapters_of(hour_log)
    (path,) = get_writer("chapters.vtt", tmp_path, EVENT_WRITERS)(hour_log)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n\n") and "Q&amp;A &lt;live&gt;" in text
    cues = read_chapters(text)
    assert [(round(a, 3), round(b, 3), t) for a, b, t in cues] == \
        [(c.start_s, c.end_s, c.title) for c in chapters]
    assert any(t == "Q&A <live> with the board; slides" for _, _, t in cues)


def _ffmpeg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", *args],
                          capture_output=True, text=True, check=False)


def test_ffmpeg_reads_the_webvtt_chapters(hour_log, tmp_path):
    (path,) = get_writer("chapters.vtt", tmp_path, EVENT_WRITERS)(hour_log)
    proc = _ffmpeg("-i", str(path), "-c:s", "ass", "-f", "null", "-")
    assert (proc.returncode, proc.stderr) == (0, "")
    ass = tmp_path / "chapters.ass"
    proc = _ffmpeg("-i", str(path), str(ass))
    assert (proc.returncode, proc.stderr) == (0, "")
    dialogues = [line for line in ass.read_text(encoding="utf-8").splitlines()
                 if line.startswith("Dialogue:")]
    assert [d.split(",", 9)[-1] for d in dialogues] == [c.title for c in chapters_of(hour_log)]


# --- real videos -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chapters_home(tmp_path_factory) -> Path:
    """One cache for this file's real runs: the cut video is indexed once."""
    return tmp_path_factory.mktemp("chapters-home")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_events_chapters_of_a_video_with_titles_on_screen(cuts_video, chapters_home, tmp_path,
                                                          monkeypatch):
    monkeypatch.setenv("VIDQA_HOME", str(chapters_home))
    path, _ = cuts_video
    out = run("events", "-f", "chapters", "--speech", "off", str(path))
    assert out.exit_code == 0, out.stderr
    read = read_youtube(out.stdout)
    assert [title for _, title in read] == ["One", "Three"]
    starts = [s["start_s"] for s in json.loads(run("scenes", "--json", str(path)).stdout)["scenes"]]
    assert read[0][0] == 0 and read[1][0] == math.floor(starts[2])  # the third shot's start
    out = run("events", "-f", "chapters.vtt", "-o", str(tmp_path), "--speech", "off", str(path))
    assert out.exit_code == 0 and out.stderr.endswith(f"wrote {tmp_path / 'cuts.chapters.vtt'}\n")
    cues = read_chapters((tmp_path / "cuts.chapters.vtt").read_text(encoding="utf-8"))
    assert [t for *_, t in cues] == ["One", "Three"] and cues[1][0] == pytest.approx(starts[2])
    assert cues[-1][1] == pytest.approx(json.loads(run("events", "--speech", "off", str(path))
                                                   .stdout)["duration_s"])


@pytest.mark.slow
def test_captions_title_the_chapters_of_a_run(cuts_video, chapters_home, scripted, monkeypatch):
    """Through the pipeline, as a server would: the scripted model captions chunks of at most
    8 s, and each chapter is titled by the summary of the chunk it begins in."""
    from vidqa import Config, Pipeline
    from vidqa.model.backends import get_backend

    monkeypatch.setenv("VIDQA_HOME", str(chapters_home))
    scripted.reply(*[json.dumps({"summary": f"Part {n}: shot {n}. And more.", "events": []})
                     for n in range(1, 9)])
    config = Config().replace("speech", mode="off").replace("chunk", max_span_s=8.0)
    done = Pipeline(config, backend=get_backend("scripted", "scripted-model")).run(
        str(cuts_video[0]))
    chunks = done.captions.chunks
    assert len(chunks) >= 3
    chapters = chapters_of(done.event_log())
    check_rules(chapters, done.duration_s)
    for chapter in chapters:
        holding = next(c for c in chunks if c.start_s <= chapter.start_s < c.end_s)
        assert chapter.title == title_of(holding.summary)
        assert chapter.start_s == 0.0 or chapter.start_s in [s.start_s for s in
                                                             done.ingest.scenes]
