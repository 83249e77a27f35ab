"""Wall-clock lookup in the server: `POST /v1/find` with `at` answers `find --at --json`'s
document (videos by id and path), its errors have the API's shape, the guards still hold; on
the page, a date or time typed in the search box seeks the player to where the clock shows it.
The clock is the scripted track of tests/helpers/clock.py (a camera restarted at 12 s)."""

from __future__ import annotations

import httpx
import pytest

from helpers.clock import CLOCK_TRACK
from helpers.media import make_video
from helpers.serving import chromium, console_errors, running, screenshot, wait_for
from vidqa.config import Config
from vidqa.tracks.base import REGISTRY

PLAYER = "document.getElementById('player')"


@pytest.fixture(scope="session")
def cam_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served-cams")
    for name in ("cam1", "cam2", "plain"):
        make_video(folder / f"{name}.mp4", seconds=20, size="160x120", source="testsrc")
    return folder


@pytest.fixture
def cam_service(cam_folder, monkeypatch):
    from vidqa.serve.service import Service

    monkeypatch.setitem(REGISTRY, "wallclock", CLOCK_TRACK)
    service = Service([cam_folder], Config().replace("speech", mode="off")
                      .replace("ocr", mode="off"))
    yield service
    service.close()


def post(server, body: dict, **options) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/find", json=body, timeout=120, **options)


def test_find_with_at_answers_the_clock_document(cam_service):
    with running(cam_service) as server:
        reply = post(server, {"at": "2024-12-05 12:00:05", "video": "cam1.mp4"})
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert (data["object"], data["at"], data["wall"]) == ("clock", "2024-12-05 12:00:05",
                                                              "2024-12-05 12:00:05")
        (video,) = data["videos"]
        entry = cam_service.entry("cam1.mp4")
        assert (video["video"], video["path"], video["time_s"], video["time"]) == (
            entry.id, "cam1.mp4", 5.0, "00:00:05.000")
        assert video["matches"][0]["url"] == f"/#v={entry.id}&t=5"
        assert video["notes"] == [("the clock jumps at 00:00:12.000 from 2024-12-05 12:00:11 to "
                                  "2024-12-05 09:30:00 (back 2 h 30 min 12 s: a restart, or "
                                  "the clock was set)")]
        assert video["clock"]["jumps"][0]["at_s"] == 12.0

        # no video named: every indexed one; a video without a clock is left out
        cam_service.indexed(cam_service.entry("cam2.mp4"))
        cam_service.indexed(cam_service.entry("plain.mp4"))
        with pytest.warns(UserWarning, match="1 of 3 videos show no wall clock"):
            data = cam_service.clock("12:00:25")
        found = {v["path"]: (v["found"], v["time_s"]) for v in data["videos"]}
        assert found == {"cam1.mp4": (False, None), "cam2.mp4": (True, 5.0)}


@pytest.mark.parametrize("body, status, code, message", [
    ({"at": "noon-ish"}, 400, "invalid_at", "cannot read 'noon-ish' as a wall-clock time; use"),
    ({"at": 12}, 400, "invalid_at", "'at' must be a wall-clock time as text"),
    ({"at": "12:00", "query": "budget"}, 400, "invalid_query", "give 'query' or 'at', not both"),
    ({"at": "12:00", "video": "plain.mp4"}, 422, "no_clock", "no wall clock in '"),
    ({"at": "12:00", "video": "missing.mp4"}, 404, "video_not_found", "no video 'missing.mp4'"),
])
def test_find_with_at_refuses_in_the_apis_shape(cam_service, body, status, code, message):
    with running(cam_service) as server:
        reply = post(server, body)
        assert reply.status_code == status, reply.text
        error = reply.json()["error"]
        assert error["code"] == code and error["message"].startswith(message)
        assert "\n" not in error["message"]


def test_find_with_at_keeps_the_json_only_guard(cam_service):
    with running(cam_service) as server:
        reply = httpx.post(f"{server.url}/v1/find", content=b"at=12:00",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert reply.status_code == 415
        assert reply.json()["error"]["code"] == "unsupported_media_type"


def near(seconds: float) -> str:
    """JS: the player has its picture and stands within 0.3 s of `seconds`."""
    return (f"{PLAYER}.readyState >= 2 && !{PLAYER}.seeking && "
            f"Math.abs({PLAYER}.currentTime - {seconds}) <= 0.3")


@pytest.mark.slow
def test_the_page_looks_a_typed_time_up_and_seeks_there(cam_service):
    from selenium.webdriver.common.by import By

    cam_service.indexed(cam_service.entry("cam1.mp4"))
    with running(cam_service) as server, chromium() as driver:
        entry = cam_service.entry("cam1.mp4")
        driver.get(f"{server.url}/#v={entry.id}&t=0")
        wait_for(driver, f"{PLAYER}.readyState >= 1", what="the video loads")

        def search(text: str) -> None:
            box = driver.find_element(By.ID, "query")
            box.clear()
            box.send_keys(text)
            driver.find_element(By.CSS_SELECTOR, "#search-form button").click()

        search("2024-12-05 09:30:03")  # after the restart at 12 s: 15 s
        wait_for(driver, near(15.0), what="the player at 15 s")
        note = driver.find_element(By.ID, "hits-note").text
        assert note.startswith("The clock shows 2024-12-05 09:30:03 at 00:00:15.000")
        assert "the clock jumps at 00:00:12.000" in note
        link = driver.find_element(By.CSS_SELECTOR, "#hits a.hit.clock")
        assert float(link.get_attribute("data-time")) == 15.0
        screenshot(driver, "serve-find-at")

        search("12:00:04")  # a time alone seeks too
        wait_for(driver, near(4.0), what="the player at 4 s")

        search("@13:00")  # off the recording: the note, and the player stays
        wait_for(driver, "document.getElementById('hits-note').textContent.includes("
                 "'is after the recording')", what="the note")
        assert driver.find_element(By.ID, "hits-note").text.startswith(
            "The clock never shows 2024-12-05 13:00:00")
        assert driver.find_elements(By.CSS_SELECTOR, "#hits li") == []
        assert abs(driver.execute_script(f"return {PLAYER}.currentTime") - 4.0) <= 0.3

        search("@noon")  # what does not read says so
        wait_for(driver, "document.getElementById('hits-note').textContent.startsWith("
                 "\"cannot read 'noon'\")", what="the error")

        search("CAM 01")  # words still search
        wait_for(driver, "document.querySelectorAll('#hits a.hit:not(.clock)').length > 0",
                 what="text hits")
        errors = [e for e in console_errors(driver) if "/v1/find" not in e["message"]]
        assert errors == [], errors
