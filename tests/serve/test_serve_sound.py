"""Sound-only recordings (a meeting's .m4a, a podcast's .mp3) served like videos: listed as
sound, indexed from the API with live progress, searched, transcribed and asked about by what
is said; the media route streams each format with ranges and its own Content-Type, a format
browsers cannot play gets an AAC copy, uploads take sound files; the page plays one in an
<audio> element with the speech lane alone, and `vidqa report` writes its offline page. The
recording is the NASA narration (`sound_files`), transcribed once per session by the
in-process Whisper (`whisper`) into the server tests' shared cache."""

from __future__ import annotations

import json
import re
import subprocess

import httpx
import pytest
from click.testing import CliRunner

from helpers.models import link_models
from helpers.scripted import AnsweringBackend
from helpers.serving import (chromium, console_errors, running, screenshot, served_folder,
                             wait_for)
from vidqa.cli import cli
from vidqa.config import Config

SAID = "Goddard Space Flight Center"  # in the narration at 0.3-12.0 s
PLAYER = "document.getElementById('player')"


@pytest.fixture(scope="session")
def sounds(tmp_path_factory, sound_files):
    """meeting.m4a (the narration) and podcast/episode.mp3 (the same, as MP3)."""
    return served_folder(tmp_path_factory.mktemp("sounds") / "sounds",
                         {"meeting.m4a": sound_files[".m4a"],
                          "podcast/episode.mp3": sound_files[".mp3"]})


@pytest.fixture
def sound_home(shared_home, models):
    """The server tests' shared cache, with the session's models (MiniLM's ONNX export: the
    index is built without exporting it again)."""
    return link_models(models, shared_home)


@pytest.fixture
def sound_config() -> Config:
    """Speech recognition as a user gets it; no OCR (a recording has no picture to read)."""
    return Config().replace("ocr", mode="off")


def sound_service(folder, config, whisper, backend=None, *, check=False):
    """A service over `folder` whose speech track uses the session's loaded Whisper."""
    from vidqa.serve.service import Service

    service = Service([folder], config, backend=backend, check=check)
    service.tools.asr = whisper
    return service


@pytest.fixture
def service(sounds, sound_home, sound_config, whisper, answering):
    """A service over `sounds` with the model that answers (this module's `service`)."""
    made = sound_service(sounds, sound_config, whisper, answering)
    yield made
    made.close()


@pytest.mark.media
def test_a_served_m4a_is_indexed_with_progress_then_found_and_transcribed(server, service):
    listed = {v["path"]: v for v in httpx.get(f"{server.url}/api/videos").json()["videos"]}
    assert sorted(listed) == ["meeting.m4a", "podcast/episode.mp3"]
    meeting = service.entry("meeting.m4a")
    detail = httpx.get(f"{server.url}/api/videos/{meeting.id}").json()
    assert detail["has_picture"] is False and detail["codec"] == "aac"
    assert detail["playable"] is True and detail["media_url"].endswith("/media")
    started = httpx.post(f"{server.url}/api/videos/{meeting.id}/index")
    if started.json()["job"] is not None:  # not indexed by an earlier test of this session
        assert started.status_code == 202
        events, last = [], {}
        with httpx.stream("GET", f"{server.url}/api/jobs/{started.json()['job']['id']}/events",
                          timeout=120) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])
                elif line.startswith("data: "):
                    last = json.loads(line[6:])
        assert events[-1] == "done" and "progress" in events
        assert "meeting.m4a speech" in [stage["desc"] for stage in last["stages"]]
    assert service.entry("meeting.m4a").state == "indexed"

    said = httpx.get(f"{server.url}/api/videos/{meeting.id}/transcript").json()["segments"]
    assert len(said) == 1 and SAID in said[0]["text"]
    assert 0.0 <= said[0]["start_s"] < 1.0 and 11.0 < said[0]["end_s"] <= 13.1
    found = httpx.post(f"{server.url}/v1/find", json={"query": "space flight center",
                                                      "video": "meeting.m4a"}).json()["data"]
    assert found[0]["kind"] == "speech" and found[0]["path"] == "meeting.m4a"
    assert SAID in found[0]["text"] and 0.0 <= found[0]["time_s"] <= 12.0

    # the timeline: the speech lane alone (no scenes, no key frames, no on-screen text)
    data = httpx.get(f"{server.url}/api/videos/{meeting.id}/timeline").json()
    assert [lane["key"] for lane in data["order"]] == ["speech"] and not data["has_picture"]
    assert sorted(data["lanes"]) == ["speech"] and abs(data["duration_s"] - 13.06) < 0.1
    assert SAID in data["lanes"]["speech"]["items"][0]["text"]
    assert httpx.get(f"{server.url}/api/videos/{meeting.id}/keyframes/000001.jpg"
                     ).status_code == 404


