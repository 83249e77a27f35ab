"""One bad file in a folder never stops the rest: `find` and `ask` over a folder search the
videos that work and say which one was left out, and why."""

from __future__ import annotations

import shutil

import pytest

from helpers.hostile import one_line_error, run


@pytest.fixture
def folder_with_a_broken_file(tmp_path, clips):
    folder = tmp_path / "talks"
    folder.mkdir()
    shutil.copyfile(clips["slide"], folder / "slide.mp4")
    shutil.copyfile(clips["short3"], folder / "short.mp4")
    (folder / "broken.mp4").write_bytes(clips["slide"].read_bytes()[:3000])  # cut short
    return folder


def test_find_over_a_folder_searches_the_videos_that_work(folder_with_a_broken_file):
    folder = folder_with_a_broken_file
    indexed = run("-q", "index", folder, "--no-captions", "--speech", "off")
    assert indexed.exit_code == 1 and "1 of 3 videos failed" in indexed.stderr
    assert "broken.mp4" in indexed.stderr
    found = run("-q", "find", folder, "quarterly budget review", "--speech", "off")
    assert found.exit_code == 0, (found.stdout, found.stderr)
    first = found.stdout.splitlines()[0]
    assert "slide.mp4" in first and "QUARTERLY BUDGET REVIEW" in first
    warnings = [line for line in found.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "left out (1 of 3 videos)" in warnings[0]
    assert "broken.mp4" in warnings[0]


def test_a_folder_where_no_video_works_is_one_line(tmp_path, clips):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (folder / name).write_bytes(clips["slide"].read_bytes()[:3000])
    line = one_line_error(run("-q", "find", folder, "anything", "--speech", "off"))
    assert "none of the 2 videos can be used" in line and "a.mp4" in line
