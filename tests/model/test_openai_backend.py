"""The openai backend against a real local HTTP server, through the official client (no mocks)."""

from __future__ import annotations

import base64
import json
import re
import socket
import time

import cv2
import numpy as np
import pytest
from helpers.openai_server import OpenAIServer

import vidqa.model.backends
from vidqa.config import Config
from vidqa.errors import BackendError
from vidqa.model.backends.base import Backend, Generation
from vidqa.model.backends.openai_compat import OpenAIBackend

FAST = {"retries": 2, "timeout_s": 5}
TIMES = (12.0, 15.5, 61.0)


pytestmark = pytest.mark.usefixtures("no_openai_env")


@pytest.fixture
def server():
    srv = OpenAIServer()
    with srv:
        yield srv


def write_frames(tmp_path, times=TIMES) -> list:
    paths = []
    for n, t in enumerate(times):
        image = np.full((48, 64, 3), (40 * n) % 256, np.uint8)
        cv2.putText(image, f"{t}", (2, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        ok, data = cv2.imencode(".jpg", image)
        assert ok
        path = tmp_path / f"{n:06d}_{t:.3f}.jpg"
        path.write_bytes(data.tobytes())
        paths.append(path)
    return paths


def frame_messages(paths, times=TIMES) -> list[dict]:
    content = []
    for t, path in zip(times, paths):
        content += [{"type": "text", "text": f"<{t} seconds>"},
                    {"type": "image", "path": str(path)}]
    content.append({"type": "text", "text": "Describe what happens, as JSON."})
    return [{"role": "system", "content": [{"type": "text", "text": "You caption videos."}]},
            {"role": "user", "content": content}]


def backend(server, model="tiny-vl", **options) -> OpenAIBackend:
    return OpenAIBackend(model, base_url=server.base_url, api_key="secret", **{**FAST, **options})


def raised(call) -> tuple[str, float]:
    """The one-line BackendError message `call` raises, and how long it took."""
    start = time.monotonic()
    with pytest.raises(BackendError) as info:
        call()
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    assert "Traceback" not in message and "Error code" not in message
    return message, elapsed


def test_frames_arrive_interleaved_in_order_as_jpeg_data_urls(server, tmp_path):
    paths = write_frames(tmp_path)
    result = backend(server).generate(frame_messages(paths), max_new_tokens=321, temperature=0.2)

    (body,) = server.requests
    assert body["model"] == "tiny-vl"
    assert body["max_tokens"] == 321 and body["temperature"] == 0.2
    assert body["messages"][0] == {"role": "system",
                                   "content": [{"type": "text", "text": "You caption videos."}]}
    items = body["messages"][1]["content"]
    assert [i["type"] for i in items] == ["text", "image_url"] * 3 + ["text"]
    assert [i["text"] for i in items[0:6:2]] == ["<12.0 seconds>", "<15.5 seconds>",
                                                  "<61.0 seconds>"]
    for item, path in zip(items[1:6:2], paths):
        url = item["image_url"]["url"]
        prefix = "data:image/jpeg;base64,"
        assert url.startswith(prefix)
        data = base64.b64decode(url[len(prefix):], validate=True)
        assert data == path.read_bytes()  # the file's bytes, not re-encoded
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)

    assert isinstance(result, Generation)
    assert result.text.startswith("<think>reasoning</think>")  # left for the caller to strip
    caption = json.loads(re.search(r"```json\n(.*?)\n```", result.text, re.DOTALL).group(1))
    assert caption["summary"] == "3 frames from 12.0 s to 61.0 s"
    assert [(e["start_s"], e["end_s"]) for e in caption["events"]] == [(12.0, 13.0), (15.5, 16.5),
                                                                       (61.0, 62.0)]
    assert result.prompt_tokens > 300 and result.completion_tokens > 0


def test_env_vars_give_url_and_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "secret")
    b = OpenAIBackend("tiny-vl", **FAST)
    assert b.base_url == server.base_url
    assert "1 frames from 12.0 s" in b.generate(frame_messages(write_frames(tmp_path)[:1])).text
    assert server.hits[-1][2] == "Bearer secret"


def test_missing_key_is_sent_as_empty(server):
    b = OpenAIBackend("tiny-vl", base_url=server.base_url, **FAST)
    with pytest.raises(BackendError):
        b.generate([{"role": "user", "content": "hi"}])
    assert server.hits[-1][2] == "Bearer EMPTY"


def test_registry_gives_this_backend_and_refuses_options_it_does_not_take(server):
    b = vidqa.model.backends.get_backend("openai", "tiny-vl", base_url=server.base_url,
                                         api_key="secret")
    assert isinstance(b, OpenAIBackend) and isinstance(b, Backend)
    assert (b.name, b.model, b.concurrency) == ("openai", "tiny-vl", 4)
    with pytest.raises(TypeError) as info:  # another backend's options are not swallowed
        vidqa.model.backends.get_backend("openai", "tiny-vl", base_url=server.base_url,
                                         device="cuda", frame_max_pixels=1234)
    assert str(info.value) == ("backend 'openai' takes no option 'device', 'frame_max_pixels'; "
                               "its options: base_url, api_key, timeout_s, retries, concurrency")
    assert server.requests == []