@pytest.mark.media
def test_a_question_about_a_recording_is_answered_from_what_is_said(server, service,
                                                                    monkeypatch):
    monkeypatch.setattr(AnsweringBackend, "answer",
                        "It is in a clean room at NASA's Goddard Space Flight Center [0.3-12.0 s].")
    reply = httpx.post(f"{server.url}/v1/chat/completions", timeout=120, json={
        "model": "vidqa", "messages": [{"role": "user", "content": [
            {"type": "audio_url", "audio_url": {"url": "meeting.m4a"}},
            {"type": "text", "text": "Where is the telescope?"}]}]})
    assert reply.status_code == 200, reply.text[:300]
    body = reply.json()
    assert "Sources: meeting.m4a 00:00:00.300-00:00:12.000" in \
        body["choices"][0]["message"]["content"]
    assert [(c["start_s"], c["end_s"]) for c in body["vidqa"]["citations"]] == [(0.3, 12.0)]
    asked = [c for c in service.backend._backend.calls
             if any("Question:" in i.get("text", "") for m in c for i in m["content"])][-1]
    items = [i for m in asked for i in m["content"]]
    assert not [i for i in items if i.get("type") == "image"]  # no picture to send
    assert any(SAID in i.get("text", "") for i in items)  # what is said, in the prompt
    inline = httpx.post(f"{server.url}/v1/chat/completions", json={
        "model": "vidqa", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            {"type": "text", "text": "What is said?"}]}]})
    # sound sent inside the request is taken like a data-URL video; bytes that are none: 415
    assert inline.status_code == 415 and "not a video or sound file" in \
        inline.json()["error"]["message"]


@pytest.mark.media
def test_every_sound_format_streams_with_ranges_and_its_own_type(tmp_path, shared_home,
                                                                 sound_files):
    from vidqa.serve.service import Service

    types = {".m4a": "audio/mp4", ".mp3": "audio/mpeg", ".opus": "audio/ogg",
             ".wav": "audio/wav", ".flac": "audio/flac"}
    folder = served_folder(tmp_path / "formats", {f"talk{s}": p for s, p in sound_files.items()})
    service = Service([folder], check=False)
    try:
        with running(service) as server:
            for suffix, kind in types.items():
                entry = service.entry(f"talk{suffix}")
                detail = httpx.get(f"{server.url}/api/videos/{entry.id}").json()
                assert detail["has_picture"] is False and detail["playable"] is True, suffix
                assert detail["media_url"] == f"/api/videos/{entry.id}/media"
                whole = entry.file.read_bytes()
                part = httpx.get(f"{server.url}{detail['media_url']}",
                                 headers={"Range": "bytes=100-199"})
                assert part.status_code == 206 and part.content == whole[100:200], suffix
                assert part.headers["content-type"] == kind
                assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"
                assert part.headers["x-content-type-options"] == "nosniff"
            mp3 = service.entry("talk.mp3")
            past = httpx.get(f"{server.url}/api/videos/{mp3.id}/media",
                             headers={"Range": f"bytes={mp3.size_bytes + 10}-"})
            assert past.status_code == 416 and past.json()["error"]["code"] == "invalid_range"
    finally:
        service.close()


@pytest.mark.media
def test_a_sound_format_browsers_cannot_play_gets_an_aac_copy_made_once(tmp_path, shared_home,
                                                                       sound_files):
    from vidqa.media.ffmpeg import ffmpeg_exe
    from vidqa.media.probe import probe
    from vidqa.serve.service import Service

    folder = tmp_path / "archive"
    folder.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(sound_files[".wav"]),
                    str(folder / "interview.aif")], check=True)
    service = Service([folder], check=False)
    try:
        with running(service) as server:
            entry = service.entry("interview.aif")
            detail = httpx.get(f"{server.url}/api/videos/{entry.id}").json()
            assert detail["has_picture"] is False and detail["playable"] is False
            assert detail["media_url"].endswith("?proxy=1")
            first = httpx.get(f"{server.url}{detail['media_url']}", timeout=120)
            assert first.status_code == 200 and first.headers["content-type"] == "audio/mp4"
            copy = tmp_path / "copy.m4a"
            copy.write_bytes(first.content)
            info = probe(copy)
            assert not info.has_picture and abs(info.duration_s - 13.06) < 0.2
            assert [s.codec for s in info.streams] == ["aac"]
            made = service.proxy(entry)
            assert made.suffix == ".m4a" and made.read_bytes() == first.content
            stamp = made.stat().st_mtime_ns
            again = httpx.get(f"{server.url}{detail['media_url']}",
                              headers={"Range": "bytes=0-99"})
            assert again.status_code == 206 and again.content == first.content[:100]
            assert made.stat().st_mtime_ns == stamp  # made once
    finally:
        service.close()


