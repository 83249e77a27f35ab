"""Model servers that misbehave: replies without bound, prose, bodies that are not JSON,
connections dropped mid-reply, silence. Real HTTP on 127.0.0.1 (`openai_server`), the real client.
"""

from __future__ import annotations

import json
import time

import pytest

from helpers.hostile import one_line_error, run
from helpers.openai_server import API_KEY, OpenAIServer
from vidqa.model.backends.openai_compat import OpenAIBackend, reply_byte_limit
from vidqa.model.captions import LONG_WARNING, MANY_WARNING, RAW_WARNING, caption_video, event_cap
from vidqa.config import Config
from vidqa.errors import BackendError
from vidqa.keyframes.ingest import ingest


pytestmark = pytest.mark.usefixtures("no_openai_env")


@pytest.fixture
def server():
    srv = OpenAIServer(misbehaving=True)
    with srv:
        yield srv


@pytest.fixture
def slide(clips):
    """The 6-second slide, ingested (one chunk, one key frame)."""
    return ingest(clips["slide"])


def backend(server, model, **options) -> OpenAIBackend:
    return OpenAIBackend(model, base_url=server.base_url, api_key=API_KEY,
                         **{"retries": 2, "timeout_s": 10, **options})


def test_a_10_mb_reply_is_cut_at_the_limit_retried_once_then_kept_short(server, slide):
    started = time.monotonic()
    captions = caption_video(slide, backend(server, "huge-vl"), max_new_tokens=256)
    elapsed = time.monotonic() - started
    assert elapsed < 20  # the drill: 547 s and 1.86 GB for one chunk
    assert len(server.requests) == 2 * len(slide.chunks)  # each chunk asked twice
    for chunk in captions.chunks:
        assert chunk.warning == LONG_WARNING.format(limit=256)
        assert chunk.events == [] and len(chunk.summary) <= 2000
    assert reply_byte_limit(256) < 300_000  # what was read of each 10 MB reply


def test_a_server_that_ignores_max_tokens_gets_its_reply_refused(server, slide):
    reply = backend(server, "runaway-vl").generate(
        [{"role": "user", "content": [{"type": "text", "text": "<1.0 seconds>"}]}],
        max_new_tokens=100)
    assert reply.over_limit and reply.completion_tokens == 400
    captions = caption_video(slide, backend(server, "runaway-vl"), max_new_tokens=100)
    assert all(c.warning == LONG_WARNING.format(limit=100) for c in captions.chunks)


def test_events_are_capped_deduplicated_and_kept_inside_the_chunk(server, slide):
    many = caption_video(slide, backend(server, "many-vl"))
    cap = event_cap(slide.chunks[0].start_s, slide.chunks[0].end_s)
    for chunk in many.chunks:
        assert chunk.warning == MANY_WARNING.format(cap=cap) and len(chunk.events) == cap
    assert len(server.requests) == 2 * len(slide.chunks)
    retry = server.requests[1]["messages"][-1]["content"][0]["text"]
    assert "500 events" in retry and f"at most {cap}" in retry

    dupes = caption_video(slide, backend(server, "dupes-vl"))
    for chunk in dupes.chunks:
        assert chunk.warning is None
        assert [e.text for e in chunk.events] == ["a door opens"]  # 50 copies, 5 far away


def test_degraded_captions_are_asked_again_and_keyed_by_server(server, slide):
    """The drill: after a server answered prose, a re-run against a good server sent it
    nothing and printed "kept as raw text" again."""
    first = caption_video(slide, backend(server, "prose-vl"))
    assert all(c.warning == RAW_WARNING for c in first.chunks)
    asked = len(server.requests)
    server.cure("prose-vl")  # the same server and model, now answering properly
    second = caption_video(slide, backend(server, "prose-vl"))
    assert len(server.requests) == asked + len(slide.chunks)
    assert all(c.warning is None and c.events for c in second.chunks)
    caption_video(slide, backend(server, "prose-vl"))  # good ones are final: nothing asked
    assert len(server.requests) == asked + len(slide.chunks)

    # The same model name on another server is another model: captioned anew.
    with OpenAIServer(misbehaving=True) as other_url:
        other = OpenAIBackend("prose-vl", base_url=other_url, api_key=API_KEY, retries=0)
        third = caption_video(slide, other)
    assert all(c.warning == RAW_WARNING for c in third.chunks)


