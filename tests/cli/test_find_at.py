"""`vidqa find VIDEO|DIR --at TIME`: where the wall clock burned into the picture shows a time.

Most tests use a scripted clock track in the real registry (tests/helpers/clock.py: a camera
restarted at 12 s), so they exercise the command, the pipeline and the lookup without OCR; the
last one renders camera footage with a ticking clock and a restart and reads it with OCR."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from helpers.clock import CLOCK_TRACK
from helpers.extras import need
from helpers.media import make_video
from vidqa.cli.commands import cli
from vidqa.tracks.base import REGISTRY

FAST = ["-q", "find", "--ocr", "off", "--speech", "off"]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="session")
def cams(tmp_path_factory):
    """cams/cam1.mp4 (its clock restarts at 12 s), cams/cam2.mp4 and cams/plain.mp4 (no
    clock): 20 s each, small."""
    folder = tmp_path_factory.mktemp("cams")
    for name in ("cam1", "cam2", "plain"):
        make_video(folder / f"{name}.mp4", seconds=20, size="160x120", source="testsrc")
    return folder


@pytest.fixture
def wallclock(monkeypatch):
    monkeypatch.setitem(REGISTRY, "wallclock", CLOCK_TRACK)


def test_at_prints_the_second_the_readings_and_the_restart(cams, wallclock):
    result = run(*FAST, str(cams / "cam1.mp4"), "--at", "2024-12-05 12:00:05.5")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        (' 1. 00:00:05.500  2024-12-05 12:00:05.5  (5.500 s, between "CAM 01 2024-12-05 12:00:05"'
        ' at 00:00:05.000 and "CAM 01 2024-12-05 12:00:06" at 00:00:06.000)'),
        ("note: the clock jumps at 00:00:12.000 from 2024-12-05 12:00:11 to 2024-12-05 09:30:00 "
        "(back 2 h 30 min 12 s: a restart, or the clock was set)")]


def test_at_json_is_one_document(cams, wallclock):
    result = run(*FAST, str(cams / "cam1.mp4"), "--at", "Dec 5 2024 9:30:03 AM", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["at"], data["wall"]) == ("Dec 5 2024 9:30:03 AM", "2024-12-05 09:30:03")
    (video,) = data["videos"]
    assert video["video"] == str(cams / "cam1.mp4") and video["found"] is True
    assert (video["time_s"], video["time"]) == (15.0, "00:00:15.000")
    (match,) = video["matches"]
    assert [r["text"] for r in match["between"]] == ["CAM 01 2024-12-05 09:30:03",
                                                     "CAM 01 2024-12-05 09:30:04"]
    assert video["clock"]["jumps"] == [{"at_s": 12.0, "at": "00:00:12.000",
                                        "from": "2024-12-05 12:00:11",
                                        "to": "2024-12-05 09:30:00", "by_s": -9012.0}]
    assert [s["readings"] for s in video["clock"]["stretches"]] == [12, 8]


def test_a_time_off_the_recording_is_a_note_not_an_error(cams, wallclock):
    result = run(*FAST, str(cams / "cam2.mp4"), "--at", "13:00")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        ("note: the clock shows 2024-12-05 12:00:20 to 12:00:39; 13:00 (2024-12-05 13:00:00) "
        "is after the recording")]


def test_a_folder_lists_each_video_whose_clock_shows_the_time(cams, wallclock):
    result = run(*FAST, str(cams), "--at", "12:00:25")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"note: {cams / 'cam1.mp4'}  the clock shows 2024-12-05 "
                               "12:00:00 to 12:00:11 (00:00:00.000-00:00:12.000), then")
    assert lines[0].endswith("12:00:25 (2024-12-05 12:00:25) is after the recording")
    assert lines[2].startswith(f" 1. 00:00:05.000  {cams / 'cam2.mp4'}  2024-12-05 12:00:25  ")
    assert f"warning: 1 of 3 videos show no wall clock and are left out: " \
           f"{cams / 'plain.mp4'}" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--at", "noon-ish"], ("Error: cannot read 'noon-ish' as a wall-clock time; use "
                           "2024-12-05 12:01:30, 2024/12/05 12:01, 05.12.2024 12:01:30, ")),
    (["--at", "2024-12-05"], "Error: '2024-12-05' has a date but no time; add the time of day"),
    (["budget", "--at", "12:00"], "Error: give one of QUERY, --at TIME and --image PICTURE, "
                                  "not QUERY and --at TIME"),
    ([], "Error: Missing argument 'QUERY' (or --at TIME, or --image PICTURE)."),
])
def test_usage_errors_are_one_line_and_exit_2(cams, wallclock, args, message):
    result = run(*FAST, str(cams / "cam1.mp4"), *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


def test_a_video_without_a_clock_is_one_line_with_the_fix(cams, wallclock, monkeypatch):
    result = run(*FAST, str(cams / "plain.mp4"), "--at", "12:00")
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: no wall clock in '{cams / 'plain.mp4'}': no "
                                     "on-screen text reads as a date and time; --at needs "
                                     "footage with a date and time burned into the picture")
    monkeypatch.delitem(REGISTRY, "wallclock")  # only OCR reads clocks, and it is off
    result = run(*FAST, str(cams / "cam1.mp4"), "--at", "12:00")
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: cannot read a wall clock in '{cams / 'cam1.mp4'}'"
                                     " without the ocr track: on-screen text is off (--ocr off);"
                                     " drop it or pass --ocr on")


# -- end to end: camera footage, its clock read by OCR

CAMERA_CLOCK = [(0.0, "2024-12-05 12:00:00"), (14.0, "2024-12-05 09:30:00")]


@pytest.fixture(scope="session")
def camera_video(gen):
    """24 s of moving 960x540 picture with `CAM 03  2024-12-05 12:00:00` ticking at the top
    left, restarted at 14 s to 09:30:00 (render_camera; its truth lists the stretches)."""
    from vidqa.evaluation.synth import render_camera

    path = gen / "camera.mp4"
    if not path.exists():
        render_camera(path, duration_s=24.0, clock=CAMERA_CLOCK, width=960, height=540,
                      preset="veryfast")
    return path, json.loads(path.with_suffix(".truth.json").read_text())


@pytest.mark.slow
def test_at_on_camera_footage_lands_within_a_second_and_reports_the_restart(camera_video):
    """Needs the on-screen text track to read a changing clock as a series of readings."""
    need("rapidocr")
    from datetime import datetime

    path, truth = camera_video
    stretches = [(s["start_s"], s["end_s"], datetime.fromisoformat(s["wall"]))
                 for s in truth["clock"]]
    for at in ("2024-12-05 12:00:03", "2024-12-05 12:00:09.5", "2024-12-05 12:00:13",
               "2024-12-05 09:30:02", "2024-12-05 09:30:08.5"):
        wall = datetime.fromisoformat(at)
        expected = [start + (wall - shown).total_seconds() for start, end, shown in stretches
                    if start <= start + (wall - shown).total_seconds() < end]
        result = run("-q", "find", "--ocr", "on", "--speech", "off", str(path), "--at", at,
                     "--json")
        assert result.exit_code == 0, result.stderr
        (video,) = json.loads(result.stdout)["videos"]
        assert video["found"], (at, video["notes"])
        assert [round(m["time_s"], 1) for m in video["matches"]] == pytest.approx(expected,
                                                                                  abs=1.0), at
        (jump,) = video["clock"]["jumps"]
        assert abs(jump["at_s"] - stretches[1][0]) <= 1.0
        assert (jump["from"][:16], jump["to"]) == ("2024-12-05 12:00", "2024-12-05 09:30:00")
        assert any(note.startswith("the clock jumps at 00:00:1") for note in video["notes"])
    outside = run("-q", "find", "--ocr", "on", "--speech", "off", str(path), "--at", "12:30")
    assert "12:30 (2024-12-05 12:30:00) is after the recording" in outside.stdout
