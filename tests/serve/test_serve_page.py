"""The page in a real browser (Debian's headless Chromium): it loads with no console errors, a
search lists hits and a click on one seeks the player there, a cited time in an answer does the
same, and a video indexed from the page shows its progress live. A screenshot is kept as a test
artifact (tests/artifacts/serve-page.png)."""

from __future__ import annotations

import pytest

from helpers.serving import (chromium, console_errors, running, screenshot, served_folder,
                             wait_for)

PLAYER = "document.getElementById('player')"


def near(seconds: float) -> str:
    """JS: the player has its picture and stands within 0.5 s of `seconds`."""
    return (f"{PLAYER}.readyState >= 2 && !{PLAYER}.seeking && "
            f"Math.abs({PLAYER}.currentTime - {seconds}) <= 0.5")


@pytest.mark.slow
def test_the_page_searches_seeks_answers_and_indexes_in_a_real_browser(
        tmp_path, shared_home, answering, serve_config, event_video, clips):
    from selenium.webdriver.common.by import By

    from vidqa.serve.service import Service

    folder = served_folder(tmp_path / "page", {"event.mp4": event_video[0],
                                               "new/slide.mp4": clips["slide"]})
    service = Service([folder], serve_config, backend=answering)
    service.indexed(service.entry("event.mp4"))
    try:
        with running(service) as server, chromium() as driver:
            driver.get(f"{server.url}/")
            wait_for(driver, "document.querySelectorAll('#library li').length === 2",
                     what="the library lists both videos")
            wait_for(driver, "document.querySelector('#library .state.indexed') !== null && "
                     "document.querySelector('#library button.index') !== null",
                     what="one video indexed, one with an Index button")
            wait_for(driver, f"{PLAYER}.readyState >= 1", what="the first video loads")

            # search: hits list video, time and text; a click seeks the player there
            driver.find_element(By.ID, "query").send_keys("fire alarm test")
            driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
            wait_for(driver, "document.querySelectorAll('#hits a.hit').length > 0",
                     what="search hits")
            hits = driver.find_elements(By.CSS_SELECTOR, "#hits li")
            assert "FIRE ALARM TEST" in hits[0].text and "event.mp4" in hits[0].text
            link = hits[0].find_element(By.CSS_SELECTOR, "a.hit")
            hit_s = float(link.get_attribute("data-time"))
            assert 40.5 <= hit_s <= 42.0  # the event shows from 41.3 s, sampled at 2 fps
            link.click()
            wait_for(driver, near(hit_s), what=f"the player at {hit_s} s after the hit's click")

            # ask: the answer's cited time is a link that seeks
            driver.execute_script(f"{PLAYER}.currentTime = 5")
            wait_for(driver, near(5))
            driver.find_element(By.ID, "question").send_keys("When is the fire alarm test shown?")
            driver.find_element(By.CSS_SELECTOR, "#ask-form button").click()
            wait_for(driver, "document.querySelectorAll('#answer a.cite').length > 0",
                     what="an answer with cited times")
            assert "alarm test is on screen" in driver.find_element(By.ID, "answer").text
            cited = driver.find_elements(By.CSS_SELECTOR, "#answer a.cite")[0]
            assert float(cited.get_attribute("data-time")) == 41.0
            cited.click()
            wait_for(driver, near(41.0), what="the player at the cited time")

            # the timeline drew its lanes from the server's summary
            lanes = driver.execute_script("return timeline.data && Object.fromEntries("
                                          "Object.entries(timeline.data.lanes).map("
                                          "([k, v]) => [k, v.items.length]))")
            assert lanes["scenes"] >= 1 and lanes["text"] >= 1 and lanes["events"] >= 1
            # each lane's title and colour come from its track's declaration (`order`)
            drawn = driver.execute_script("return timeline.lanes.map((l) => [l[1], l[3]])")
            assert drawn[0] == ["Scenes", "--scenes"]
            assert ["On screen", "#e0a84f"] in drawn and ["Events", "#c77be0"] in drawn
            screenshot(driver, "serve-page")

            # indexing from the page, with live progress
            driver.find_element(By.CSS_SELECTOR, "#library button.index").click()
            wait_for(driver, "document.querySelector('#library .job') !== null", 30,
                     "the job's progress under the video")
            wait_for(driver, "document.querySelectorAll('#library .state.indexed').length === 2",
                     120, "both videos indexed")
            assert service.entry("new/slide.mp4").state == "indexed"
            errors = console_errors(driver)
            assert errors == [], errors
    finally:
        service.close()


@pytest.mark.slow
def test_a_page_of_a_server_with_a_key_asks_for_it_once_then_plays(service):
    from selenium.webdriver.common.by import By

    with running(service, api_key="s3cret") as server, chromium() as driver:
        driver.get(f"{server.url}/")
        wait_for(driver, "!document.getElementById('key-form').hidden", what="the key form")
        driver.find_element(By.ID, "key").send_keys("wrong")
        driver.find_element(By.CSS_SELECTOR, "#key-form button").click()
        wait_for(driver, "document.getElementById('key-error').textContent === 'wrong key'")
        key = driver.find_element(By.ID, "key")
        key.clear()
        key.send_keys("s3cret")
        driver.find_element(By.CSS_SELECTOR, "#key-form button").click()
        wait_for(driver, "document.querySelectorAll('#library li').length === 2",
                 what="the library, once the key is given")
        # the <video> cannot send a header: the cookie the key was traded for lets it in
        wait_for(driver, f"{PLAYER}.readyState >= 1", what="the video loads with the cookie")
        assert driver.execute_script("return document.getElementById('key-form').hidden")
        refused = [e for e in console_errors(driver) if "401" not in e["message"]]
        assert refused == [], refused


@pytest.mark.slow
@pytest.mark.media
def test_a_file_whose_video_starts_late_is_played_at_vidqas_times(tmp_path, media):
    """An mp4 whose edit list delays the video by 1.075 s: vidqa's times start at 0, the
    browser's clock at 1.075 s; the page adds the offset, so seeking to vidqa's 1.0 s shows the
    frame vidqa read at 1.0 s (counter.mp4 prints its frame number)."""
    import base64
    import subprocess

    import cv2
    import numpy as np

    from vidqa.media.ffmpeg import ffmpeg_exe
    from vidqa.serve.service import Service
    from vidqa.tracks.ocr import OcrEngine

    folder = tmp_path / "late"
    folder.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-itsoffset", "1.075", "-i",
                    str(media / "pyscenedetect" / "counter.mp4"), "-c", "copy",
                    str(folder / "late.mp4")], check=True)
    service = Service([folder], check=False)
    try:
        with running(service) as server, chromium() as driver:
            driver.get(f"{server.url}/")
            wait_for(driver, f"{PLAYER}.readyState >= 2", what="the video loads")
            driver.execute_script(f"{PLAYER}.pause(); seekTo(state.current.id, 1.0)")
            wait_for(driver, near(2.075), what="the player at vidqa's 1.0 s + the offset")
            data = driver.execute_script(
                f"const v = {PLAYER}, c = document.createElement('canvas'); c.width = "
                "v.videoWidth; c.height = v.videoHeight; c.getContext('2d').drawImage(v, 0, 0);"
                " return c.toDataURL('image/png');")
    finally:
        service.close()
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data.split(",")[1]), np.uint8),
                         cv2.IMREAD_COLOR)
    shown = " ".join(text for text, *_ in OcrEngine(threads=1).read(image))
    assert "Frame = 11" in shown, shown  # 10 fps from frame 1: vidqa's frame at 1.0 s
