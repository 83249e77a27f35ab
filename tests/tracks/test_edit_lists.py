"""Edit lists: drop-frame timecode against known values and two other counts, the frame rate
chosen for a file, and every EDL and OTIO file read back (the EDL by the CMX 3600 reader in
helpers.cmx3600, OTIO by OpenTimelineIO's own reader) with each time checked against the
segments or hits it came from, on clips made at 23.976, 25, 29.97 and 59.94 fps, a sound-only
file, and through `vidqa find -f` and `vidqa events -f`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers.cmx3600 import EDLError, read_edl, timecode_frames
from vidqa.cli.commands import cli
from vidqa.errors import one_line
from vidqa.media.ffmpeg import ffmpeg_exe
from vidqa.media.probe import probe
from vidqa.tracks.base import Segment
from vidqa.tracks.edits import EditRate, edit_rate
from vidqa.tracks.writers import EVENT_WRITERS, EventLog, get_writer

otio = pytest.importorskip("opentimelineio", reason="pip install 'vidqa[edit]'")

DF2997 = EditRate(Fraction(30000, 1001), 30, True)
DF5994 = EditRate(Fraction(60000, 1001), 60, True)

# (frame count, label): the published drop-frame values.
KNOWN_2997 = [(0, "00:00:00;00"), (1799, "00:00:59;29"), (1800, "00:01:00;02"),
              (3597, "00:01:59;29"), (3598, "00:02:00;02"), (17981, "00:09:59;29"),
              (17982, "00:10:00;00"), (17983, "00:10:00;01"), (19782, "00:11:00;02"),
              (107892, "01:00:00;00"), (2589407, "23:59:59;29")]
KNOWN_5994 = [(0, "00:00:00;00"), (3599, "00:00:59;59"), (3600, "00:01:00;04"),
              (35963, "00:09:59;59"), (35964, "00:10:00;00"), (215784, "01:00:00;00"),
              (5178815, "23:59:59;59")]


@pytest.mark.parametrize(("rate", "known"), [(DF2997, KNOWN_2997), (DF5994, KNOWN_5994)])
def test_drop_frame_known_values(rate, known):
    for frames, label in known:
        assert rate.timecode(frames) == label
        assert rate.frames(label) == frames
        assert timecode_frames(label, rate.base, True) == frames
        assert otio.opentime.to_timecode(otio.opentime.RationalTime(frames, float(rate.fps)),
                                         float(rate.fps), True) == label


@pytest.mark.parametrize("rate", [DF2997, DF5994])
def test_drop_frame_agrees_with_two_other_counts_frame_by_frame(rate):
    """Every frame of the first 21 minutes, and around each hour: vidqa's label, read back by
    the test reader (a minute-by-minute sum) and written by OpenTimelineIO, is the frame."""
    fps = float(rate.fps)
    hour = rate.frames("01:00:00;00")
    frames = list(range(0, 21 * 60 * rate.base, 7 if rate.base == 60 else 3)) + \
        [h * hour + d for h in range(1, 24) for d in range(-rate.base * 61, rate.base * 2, 11)]
    for frame in frames:
        label = rate.timecode(frame)
        assert timecode_frames(label, rate.base, True) == frame, label
        assert rate.frames(label) == frame
    for frame in frames[::50]:
        assert otio.opentime.to_timecode(otio.opentime.RationalTime(frame, fps), fps, True) == \
            rate.timecode(frame)
    with pytest.raises(EDLError, match="skips"):
        timecode_frames("00:01:00;01", rate.base, True)  # a label drop-frame never shows


def test_frames_of_times_taken_to_the_millisecond():
    assert EditRate(Fraction(30), 30).frame_at(19.999977) == 600  # an OCR pin's time
    assert EditRate(Fraction(30), 30).frame_after(23.0000004) == 690
    assert DF2997.frame_at(1.001) == 30 and DF2997.frame_at(1.0) == 29
    assert DF2997.frame_after(1.001) == 30 and DF2997.frame_after(1.002) == 31
    assert DF2997.frame_at(0.5005) == 15 and DF2997.frame_at(0.5003) == 14  # 0.5005: frame 15


def test_non_drop_timecode():
    for fps, base in [(Fraction(24000, 1001), 24), (Fraction(25), 25), (Fraction(30), 30)]:
        rate = EditRate(fps, base)
        assert rate.timecode(base * 3600) == "01:00:00:00"
        assert rate.timecode(base * 3600 + base * 61 + 3) == "01:01:01:03"
        assert rate.frames("10:00:00:00") == base * 36000


def _info(**changes):
    base = dict(path="x.mp4", size_bytes=1, container="mov", duration_s=10.0, start_offset_s=0.0,
                stream_index=0, codec="h264", coded_width=160, coded_height=90,
                sample_aspect_ratio="1:1", rotation_deg=0, display_width=160, display_height=90,
                nominal_fps=25.0, average_fps=25.0, frame_count=250, pix_fmt="yuv420p")
    from vidqa.media.probe import VideoInfo

    return VideoInfo(**{**base, **changes})


def test_the_rate_an_edit_list_counts_in():
    def rate(**changes):
        r = edit_rate(_info(**changes))
        return r.fps, r.base, r.drop

    assert rate(nominal_fps=30000 / 1001) == (Fraction(30000, 1001), 30, True)
    assert rate(nominal_fps=60000 / 1001) == (Fraction(60000, 1001), 60, True)
    assert rate(nominal_fps=24000 / 1001) == (Fraction(24000, 1001), 24, False)
    assert rate(nominal_fps=29.97, average_fps=29.97) == (Fraction(30000, 1001), 30, True)
    assert rate(nominal_fps=50.0) == (Fraction(50), 50, False)
    # A phone's variable rate: the time base as the nominal one, 29.6 average -> 29.97.
    assert rate(nominal_fps=90000.0, average_fps=29.6) == (Fraction(30000, 1001), 30, True)
    assert rate(nominal_fps=15.0, average_fps=15.0) == (Fraction(15), 15, False)
    # The file's own non-drop timecode at 29.97 wins.
    assert not edit_rate(_info(nominal_fps=30000 / 1001), "01:00:00:00").drop
    sound = edit_rate(_info(stream_index=-1, nominal_fps=None, average_fps=None))
    assert (sound.fps, sound.base, sound.drop) == (25, 25, False) and "sound only" in sound.note


# --- files made at each rate -------------------------------------------------------------------


CLIPS = {  # name: (rate, seconds, the file's own start timecode or None, sound)
    "c2997": ("30000/1001", 4, "00:00:58;15", True),  # crosses 00:01:00;02 (two labels skipped)
    "c5994": ("60000/1001", 3, "00:09:59;00", False),  # crosses 00:10:00;00 (none skipped)
    "c5994b": ("60000/1001", 2, "00:00:59;30", False),  # crosses 00:01:00;04 (four skipped)
    "c23976": ("24000/1001", 2, None, False),
    "c25": ("25", 2, "10:00:00:00", False),
}


@pytest.fixture(scope="module")
def rate_clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("rates")
    out = {}
    for name, (rate, seconds, timecode, sound) in CLIPS.items():
        path = folder / f"{name}.mp4"
        args = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
                "-i", f"testsrc2=size=160x90:rate={rate}:duration={seconds}"]
        if sound:
            args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
        if timecode:
            args += ["-timecode", timecode]
        subprocess.run([*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                        str(path)], check=True)
        out[name] = path
    return out


def _segments(duration_s: float) -> list[Segment]:
    """Segments as the event log and hits hold them: a zero-length one, one pinned inside
    itself (`time_s`), one past the end, text that needs care."""
    return [Segment(0.1, 0.9, "First line\nof two", "ocr", "text"),
            Segment(0.999977, 1.5, "A time a few microseconds off", "ocr", "text"),
            Segment(1.2, 1.2, "Door slams", "captions", "event"),
            Segment(1.0, duration_s - 0.5, "Q&A <live> — Café", "speech", "speech",
                    {"time_s": 1.75, "score": 0.5, "rank": 1}),
            Segment(duration_s - 0.3, duration_s + 50, "Past the end", "ocr", "text")]


COLOURS = {"ocr": "YELLOW", "speech": "GREEN", "captions": "MAGENTA"}


def frame_at(seconds: float, fps: Fraction) -> int:
    """The frame showing at `seconds`, a time within 0.1 ms before a frame's start being
    that frame's."""
    return math.floor((Fraction(seconds) + Fraction(1, 10_000)) * fps)


