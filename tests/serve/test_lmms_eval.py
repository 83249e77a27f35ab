"""lmms-eval's `openai` model scores vidqa: the request bodies lmms-eval 0.7.3 builds
(`helpers.lmms_eval_requests`, a transcription of its payload code) sent by the official openai
client to a live server, and its Video-MME letter extraction read from the reply.

- the simple model's frames (PNG data URLs, no times): answered from in order, never with times;
- the chat model's `video_url` with a `file://` URL (`pass_video_url=True`) or an absolute
  path inside the served folder: vidqa's own pipeline (key frames, retrieval, cited times);
- outside the folder: 403 alike for a file that exists and one that does not, nothing read;
- a video sent as a data URL: kept in the cache by its SHA-256, probed, indexed and answered;
- frames beside a whole video: ignored, and the response says so;
- `n: 2`, too many frames, frames or videos by http URL: refused in one line;
- another site's page sending the same body: refused by the guard.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import io
import os
import re
import subprocess

import httpx
import pytest

from helpers.extras import need
from helpers.scripted import AnsweringBackend
from vidqa.model.choices import asks_for_letter, parse_options

openai = need("openai")
Image = pytest.importorskip("PIL.Image", reason="frames are decoded with Pillow")

from helpers.lmms_eval_requests import (VIDEOMME_GEN_KWARGS, chat_messages,  # noqa: E402
                                        chat_payload, encode_video, extract_characters_regex,
                                        frame_indices, simple_payload, to_openai_messages,
                                        uniform_frames, videomme_doc_to_text)

DOC = {"question": "What does the caption in the middle of the video say?",
       "options": ["A. Quarterly review.", "B. Fire alarm test.", "C. Budget meeting.",
                   "D. Nothing."], "answer": "B"}
REASONED = "<think>The caption shows once.</think>The answer is (B), at [41.0-43.5 s]."


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0,
                         timeout=120)


def asked_calls(service) -> list[list[dict]]:
    """The conversations in which the model was asked a question (not captioning)."""
    return [c for c in service.backend._backend.calls
            if any("Question:" in i.get("text", "") for m in c for i in m["content"])]


def items_of(call: list[dict], kind: str) -> list[dict]:
    return [i for m in call for i in m["content"] if i.get("type") == kind]


def refusal(server, payload: dict) -> tuple[int, dict]:
    with pytest.raises(openai.APIStatusError) as caught:
        client(server).chat.completions.create(**payload)
    return caught.value.status_code, caught.value.body


def test_videommes_prompt_asks_for_the_letter_and_lists_its_options():
    text = videomme_doc_to_text(DOC)
    assert text.endswith("Answer with the option's letter from the given choices directly.")
    assert asks_for_letter(text) and list(parse_options(text)) == ["A", "B", "C", "D"]
    assert extract_characters_regex("B") == "B"
    assert extract_characters_regex("The best answer is C.") == "C"
    assert frame_indices(150, 8) == [0, 21, 42, 63, 85, 106, 127, 149]
    assert frame_indices(3, 8) == [0, 1, 2]


def test_the_simple_models_frames_are_answered_in_order_without_times(server, service, clips,
                                                                      monkeypatch):
    monkeypatch.setattr(AnsweringBackend, "answer", REASONED)
    payload = simple_payload(videomme_doc_to_text(DOC), [str(clips["base"])], model="vidqa",
                             max_frames_num=8, gen_kwargs=VIDEOMME_GEN_KWARGS)
    sent = [i["image_url"]["url"] for i in payload["messages"][0]["content"]
            if i["type"] == "image_url"]
    assert len(sent) == 8 and all(u.startswith("data:image/png;base64,") for u in sent)
    reply = client(server).chat.completions.create(**payload)
    content = reply.choices[0].message.content
    assert content == "B" and extract_characters_regex(content) == DOC["answer"]
    data = reply.model_extra["vidqa"]
    assert data["input"] == {"video": "frames", "frames_given": 8, "frames_used": 8,
                             "frames": data["input"]["frames"]}
    assert data["input"]["frames"].startswith("answered from the given frames in order")
    assert data["video"] is None and data["citations"] == [] and data["letter"] == "B"
    call = asked_calls(service)[-1]
    images = items_of(call, "image")
    labels = [i["text"] for i in items_of(call, "text") if i["text"].startswith("Frame ")]
    assert labels == [f"Frame {n} of 8:" for n in range(1, 9)]
    assert not any("seconds>" in i["text"] for i in items_of(call, "text"))  # no times made up
    # in the order sent: each kept frame is named by the SHA-256 of the image sent
    digests = [hashlib.sha256(base64.b64decode(u.split(",", 1)[1])).hexdigest() for u in sent]
    assert [os.path.basename(i["path"]).split("-")[0] for i in images] == digests
    with Image.open(images[0]["path"]) as kept:  # 640x360 -> vidqa's own frame size
        assert (kept.format, kept.size) == ("JPEG", (640, 352))


def test_a_file_url_or_a_path_inside_the_folder_runs_vidqas_own_pipeline(server, service,
                                                                         library, monkeypatch):
    monkeypatch.setattr(AnsweringBackend, "answer", REASONED)
    video = str(library / "event.mp4")
    payload = chat_payload(chat_messages([video], videomme_doc_to_text(DOC)), model="vidqa",
                           max_frames_num=32, pass_video_url=True,
                           gen_kwargs={**VIDEOMME_GEN_KWARGS, "seed": 1})
    assert payload["messages"][0]["content"][0] == {
        "type": "video_url", "video_url": {"url": f"file://{video}"}}
    assert payload["extra_body"] == {"media_io_kwargs": {"video": {"num_frames": 32}}}
    reply = client(server).chat.completions.create(**payload)
    assert extract_characters_regex(reply.choices[0].message.content) == "B"
    assert reply.choices[0].message.content == "B"
    data = reply.model_extra["vidqa"]
    assert data["video"]["path"] == "event.mp4"
    assert data["citations"][0]["start_s"] == 41.0 and data["citations"][0]["url"]
    assert data["input"]["video"] == "file_url" and data["input"]["frames_given"] == 0
    assert data["input"]["frames_used"] > 0
    assert data["input"]["num_frames"].startswith("ignored")
    call = asked_calls(service)[-1]
    labels = [i["text"] for i in items_of(call, "text") if re.fullmatch(r"<\d+\.\d seconds>",
                                                                        i["text"])]
    assert len(labels) == len(items_of(call, "image")) > 0  # vidqa's key frames, each timed
    # an absolute path (a chat client that does not make it a URL), and file://localhost/
    for url, how in ((video, "path"), (f"file://localhost{video}", "file_url")):
        payload["messages"][0]["content"][0]["video_url"]["url"] = url
        reply = client(server).chat.completions.create(**payload)
        assert reply.choices[0].message.content == "B"
        assert reply.model_extra["vidqa"]["input"]["video"] == how
        assert reply.model_extra["vidqa"]["video"]["path"] == "event.mp4"


def test_places_outside_the_folder_are_refused_alike_and_nothing_is_read(server, library,
                                                                         tmp_path, monkeypatch):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "real.mp4").write_bytes((library / "event.mp4").read_bytes()[:65536])
    touched: list[str] = []

    def spy(function):
        def call(*args, **kwargs):
            if any(str(outside) in str(a) for a in args):
                touched.append(f"{function.__name__}{args[:1]}")
            return function(*args, **kwargs)
        return call

    refs = [f"file://{outside}/real.mp4", f"file://{outside}/missing.mp4",
            str(outside / "real.mp4"), str(outside / "missing.mp4"),
            f"file://localhost{outside}/real.mp4", f"file://{library}/../{outside.name}/real.mp4",
            f"file://elsewhere.example{library}/event.mp4", f"{library}/../elsewhere/real.mp4"]
    messages = []
    for name in ("stat", "lstat", "open", "scandir", "listdir"):
        monkeypatch.setattr(os, name, spy(getattr(os, name)))
    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(io, "open", spy(io.open))
    monkeypatch.setattr(subprocess, "Popen", spy(subprocess.Popen))
    payload = chat_payload(chat_messages([str(library / "event.mp4")],
                                         videomme_doc_to_text(DOC)),
                           model="vidqa", pass_video_url=True)
    for ref in refs:  # as sent: lmms-eval would make a path a file:// URL of its abspath
        payload["messages"][0]["content"][0]["video_url"]["url"] = ref
        status, body = refusal(server, payload)
        assert (status, body["code"], body["type"]) == (403, "path_not_served",
                                                        "permission_error"), ref
        messages.append(body["message"].replace(ref, "REF"))
    monkeypatch.undo()
    assert touched == []  # nothing outside the folder was looked at, let alone read
    assert len(set(messages)) == 1 and "REF" in messages[0], messages  # one answer for all
    # a link in the folder that leads out of it: refused by the same jail as relative paths
    link = library / "out-link.mp4"
    link.unlink(missing_ok=True)
    link.symlink_to(outside / "real.mp4")
    try:
        status, body = refusal(server, chat_payload(chat_messages([str(link)], "What is it?"),
                                                    model="vidqa", pass_video_url=True))
    finally:
        link.unlink()
    assert (status, body["code"]) == (403, "path_not_served")
    assert "leads outside the served folders" in body["message"]


def test_a_video_sent_as_a_data_url_is_kept_probed_indexed_and_answered(server, service, clips,
                                                                        shared_home):
    data = clips["short3"].read_bytes()
    url = "data:video/mp4;base64," + base64.b64encode(data).decode()
    payload = chat_payload(chat_messages([url], "What is shown?"), model="vidqa",
                           max_frames_num=8, pass_video_url=True)
    assert payload["messages"][0]["content"][0]["video_url"]["url"] == url  # kept as it is
    reply = client(server).chat.completions.create(**payload)
    data_out = reply.model_extra["vidqa"]
    digest = hashlib.sha256(data).hexdigest()
    assert data_out["video"]["path"] == f"received/{digest}.mp4"
    assert data_out["input"]["video"] == "data_url" and data_out["input"]["frames_used"] > 0
    assert all(c["url"] is None for c in data_out["citations"])  # the page does not serve it
    kept = shared_home / "cache" / "received" / f"{digest}.mp4"
    assert kept.read_bytes() == data
    stamp = kept.stat().st_mtime_ns
    listed = httpx.get(f"{server.url}/api/videos").json()["videos"]
    assert digest not in str(listed)  # not served
    assert client(server).chat.completions.create(**payload).model_extra["vidqa"]["video"] == \
        data_out["video"]
    assert kept.stat().st_mtime_ns == stamp  # sent again: nothing written
    # bytes that are no video: 415 in one line, and nothing stays
    before = sorted(kept.parent.iterdir())
    junk = "data:video/mp4;base64," + base64.b64encode(b"no video at all" * 64).decode()
    payload["messages"][0]["content"][0]["video_url"]["url"] = junk
    status, body = refusal(server, payload)
    assert (status, body["code"]) == (415, "unsupported_media") and "\n" not in body["message"]
    assert sorted(kept.parent.iterdir()) == before
    # a video by http URL: this server fetches nothing
    payload["messages"][0]["content"][0]["video_url"]["url"] = "https://example.com/v.mp4"
    status, body = refusal(server, payload)
    assert (status, body["code"]) == (400, "unsupported_video_url")
    assert "fetches nothing" in body["message"]


def test_frames_beside_a_whole_video_are_ignored_and_the_response_says_so(server, service,
                                                                          clips, monkeypatch):
    monkeypatch.setattr(AnsweringBackend, "answer", REASONED)
    payload = simple_payload(videomme_doc_to_text(DOC), [str(clips["short3"])], model="vidqa",
                             max_frames_num=4)
    payload["messages"][0]["content"].append({"type": "video_url",
                                              "video_url": {"url": "event.mp4"}})
    reply = client(server).chat.completions.create(**payload)
    assert reply.choices[0].message.content == "B"
    given = reply.model_extra["vidqa"]["input"]
    assert given["video"] == "served" and given["frames_given"] == 4
    assert given["frames"] == "ignored: vidqa selected its own key frames from the whole video"
    images = items_of(asked_calls(service)[-1], "image")
    assert images and not any("received" in i["path"] for i in images)


def test_the_chat_models_frames_come_before_the_text_and_are_answered_too(server, clips,
                                                                          monkeypatch):
    monkeypatch.setenv("LMMS_IMAGE_ENCODE_FORMAT", "JPEG")
    monkeypatch.setattr(AnsweringBackend, "answer", "B")
    payload = chat_payload(chat_messages([str(clips["slide"])], videomme_doc_to_text(DOC)),
                           model="vidqa", max_frames_num=6, gen_kwargs=VIDEOMME_GEN_KWARGS,
                           video_frames=lambda path: uniform_frames(path, 6))
    content = payload["messages"][0]["content"]
    assert [i["type"] for i in content] == ["image_url"] * 6 + ["text"]
    assert content[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    reply = client(server).chat.completions.create(**payload)
    assert reply.choices[0].message.content == "B"
    assert reply.model_extra["vidqa"]["input"]["frames_used"] == 6


def test_n_above_one_too_many_frames_and_frames_by_url_are_refused_in_one_line(server, clips):
    frames = simple_payload("What is shown? A. a\nB. b", [str(clips["short3"])], model="vidqa",
                            max_frames_num=2)
    status, body = refusal(server, {**frames, "n": 2})
    assert (status, body["code"]) == (400, "invalid_n") and "'n' must be 1" in body["message"]
    many = frames["messages"][0]["content"][1]
    over = {**frames, "messages": [{"role": "user", "content": [
        frames["messages"][0]["content"][0], *[many] * 65]}]}
    status, body = refusal(server, over)
    assert (status, body["code"]) == (400, "too_many_frames") and "64" in body["message"]
    by_url = {**frames, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is shown?"},
        {"type": "image_url", "image_url": {"url": "http://example.com/f.png"}}]}]}
    status, body = refusal(server, by_url)
    assert (status, body["code"]) == (400, "unsupported_image_url")
    gif = Image.new("RGB", (64, 64))
    buffer = io.BytesIO()
    gif.save(buffer, format="GIF")
    by_url["messages"][0]["content"][1]["image_url"]["url"] = \
        "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    status, body = refusal(server, by_url)
    assert (status, body["code"]) == (415, "unsupported_image")
    assert body["message"].startswith("frame 1 of 1 is not a PNG, JPEG or WebP image")
    # the others of its options are taken, and what is unknown is ignored
    reply = client(server).chat.completions.create(**frames, n=1, top_p=1.0, seed=3,
                                                   extra_body={"some_extension": True})
    assert reply.model_extra["vidqa"]["input"]["frames_given"] == 2


def test_another_sites_page_sending_lmms_evals_body_is_refused(server, clips):
    payload = simple_payload("What is shown?", [str(clips["short3"])], model="vidqa",
                             max_frames_num=2)
    for headers in ({"Origin": "http://attacker.example"},
                    {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "http://attacker.example", "Content-Type": "text/plain"}):
        answer = httpx.post(f"{server.url}/v1/chat/completions", json=payload,
                            headers=headers)
        assert answer.status_code == 403, headers
        assert answer.json()["error"]["code"] == "cross_site_request"


def test_lmms_evals_own_code_builds_the_same_payloads(clips, library):
    """Where lmms-eval is installed, its own payload code against this transcription."""
    protocol = pytest.importorskip(
        "lmms_eval.protocol", reason="lmms-eval is not installed (it pins av<16; vidqa takes "
        "av 18): the transcription in helpers/lmms_eval_requests.py stands for it")
    video = str(library / "event.mp4")
    messages = chat_messages([video], videomme_doc_to_text(DOC))
    theirs = protocol.ChatMessages(messages=messages).to_openai_messages(
        video_kwargs={"nframes": 8}, pass_video_url=True)
    assert theirs == to_openai_messages(messages, pass_video_url=True)
    try:
        from lmms_eval.tasks.videomme import utils as videomme
    except ImportError as exc:
        pytest.skip(f"lmms-eval's videomme task does not import here ({exc})")
    assert videomme.videomme_doc_to_text(DOC, {"post_prompt": "\nAnswer with the option's "
                                                "letter from the given choices directly."}) \
        == videomme_doc_to_text(DOC)
    for reply in ("B", "(C)", "The answer is D.", "A. Quarterly review", "none", ""):
        assert videomme.extract_characters_regex(reply) == extract_characters_regex(reply)
    try:
        from lmms_eval.models.simple.openai import OpenAICompatible
    except ImportError as exc:
        pytest.skip(f"lmms-eval's openai model does not import here ({exc})")
    from types import SimpleNamespace

    frames = OpenAICompatible.encode_video(SimpleNamespace(video_fps=None),
                                           str(clips["short3"]), 8)
    ours = encode_video(clips["short3"], 8)
    assert len(frames) == len(ours)
    for a, b in zip(frames, ours):
        with Image.open(io.BytesIO(base64.b64decode(a))) as x, \
                Image.open(io.BytesIO(base64.b64decode(b))) as y:
            assert x.size == y.size


def test_sound_sent_as_input_audio_is_transcribed_and_answered_from_what_is_said(
        library, shared_home, whisper, answering, tmp_path):
    """The simple model's `input_audio` (an audio task's .wav): kept like a data-URL video,
    indexed as a sound-only recording (its speech track) and answered from what is said."""
    from helpers.serving import running
    from vidqa.config import Config
    from vidqa.evaluation.spoken import lines
    from vidqa.media.ffmpeg import ffmpeg_exe
    from vidqa.serve.service import Service

    wav = tmp_path / "call.wav"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(lines()["demo-invoices"].path),
                    "-ac", "1", "-ar", "16000", str(wav)], check=True)
    payload = simple_payload("Who gets the invoices?", [str(wav)], model="vidqa")
    assert payload["messages"][0]["content"][1]["input_audio"]["format"] == "wav"
    service = Service([library], Config().replace("ocr", mode="off"), backend=answering,
                      check=False)
    service.tools.asr = whisper
    try:
        with running(service) as server:
            reply = client(server).chat.completions.create(**payload)
    finally:
        service.close()
    data = reply.model_extra["vidqa"]
    digest = hashlib.sha256(wav.read_bytes()).hexdigest()
    assert data["video"]["path"] == f"received/{digest}.wav"
    assert data["input"] == {"video": "input_audio", "frames_given": 0, "frames_used": 0}
    call = asked_calls(service)[-1]
    assert not items_of(call, "image")  # no picture to show
    assert any("Maria" in i["text"] for i in items_of(call, "text"))  # what is said
