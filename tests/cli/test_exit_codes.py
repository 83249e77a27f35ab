"""Exit statuses (STYLE.md): 0 ok, 1 a runtime error, 2 a usage error, 3 an evaluation below its
--fail-under. A flag's value that the settings table refuses is a usage error, as click's own
checks of an option are; a settings file with a bad value is a runtime error about that file
(status 1, as tests/hostile/test_settings_files.py expects)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from vidqa.cli.commands import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("args, message", [
    (["ingest", "--fps", "0", "{video}"],
     "Error: setting 'fps' must be between 0.05 and 30; got 0.0"),
    (["scenes", "--max-span", "-1", "{video}"],
     "Error: setting 'max_span_s' must be between 1 and 86400; got -1.0"),
    (["find", "--ocr-size", "1", "{video}", "words"],
     "Error: setting 'detect_size' must be between 128 and 2048; got 1"),
    (["eval", "needle", "--depths", "abc", "-o", "{out}"],
     "Error: setting 'depths' depths ['abc'] are not numbers; give percentages like 0,50,100"),
])
def test_a_flag_value_out_of_range_is_a_usage_error(tmp_path, args, message):
    """Checked before any file is opened (the video named here does not exist) or written."""
    out = tmp_path / "out"
    result = run("-q", *[a.format(video=tmp_path / "missing.mp4", out=out) for a in args])
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert result.stderr.startswith(message)
    assert not out.exists()


def test_click_checks_exit_2_as_well(tmp_path):
    result = run("find", "--top", "0", tmp_path / "missing.mp4", "words")
    assert result.exit_code == 2
    assert "Error: Invalid value for '-k' / '--top': 0 is not in the range 1<=x<=100." \
        in result.stderr


def test_the_same_value_in_a_settings_file_is_an_error_about_that_file(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("decode:\n  fps: 0\n")
    result = run("--config", settings, "ingest", tmp_path / "missing.mp4")
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: setting 'fps' in {settings} must be between 0.05 "
                                     "and 30; got 0")


def test_a_missing_video_is_a_runtime_error(tmp_path):
    missing = tmp_path / "missing.mp4"
    result = run("-q", "ingest", "--fps", "1", missing)
    assert result.exit_code == 1, (result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == f"Error: cannot open '{missing}': no such file; check the path"
    assert result.stdout == ""