MS = 0.0005  # half a millisecond


def _clock(info, timecode: str | None) -> tuple[Fraction, int, bool]:
    """(frames a second, timecode base, drop-frame) of a clip made at a standard rate: drop
    at 29.97 and 59.94 unless the file's own timecode is non-drop."""
    fps = Fraction(info.nominal_fps).limit_denominator(1001)
    drop = ";" in timecode if timecode else fps.denominator == 1001 and round(fps) in (30, 60)
    return fps, round(fps), drop


def check_edl(text: str, log: EventLog, info, timecode: str | None) -> None:
    """Every event of the EDL against the segment it came from."""
    fps, base, drop = _clock(info, timecode)
    edl = read_edl(text, base)
    assert edl.drop == drop and edl.title == Path(log.video).stem
    start = timecode_frames(timecode, base, drop) if timecode else 0
    last = math.ceil(info.duration_s * fps - Fraction(1, 10_000))
    record = timecode_frames("01:00:00;00" if drop else "01:00:00:00", base, drop)
    assert len(edl.events) == len(log.segments)
    for event, segment in zip(edl.events, log.segments):
        first, end = event.source_in - start, event.source_out - start
        assert first / fps <= segment.start_s + MS < (first + 1) / fps + MS
        assert first == frame_at(segment.start_s, fps)
        if segment.end_s <= info.duration_s and segment.end_s > segment.start_s:
            assert (end - 1) / fps < segment.end_s + MS and segment.end_s <= end / fps + MS
        assert first < end <= last  # inside the file, one frame at least
        assert (event.record_in, event.reel, event.transition) == (record, "AX", "C")
        record = event.record_out
        assert event.channels == ("AA/V" if any(s.kind == "audio" for s in info.streams) else "V")
        assert event.clip_name == Path(info.path).name
        (locator,) = event.locators
        moment = frame_at(segment.extras.get("time_s", segment.start_s), fps)
        assert locator.frame == event.record_in + min(max(moment, first), end - 1) - first
        assert (locator.colour, locator.text) == (COLOURS[segment.source], one_line(segment.text))


