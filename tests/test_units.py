"""Pure pieces: time text, the token rule, settings and their YAML, chunk packing."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidqa.chunking import make_chunks
from vidqa.config import ChunkConfig, Config, cache_dir, config_file, load_config, render_default_yaml
from vidqa.errors import ConfigError
from vidqa.keyframes import Keyframe, Scene
from vidqa.timecode import format_hms, format_srt, parse_time
from vidqa.tokens import smart_resize, visual_tokens

ROOT = Path(__file__).resolve().parents[1]


def test_timecode_round_trip():
    assert format_hms(3723.5) == "01:02:03.500"
    assert format_srt(0.0015) == "00:00:00,002"
    assert format_hms(59.9996) == "00:01:00.000"
    assert parse_time("1:02:03.5") == 3723.5
    assert parse_time("62:03") == 3723.0
    assert parse_time("3723.5s") == 3723.5
    assert parse_time(12) == 12.0
    with pytest.raises(ValueError, match="cannot read"):
        parse_time("yesterday")


def test_qwen3_vl_token_rule():
    # 1280x720 capped at 640x360 worth of pixels: sides to multiples of 32.
    assert smart_resize(720, 1280, min_pixels=4096, max_pixels=230_400) == (352, 640)
    assert visual_tokens(352, 640) == 352 * 640 // 1024 == 220
    # Small pictures grow to the minimum area; sides stay multiples of 32.
    h, w = smart_resize(1, 1, min_pixels=4096, max_pixels=230_400)
    assert (h, w) == (64, 64) and visual_tokens(h, w) == 4
    # Already-rounded sizes are kept, so the processor will not resize stored frames again.
    assert smart_resize(352, 640, min_pixels=4096, max_pixels=230_400) == (352, 640)
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(1, 300, min_pixels=4096, max_pixels=230_400)


def test_default_yaml_is_in_sync_with_the_code():
    assert (ROOT / "configs" / "default.yaml").read_text() == render_default_yaml(), (
        "regenerate: python -c \"from vidqa.config import render_default_yaml; "
        "open('configs/default.yaml', 'w').write(render_default_yaml())\"")
    assert load_config(ROOT / "configs" / "default.yaml") == Config()


def test_config_file_overrides_and_validation(tmp_path, vidqa_home):
    path = tmp_path / "c.yaml"
    path.write_text("decode:\n  fps: 4\nchunk:\n  max_tokens: 2048\n")
    config = load_config(path)
    assert config.decode.fps == 4.0 and config.chunk.max_tokens == 2048
    assert config.select == Config().select
    assert config.key("decode", "select") != Config().key("decode", "select")
    assert config.key("select") == Config().key("select")
    path.write_text("decode:\n  fps: 100\n")
    with pytest.raises(ConfigError, match="between 0.05 and 30"):
        load_config(path)
    path.write_text("decode:\n  fsp: 2\n")
    with pytest.raises(ConfigError, match="unknown setting 'fsp'"):
        load_config(path)
    with pytest.raises(ConfigError, match="must be one of"):
        Config().replace("select", detector="magic")
    # State lives under VIDQA_HOME.
    assert cache_dir() == vidqa_home / "cache"
    assert config_file() == vidqa_home / "config.yaml"


def _kf(t: float, scene: int) -> Keyframe:
    return Keyframe(pts_s=t, scene_index=scene, reason="change", change=0.1, frame_index=int(t * 2))


def test_chunks_follow_scenes_under_budget_and_tile_the_video():
    scenes = [Scene(0, 0.0, 10.0), Scene(1, 10.0, 25.0), Scene(2, 25.0, 40.0), Scene(3, 40.0, 50.0)]
    keyframes = ([_kf(t, 0) for t in (0, 4, 8)] + [_kf(t, 1) for t in (10, 15, 20)]
                 + [_kf(t, 2) for t in (25, 30, 35)] + [_kf(t, 3) for t in (40, 45)])
    chunks = make_chunks(scenes, keyframes, 100, ChunkConfig(max_tokens=600, max_span_s=300), 50.0)
    # Whole scenes: 3+3 frames fit in 600 tokens, the third scene opens a new chunk.
    assert [[k.pts_s for k in c.keyframes] for c in chunks] == [
        [0, 4, 8, 10, 15, 20], [25, 30, 35, 40, 45]]
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 25.0), (25.0, 50.0)]
    assert all(c.tokens <= 600 for c in chunks)
    # A scene larger than the budget is split; spans are capped.
    long_scene = [Scene(0, 0.0, 100.0)]
    many = [_kf(float(t), 0) for t in range(0, 100, 5)]
    chunks = make_chunks(long_scene, many, 100, ChunkConfig(max_tokens=500, max_span_s=12), 100.0)
    assert all(len(c.keyframes) <= 5 for c in chunks)
    assert all(c.keyframes[-1].pts_s - c.start_s < 12 for c in chunks)
    assert chunks[0].start_s == 0.0 and chunks[-1].end_s == 100.0
    assert all(a.end_s == b.start_s for a, b in zip(chunks, chunks[1:]))
    assert sum(len(c.keyframes) for c in chunks) == len(many)


def test_model_presets_yaml_in_sync_and_resolution(monkeypatch):
    from vidqa.presets import PRESETS, default_model, find_preset, render_models_yaml, resolve_model

    assert (ROOT / "configs" / "models.yaml").read_text() == render_models_yaml()
    assert len(PRESETS) == 12 and find_preset("30b-a3b-thinking").moe
    assert find_preset("Qwen/Qwen3-VL-8B-Instruct").name == "8b"
    config = resolve_model(Config().replace("model", model="8b"))
    assert config.model.model == "Qwen/Qwen3-VL-8B-Instruct"
    assert (config.decode.frame_max_pixels, config.chunk.max_tokens) == (409_600, 16_384)
    # What the user set is kept.
    mine = resolve_model(Config().replace("model", model="8b").replace("chunk", max_tokens=4096))
    assert mine.chunk.max_tokens == 4096
    # No GPU here: the small model by default.
    assert default_model() == "Qwen/Qwen3-VL-2B-Instruct"
    assert resolve_model(Config()).model.model == "Qwen/Qwen3-VL-2B-Instruct"
    monkeypatch.setenv("VIDQA_MODEL", "/models/mine")
    monkeypatch.setenv("VIDQA_BACKEND", "openai")
    assert (load_config().model.model, load_config().model.backend) == ("/models/mine", "openai")


def test_missing_backend_dependency_names_the_extra(monkeypatch):
    import dataclasses

    from vidqa import backends

    spec = dataclasses.replace(backends.REGISTRY["openai"], needs=("no_such_module_here",))
    monkeypatch.setitem(backends.REGISTRY, "openai", spec)
    with pytest.raises(backends.BackendError, match=r"pip install 'vidqa\[openai\]'"):
        backends.get_backend("openai", "m")
    with pytest.raises(backends.BackendError, match="unknown backend 'nope'"):
        backends.get_backend("nope", "m")
