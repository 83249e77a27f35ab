"""`vidqa report`: one HTML file that opens offline beside the video, checked in a real browser
(no request leaves the file and the video: every asset is inside it)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from click.testing import CliRunner

from helpers.serving import chromium, console_errors, screenshot, wait_for
from vidqa.cli import cli

SRT = """1
00:00:05,000 --> 00:00:08,000
Welcome to the quarterly review.

2
00:00:41,500 --> 00:00:43,000
This is only a fire alarm test.
"""


def report_data(path) -> dict:
    text = path.read_text()
    return json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>',
                                text, re.S).group(1))


@pytest.mark.slow
def test_a_report_opens_offline_beside_the_video_and_its_times_seek(tmp_path, event_video):
    folder = tmp_path / "meeting"
    folder.mkdir()
    video = folder / "talk.mp4"
    shutil.copyfile(event_video[0], video)
    video.with_suffix(".srt").write_text(SRT)
    out = tmp_path / "shared" / "talk report.html"
    result = CliRunner().invoke(cli, ["-q", "report", str(video), "-o", str(out),
                                      "--speech", "subtitles"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    data = report_data(out)
    assert data["video"]["href"] == "../meeting/talk.mp4"  # relative: the two move together
    assert [line["text"] for line in data["transcript"]] == [
        "Welcome to the quarterly review.", "This is only a fire alarm test."]
    assert "FIRE ALARM TEST" in [line["text"] for line in data["log"]]
    assert data["thumbs"] and all(uri.startswith("data:image/jpeg;base64,")
                                  for uri in data["thumbs"].values())
    html = out.read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert "<script src" not in html and "stylesheet" not in html  # everything inline

    with chromium() as driver:
        driver.get(out.as_uri())
        wait_for(driver, "document.getElementById('player').readyState >= 1", 30,
                 "the video beside the report loads")
        wait_for(driver, "document.querySelectorAll('#log a.time').length > 0")
        link = next(a for a in driver.find_elements("css selector", "#transcript a.time")
                    if a.get_attribute("data-time") == "41.5")
        link.click()
        wait_for(driver, "Math.abs(document.getElementById('player').currentTime - 41.5) "
                 "<= 0.5 && document.getElementById('player').readyState >= 2",
                 what="the player at the transcript line's time")
        assert driver.execute_script("return timeline.data.lanes.text.items.length") >= 2
        screenshot(driver, "report")
        errors = console_errors(driver)
        assert errors == [], errors


def test_a_report_that_cannot_be_written_is_one_line(tmp_path, clips):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(cli, ["-q", "report", str(clips["slide"]), "-o",
                                      str(blocker / "report.html"), "--speech", "off",
                                      "--ocr", "off"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot write the report") and \
        len(result.output.strip().splitlines()) == 1


HOSTILE_SRT = """1
00:00:01,000 --> 00:00:03,000
Type <!-- to open a comment; the tag </script ends one

2
00:00:03,500 --> 00:00:05,000
Templates write {{data}} and /*{{css}}*/ as text \u2028 too
"""


def test_the_report_data_is_valid_json_whatever_the_text_holds():
    from vidqa.serve.report import render_report

    data = {"video": {"name": "a<!--b {{data}}.mp4"}, "log": [
        {"text": "<!-- </script><script>alert(1)</script> & \u2028 {{title}}"}]}
    page = render_report(data)
    payload = re.search(r'<script type="application/json" id="data">(.*?)</script>', page,
                        re.S).group(1)
    assert "<" not in payload and ">" not in payload
    assert json.loads(payload) == data  # what the page's JSON.parse reads
    assert "<title>a&lt;!--b {{data}}.mp4 - vidqa report</title>" in page


@pytest.mark.slow
def test_a_report_of_a_file_and_subtitles_holding_comment_marks_renders(tmp_path, clips):
    """`<!--` in a file name or a subtitle line left the page blank ("Bad escaped character
    in JSON")."""
    video = tmp_path / "a<!--b.mp4"
    shutil.copyfile(clips["slide"], video)
    video.with_suffix(".srt").write_text(HOSTILE_SRT)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["-q", "report", str(video), "-o", str(out),
                                      "--speech", "subtitles"])
    assert result.exit_code == 0, result.output
    said = [line["text"] for line in report_data(out)["transcript"]]
    assert said[0] == "Type <!-- to open a comment; the tag </script ends one"
    with chromium() as driver:
        driver.get(out.as_uri())
        wait_for(driver, "document.querySelectorAll('#transcript a.time').length === 2", 30,
                 "the transcript rendered")
        text = driver.execute_script("return document.getElementById('transcript').innerText")
        assert "Type <!-- to open a comment" in text and "{{data}}" in text
        assert driver.execute_script("return document.title").startswith("a<!--b.mp4")
        errors = console_errors(driver)
        assert errors == [], errors