def test_identity_comes_from_the_class_without_making_a_backend(server):
    config = Config().replace("model", backend="openai", model="tiny-vl",
                              base_url=server.base_url + "/")
    assert vidqa.model.backends.backend_class("openai") is OpenAIBackend
    assert OpenAIBackend.identity_for(config.model) == server.base_url  # the URL, as written
    b = vidqa.model.backends.open_backend(config, api_key="secret")
    assert isinstance(b, OpenAIBackend) and b.identity == server.base_url
    assert (b.timeout_s, b.retries, b.concurrency) == (120.0, 3, 4)  # from the settings
    assert OpenAIBackend.identity_for(Config().model) == ""  # no server named anywhere


def test_no_base_url_anywhere():
    message, _ = raised(lambda: OpenAIBackend("tiny-vl"))
    assert "--base-url" in message and "OPENAI_BASE_URL" in message
    assert "http://localhost:8000/v1" in message


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    b = OpenAIBackend("tiny-vl", base_url=url, **FAST)
    message, elapsed = raised(lambda: b.generate([{"role": "user", "content": "hi"}]))
    assert url in message and "cannot be reached" in message and "'tiny-vl'" in message
    assert "start it" in message and "--base-url" in message and "OPENAI_BASE_URL" in message
    assert elapsed < 5


def test_server_that_never_answers_times_out():
    with socket.socket() as s:  # accepts connections (kernel backlog) but never replies
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
        b = OpenAIBackend("tiny-vl", base_url=url, timeout_s=0.3, retries=0)
        message, elapsed = raised(lambda: b.generate([{"role": "user", "content": "hi"}]))
    assert url in message and "did not answer within 0.3 s" in message
    assert "model.timeout_s" in message and elapsed < 3


def test_url_without_scheme():
    message, _ = raised(lambda: OpenAIBackend("tiny-vl", base_url="localhost:8000/v1"))
    assert "'localhost:8000/v1'" in message and "http://localhost:8000/v1" in message


def test_wrong_key(server):
    b = OpenAIBackend("tiny-vl", base_url=server.base_url, api_key="wrong", **FAST)
    message, elapsed = raised(lambda: b.generate([{"role": "user", "content": "hi"}]))
    assert server.base_url in message and "refused the API key" in message
    assert "OPENAI_API_KEY" in message and "--api-key" in message
    assert "wrong" not in message  # the key itself is never echoed
    assert len(server.requests) == 1 and elapsed < 2  # a 401 is not retried


def test_unknown_model_lists_served_ones(server):
    message, elapsed = raised(lambda: backend(server, "qwen-huge").generate(
        [{"role": "user", "content": "hi"}]))
    assert "'qwen-huge'" in message and server.base_url in message
    assert "serves: broken-vl, flaky-vl, tiny-vl" in message and "pass one with -m" in message
    assert elapsed < 2


def test_context_too_long(server, tmp_path):
    times = tuple(float(t) for t in range(9))
    messages = frame_messages(write_frames(tmp_path, times), times)
    message, elapsed = raised(lambda: backend(server).generate(messages))
    assert "too long for the context" in message and "'tiny-vl'" in message
    assert "--max-tokens" in message and "--max-pixels" in message
    assert "maximum context length is 4096" in message  # the server's reason, on the same line
    assert len(server.requests) == 1 and elapsed < 2


def test_rate_limit_then_success(server, tmp_path):
    start = time.monotonic()
    result = backend(server, "flaky-vl").generate(frame_messages(write_frames(tmp_path)))
    assert "3 frames from 12.0 s to 61.0 s" in result.text
    assert [b["model"] for b in server.requests] == ["flaky-vl", "flaky-vl"]
    assert time.monotonic() - start < 3


def test_server_error_then_success(server, tmp_path):
    start = time.monotonic()
    result = backend(server, "broken-vl").generate(frame_messages(write_frames(tmp_path)))
    assert result.text.startswith("<think>")
    assert len(server.requests) == 2
    assert time.monotonic() - start < 3


@pytest.mark.parametrize("model, status", [("broken-vl", 500), ("flaky-vl", 429)])
def test_retries_used_up_names_status_and_message(server, model, status):
    b = backend(server, model, retries=0)
    message, _ = raised(lambda: b.generate([{"role": "user", "content": "hi"}]))
    assert f"answered {status} for model '{model}'" in message and server.base_url in message
    assert ("The server had an error" if status == 500 else "Rate limit reached") in message
    assert "after 0 retries" in message and "model.concurrency" in message
    assert len(server.requests) == 1


def test_unreadable_frame(server, tmp_path):
    gone = {"type": "image", "path": str(tmp_path / "gone.jpg")}
    messages = [{"role": "user", "content": [gone]}]
    message, _ = raised(lambda: backend(server).generate(messages))
    assert "gone.jpg" in message and not server.requests


def test_concurrent_calls_share_one_client(server, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    paths = write_frames(tmp_path)
    b = backend(server)
    with ThreadPoolExecutor(b.concurrency) as pool:
        texts = list(pool.map(
            lambda i: b.generate(frame_messages(paths[i:i + 1], TIMES[i:i + 1])).text, range(3)))
    for t, text in zip(TIMES, texts):
        assert f"1 frames from {t} s to {t} s" in text
    assert len(server.requests) == 3