def check_otio(path: Path, log: EventLog, info, timecode: str | None) -> list[str]:
    """Every clip of the timeline, as OpenTimelineIO reads it, against its segment; the
    timecode of each clip's source start, as OpenTimelineIO writes it."""
    timeline = otio.adapters.read_from_file(str(path))
    fps, _, drop = _clock(info, timecode)
    (track,) = timeline.tracks
    assert track.kind == otio.schema.TrackKind.Video
    clips = list(track.find_clips())
    assert len(clips) == len(log.segments)
    start_s = (otio.opentime.from_timecode(timecode, float(fps)).to_seconds() if timecode else 0.0)
    assert otio.opentime.to_timecode(timeline.global_start_time, float(fps), drop) == \
        ("01:00:00;00" if drop else "01:00:00:00")
    for clip, segment in zip(clips, log.segments):
        ref = clip.media_reference
        assert ref.target_url == Path(info.path).resolve().as_uri()
        assert ref.available_range.start_time.to_seconds() == pytest.approx(start_s)
        assert ref.available_range.duration.to_seconds() == pytest.approx(info.duration_s,
                                                                          abs=1 / float(fps))
        begin = clip.source_range.start_time.to_seconds() - start_s
        end = begin + clip.source_range.duration.to_seconds()
        assert clip.source_range.start_time.rate == pytest.approx(float(fps))
        assert begin <= segment.start_s + MS < begin + 1 / fps + MS
        assert end <= info.duration_s + 1 / fps and end - begin >= 1 / fps - 1e-9
        if segment.end_s <= info.duration_s and segment.end_s > segment.start_s:
            assert end - 1 / fps < segment.end_s + MS and segment.end_s <= end + MS
        (marker,) = clip.markers
        assert marker.name == one_line(segment.text) and marker.color == COLOURS[segment.source]
        at = marker.marked_range.start_time.to_seconds() - start_s
        moment = segment.extras.get("time_s", segment.start_s)
        assert at <= max(moment, begin) + MS and at < end
        assert clip.metadata["vidqa"]["start_s"] == pytest.approx(segment.start_s, abs=1e-6)
        assert clip.metadata["vidqa"]["text"] == segment.text
    # OpenTimelineIO's own timecode of each clip's start is the EDL's source in.
    return [otio.opentime.to_timecode(c.source_range.start_time, float(fps), drop) for c in clips]


