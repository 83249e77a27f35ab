"""Text that changes in place and text that arrives mid-shot, on generated camera-like footage:
a burned-in clock read every second (and across a restart), a score that changes twice, static
text over a moving picture that stays one line, and a caption pinned within 0.5 s of its
arrival inside a shot with no key frame of its own."""

from __future__ import annotations

import os
import re

import pytest

from vidqa.evaluation.synth import render_camera
from vidqa.keyframes.ingest import ingest
from vidqa.tracks.ocr import TextLine, merge_lines, ocr_available, similar, text_track
from vidqa.tracks.ocr_read import SHOT

CLOCK = [(0.0, "2024-12-05 12:00:00"), (16.0, "2024-12-05 09:30:00")]
STATIC = "NORTH GATE"
SCORES = [(2.0, 8.0, "HOME 1 - 0 AWAY"), (8.0, 13.0, "HOME 2 - 0 AWAY"),
          (13.0, 24.0, "HOME 2 - 1 AWAY")]
NEEDLE = (12.3, 14.8, "ALERT IN THE SERVER ROOM")


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    if not ocr_available():
        if os.environ.get("CI"):
            pytest.fail("the OCR library is not installed (pip install 'vidqa[ocr]')")
        pytest.skip("the OCR library is not installed (pip install 'vidqa[ocr]')")
    path = tmp_path_factory.mktemp("camera") / "camera.mp4"
    render_camera(path, duration_s=24.0, width=640, height=360, clock=CLOCK, preset="veryfast",
                  overlays=[(0.0, 24.0, STATIC, "h*0.42"),
                            *[(s, e, t, "h*0.84") for s, e, t in SCORES],
                            (*NEEDLE, "h*0.62")])
    home = tmp_path_factory.mktemp("camera-home")
    old = os.environ.get("VIDQA_HOME")
    os.environ["VIDQA_HOME"] = str(home)
    try:
        result = ingest(path)
        return result, text_track(result)
    finally:
        if old is None:
            del os.environ["VIDQA_HOME"]
        else:
            os.environ["VIDQA_HOME"] = old


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_clock_is_read_every_second(camera):
    result, lines = camera
    readings = [line for line in lines if "2024-12-05" in _squeeze(line.text)]
    series = {line.series for line in readings}
    assert len(series) == 1 and None not in series, [(r.text, r.series) for r in readings]
    for second in range(24):
        if second < 16:
            shown = f"12:00:{second:02d}"
        else:
            shown = f"09:30:{second - 16:02d}"
        found = [line for line in readings if line.text.endswith(shown)]
        assert len(found) == 1, (shown, [line.text for line in readings])
        # each reading from the first 2 fps frame that shows it, to the next reading
        assert second - 0.05 <= found[0].start_s <= second + 0.55, (shown, found[0])
        assert found[0].end_s - found[0].start_s <= 1.1
    assert readings[-1].end_s == result.stats.end_s


def test_a_score_that_changes_twice_is_three_readings(camera):
    _result, lines = camera
    scores = [line for line in lines if similar(line.text, "HOME 2 - 0 AWAY") >= 0.7]
    got = [(re.sub(r"\D", "", line.text), line.start_s) for line in scores]
    assert [digits for digits, _ in got] == ["10", "20", "21"], got
    for (_digits, start), (truth, _end, _text) in zip(got, SCORES):
        assert abs(start - truth) <= 0.55, got
    assert len({line.series for line in scores}) == 1


def test_static_text_over_a_moving_picture_stays_one_line(camera):
    result, lines = camera
    found = [line for line in lines if similar(line.text, STATIC) >= 0.8]
    assert len(found) == 1, [(line.text, line.start_s) for line in found]
    assert found[0].start_s == 0.0 and found[0].end_s == result.stats.end_s
    assert found[0].series is None


def test_a_caption_arriving_mid_shot_is_pinned_within_half_a_second(camera):
    result, lines = camera
    found = [line for line in lines if similar(line.text, NEEDLE[2]) >= 0.8]
    assert found, [line.text for line in lines]
    key_times = [k.pts_s for k in result.keyframes]
    assert not any(abs(t - NEEDLE[0]) < 0.1 for t in key_times)  # no key frame of its own
    assert abs(found[0].start_s - NEEDLE[0]) <= 0.5, (found[0], key_times)
    assert abs(found[0].end_s - NEEDLE[1]) <= 2.0


def test_near_identical_readings_of_static_text_merge():
    """OCR slips on a line that did not change (its box's pixels did not) never split it, even
    when a digit is misread; a digit that changed with the pixels starts a new reading."""
    box = (10, 10, 200, 30)
    frames = [(0.0, [("Slide 7000 - vidqa sample", 0.95, box, True)]),
              (2.0, [("Slide 7000 - vidqa sarnple", 0.90, box, True)]),
              (4.0, [("Slide 700O - vidqa sample", 0.92, box, False)]),  # pixels the same
              (6.0, [("Slide 7001 - vidqa sample", 0.97, box, True)])]
    assert merge_lines(frames, 8.0) == [
        TextLine(0.0, 6.0, "Slide 7000 - vidqa sample", 0.95, box=box, series=0),
        TextLine(6.0, 8.0, "Slide 7001 - vidqa sample", 0.97, box=box, series=0)]


def test_other_numbers_after_a_cut_are_another_line_not_a_series():
    """A slide's "slide 7000" then, after a cut, "slide 7002" in the same place: two lines,
    no series (a series is read again at every sampled frame; across shots that is waste)."""
    box = (10, 10, 200, 30)
    frames = [(0.0, [("slide 7000 - vidqa sample", 0.95, box, SHOT)]),
              (30.0, [("slide 7002 - vidqa sample", 0.96, box, SHOT)]),
              (32.0, [("slide 7003 - vidqa sample", 0.97, box, True)])]  # inside the shot
    assert merge_lines(frames, 40.0) == [
        TextLine(0.0, 30.0, "slide 7000 - vidqa sample", 0.95, box=box),
        TextLine(30.0, 32.0, "slide 7002 - vidqa sample", 0.96, box=box, series=0),
        TextLine(32.0, 40.0, "slide 7003 - vidqa sample", 0.97, box=box, series=0)]
