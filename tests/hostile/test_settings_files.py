"""Config, sweep and needle files built to explode, or just wrong, and options given empty:
refused in one line that names the file, the setting and the fix."""

from __future__ import annotations

import time

import pytest

from helpers.hostile import one_line_error, run
from vidqa.config import load_config
from vidqa.errors import ConfigError
from vidqa.evaluation.needle import load_sweep
from vidqa.evaluation.needles import load_needles

# A "billion laughs" in under 1 KB: 9 levels of 9 aliases, 387 million strings once expanded
# (the drill: 37.5 s and 5.9 GB; one level more exhausts the machine).
BOMB = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def _file(tmp_path, text: str | bytes, name: str = "settings.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("loader", [load_config, load_sweep, load_needles])
def test_alias_bombs_are_refused_at_once(tmp_path, loader):
    assert len(BOMB) < 1024
    path = _file(tmp_path, BOMB)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        loader(path)
    assert time.monotonic() - started < 1
    assert "aliases" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("body, words", [
    ("model: {model: {a: 1}}\n", "setting 'model'"),  # a mapping where text belongs
    ("model:\n  model: {a: 1}\n", "must be text, got a mapping"),
    ("model:\n  model: [a, b]\n", "must be text, got a list"),
    ("chunk:\n  max_tokens: .inf\n", "must be a whole number, got inf"),
    ("chunk:\n  max_tokens: '1e400'\n", "must be a whole number, got '1e400'"),
    ("chunk:\n  max_tokens: 12.5\n", "must be a whole number"),
    ("decode:\n  fps: .nan\n", "must be a number, got nan"),
    ("decode:\n  fps: .inf\n", "must be between 0.05 and 30"),
    ("decode:\n  fast: 'yes'\n", "must be true or false"),
    ("model:\n  model:\n", "has no value"),
    ("decode: [1, 2]\n", "must be a mapping"),
])
def test_wrong_shapes_and_numbers_in_a_config_file(tmp_path, body, words):
    path = _file(tmp_path, body)
    with pytest.raises(ConfigError, match=words) as info:
        load_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_the_cli_says_the_same_in_one_line(tmp_path, clips):
    path = _file(tmp_path, "chunk:\n  max_tokens: .inf\n")
    line = one_line_error(run("--config", path, "ingest", clips["short3"]))
    assert str(path) in line and "max_tokens" in line and "whole number" in line


@pytest.mark.parametrize("loader, what", [(load_config, "config file"),
                                          (load_sweep, "sweep file"),
                                          (load_needles, "needle file")])
def test_files_that_are_not_utf8_or_too_big(tmp_path, loader, what):
    latin1 = _file(tmp_path, "# caf\xe9\nseed: 1\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=f"{what} .* is not UTF-8 text") as info:
        loader(latin1)
    assert "save it as UTF-8" in str(info.value)
    big = _file(tmp_path, "# " + "x" * (1 << 20) + "\n", "big.yaml")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        loader(big)
    with pytest.raises(ConfigError, match="is a folder"):
        loader(tmp_path)


@pytest.mark.parametrize("body, words", [
    ("needles: 5\n", "needles must be text, got 5"),
    ("videos: [1]\n", "videos must be text or a list of them, got 1"),
    ("lengths_min: [5, x]\n", "lengths_min: lengths"),
    ("seed: xyz\n", "seed must be a whole number, got 'xyz'"),
    ("top_k: abc\n", "top_k must be a whole number, got 'abc'"),
    ("tolerance_s: null\n", "tolerance_s must be a number, got None"),
    ("selectors: [scenes, {a: 1}]\n", "selectors must be text"),
    ("depths: [0, .inf]\n", "percentages from 0 to 100"),
    ("mode: [find]\n", "mode must be text"),
    ("- 1\n- 2\n", "not a mapping"),
])
def test_sweep_files_with_wrong_types(tmp_path, body, words):
    path = _file(tmp_path, body)
    with pytest.raises(ConfigError, match=words) as info:
        load_sweep(path)
    assert str(path) in str(info.value)


def test_a_single_length_is_a_list_of_one(tmp_path):
    assert load_sweep(_file(tmp_path, "lengths_min: 5\n")).lengths_min == (5.0,)


def test_needle_files_with_wrong_shapes(tmp_path):
    (tmp_path / "clips").mkdir()
    for body, words in [("- kind: image\n  path: clips\n  question: q\n  answer: a\n",
                         "is a folder; give the image file itself"),
                        ("- text: {a: 1}\n  question: q\n  answer: a\n",
                         "'text' must be a single value"),
                        ("- text: x\n  question: q\n  answer:\n", "'answer' must be a single"),
                        ("- text: x\n  question: q\n  answer: a\n  choices: [[1], b]\n",
                         "each of 'choices'")]:
        path = _file(tmp_path, body, "needles.yaml")
        with pytest.raises(ConfigError, match=words) as info:
            load_needles(path)
        assert str(path) in str(info.value)


@pytest.mark.parametrize("option", ["--depths=", "--lengths=", "--selectors=", "--needles="])
def test_empty_eval_options_are_errors_not_the_default_sweep(option, tmp_path):
    line = one_line_error(run("eval", "needle", option, "-o", tmp_path / "out"), code=2)
    assert f"'{option.rstrip('=')}'" in line and "is empty" in line
    assert not (tmp_path / "out").exists()  # nothing ran


def test_output_options_pointing_at_a_file(tmp_path, clips):
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me\n")
    # The check comes before any work: the unreachable server is never asked.
    line = one_line_error(run("events", clips["short3"], "-o", taken, "-b", "openai",
                              "--base-url", "http://127.0.0.1:9/v1", "-m", "x"))
    assert f"'{taken}'" in line and "it is a file, not a folder" in line
    line = one_line_error(run("eval", "needle", "-o", taken), code=2)  # click's own check
    assert f"'{taken}'" in line and "is a file" in line
    from vidqa.evaluation.needle import Sweep, needle_eval
    from vidqa.errors import VidqaError

    with pytest.raises(VidqaError, match="is a file, not a folder"):  # the same from Python
        needle_eval(Sweep(), taken)
    assert taken.read_text() == "keep me\n"