@pytest.mark.media
def test_uploads_take_sound_files_and_still_refuse_anything_else(uploads, sound_files):
    folder = uploads.library.roots[0]
    data = sound_files[".wav"].read_bytes()
    with running(uploads) as server:
        made = httpx.put(f"{server.url}/api/upload/call.wav", content=data)
        assert made.status_code == 201 and made.json()["path"] == "call.wav"
        assert (folder / "call.wav").read_bytes() == data
        detail = httpx.get(f"{server.url}/api/videos/{made.json()['id']}").json()
        assert detail["has_picture"] is False and detail["playable"] is True
        text = httpx.put(f"{server.url}/api/upload/notes.txt", content=b"minutes\n")
        assert text.status_code == 400 and "not a video or sound file name" in \
            text.json()["error"]["message"]
        fake = httpx.put(f"{server.url}/api/upload/fake.wav", content=b"not sound\n" * 50)
        assert fake.status_code == 415
        assert "not a video or sound file vidqa can read" in fake.json()["error"]["message"]
    assert sorted(p.name for p in folder.iterdir()) == ["call.wav"]


@pytest.mark.media
def test_sound_files_outside_the_folders_or_asked_by_another_site_are_refused(
        tmp_path, shared_home, sound_files):
    from vidqa.serve.service import Service

    outside = tmp_path / "private" / "call.m4a"
    outside.parent.mkdir()
    outside.write_bytes(sound_files[".m4a"].read_bytes())
    folder = served_folder(tmp_path / "sounds", {"talk.mp3": sound_files[".mp3"]})
    (folder / "escape.m4a").symlink_to(outside)
    service = Service([folder], check=False)
    try:
        with running(service) as server:
            assert [v["path"] for v in httpx.get(f"{server.url}/api/videos").json()["videos"]] \
                == ["talk.mp3"]
            for ref in ("escape.m4a", "../private/call.m4a", "/etc/passwd"):
                found = httpx.post(f"{server.url}/v1/find", json={"query": "x", "video": ref})
                assert found.status_code == 403, ref
                assert found.json()["error"]["code"] == "path_not_served"
            media = f"{server.url}/api/videos/talk.mp3/media"
            foreign = httpx.get(media, headers={"Origin": "http://attacker.example"})
            assert foreign.status_code == 403
            assert foreign.json()["error"]["code"] == "cross_site_request"
            assert httpx.get(media, headers={"Host": "attacker.example"}).status_code == 403
            assert httpx.get(media).status_code == 200
    finally:
        service.close()


def test_every_served_extension_has_its_content_type():
    from vidqa.media.collection import AUDIO_EXTENSIONS, MEDIA_EXTENSIONS
    from vidqa.serve.pages import MEDIA_TYPES

    assert set(MEDIA_TYPES) == MEDIA_EXTENSIONS
    assert all(MEDIA_TYPES[e].startswith("audio/") for e in AUDIO_EXTENSIONS)
    assert all(MEDIA_TYPES[e].startswith("video/") for e in MEDIA_EXTENSIONS - AUDIO_EXTENSIONS)


def report_data(path) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>',
                                path.read_text(), re.S).group(1))


