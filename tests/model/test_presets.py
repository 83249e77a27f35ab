"""Model presets: configs/models.yaml in sync, resolution, the hardware default."""

from __future__ import annotations

import pytest

from vidqa.config import Config, load_config

from helpers import ROOT
from helpers.hardware import fake_gpu


def test_model_presets_yaml_in_sync_and_resolution(monkeypatch):
    from vidqa.model.presets import PRESETS, default_model, find_preset, render_models_yaml, resolve_model

    assert (ROOT / "configs" / "models.yaml").read_text() == render_models_yaml()
    assert len(PRESETS) == 20 and find_preset("30b-a3b-thinking").moe
    assert find_preset("Qwen/Qwen3-VL-8B-Instruct").name == "8b"
    # Qwen3.5: dense and mixture-of-experts, by short name, hub id or its last part
    assert [p.name for p in PRESETS.values() if p.family == "qwen3_5"] == [
        "3.5-0.8b", "3.5-2b", "3.5-4b", "3.5-9b", "3.5-27b", "3.5-35b-a3b", "3.5-122b-a10b",
        "3.5-397b-a17b"]
    assert find_preset("Qwen/Qwen3.5-397B-A17B").moe and not find_preset("qwen3.5-27b").moe
    small = resolve_model(Config().replace("model", model="3.5-9b"))
    assert small.model.model == "Qwen/Qwen3.5-9B"
    assert (small.decode.frame_max_pixels, small.chunk.max_tokens) == (409_600, 16_384)
    config = resolve_model(Config().replace("model", model="8b"))
    assert config.model.model == "Qwen/Qwen3-VL-8B-Instruct"
    assert (config.decode.frame_max_pixels, config.chunk.max_tokens) == (409_600, 16_384)
    # What the user set is kept.
    mine = resolve_model(Config().replace("model", model="8b").replace("chunk", max_tokens=4096))
    assert mine.chunk.max_tokens == 4096
    # No GPU (whatever this machine has): the small model by default.
    fake_gpu(monkeypatch, None)
    assert default_model() == "Qwen/Qwen3-VL-2B-Instruct"
    assert resolve_model(Config()).model.model == "Qwen/Qwen3-VL-2B-Instruct"
    monkeypatch.setenv("VIDQA_MODEL", "/models/mine")
    monkeypatch.setenv("VIDQA_BACKEND", "openai")
    assert (load_config().model.model, load_config().model.backend) == ("/models/mine", "openai")


@pytest.mark.parametrize("gib, kernels, model, frame_max_pixels", [
    (None, False, "Qwen/Qwen3-VL-2B-Instruct", 230_400),
    (None, True, "Qwen/Qwen3-VL-2B-Instruct", 230_400),
    (16, True, "Qwen/Qwen3-VL-2B-Instruct", 230_400),
    (24, False, "Qwen/Qwen3-VL-8B-Instruct", 409_600),
    (141, False, "Qwen/Qwen3-VL-8B-Instruct", 409_600),
    (24, True, "Qwen/Qwen3.5-9B", 409_600),
    (141, True, "Qwen/Qwen3.5-9B", 409_600)])
def test_default_model_follows_the_gpu_memory(monkeypatch, gib, kernels, model, frame_max_pixels):
    """On a CUDA GPU of 24 GiB or more, Qwen3.5-9B where its linear-attention kernels
    (flash-linear-attention) are installed, else Qwen3-VL-8B; else Qwen3-VL-2B (a GPU and the
    kernels faked either way)."""
    from vidqa.model.presets import default_model, resolve_model

    fake_gpu(monkeypatch, gib)
    monkeypatch.setattr("vidqa.model.presets.linear_attention_kernels", lambda: kernels)
    assert default_model() == model
    config = resolve_model(Config())
    assert (config.model.model, config.decode.frame_max_pixels) == (model, frame_max_pixels)
