"""The one build-then-rename mechanism every write goes through: folders (`building`, with
`swap_into_place` to replace one), files another writer fills (`building_file`)."""

from __future__ import annotations

import os

import pytest

from vidqa.errors import CacheError
from vidqa.store import (
    TEMP_PREFIX,
    building,
    building_file,
    live_builds,
    swap_into_place,
    temp_owner,
)


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError), building(final, "the thing at") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(TEMP_PREFIX)
        (tmp / "half").write_text("1")
        raise RuntimeError("the build failed")
    assert list(tmp_path.iterdir()) == []  # no final folder, no temporary
    with building(final, "the thing at") as tmp:
        (tmp / "whole").write_text("1")
    assert (final / "whole").read_text() == "1" and list(tmp_path.iterdir()) == [final]
    with building(final, "the thing at") as tmp:  # another run finished first: theirs is kept
        (tmp / "whole").write_text("2")
    assert (final / "whole").read_text() == "1" and list(tmp_path.iterdir()) == [final]


def test_a_custom_placement_and_a_folder_that_cannot_be_made(tmp_path):
    final = tmp_path / "index"
    final.mkdir()
    (final / "old").write_text("old")

    def replace(tmp, target):  # swap in, leave the old copy to be removed
        aside = target.with_name("aside")
        target.rename(aside)
        tmp.rename(target)
        return aside

    with building(final, "the index at", place=replace) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in final.iterdir()] == ["new"] and list(tmp_path.iterdir()) == [final]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CacheError, match="a file stands where a folder is needed"), \
            building(blocker / "sub" / "out", "the cache at"):
        pass


@pytest.mark.parametrize("atomic", [True, False], ids=["renameat2", "renamed-aside"])
def test_a_folder_swapped_into_place_replaces_the_old_one_whole(tmp_path, monkeypatch, atomic):
    if not atomic:
        monkeypatch.setattr("vidqa.store._renameat2", lambda: None)  # as on macOS
    final = tmp_path / "index"
    for version in ("1", "2", "3"):
        with building(final, "the index at", tag="idx", suffix="-index",
                      place=swap_into_place) as tmp:
            (tmp / "version").write_text(version)
            assert live_builds(final, "idx", "-index") == [tmp]  # a reader would wait
        assert (final / "version").read_text() == version
        assert list(tmp_path.iterdir()) == [final]  # the old folder is gone, no temporary
    assert live_builds(final, "idx", "-index") == []


def test_a_file_built_at_a_path_appears_whole_or_not_at_all(tmp_path):
    final = tmp_path / "copy.mp4"
    with pytest.raises(RuntimeError), building_file(final, suffix=".mp4", tag="proxy") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(f"{TEMP_PREFIX}proxy-")
        assert tmp.suffix == ".mp4" and temp_owner(tmp)[0] == os.getpid()
        tmp.write_bytes(b"half")
        raise RuntimeError("ffmpeg failed")
    assert list(tmp_path.iterdir()) == []
    with building_file(final, suffix=".mp4") as tmp:
        tmp.write_bytes(b"whole")
    assert final.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [final]

    def link(tmp, target):  # as an upload: never over a file that appeared meanwhile
        os.link(tmp, target)

    with pytest.raises(FileExistsError), building_file(final, place=link) as tmp:
        tmp.write_bytes(b"other")
    assert final.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [final]
