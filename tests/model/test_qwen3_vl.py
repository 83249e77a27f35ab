"""The transformers backend on a tiny, randomly initialised Qwen3-VL built offline and loaded
through `AutoProcessor.from_pretrained` and `AutoModelForImageTextToText.from_pretrained`."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from helpers.extras import need

need("torch")
need("transformers")

from helpers.hardware import hide_gpus  # noqa: E402
from helpers.tiny_qwen3_vl import build  # noqa: E402
from vidqa.model.backends import get_backend  # noqa: E402
from vidqa.keyframes.chunking import Chunk  # noqa: E402
from vidqa.cli.commands import cli  # noqa: E402
from vidqa.keyframes.selection import Keyframe  # noqa: E402
from vidqa.model.messages import caption_messages  # noqa: E402
from vidqa.keyframes.tokens import smart_resize, visual_tokens  # noqa: E402

TIMES = (12.0, 15.5, 61.0)  # non-uniform, as key frames are


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build(tmp_path_factory.mktemp("tiny-qwen3-vl"))


@pytest.fixture(scope="session")
def backend(tiny_model):
    """On the CPU in fp32 whatever the machine has (a session fixture is made before the
    function-scoped `no_gpu_unless_marked` hides the GPUs, so it hides them itself)."""
    with pytest.MonkeyPatch.context() as mp:
        hide_gpus(mp)
        return get_backend("transformers", str(tiny_model))


@pytest.fixture
def chunk_and_paths(tmp_path):
    frames, paths = [], {}
    for i, t in enumerate(TIMES):
        image = np.full((352, 640, 3), (40 * i, 255 - 60 * i, 90), np.uint8)
        path = tmp_path / f"{i:06d}_{t:.3f}.jpg"
        path.write_bytes(cv2.imencode(".jpg", image)[1].tobytes())
        frames.append(Keyframe(t, 0, "scene", 1.0, i, path.name))
        paths[t] = path
    chunk = Chunk(0, 10.0, 70.0, frames, 3 * 220)
    return chunk, (lambda kf: paths[kf.pts_s])


def test_loaded_through_the_auto_classes(backend):
    assert type(backend.processor).__name__ == "Qwen3VLProcessor"
    assert type(backend.hf_model).__name__ == "Qwen3VLForConditionalGeneration"
    assert backend.hf_model.dtype.is_floating_point  # fp32 on the CPU
    assert not backend.cuda and backend.hf_model.device.type == "cpu"


def test_prompt_holds_each_true_time_before_its_frame_in_order(backend, chunk_and_paths):
    chunk, image_path = chunk_and_paths
    prompt = backend.render(caption_messages(chunk, image_path))
    found = re.findall(r"<(\d+\.\d) seconds><\|vision_start\|><\|image_pad\|><\|vision_end\|>", prompt)
    assert found == ["12.0", "15.5", "61.0"]
    assert "<|video_pad|>" not in prompt  # frames never go in as a uniform-rate video


def test_processor_image_tokens_equal_the_computed_budget(backend, tiny_model, chunk_and_paths):
    chunk, image_path = chunk_and_paths
    inputs = backend.prepare(caption_messages(chunk, image_path))
    image_token = backend.processor.image_token_id
    counted = int((inputs["input_ids"] == image_token).sum())
    assert counted == backend.visual_tokens(inputs) == 3 * visual_tokens(352, 640) == chunk.tokens
    # The frame size cap goes through the processor's own size setting.
    small = get_backend("transformers", str(tiny_model), frame_max_pixels=50_000)
    h, w = smart_resize(352, 640, min_pixels=4096, max_pixels=50_000)
    inputs = small.prepare(caption_messages(chunk, image_path))
    assert int((inputs["input_ids"] == image_token).sum()) == 3 * visual_tokens(h, w) < counted


def test_generation_returns_new_tokens(backend, chunk_and_paths):
    chunk, image_path = chunk_and_paths
    out = backend.generate(caption_messages(chunk, image_path), max_new_tokens=8)
    assert out.completion_tokens and 0 < out.completion_tokens <= 8
    assert out.visual_tokens == 660 and out.prompt_tokens > 660
    assert isinstance(out.text, str)


def test_mixture_of_experts_checkpoint_through_the_same_calls(tmp_path, chunk_and_paths):
    moe = get_backend("transformers", str(build(tmp_path / "tiny-moe", moe=True)))
    assert type(moe.hf_model).__name__ == "Qwen3VLMoeForConditionalGeneration"
    chunk, image_path = chunk_and_paths
    out = moe.generate(caption_messages(chunk, image_path), max_new_tokens=4)
    assert out.visual_tokens == 660 and out.completion_tokens


def test_vidqa_index_and_events_on_the_tiny_model(tiny_model, cuts_video, tmp_path):
    path, _ = cuts_video
    runner = CliRunner()
    args = ["-m", str(tiny_model), "-b", "transformers", "--max-new-tokens", "16"]
    result = runner.invoke(cli, ["index", "--json", *args, str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    (doc,) = json.loads(result.stdout)
    assert doc["model"] == str(tiny_model) and doc["chunks"]
    # A random model writes no usable JSON: every chunk is kept raw, with a warning, no crash.
    assert all(c["warning"] for c in doc["chunks"])
    out = tmp_path / "logs"
    result = runner.invoke(cli, ["events", "-f", "all", "-o", str(out), *args, str(path)])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.suffix for p in out.iterdir()) == sorted(
        [".json", ".jsonl", ".csv", ".tsv", ".srt", ".vtt", ".txt"])


def test_hub_id_loads_offline_from_the_hugging_face_cache(tiny_model, tmp_path, monkeypatch):
    """A hub id whose files are in the cache ($HF_HOME) loads with no network, as a real
    checkpoint does once downloaded; one that is not cached fails at once with the fix."""
    import shutil

    from vidqa.errors import BackendError

    home = tmp_path / "hf"
    snapshot = home / "hub" / "models--vidqa-test--tiny-qwen3-vl" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_model, snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: no network
    backend = get_backend("transformers", "vidqa-test/tiny-qwen3-vl")
    assert type(backend.hf_model).__name__ == "Qwen3VLForConditionalGeneration"
    with pytest.raises(BackendError, match="not in the Hugging Face cache .* cannot be reached"):
        get_backend("transformers", "vidqa-test/not-downloaded")


@pytest.mark.slow
def test_vidqa_eval_needle_ask_mode_on_the_tiny_model(tiny_model, tmp_path, shared_haystacks):
    """`eval needle --mode ask` through the real transformers backend: every chunk captioned,
    the question answered and scored, the model recorded on the results line."""
    out = tmp_path / "eval"
    args = ["eval", "needle", "--mode", "ask", "-m", str(tiny_model), "-b", "transformers",
            "--max-new-tokens", "16", "--lengths", "0.5", "--depths", "50%", "--selectors",
            "scenes", "--seed", "5", "-o", str(out), "--json"]  # seed 5: a shared haystack
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["metric"] == "accuracy" and summary["ran"] == 1
    (record,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert record["model"] == str(tiny_model) and record["mode"] == "ask"
    assert isinstance(record["answer"], str) and isinstance(record["correct"], bool)
    assert record["answer_chunks"] and record["seconds"]["captions"] >= 0


@pytest.mark.gpu
def test_generation_on_cuda_in_bf16(tiny_model, chunk_and_paths):
    """On a CUDA GPU the same calls run in bf16 on the device: the image tokens are the
    computed budget and generation returns new tokens."""
    import torch

    gpu = get_backend("transformers", str(tiny_model))
    assert gpu.cuda and gpu.hf_model.device.type == "cuda"
    assert gpu.hf_model.dtype == torch.bfloat16
    chunk, image_path = chunk_and_paths
    out = gpu.generate(caption_messages(chunk, image_path), max_new_tokens=8)
    assert out.completion_tokens and 0 < out.completion_tokens <= 8
    assert out.visual_tokens == 660 and out.prompt_tokens > 660
    assert isinstance(out.text, str)


# --- Qwen3.5: the same processor and the same calls, a newer model ----------------------------

@pytest.mark.parametrize("moe, model_class", [
    (False, "Qwen3_5ForConditionalGeneration"), (True, "Qwen3_5MoeForConditionalGeneration")])
def test_qwen3_5_loads_through_the_auto_classes_and_sees_each_frame_after_its_time(
        tmp_path, chunk_and_paths, moe, model_class):
    """A tiny random Qwen3.5 (linear-attention and full-attention layers, dense or MoE) built
    from its config, saved, and loaded back as users load Qwen/Qwen3.5-9B."""
    path = build(tmp_path / "tiny-qwen3.5", family="qwen3_5", moe=moe)
    assert json.loads((path / "config.json").read_text())["model_type"] == \
        ("qwen3_5_moe" if moe else "qwen3_5")
    backend = get_backend("transformers", str(path))
    assert type(backend.processor).__name__ == "Qwen3VLProcessor"
    assert type(backend.hf_model).__name__ == model_class
    chunk, image_path = chunk_and_paths
    prompt = backend.render(caption_messages(chunk, image_path))
    labelled = re.findall(r"<(\d+\.\d) seconds><\|vision_start\|><\|image_pad\|>", prompt)
    assert labelled == [f"{t:.1f}" for t in TIMES]
    out = backend.generate(caption_messages(chunk, image_path), max_new_tokens=4)
    assert out.visual_tokens == 660 and 0 < out.completion_tokens <= 4


def test_vidqa_index_on_a_tiny_qwen3_5(tmp_path, cuts_video):
    path, _ = cuts_video
    model = build(tmp_path / "tiny-qwen3.5", family="qwen3_5")
    result = CliRunner().invoke(cli, ["index", "--json", "-m", str(model), "-b", "transformers",
                                      "--max-new-tokens", "16", "--ocr", "off", "--speech", "off",
                                      str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    (doc,) = json.loads(result.stdout)
    assert doc["model"] == str(model) and doc["chunks"]