def test_cli_index_reruns_degraded_chunks_against_a_good_server(server, clips):
    common = ["index", clips["slide"], "--ocr", "off", "-b", "openai", "--api-key", API_KEY,
              "--base-url", server.base_url, "-m", "prose-vl"]
    first = run(*common)
    assert first.exit_code == 0, first.stderr
    assert "(1 chunks kept as raw text)" in first.stdout
    server.cure("prose-vl")
    second = run(*common)
    assert second.exit_code == 0, second.stderr
    assert "kept as raw text" not in second.stdout and "1 chunks captioned" in second.stdout
    assert "1 events" in second.stdout


def test_cli_index_of_a_runaway_server_stays_small(server, clips):
    started = time.monotonic()
    result = run("index", clips["slide"], "--ocr", "off", "--json", "-b", "openai",
                 "--api-key", API_KEY, "--base-url", server.base_url, "-m", "huge-vl",
                 "--max-new-tokens", "512")
    assert result.exit_code == 0, result.stderr
    (doc,) = json.loads(result.stdout)
    assert doc["events"] == [] and len(doc["chunks"]) == 1
    assert time.monotonic() - started < 30


def test_a_body_that_is_not_json_is_one_line(server, slide):
    with pytest.raises(BackendError) as info:
        backend(server, "notjson-vl").generate([{"role": "user", "content": "hi"}])
    message = str(info.value)
    assert "not JSON" in message and "<html>" in message and server.base_url in message
    assert "\n" not in message
    line = one_line_error(run("index", slide.video.path, "--ocr", "off", "-b", "openai",
                              "--api-key", API_KEY, "--base-url", server.base_url,
                              "-m", "notjson-vl"))
    assert "not JSON" in line


def test_a_connection_dropped_mid_reply_is_not_called_unreachable(server):
    with pytest.raises(BackendError) as info:
        backend(server, "drop-vl", retries=1).generate([{"role": "user", "content": "hi"}])
    message = str(info.value)
    assert "closed the connection in the middle of its reply" in message
    assert "cannot be reached" not in message and "it was reached" in message
    assert len(server.requests) == 2  # dropped replies are retried

    with pytest.raises(BackendError) as info:
        backend(server, "hangup-vl", retries=0).generate([{"role": "user", "content": "hi"}])
    assert "accepted the connection but closed it without a reply" in str(info.value)


def test_a_silent_server_costs_one_timeout_not_one_per_retry(server):
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        backend(server, "silent-vl", timeout_s=1.0, retries=3).generate(
            [{"role": "user", "content": "hi"}])
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert "did not answer within 1 s" in message and "not retried" in message
    assert "it still lists its models, so it is busy" in message and "model.timeout_s" in message
    assert len(server.requests) == 1 and elapsed < 4  # 1 s, then /v1/models answers at once
    assert Config().model.timeout_s <= 120  # with the defaults, a hung server costs 2 minutes


def test_an_answer_past_the_limit_is_asked_again_then_shown_with_a_warning(server, clips):
    result = run("ask", clips["slide"], "what is on the slide?", "--ocr", "off", "-b", "openai",
                 "--api-key", API_KEY, "--base-url", server.base_url, "-m", "runaway-vl",
                 "--max-new-tokens", "64")
    assert result.exit_code == 0, result.stderr
    assert "sources:" in result.stdout
    assert "warning: the model's answer went past the 64-token limit twice" in result.stderr
    answers = [b for b in server.requests if "Question:" in json.dumps(b)]
    assert len(answers) == 2