@pytest.mark.slow
@pytest.mark.media
def test_the_report_of_a_recording_plays_it_in_an_audio_element(service, sounds):
    service.indexed(service.entry("meeting.m4a"))  # transcribed once, into the shared cache
    out = sounds.parent / "minutes" / "meeting report.html"  # a folder beside the recording's
    result = CliRunner().invoke(cli, ["-q", "report", str(sounds / "meeting.m4a"), "-o",
                                      str(out), "--ocr", "off"])
    assert result.exit_code == 0, result.output
    data = report_data(out)
    assert data["video"]["has_picture"] is False and data["thumbs"] == {}
    assert data["video"]["href"] == "../sounds/meeting.m4a"
    assert [lane["key"] for lane in data["timeline"]["order"]] == ["speech"]
    assert sorted(data["timeline"]["lanes"]) == ["speech"]
    assert SAID in data["transcript"][0]["text"]
    assert data["summaries"] == []

    with chromium() as driver:
        driver.get(out.as_uri())
        wait_for(driver, f"{PLAYER}.tagName === 'AUDIO' && {PLAYER}.readyState >= 1", 30,
                 "the recording beside the report loads in an <audio> element")
        assert driver.execute_script("return document.querySelectorAll('video').length") == 0
        assert driver.execute_script(
            "return document.getElementById('summaries-panel').hidden") is True
        link = driver.find_element("css selector", "#transcript a.time")
        start = float(link.get_attribute("data-time"))
        driver.execute_script(f"{PLAYER}.currentTime = 8")
        wait_for(driver, f"Math.abs({PLAYER}.currentTime - 8) < 0.5")
        link.click()
        wait_for(driver, f"Math.abs({PLAYER}.currentTime - {start}) <= 0.3",
                 what="the player at the transcript line's time")
        assert driver.execute_script("return timeline.lanes.map((l) => l[0])") == ["speech"]
        screenshot(driver, "report-sound-only")
        errors = console_errors(driver)
        assert errors == [], errors


@pytest.mark.slow
@pytest.mark.media
def test_the_page_plays_a_recording_in_an_audio_element_and_seeks_to_a_hit(
        tmp_path, sound_home, sound_files, sound_config, whisper, clips):
    from selenium.webdriver.common.by import By

    folder = served_folder(tmp_path / "page", {"meeting.m4a": sound_files[".m4a"],
                                               "podcast/episode.mp3": sound_files[".mp3"],
                                               "zoom/clip.mp4": clips["short3"]})
    service = sound_service(folder, sound_config, whisper, check=True)
    service.indexed(service.entry("meeting.m4a"))
    try:
        with running(service) as server, chromium() as driver:
            driver.get(f"{server.url}/")
            wait_for(driver, "document.querySelectorAll('#library li').length === 3",
                     what="the library lists the recordings and the video")
            wait_for(driver, "document.querySelectorAll('#library .sound').length === 2",
                     what="the two recordings marked as sound")
            wait_for(driver, f"{PLAYER}.tagName === 'AUDIO' && {PLAYER}.readyState >= 1",
                     what="the first recording loads in an <audio> element")
            assert driver.execute_script("return document.querySelectorAll('video').length") == 0
            wait_for(driver, "timeline.data !== null", what="the timeline")
            assert driver.execute_script("return timeline.lanes.map((l) => l[1])") == ["Speech"]
            assert SAID in driver.execute_script(
                "return timeline.data.lanes.speech.items[0].text")

            driver.find_element(By.ID, "query").send_keys("Goddard space flight center")
            driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
            wait_for(driver, "document.querySelectorAll('#hits a.hit').length > 0",
                     what="search hits")
            hit = driver.find_elements(By.CSS_SELECTOR, "#hits li")[0]
            assert "[speech]" in hit.text and "meeting.m4a" in hit.text
            link = hit.find_element(By.CSS_SELECTOR, "a.hit")
            hit_s = float(link.get_attribute("data-time"))
            assert 0.0 < hit_s < 12.0
            link.click()
            wait_for(driver, f"!{PLAYER}.seeking && Math.abs({PLAYER}.currentTime - {hit_s}) "
                     "<= 0.3", what=f"the recording at {hit_s} s after the hit's click")
            driver.execute_script(f"{PLAYER}.play()")  # the click gave the page a gesture
            wait_for(driver, f"!{PLAYER}.paused && {PLAYER}.currentTime > {hit_s} + 0.3",
                     what="the recording plays on from the hit")
            assert driver.execute_script("return timeline.time") >= hit_s
            screenshot(driver, "serve-sound-only")

            # a video after it gets a <video> element again, and the recording its <audio>
            video = service.entry("zoom/clip.mp4").id
            driver.find_element(By.CSS_SELECTOR, f"#library li[data-video='{video}']").click()
            wait_for(driver, f"{PLAYER}.tagName === 'VIDEO' && {PLAYER}.readyState >= 1 && "
                     "document.querySelectorAll('audio, video').length === 1",
                     what="the video in a <video> element")
            link.click()
            wait_for(driver, f"{PLAYER}.tagName === 'AUDIO' && !{PLAYER}.seeking && "
                     f"Math.abs({PLAYER}.currentTime - {hit_s}) <= 0.3",
                     what="the hit's recording back in an <audio> element, at the hit")
            errors = console_errors(driver)
            assert errors == [], errors
    finally:
        service.close()
