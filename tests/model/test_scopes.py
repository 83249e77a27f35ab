"""`ask --scope full` (every key frame in one request, thinned to the context, or answered by
chunks when even that does not fit) and `--scope agent` (the model calls vidqa's tools)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from helpers.extras import need
from helpers.scripted import ANSWERING, ScriptedBackend
from vidqa.config import Config
from vidqa.model.backends import REGISTRY, get_backend
from vidqa.pipeline import Pipeline

SRT = """1
00:00:05,000 --> 00:00:08,000
Welcome to the quarterly review.

2
00:00:41,500 --> 00:00:43,000
This is only a fire alarm test.
"""
LABEL = re.compile(r"^<(\d+\.\d) seconds>$")


pytestmark = pytest.mark.usefixtures("scripted")  # a fresh scripted model for the questions


@pytest.fixture(scope="module")
def talk(tmp_path_factory, event_video):
    """The event video with two subtitle lines beside it, run once for these tests with the
    answering model (captions cached, in a cache of its own); the tests only read the run."""
    video = tmp_path_factory.mktemp("talk") / "talk.mp4"
    shutil.copyfile(event_video[0], video)
    video.with_suffix(".srt").write_text(SRT)
    config = Config().replace("speech", mode="subtitles")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(REGISTRY, "answering", ANSWERING)
        mp.setenv("VIDQA_HOME", str(tmp_path_factory.mktemp("talk-home")))
        run = Pipeline(config, backend=get_backend("answering", "answering-model")).run(
            str(video))
    return config, run


def asked(config, run, scope: str, replies: list[str], **options):
    backend = get_backend("scripted", "scripted-model", replies=replies)
    video, answer = Pipeline(config, backend=backend).ask([run.video], "When is the alarm?",
                                                          scope=scope, runs=[run], **options)
    return backend, answer


def content_of(backend) -> list[dict]:
    return [i for m in backend.calls[-1] for i in m["content"]]


def test_full_shows_every_key_frame_once_in_order_with_speech_and_text_at_their_times(talk):
    config, run = talk
    backend, answer = asked(config, run, "full", ["The alarm shows at [41.0-43.5 s]."])
    items = content_of(backend)
    frames = [i for i in items if i["type"] == "image"]
    assert [f["pts_s"] for f in frames] == [kf.pts_s for kf in run.ingest.keyframes]
    for n, item in enumerate(items):  # every frame right after its own label
        if item["type"] == "image":
            assert LABEL.match(items[n - 1]["text"]).group(1) == f"{item['pts_s']:.1f}"
    texts = [i["text"] for i in items if i["type"] == "text"]
    timeline = [(float(m.group(1)), t) for t in texts
                if (m := re.match(r"^<(\d+\.\d) seconds>", t))]
    assert [t for t, _ in timeline] == sorted(t for t, _ in timeline)  # one time order
    said = [t for _, t in timeline if " Said: " in t]
    assert said == ["<5.0 seconds> Said: Welcome to the quarterly review.",
                    "<41.5 seconds> Said: This is only a fire alarm test."]
    assert "<41.3 seconds> On screen: FIRE ALARM TEST" in texts
    n = len(run.ingest.keyframes)
    assert answer.strategy == f"full: all {n} key frames" and answer.frames_sent == n
    assert answer.visual_tokens == n * run.ingest.stats.tokens_per_frame
    assert [(c.start_s, c.end_s) for c in answer.citations] == [(41.0, 43.5)]


def test_full_thins_to_the_context_and_falls_back_to_chunks_when_even_that_does_not_fit(
        talk, monkeypatch):
    config, run = talk
    frames = run.ingest.keyframes
    per_frame = run.ingest.stats.tokens_per_frame + 8
    must = {kf.pts_s for kf in frames if kf.reason == "change"} | \
        {min(kf.pts_s for kf in frames if kf.scene_index == s)
         for s in {kf.scene_index for kf in frames}}
    assert len(frames) > len(must)  # this video has a frame to spare
    keep = len(must)
    context = keep * per_frame + 512 + config.model.max_new_tokens + 150  # + the text lines
    monkeypatch.setattr(ScriptedBackend, "context_tokens", lambda self: context, raising=False)
    backend, answer = asked(config, run, "full", ["[41.0-43.5 s]"])
    shown = [i["pts_s"] for i in content_of(backend) if i["type"] == "image"]
    assert len(shown) == keep and must == set(shown)
    assert answer.strategy.startswith(f"full, thinned: {len(shown)} of {len(frames)} key frames")
    # a context too small for one frame per scene and per event: retrieval answers, and says so
    monkeypatch.setattr(ScriptedBackend, "context_tokens", lambda self: 1500, raising=False)
    backend, answer = asked(config, run, "full", ["[41.0-43.5 s]"])
    assert answer.strategy.startswith("chunks (the whole video does not fit")
    assert "Summaries of the video" in content_of(backend)[1]["text"]  # after the system prompt


def call(tool: str, **args) -> str:
    return json.dumps({"tool": tool, "args": args})


def test_the_agent_calls_each_tool_then_answers_with_a_trace(talk):
    config, run = talk
    replies = [call("search", query="fire alarm"),
               call("summaries", start_s=0, end_s=90),
               call("transcript", start_s=40, end_s=45),
               "<think>Look closer.</think>\n```json\n" + call("inspect", start_s=41, end_s=43)
               + "\n```",
               json.dumps({"answer": "The alarm test is shown at [41.3-43.3 s]."})]
    backend, answer = asked(config, run, "agent", replies)
    assert [s.get("tool", "answer") for s in answer.trace] == [
        "search", "summaries", "transcript", "inspect", "answer"]
    assert "FIRE ALARM TEST" in answer.trace[0]["result"]
    assert "a slide with a caption" in answer.trace[1]["result"]
    assert "This is only a fire alarm test." in answer.trace[2]["result"]
    assert answer.trace[3]["result"].startswith("8 frames of 41.0-43.0 s")
    inspected = [i for m in backend.calls[-1] if m["role"] == "user" for i in m["content"]
                 if i["type"] == "image"]
    assert len(inspected) == 8 and 41.0 <= inspected[0]["pts_s"] < inspected[-1]["pts_s"] <= 43.0
    assert answer.text == "The alarm test is shown at [41.3-43.3 s]."
    assert [(c.start_s, c.end_s) for c in answer.citations] == [(41.3, 43.3)]
    assert answer.strategy == "agent: answered after 4 tool calls"


def test_an_agent_that_never_answers_is_stopped_at_the_step_limit(talk):
    config, run = talk
    backend, answer = asked(config, run, "agent", [call("search", query="alarm")], max_steps=3)
    assert len(backend.calls) == 3 and answer.text == ""
    assert "did not answer within 3 steps" in answer.warning
    assert answer.strategy == "agent: stopped at the step limit (3)"


def test_a_malformed_tool_call_is_asked_again_once_then_reported(talk):
    config, run = talk
    backend, answer = asked(config, run, "agent", ["I would search for it.",
                                                   json.dumps({"answer": "At [41.0-43.0 s]."})])
    assert answer.text == "At [41.0-43.0 s]." and answer.trace[0]["malformed"] == \
        "no JSON object"
    assert any("not a tool call" in i.get("text", "") for m in backend.calls[-1]
               if m["role"] == "user" for i in m["content"])  # asked again, once
    backend, answer = asked(config, run, "agent", ["no idea", '{"tool": "teleport"}'])
    assert len(backend.calls) == 2
    assert "malformed twice (unknown tool 'teleport')" in answer.warning
    assert answer.strategy == "agent: stopped (malformed tool calls)"


@pytest.mark.slow
def test_full_over_an_openai_compatible_server_and_on_the_tiny_model(talk, no_openai_env,
                                                                      tmp_path):
    from helpers.openai_server import OpenAIServer

    config, run = talk
    server = OpenAIServer()
    with server as base_url:
        backend = get_backend("openai", "tiny-vl", base_url=base_url, api_key="secret")
        _, answer = Pipeline(config, backend=backend).ask([run.video], "When?", scope="full",
                                                          runs=[run])
    assert answer.strategy == f"full: all {len(run.ingest.keyframes)} key frames"
    items = [i for m in server.requests[-1]["messages"] for i in m["content"]
             if isinstance(m["content"], list)]
    for n, item in enumerate(items):  # each image right after its own label, as sent
        if item["type"] == "image_url":
            assert LABEL.match(items[n - 1]["text"])
    assert sum(i["type"] == "image_url" for i in items) == len(run.ingest.keyframes)
    need("transformers")
    from helpers.tiny_qwen3_vl import build

    tiny = get_backend("transformers", str(build(tmp_path / "tiny")))
    assert tiny.context_tokens() == 8192
    _, answer = Pipeline(config, backend=tiny).ask([run.video], "When?", scope="full",
                                                   runs=[run])
    assert answer.frames_sent == len(run.ingest.keyframes) and answer.model == str(tmp_path /
                                                                                    "tiny")
