"""`vidqa serve`'s API on 127.0.0.1: the official openai client asks about a served video, the
page's routes, the guards (paths, keys, sizes, CORS), and searches beside an indexing job."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from click.testing import CliRunner

from helpers.extras import need
from helpers.models import link_models
from helpers.scripted import AnsweringBackend
from helpers.serving import running, served_folder
from vidqa.cli import cli

openai = need("openai")

QUESTION = "When is the fire alarm test shown?"


def client(server, key: str = "none") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=120)


def ask(video: str, text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": video}},
                                         {"type": "text", "text": text}]}]


def test_the_openai_client_asks_about_a_served_video_and_gets_cited_times(server, service):
    reply = client(server).chat.completions.create(model="vidqa",
                                                   messages=ask("event.mp4", QUESTION))
    content = reply.choices[0].message.content
    assert content.startswith("The alarm test is on screen at [41.0-43.5 s].")
    assert "Sources: event.mp4 00:00:41.000-00:00:43.500" in content
    data = reply.model_extra["vidqa"]
    assert data["video"]["path"] == "event.mp4"
    assert [(c["start_s"], c["end_s"]) for c in data["citations"]] == [(41.0, 43.5)]
    assert data["citations"][0]["url"] == f"/#v={data['video']['id']}&t=41"
    # the video was indexed on the way (captions by the same model), and stays indexed
    assert service.entry("event.mp4").state == "indexed"
    answered = [c for c in service.backend._backend.calls
                if any("Question:" in i.get("text", "") for m in c for i in m["content"])]
    frames = [i for i in answered[-1][-1]["content"] if i.get("type") == "image"]
    labels = [i["text"] for i in answered[-1][-1]["content"] if i.get("type") == "text"
              and i["text"].startswith("<")]
    assert frames and len(labels) >= len(frames)  # each frame after its <t seconds> label


def test_streaming_gives_the_same_answer_in_pieces_and_the_citations_at_the_end(server):
    plain = client(server).chat.completions.create(model="vidqa",
                                                   messages=ask("event.mp4", QUESTION))
    chunks = list(client(server).chat.completions.create(
        model="vidqa", messages=ask("event.mp4", QUESTION), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == plain.choices[0].message.content
    assert len([c for c in chunks if c.choices[0].delta.content]) > 2
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["vidqa"]["citations"] == plain.model_extra["vidqa"]["citations"]


def test_a_multiple_choice_question_that_asks_for_the_letter_gets_the_letter(server, monkeypatch):
    monkeypatch.setattr(AnsweringBackend, "answer",
                        "<think>It is shown once.</think>The answer is (B), at [41.0-43.5 s].")
    question = ("What does the caption in the middle of the video say?\n"
                "A. Quarterly review\nB. Fire alarm test\nC. Budget meeting\nD. Nothing\n"
                "Answer with the option's letter from the given choices directly.")
    reply = client(server).chat.completions.create(model="vidqa",
                                                   messages=ask("event.mp4", question))
    assert reply.choices[0].message.content == "B"
    data = reply.model_extra["vidqa"]
    assert data["letter"] == "B" and "answer is (B)" in data["reply"]
    assert data["citations"][0]["start_s"] == 41.0


@pytest.mark.parametrize("video, status, code", [
    ("missing.mp4", 404, "video_not_found"),
    ("../outside.mp4", 403, "path_not_served"),
    ("talks/../../outside.mp4", 403, "path_not_served"),
    ("/etc/passwd", 403, "path_not_served"),
    ("file:///etc/passwd", 403, "path_not_served"),
    ("escape.mp4", 403, "path_not_served"),  # a link in the folder to a video outside it
])
def test_videos_outside_the_served_folders_are_refused(server, library, tmp_path, video, status,
                                                       code):
    outside = tmp_path / "outside.mp4"
    outside.write_bytes((library / "event.mp4").read_bytes()[:4096])
    link = library / "escape.mp4"
    if not link.exists():
        link.symlink_to(outside)
    with pytest.raises(openai.APIStatusError) as caught:
        client(server).chat.completions.create(model="vidqa", messages=ask(video, QUESTION))
    assert caught.value.status_code == status
    assert caught.value.body["code"] == code  # OpenAI's error shape: {"error": {...}}
    assert caught.value.body["type"] in ("not_found_error", "permission_error")
    found = httpx.post(f"{server.url}/v1/find", json={"query": "alarm", "video": video})
    assert found.status_code == status and found.json()["error"]["code"] == code


def test_requests_without_the_right_key_are_refused_but_the_page_loads(service):
    with running(service, api_key="s3cret") as server:
        with pytest.raises(openai.AuthenticationError) as caught:
            client(server, "wrong").chat.completions.create(model="vidqa",
                                                            messages=ask("event.mp4", QUESTION))
        assert caught.value.body["code"] == "invalid_api_key"
        assert httpx.get(f"{server.url}/api/videos").status_code == 401
        assert httpx.get(f"{server.url}/v1/models").status_code == 401
        assert [m.id for m in client(server, "s3cret").models.list()] == ["vidqa", "vidqa-all"]
        page = httpx.get(f"{server.url}/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        assert httpx.get(f"{server.url}/static/app.js").status_code == 200
        # the page trades the key for a cookie, which its <video> and event streams carry
        session = httpx.post(f"{server.url}/api/session",
                             headers={"Authorization": "Bearer s3cret"})
        assert session.status_code == 200
        cookies = {"vidqa_key": session.cookies["vidqa_key"]}
        assert httpx.get(f"{server.url}/api/videos", cookies=cookies).status_code == 200
        assert httpx.post(f"{server.url}/api/session",
                          headers={"Authorization": "Bearer nope"}).status_code == 401


def test_unknown_models_bad_bodies_and_large_bodies_get_openai_errors(server, service):
    with pytest.raises(openai.NotFoundError) as caught:
        client(server).chat.completions.create(model="gpt-4o", messages=ask("event.mp4", "x"))
    assert caught.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).chat.completions.create(
            model="vidqa", messages=[{"role": "user", "content": QUESTION}])
    assert caught.value.body["code"] == "missing_video"
    bad = httpx.post(f"{server.url}/v1/chat/completions", content=b"{not json",
                     headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    limit = int(service.config.serve.max_body_mb * 2**20)
    as_json = {"Content-Type": "application/json"}
    big = httpx.post(f"{server.url}/v1/find", content=b"x" * (limit + 1), headers=as_json)
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"

    def chunked():  # no Content-Length: refused while it is read
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    big = httpx.post(f"{server.url}/v1/find", content=chunked(), headers=as_json)
    assert big.status_code == 413
    assert httpx.get(f"{server.url}/nowhere").json()["error"]["type"] == "not_found_error"


def test_cors_is_off_unless_origins_are_named(service):
    preflight = {"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"}
    with running(service) as server:
        answer = httpx.options(f"{server.url}/v1/find", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers
    with running(service, cors_origins=("http://elsewhere.example",)) as server:
        answer = httpx.options(f"{server.url}/v1/find", headers=preflight)
        assert answer.headers["access-control-allow-origin"] == "http://elsewhere.example"


def test_media_keyframes_timeline_and_indexing_progress_for_the_page(server, service):
    videos = httpx.get(f"{server.url}/api/videos").json()["videos"]
    assert [v["path"] for v in videos] == ["event.mp4", "talks/cuts.mp4"]
    cuts = service.entry("talks/cuts.mp4")
    started = httpx.post(f"{server.url}/api/videos/{cuts.id}/index").json()
    if started["job"] is not None:  # not indexed by an earlier test of this session
        events = []
        with httpx.stream("GET", f"{server.url}/api/jobs/{started['job']['id']}/events",
                          timeout=120) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])
        job = httpx.get(f"{server.url}/api/jobs/{started['job']['id']}").json()
        assert events[-1] == "done" and "progress" in events, job
    detail = httpx.get(f"{server.url}/api/videos/{cuts.id}").json()
    assert detail["state"] == "indexed" and detail["playable"] is True
    # range requests, so the player seeks in large files
    whole = cuts.file.read_bytes()
    part = httpx.get(f"{server.url}{detail['media_url']}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole[100:200]
    lanes = httpx.get(f"{server.url}/api/videos/{cuts.id}/timeline").json()["lanes"]
    assert len(lanes["scenes"]["items"]) == 5
    thumb = lanes["scenes"]["items"][2]["thumb"]
    image = httpx.get(f"{server.url}/api/videos/{cuts.id}/keyframes/{thumb}")
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    for name in ("..%2Fmanifest.json", "manifest.json", "%2Fetc%2Fpasswd"):
        assert httpx.get(f"{server.url}/api/videos/{cuts.id}/keyframes/{name}"
                         ).status_code == 404


def test_an_uploaded_video_is_served_and_too_large_ones_leave_nothing(uploads, clips):
    folder = uploads.library.roots[0]
    data = clips["short3"].read_bytes()
    with running(uploads, max_upload_mb=1) as server:
        made = httpx.put(f"{server.url}/api/upload/clip.mp4", content=data)
        assert made.status_code == 201 and made.json()["path"] == "clip.mp4"
        assert (folder / "clip.mp4").stat().st_size == len(data)
        again = httpx.put(f"{server.url}/api/upload/clip.mp4", content=b"\0" * 10)
        assert again.status_code == 409
        for name in ("..%2Fx.mp4", "notes.txt", ".hidden.mp4"):
            assert httpx.put(f"{server.url}/api/upload/{name}", content=b"\0").status_code \
                in (400, 404)
        big = httpx.put(f"{server.url}/api/upload/big.mp4", content=b"\0" * (2**20 + 1))
        assert big.status_code == 413
    assert sorted(p.name for p in folder.iterdir()) == ["clip.mp4"]


@pytest.mark.slow
def test_twenty_searches_at_once_beside_an_indexing_job_match_sequential_ones(
        library, tmp_path, shared_home, answering, clock_video, serve_config):
    from vidqa.serve.service import Service

    extra = served_folder(tmp_path / "more", {"clock.mp4": clock_video[0]})
    service = Service([library, extra], serve_config, backend=answering)
    queries = ["fire alarm test", "quarterly review", "One", "Three", "a slide appears"]
    try:
        with running(service) as server:
            def find(query: str) -> list:
                reply = httpx.post(f"{server.url}/v1/find", timeout=120,
                                   json={"query": query, "videos": ["lib/event.mp4"], "k": 5})
                assert reply.status_code == 200, reply.text
                return reply.json()["data"]

            sequential = {q: find(q) for q in queries}
            clock = service.entry("more/clock.mp4")
            assert clock.state != "indexed"
            job = service.index(clock)
            with ThreadPoolExecutor(20) as pool:
                results = list(pool.map(find, [queries[i % len(queries)] for i in range(20)]))
            assert job.wait(120) and job.state == "done", job.error
            assert service.entry("more/clock.mp4").state == "indexed"
    finally:
        service.close()
    for i, result in enumerate(results):
        assert result == sequential[queries[i % len(queries)]]
    assert sequential["fire alarm test"][0]["text"] == "FIRE ALARM TEST"


def test_serving_beyond_loopback_needs_a_key(tmp_path):
    result = CliRunner().invoke(cli, ["serve", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--api-key" in result.output and "not a loopback address" in result.output


def test_vidqa_serve_starts_on_a_free_port_and_answers(tmp_path, library, models):
    env = {**os.environ, "VIDQA_HOME": str(link_models(models, tmp_path / "home"))}
    proc = subprocess.Popen([sys.executable, "-m", "vidqa", "serve", str(library), "--port", "0",
                             "--ocr", "off", "--speech", "off"], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "http://" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "vidqa serve exited"
        url = re.search(r"(http://127\.0\.0\.1:\d+)/", line).group(1)
        assert "serving 2 recordings" in line and "no model: search only" in line
        assert httpx.get(f"{url}/v1/models").json()["data"][0]["id"] == "vidqa"
        no_model = httpx.post(f"{url}/v1/chat/completions",
                              json={"model": "vidqa", "messages": ask("event.mp4", QUESTION)})
        assert no_model.status_code == 400
        assert no_model.json()["error"]["code"] == "model_not_loaded"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode in (0, -15)


def test_a_codec_browsers_cannot_play_gets_an_h264_copy_made_once(tmp_path, shared_home):
    from vidqa.media.ffmpeg import ffmpeg_exe
    from vidqa.media.probe import probe
    from vidqa.serve.service import Service

    folder = tmp_path / "archive"
    folder.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25:duration=3", "-c:v", "mpeg4",
                    str(folder / "old.avi")], check=True)
    service = Service([folder], check=False)
    service.check(service.entry("old.avi"))
    with running(service) as server:
        detail = httpx.get(f"{server.url}/api/videos/{service.entry('old.avi').id}").json()
        assert detail["playable"] is False and detail["media_url"].endswith("?proxy=1")
        first = httpx.get(f"{server.url}{detail['media_url']}", timeout=120)
        assert first.status_code == 200 and first.headers["content-type"] == "video/mp4"
        copy = tmp_path / "copy.mp4"
        copy.write_bytes(first.content)
        info = probe(copy)
        assert info.codec == "h264" and abs(info.duration_s - 3.0) < 0.2
        made = list((shared_home / "cache").rglob("proxies/*.mp4")) or \
            list(shared_home.rglob("proxies/*.mp4"))
        assert len(made) == 1
        stamp = made[0].stat().st_mtime_ns
        again = httpx.get(f"{server.url}{detail['media_url']}", headers={"Range": "bytes=0-99"})
        assert again.status_code == 206 and again.content == first.content[:100]
        assert made[0].stat().st_mtime_ns == stamp  # made once
    service.close()


def test_the_whole_video_scope_answers_from_every_summary(server):
    reply = client(server).chat.completions.create(model="vidqa-all",
                                                   messages=ask("event.mp4", QUESTION))
    assert reply.model_extra["vidqa"]["scope"] == "all"
    assert reply.model_extra["vidqa"]["citations"][0]["start_s"] == 41.0


def test_a_video_indexed_without_a_model_is_searched_as_is_and_captioned_to_answer(
        tmp_path, answering, serve_config, clips):
    from vidqa.serve.service import Service

    folder = served_folder(tmp_path / "talks", {"slide.mp4": clips["slide"]})
    plain = Service([folder], serve_config, check=False)  # `vidqa index --no-captions`
    plain.indexed(plain.entry("slide.mp4"))
    plain.close()
    service = Service([folder], serve_config, backend=answering, check=False)
    try:
        entry = service.entry("slide.mp4")
        service.check(entry)
        assert entry.state == "indexed" and entry.info["missing"] == ["captions"]
        hits = service.find("quarterly budget review", ["slide.mp4"])
        assert hits[0].kind == "text" and service.jobs.all() == []  # searched as it is
        _, answer = service.ask("slide.mp4", "What is on the slide?")
        assert answer.citations and [j.state for j in service.jobs.all()] == ["done"]
        assert entry.info["missing"] == [] and "captions" in service.run_of(entry).tracks
    finally:
        service.close()
