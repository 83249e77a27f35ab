"""Model presets: configs/models.yaml in sync, resolution, the hardware default."""

from __future__ import annotations

import pytest

from vidqa.config import Config, load_config

from helpers import ROOT
from helpers.hardware import fake_gpu


def test_model_presets_yaml_in_sync_and_resolution(monkeypatch):
    from vidqa.model.presets import PRESETS, default_model, find_preset, render_models_yaml, resolve_model

    assert (ROOT / "configs" / "models.yaml").read_text() == render_models_yaml()
    assert len(PRESETS) == 12 and find_preset("30b-a3b-thinking").moe
    assert find_preset("Qwen/Qwen3-VL-8B-Instruct").name == "8b"
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


@pytest.mark.parametrize("gib, model, frame_max_pixels", [
    (None, "Qwen/Qwen3-VL-2B-Instruct", 230_400), (16, "Qwen/Qwen3-VL-2B-Instruct", 230_400),
    (24, "Qwen/Qwen3-VL-8B-Instruct", 409_600), (141, "Qwen/Qwen3-VL-8B-Instruct", 409_600)])
def test_default_model_follows_the_gpu_memory(monkeypatch, gib, model, frame_max_pixels):
    """The 8B model on a CUDA GPU of 24 GiB or more, else the 2B one (a GPU faked either way)."""
    from vidqa.model.presets import default_model, resolve_model

    fake_gpu(monkeypatch, gib)
    assert default_model() == model
    config = resolve_model(Config())
    assert (config.model.model, config.decode.frame_max_pixels) == (model, frame_max_pixels)
