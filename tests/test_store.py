"""The one build-then-rename helper every cached folder goes through."""

from __future__ import annotations

import pytest

from vidqa.errors import CacheError
from vidqa.store import TEMP_PREFIX, building


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with building(final, "the thing at") as tmp:
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
    with pytest.raises(CacheError, match="a file stands where a folder is needed"):
        with building(blocker / "sub" / "out", "the cache at"):
            pass
