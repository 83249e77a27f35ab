"""The wall clock burned into the picture: reading it from text (the layouts cameras and
broadcasts use, OCR's quirks), what a person types for `--at`, and the map from wall time to
video time built from synthetic readings: per second, every 2 s, late samples, a restart, a
clock set back, time alone across midnight, 12-hour, a misread digit, a time on a slide."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from vidqa.search.clock import BadTime, ClockMap, format_wall, parse_at, read_clock
from vidqa.tracks.base import Segment

DAY = date(2024, 12, 5)


def segment(start_s: float, end_s: float, text: str) -> Segment:
    return Segment(start_s, end_s, text, "ocr", "text")


def readings(wall: str, start_s: float, end_s: float, *, every_s: float = 1.0,
             fmt: str = "CAM 03 %Y-%m-%d %H:%M:%S") -> list[Segment]:
    """A ticking clock shown from `start_s` (showing `wall` then) to `end_s`, as a track reads
    it every `every_s` seconds: one segment per reading, until the next one."""
    shown = datetime.fromisoformat(wall)
    starts = [start_s + i * every_s for i in range(int((end_s - start_s) / every_s + 0.999))]
    return [segment(t, min(end, end_s), (shown + timedelta(seconds=t - start_s)).strftime(fmt))
            for t, end in zip(starts, starts[1:] + [end_s])]


def look(clock: ClockMap, at: str):
    return clock.lookup(parse_at(at), at)


# -- reading a clock from text

@pytest.mark.parametrize("text, day, seconds, step", [
    ("CAM 03  2024-12-05 12:01:30", DAY, 43290, 1),
    ("CAM 03 2024-12-0512:01:30", DAY, 43290, 1),  # OCR lost the space
    ("CAM O3 2O24-12-05 12:O1:3O", DAY, 43290, 1),  # O read for 0
    ("2024/12/05 12:01:30", DAY, 43290, 1),
    ("2024.12.05 12:01", DAY, 43260, 60),  # no seconds: a step of a minute
    ("05.12.2024 12:01:30", DAY, 43290, 1),  # dots: day first
    ("05-12-2024 12:01:30", DAY, 43290, 1),  # dashes: day first
    ("12/05/2024 12:01:30", DAY, 43290, 1),  # slashes: month first
    ("13/05/2024 12:01:30", date(2024, 5, 13), 43290, 1),  # 13 decides: day first
    ("05/13/2024 12:01:30", date(2024, 5, 13), 43290, 1),  # 13 decides: month first
    ("Dec 5 2024 12:01:30", DAY, 43290, 1),
    ("Thu 5 December 2024 1:01:30 PM", DAY, 46890, 1),
    ("12:01:30 Dec 05, 2024", DAY, 43290, 1),  # time first
    ("12/05/2024 01:01:30 pm", DAY, 46890, 1),
    ("12:00:05 AM", None, 5, 1),  # 12-hour midnight, no date
    ("12:01:30", None, 43290, 1),
    ("REC 23:59", None, 86340, 60),
])
def test_clock_layouts_read(text, day, seconds, step):
    value = read_clock(text)
    assert (value.day, value.seconds, value.step_s) == (day, seconds, step)


def test_text_without_a_clock_reads_as_none():
    assert read_clock("QUARTERLY BUDGET REVIEW") is None
    assert read_clock("score 3:2") is None
    assert read_clock("31:45") is None  # no hour 31
    assert read_clock("2024-12-05").seconds is None  # a date alone


def test_at_accepts_the_same_layouts_and_leading_at():
    assert parse_at("2024-12-05 12:01:30").wall_s == read_clock("2024-12-05 12:01:30").wall_s
    assert parse_at("@ 12:01").seconds == 43260
    assert parse_at("at 2024-12-05T12:01:30Z").day == DAY
    assert parse_at("12:01:30.5").seconds == 43290.5
    assert parse_at("Dec 5 2024 1:01 PM").seconds == 46860


@pytest.mark.parametrize("text, why", [
    ("banana", "cannot read 'banana' as a wall-clock time; use 2024-12-05 12:01:30"),
    ("tomorrow 12:00", "cannot read 'tomorrow 12:00' as a wall-clock time"),
    ("2024-12-05", ("'2024-12-05' has a date but no time; add the time of day, e.g. "
                   "'2024-12-05 12:00:00'")),
    ("25:00", "cannot read '25:00'"),
    ("", "cannot read '' as a wall-clock time"),
])
def test_a_value_that_does_not_read_is_a_usage_error_naming_it(text, why):
    with pytest.raises(BadTime) as caught:
        parse_at(text)
    assert str(caught.value).startswith(why) and caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


def test_walls_are_written_with_their_fraction():
    wall = parse_at("2024-12-05 12:01:30.25").wall_s
    assert format_wall(wall, True) == "2024-12-05 12:01:30.25"
    assert format_wall(wall, False) == "12:01:30.25"


# -- the map

def test_per_second_readings_map_each_second_and_inside_it():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 12:00:00", 0.0, 180.0))
    assert len(clock.stretches) == 1 and clock.jumps == [] and clock.dated
    found = look(clock, "2024-12-05 12:01:30")
    assert [m.time_s for m in found.matches] == [90.0] and found.notes == []
    assert (found.matches[0].before.text, found.matches[0].after.text) == (
        "CAM 03 2024-12-05 12:01:30", "CAM 03 2024-12-05 12:01:31")
    assert look(clock, "2024-12-05 12:01:30.4").matches[0].time_s == 90.4
    assert look(clock, "12:02:59.5").matches[0].time_s == 179.5  # time alone, one day
    data = found.to_dict()
    assert data["found"] and data["time"] == "00:01:30.000" and data["wall"] == \
        "2024-12-05 12:01:30"
    assert data["matches"][0]["between"][0]["start_s"] == 90.0
    assert data["clock"]["stretches"][0]["first"] == "2024-12-05 12:00:00"


def test_readings_every_two_seconds_interpolate_the_second_between():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 12:00:00", 0.4, 60.4, every_s=2))
    assert look(clock, "2024-12-05 12:00:03").matches[0].time_s == pytest.approx(3.4)
    match = look(clock, "2024-12-05 12:00:31").matches[0]
    assert match.time_s == pytest.approx(31.4)
    assert (match.before.text[-8:], match.after.text[-8:]) == ("12:00:30", "12:00:32")


def test_readings_sampled_late_are_pinned_by_those_read_on_time():
    """Key frames every half second: a reading's start is up to 0.5 s after the change; the
    readings either side bound the clock, so the answer is the change, not the sample."""
    segments = readings("2024-12-05 12:00:00", 0.0, 30.0)
    segments = [segment(s.start_s + (0.5 if i % 3 == 1 else 0.0), s.end_s, s.text)
                for i, s in enumerate(segments)]
    clock = ClockMap.build("cam.mp4", segments)
    assert look(clock, "2024-12-05 12:00:07").matches[0].time_s == 7.0  # read at 7.5


def test_a_restart_starts_a_new_stretch_and_is_reported():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 12:00:00", 0.0, 8.0)
                           + readings("2024-12-05 09:30:00", 8.0, 30.0))
    assert [(s.start_s, s.end_s) for s in clock.stretches] == [(0.0, 8.0), (8.0, 30.0)]
    (jump,) = clock.jumps
    assert jump.at_s == 8.0 and jump.by_s == -(2 * 3600 + 30 * 60 + 8)
    found = look(clock, "2024-12-05 09:30:10")
    assert [m.time_s for m in found.matches] == [18.0]
    assert found.notes == [("the clock jumps at 00:00:08.000 from 2024-12-05 12:00:07 to "
                           "2024-12-05 09:30:00 (back 2 h 30 min 8 s: a restart, or the clock "
                           "was set)")]
    assert look(clock, "2024-12-05 12:00:07.5").matches[0].time_s == 7.5
    assert found.to_dict()["clock"]["jumps"][0]["at"] == "00:00:08.000"


def test_a_time_shown_twice_gives_both():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 12:00:00", 0.0, 20.0)
                           + readings("2024-12-05 12:00:05", 20.0, 40.0))  # set back 15 s
    found = look(clock, "12:00:10")
    assert [(m.time_s, m.stretch) for m in found.matches] == [(10.0, 0), (25.0, 1)]
    assert found.notes[0] == "2024-12-05 12:00:10 shows 2 times: the clock jumps"
    assert "back 15 s" in found.notes[1]
    assert len(found.lines()) == 4 and found.lines()[1].startswith(" 2. 00:00:25.000  ")


def test_a_time_inside_a_jumps_gap_names_the_jump():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 12:00:00", 0.0, 8.0)
                           + readings("2024-12-05 12:10:00", 8.0, 30.0))
    found = look(clock, "2024-12-05 12:05:00")
    assert found.matches == [] and found.notes == [
        ("2024-12-05 12:05:00 is not on the recording: the clock jumps at 00:00:08.000 from "
        "2024-12-05 12:00:07 to 2024-12-05 12:10:00 (forward 9 min 52 s: a restart, or the "
        "clock was set)")]
    assert found.to_dict()["found"] is False and found.to_dict()["time_s"] is None


def test_times_outside_the_recording_say_what_the_clock_shows():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 12:00:00", 0.0, 181.0))
    assert look(clock, "13:00:00").notes == [
        ("the clock shows 2024-12-05 12:00:00 to 12:03:00; 13:00:00 (2024-12-05 13:00:00) is "
        "after the recording")]
    assert look(clock, "2024-12-05 11:59:59").notes == [
        ("the clock shows 2024-12-05 12:00:00 to 12:03:00; 2024-12-05 11:59:59 is before the "
        "recording")]
    assert look(clock, "2024-12-04 12:01:00").matches == []  # another day
    assert look(clock, "2024-12-05 12:03:00.5").matches[0].time_s == 180.5
    assert look(clock, "2024-12-05 12:03:01").matches == []


def test_a_clock_without_a_date_matches_the_time_of_day_across_midnight():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 23:59:50", 0.0, 30.0,
                                               fmt="%H:%M:%S"))
    assert len(clock.stretches) == 1 and not clock.dated
    assert look(clock, "23:59:55").matches[0].time_s == 5.0
    assert look(clock, "00:00:10").matches[0].time_s == 20.0  # after midnight
    dated = look(clock, "2024-12-05 00:00:10")
    assert dated.matches[0].time_s == 20.0
    assert dated.notes == [("the clock shows no date: 2024-12-05 00:00:10 is matched on its "
                           "time of day")]


def test_a_time_alone_on_a_clock_that_shows_two_days_needs_the_date():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 12:00:00", 0.0, 10.0)
                           + readings("2024-12-06 12:00:00", 10.0, 20.0))
    found = look(clock, "12:00:05")
    assert found.matches == [] and found.notes[0] == (
        "12:00:05 has no date and the clock shows it on 2024-12-05 and 2024-12-06; add the "
        "date, e.g. '2024-12-05 12:00:05'")
    assert look(clock, "2024-12-06 12:00:05").matches[0].time_s == 15.0


def test_twelve_hour_readings_and_readings_without_a_space():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 13:00:00", 0.0, 20.0,
                                               fmt="%m/%d/%Y %I:%M:%S %p"))
    assert look(clock, "2024-12-05 1:00:07 PM").matches[0].time_s == 7.0
    assert look(clock, "13:00:07").matches[0].time_s == 7.0
    glued = ClockMap.build("cam.mp4", readings("2024-12-05 12:00:00", 0.0, 20.0,
                                               fmt="CAM 03 %Y-%m-%d%H:%M:%S"))
    assert look(glued, "2024-12-05 12:00:12").matches[0].time_s == 12.0


def test_day_and_month_follow_the_clocks_own_order():
    """A date typed 05/12/2024 (slashes: month first by default) on a clock whose dates read
    day first (it shows 05/12/2024, and later 13/12/2024: 13 can only be a day)."""
    segments = readings("2024-12-05 12:00:00", 0.0, 10.0, fmt="%d/%m/%Y %H:%M:%S") \
        + readings("2024-12-13 12:00:00", 10.0, 20.0, fmt="%d/%m/%Y %H:%M:%S")
    clock = ClockMap.build("cam.mp4", segments)
    assert clock.order == "dmy" and clock.stretches[0].first.wall_s == \
        parse_at("2024-12-05 12:00:00").wall_s
    found = look(clock, "05/12/2024 12:00:03")
    assert found.matches[0].time_s == 3.0
    assert found.notes[0].startswith("05/12/2024 12:00:03 is read as 2024-12-05 12:00:03 (day "
                                     "first)")


def test_a_typed_date_that_reads_both_ways_takes_the_one_the_clock_shows():
    clock = ClockMap.build("cam.mp4", readings("2024-12-05 12:00:00", 0.0, 10.0))  # ISO
    found = look(clock, "05/12/2024 12:00:03")  # slashes: month first, but May 12 is not shown
    assert found.matches[0].time_s == 3.0 and found.notes[0].startswith(
        "05/12/2024 12:00:03 is read as 2024-12-05 12:00:03 (day first)")
    assert look(clock, "12/05/2024 12:00:03").matches[0].time_s == 3.0


def test_a_misread_digit_and_a_time_on_a_slide_are_left_out():
    segments = readings("2024-12-05 12:00:00", 0.0, 30.0)
    segments[10] = segment(10.0, 11.0, "CAM 03 2024-12-05 12:08:10")  # 8 for 0
    segments[20] = segment(20.0, 21.0, "CAM 03 2024-12-05 12:00:18")  # goes back
    segments.append(segment(3.0, 25.0, "Meeting at 14:00"))  # a time that does not tick
    clock = ClockMap.build("cam.mp4", segments)
    assert len(clock.stretches) == 1 and clock.jumps == [] and clock.left_out == 3
    assert look(clock, "2024-12-05 12:00:10.5").matches[0].time_s == 10.5


def test_a_clock_without_seconds_steps_by_the_minute():
    segments = [segment(0.0, 15.0, "12:00"), segment(15.0, 75.0, "12:01"),
                segment(75.0, 135.0, "12:02"), segment(135.0, 150.0, "12:03")]
    clock = ClockMap.build("cam.mp4", segments)
    assert len(clock.stretches) == 1
    assert look(clock, "12:01:30").matches[0].time_s == 45.0
    assert look(clock, "12:00:50").matches[0].time_s == 5.0
    assert look(clock, "12:00:10").matches[0].time_s == 0.0  # shown from the start


def test_a_date_and_a_time_read_as_two_lines_make_one_clock():
    times = readings("2024-12-05 12:00:00", 0.0, 10.0, fmt="%H:%M:%S")
    clock = ClockMap.build("cam.mp4", [segment(0.0, 10.0, "2024-12-05"), *times])
    assert clock.dated and look(clock, "2024-12-05 12:00:04").matches[0].time_s == 4.0


def test_no_readings_is_no_clock():
    clock = ClockMap.build("talk.mp4", [segment(0.0, 5.0, "QUARTERLY BUDGET"),
                                        segment(5.0, 30.0, "Meeting at 14:00")])
    found = look(clock, "12:00")
    assert clock.stretches == [] and found.matches == [] and not found.has_clock