@pytest.mark.parametrize("name", list(CLIPS))
def test_edl_and_otio_of_each_rate_read_back(name, rate_clips, tmp_path):
    info = probe(rate_clips[name])
    timecode = CLIPS[name][2]
    log = EventLog(str(rate_clips[name]), info.duration_s, _segments(info.duration_s), info=info)
    edl_path, = get_writer("edl", tmp_path, EVENT_WRITERS)(log)
    otio_path, = get_writer("otio", tmp_path, EVENT_WRITERS)(log)
    assert (edl_path.name, otio_path.name) == (f"{name}.edl", f"{name}.otio")
    text = edl_path.read_text(encoding="utf-8")
    check_edl(text, log, info, timecode)
    starts = check_otio(otio_path, log, info, timecode)
    assert starts == [line.split()[4] for line in text.splitlines() if line[:3].isdigit()]


def test_a_log_without_the_file_reads_it(rate_clips, tmp_path):
    """A writer that needs the probed file reads it when the log lacks it (`needs`)."""
    path = rate_clips["c2997"]
    log = EventLog(str(path), 0.0, [Segment(1.0, 2.0, "x", "ocr", "text")])
    (written,) = get_writer("edl", tmp_path, EVENT_WRITERS)(log)
    assert "FCM: DROP FRAME" in written.read_text(encoding="utf-8")


# --- the commands ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edits_home(tmp_path_factory) -> Path:
    """One cache for this file's runs: each clip is indexed once."""
    return tmp_path_factory.mktemp("edits-home")


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_find_writes_its_hits_as_edit_lists(clips, edits_home, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDQA_HOME", str(edits_home))
    video = clips["slide"]
    found = run("find", "--json", "-k", "3", video, "quarterly budget")
    assert found.exit_code == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert hits and "BUDGET" in hits[0]["text"]
    info = probe(video)
    log = EventLog(str(video), info.duration_s, [
        Segment(h["start_s"], h["end_s"], h["text"], {"text": "ocr", "speech": "speech"}.get(
            h["kind"], "captions"), h["kind"], {"time_s": h["time_s"]}) for h in hits], info=info)
    out = run("find", "-k", "3", "-f", "edl", video, "quarterly budget")
    assert out.exit_code == 0, out.stderr
    check_edl(out.stdout, log, info, None)
    assert "* COMMENT: ocr text, at" in out.stdout and "hit 1, score" in out.stdout
    out = run("find", "-k", "3", "-f", "otio", "-o", tmp_path / "lists", video, "quarterly budget")
    assert out.exit_code == 0 and out.stderr.strip().endswith("slide.otio")
    check_otio(tmp_path / "lists" / "slide.otio", log, info, None)
    assert run("find", "-o", tmp_path, video, "budget").exit_code == 2  # -o needs -f
    assert run("find", "-f", "edl", "--json", video, "budget").exit_code == 2


@pytest.mark.slow
def test_find_in_a_folder_writes_one_list_per_video(rate_clips, edits_home, tmp_path,
                                                    monkeypatch):
    monkeypatch.setenv("VIDQA_HOME", str(edits_home))
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("c2997", "c25"):
        (folder / f"{name}.mp4").write_bytes(rate_clips[name].read_bytes())
    args = ["find", "-k", "6", "--speech", "off", "-f", "edl", folder, "00:00:01"]
    out = run(*args)
    assert out.exit_code == 1 and out.stderr.count("\n") == 1 and "pass -o DIR" in out.stderr
    out = run(*args, "-o", tmp_path / "lists")
    assert out.exit_code == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "lists").iterdir()) == ["c25.edl", "c2997.edl"]
    assert read_edl((tmp_path / "lists" / "c2997.edl").read_text(), 30).drop
    assert not read_edl((tmp_path / "lists" / "c25.edl").read_text(), 25).drop


