"""Caption parsing on realistic model outputs, and captioning with its per-chunk cache."""

from __future__ import annotations

import json

from vidqa.model.backends import get_backend
from vidqa.model.captions import RAW_WARNING, caption_chunk, caption_video, parse_caption, strip_reasoning
from vidqa.keyframes.chunking import Chunk
from vidqa.keyframes.ingest import ingest
from vidqa.keyframes.selection import Keyframe


def parse(text: str):
    return parse_caption(text, chunk_index=3, start_s=60.0, end_s=120.0, model="m")


def test_fenced_json_with_reasoning():
    caption = parse('<think>The frames show a slide at 61 s... {not json}</think>\n'
                    'Here is the result:\n```json\n{"summary": "A budget slide.", "events": ['
                    '{"start_s": 61.0, "end_s": 75.5, "text": "budget slide shown"}]}\n```')
    assert caption.summary == "A budget slide."
    assert [(e.start_s, e.end_s, e.text) for e in caption.events] == [(61.0, 75.5, "budget slide shown")]


def test_thinking_model_whose_open_tag_was_in_the_prompt():
    assert strip_reasoning('step by step...</think>{"summary": "x"}') == '{"summary": "x"}'
    assert parse('reasoning</think>{"summary": "ok", "events": []}').summary == "ok"
    # Reasoning cut off by the token limit: nothing usable.
    assert parse('<think>still thinking about {"summary": "draft"') is None


def test_events_outside_the_chunk_are_dropped_the_rest_clamped_and_ordered():
    caption = parse(json.dumps({"summary": "s", "events": [
        {"start_s": 130, "end_s": 140, "text": "after the chunk"},
        {"start_s": 20, "end_s": 30, "text": "before the chunk"},
        {"start": "00:00:30", "end": "00:01:05", "text": "straddles the start"},
        {"start_s": 90, "end_s": 80, "text": "reversed"},
        {"start_s": 100, "text": "no end"},
        {"start_s": 100, "text": "No  end"},  # a repeat: same times, same words
        {"start_s": 120.5, "text": "just past the end"},  # within a second: clamped
        {"start_s": "soon", "text": "unreadable time"},
        {"start_s": 70, "end_s": 71, "text": ""}]}))
    assert [(e.start_s, e.end_s, e.text) for e in caption.events] == [
        (60.0, 65.0, "straddles the start"), (80.0, 90.0, "reversed"), (100.0, 100.0, "no end"),
        (120.0, 120.0, "just past the end")]


def test_truncated_json_and_prose_are_unusable():
    assert parse('{"summary": "A man walks in", "events": [{"start_s": 61') is None
    assert parse("The video shows a man walking into a room at about 61 seconds.") is None
    assert parse("") is None
    # Events without a summary still make a caption.
    caption = parse('{"events": [{"start_s": 61, "end_s": 62, "text": "door opens"}]}')
    assert caption.summary == "door opens"


def _chunk() -> Chunk:
    frames = [Keyframe(t, 0, "scene", 1.0, i, f"k{i}.jpg") for i, t in enumerate((61.0, 75.5))]
    return Chunk(3, 60.0, 120.0, frames, 440)


def test_retry_once_then_keep_raw_with_a_warning(tmp_path, scripted):
    scripted.reply("I think it is a meeting.", '```json\n{"summary": "a meeting"}\n```')
    backend = get_backend("scripted", "scripted-model")
    caption = caption_chunk(backend, _chunk(), lambda kf: tmp_path / kf.image)
    assert caption.summary == "a meeting" and caption.warning is None
    assert len(backend.calls) == 2
    scripted.reply("no json here", "<think>hmm</think> still none")
    backend = get_backend("scripted", "scripted-model")
    caption = caption_chunk(backend, _chunk(), lambda kf: tmp_path / kf.image)
    assert caption.warning == RAW_WARNING and caption.summary == "still none"
    assert caption.events == [] and len(backend.calls) == 2


