"""Settings and their YAML: the defaults file in sync with the code, overrides, validation."""

from __future__ import annotations

import pytest

from vidqa.config import Config, load_config, render_default_yaml
from vidqa.paths import cache_dir, config_file
from vidqa.errors import ConfigError

from helpers import ROOT


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


def test_the_needle_sweep_is_a_stage_of_the_settings(tmp_path):
    """Sweep files, config files and flags go through one table (types, ranges, choices)."""
    from vidqa.evaluation.needle import Sweep, load_sweep

    path = tmp_path / "config.yaml"
    path.write_text("needle:\n  depths: 3\n  selectors: [scenes]\n  lengths_min: 5\n")
    config = load_config(path)
    assert config.needle == Sweep(lengths_min=(5.0,), depths=(0.0, 0.5, 1.0),
                                  selectors=("scenes",))
    # A sweep file goes over the config file's sweep; flags over both.
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text("top_k: 3\n")
    sweep = load_sweep(sweep_file, config.needle)
    assert (sweep.top_k, sweep.depths) == (3, (0.0, 0.5, 1.0))
    flags = Config(needle=sweep).replace("needle", depths="0,100", selectors="uniform").needle
    assert (flags.depths, flags.selectors, flags.top_k) == ((0.0, 1.0), ("uniform",), 3)
    for body, words in [("needle:\n  top_k: 0\n", "top_k.*between 1 and 100"),
                        ("needle:\n  selectors: [scenes, all]\n", "one of scenes, uniform"),
                        ("needle:\n  lengths_min: []\n", "at least 1"),
                        ("needle:\n  mode: search\n", "one of find, ask")]:
        path.write_text(body)
        with pytest.raises(ConfigError, match=words):
            load_config(path)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        Sweep(depths=(0.5, 2.0)).validated()


def test_explicit_settings_outrank_a_preset(tmp_path):
    from vidqa.model.presets import resolve_model

    def pixels(config):
        return resolve_model(config).decode.frame_max_pixels

    assert pixels(Config().replace("model", model="8b")) == 409_600
    assert pixels(Config().replace("model", model="8b").replace(
        "decode", frame_max_pixels=230_400)) == 230_400
    path = tmp_path / "config.yaml"  # a file that sets the default counts as set too
    path.write_text("decode:\n  frame_max_pixels: 230400\nmodel:\n  model: 8b\n")
    resolved = resolve_model(load_config(path))
    assert resolved.decode.frame_max_pixels == 230_400 and resolved.chunk.max_tokens == 16_384
    assert resolved.model.model == "Qwen/Qwen3-VL-8B-Instruct"
    assert resolved.is_set("decode", "frame_max_pixels") and not resolved.is_set("chunk",
                                                                                 "max_tokens")


def test_only_lists_of_names_split_at_commas():
    needle = Config().replace("needle", videos="my clip, part 1.mp4", selectors="scenes, uniform")
    assert needle.needle.videos == ("my clip, part 1.mp4",)
    assert needle.needle.selectors == ("scenes", "uniform")
    with pytest.raises(ConfigError, match="'needles' must be text that is not empty"):
        Config().replace("needle", needles=" ")