@pytest.mark.slow
def test_events_as_edit_lists_at_29_97(rate_clips, edits_home, tmp_path, monkeypatch):
    """The event log of a real 29.97 fps clip (the on-screen clock, read by OCR), every event
    checked against the log's JSON."""
    monkeypatch.setenv("VIDQA_HOME", str(edits_home))
    video = rate_clips["c2997"]
    doc = json.loads(run("events", "--tracks", "ocr", "--speech", "off", video).stdout)
    assert doc["events"]
    info = probe(video)
    log = EventLog(str(video), doc["duration_s"], [
        Segment(e["start_s"], e["end_s"], e["text"], e["source"], e["kind"])
        for e in doc["events"]], info=info)
    out = run("events", "-f", "edl", "--tracks", "ocr", "--speech", "off", video)
    assert out.exit_code == 0, out.stderr
    check_edl(out.stdout, log, info, "00:00:58;15")
    out = run("events", "-f", "otio", "-o", tmp_path, "--tracks", "ocr", "--speech", "off", video)
    assert out.exit_code == 0, out.stderr
    check_otio(tmp_path / "c2997.otio", log, info, "00:00:58;15")


def test_a_sound_only_file_counts_25_frames_a_second(edits_home, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDQA_HOME", str(edits_home))
    wav = tmp_path / "call.wav"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "sine=frequency=300:duration=30", "-ac", "1", str(wav)], check=True)
    wav.with_suffix(".srt").write_text("1\n00:00:01,250 --> 00:00:04,000\nHello and welcome.\n\n"
                                       "2\n00:00:15,500 --> 00:00:18,040\nThe budget grows.\n",
                                       encoding="utf-8")
    out = run("events", "-f", "edl", wav)
    assert out.exit_code == 0, out.stderr
    edl = read_edl(out.stdout, 25)
    assert not edl.drop and edl.notes and "sound only" in edl.notes[0]
    assert [e.channels for e in edl.events] == ["A", "A"]
    assert [(e.source_in, e.source_out) for e in edl.events] == [(31, 100), (387, 451)]
    out = run("events", "-f", "otio", "-o", tmp_path, wav)
    assert out.exit_code == 0, out.stderr
    timeline = otio.adapters.read_from_file(str(tmp_path / "call.otio"))
    (track,) = timeline.tracks
    assert track.kind == otio.schema.TrackKind.Audio
    assert [c.source_range.start_time.to_seconds() for c in track.find_clips()] == [1.24, 15.48]
    out = run("events", "-f", "chapters", wav)
    assert out.stdout == "00:00 Hello and welcome\n00:15 The budget grows\n"


def test_without_opentimelineio_one_line_says_what_to_install(clips, monkeypatch):
    monkeypatch.setitem(sys.modules, "opentimelineio", None)  # import raises ImportError
    out = run("events", "-f", "otio", clips["short3"])
    assert out.exit_code == 1 and out.stderr.count("\n") == 1
    assert "pip install 'vidqa[edit]'" in out.stderr and "otio" in out.stderr
    out = run("find", "-f", "otio", clips["short3"], "anything")
    assert out.exit_code == 1 and "pip install 'vidqa[edit]'" in out.stderr


def test_the_writers_import_light():
    code = ("import sys, vidqa.tracks.writers\n"
            "print([m for m in ('av', 'numpy', 'opentimelineio', 'cv2', 'torch') "
            "if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_writers_declare_what_they_need():
    assert EVENT_WRITERS["edl"].needs == {"video"} and EVENT_WRITERS["otio"].needs == {"video"}
    assert not EVENT_WRITERS["chapters"].needs and not EVENT_WRITERS["json"].needs
    assert [f for f, cls in EVENT_WRITERS.items() if cls.in_all] == \
        ["json", "jsonl", "csv", "tsv", "srt", "vtt", "txt"]
    info = dataclasses.replace(_info(), path="missing.mp4")
    assert edit_rate(info).fps == 25