def test_messages_carry_absolute_times_before_each_frame(tmp_path, scripted):
    scripted.reply('{"summary": "s"}')
    backend = get_backend("scripted", "m")
    caption_chunk(backend, _chunk(), lambda kf: tmp_path / kf.image)
    items = backend.calls[0][1]["content"]
    assert [i.get("text") or i["type"] for i in items[:4]] == [
        "<61.0 seconds>", "image", "<75.5 seconds>", "image"]
    assert items[1]["path"] == str(tmp_path / "k0.jpg")
    assert "60.0 to 120.0 seconds" in items[-1]["text"]


def test_caption_video_caches_per_chunk_and_resumes(cuts_video, scripted):
    path, _ = cuts_video
    result = ingest(path)
    scripted.reply('{"summary": "shots", "events": [{"start_s": 1, "end_s": 2, "text": "x"}]}')
    backend = get_backend("scripted", "m")
    first = caption_video(result, backend)
    assert len(first.chunks) == len(result.chunks) and len(backend.calls) == len(result.chunks)
    again = get_backend("scripted", "m")
    assert caption_video(result, again).to_dict() == first.to_dict() and again.calls == []
    # One chunk's cache lost (as if the run had stopped before it): only it is redone.
    files = sorted((result.workdir / "captions").rglob("*.json"))
    files[0].unlink()
    resumed = get_backend("scripted", "m")
    caption_video(result, resumed)
    assert len(resumed.calls) == 1
    # Another model: its own captions.
    other = get_backend("scripted", "other")
    caption_video(result, other)
    assert len(other.calls) == len(result.chunks)


def test_ask_all_map_reduces_over_summaries(scripted):
    from vidqa.model.answers import ask_all
    from vidqa.model.captions import ChunkCaption, VideoCaptions

    chunks = [ChunkCaption(i, i * 60.0, (i + 1) * 60.0, f"part {i}: the alarm rings" if i % 3 == 0
                           else f"part {i}: quiet", [], "m") for i in range(7)]
    captions = VideoCaptions("v.mp4", "m", 420.0, chunks)
    scripted.reply("notes: alarm at [0.0-60.0 s]", "notes: alarm at [180.0-240.0 s]",
                   "notes: alarm at [360.0-420.0 s]",
                   "<think>count</think>The alarm rings 3 times: [0.0-60.0 s], "
                   "[180.0-240.0 s], [360.0-420.0 s].")
    backend = get_backend("scripted", "m")
    answer = ask_all(captions, backend, "How many times does the alarm ring?", batch=3)
    assert len(backend.calls) == 4  # three map calls over 3+3+1 summaries, one reduce
    assert "part 6" in backend.calls[2][0]["content"][0]["text"]
    assert answer.text.startswith("The alarm rings 3 times")
    assert [(c.start_s, c.end_s) for c in answer.citations] == [(0.0, 60.0), (180.0, 240.0), (360.0, 420.0)]


def test_model_pins_a_visual_hit_to_a_frame_it_was_shown(cuts_video, scripted):
    from vidqa.config import Config
    from vidqa.search.find import Found, refine

    path, truth = cuts_video
    result = ingest(path)
    cut = truth["cuts_s"][1]  # a hit whose chunk event starts a little late
    hit = Found(result.video.path, "event", round(cut + 1.2, 1), cut + 3.0, "the test pattern", 0.8)
    scripted.reply(f"<think>frames...</think>It begins at {cut:.1f} seconds.")
    backend = get_backend("scripted", "m")
    refine([hit], {result.video.path: result}, Config(), backend=backend)
    assert hit.refined_by == "model" and abs(hit.refined_s - cut) <= 0.25
    items = backend.calls[0][0]["content"]
    labels = [i["text"] for i in items if i["type"] == "text" and i["text"].startswith("<")]
    assert len(labels) >= 8 and labels == sorted(labels, key=lambda x: float(x[1:].split()[0]))
