"""What a server may serve (the library's checks on every name a request gives), and the
timeline summary a 10-hour video is drawn from."""

from __future__ import annotations

import pytest

from vidqa.errors import VidqaError
from vidqa.serve.library import Library, Refused
from vidqa.serve.timeline import Item, summarise


@pytest.fixture
def folders(tmp_path):
    a, b, outside = tmp_path / "talks", tmp_path / "other" / "talks", tmp_path / "private"
    for folder in (a / "2026", b, outside):
        folder.mkdir(parents=True)
    (a / "2026" / "keynote.mp4").write_bytes(b"\0" * 10)
    (b / "keynote.mp4").write_bytes(b"\0" * 20)
    (outside / "secret.mp4").write_bytes(b"\0" * 30)
    (a / "notes.txt").write_text("not a video")
    (a / "link.mp4").symlink_to(outside / "secret.mp4")
    (a / "inside-link.mp4").symlink_to(a / "2026" / "keynote.mp4")
    return a, b, outside


def test_one_folder_lists_its_videos_by_relative_path_and_nothing_outside(folders):
    a, _b, _outside = folders
    library = Library([a])
    assert [e.path for e in library.scan()] == ["2026/keynote.mp4"]  # the links resolve
    entry = library.get("2026/keynote.mp4")
    assert library.get(entry.id) is entry and library.get(f"vidqa://{entry.id}") is entry
    assert library.get("inside-link.mp4") is entry  # a link that stays inside is its target


@pytest.mark.parametrize("name, status", [
    ("../private/secret.mp4", 403), ("2026/../../private/secret.mp4", 403),
    ("/etc/passwd", 403), ("~/x.mp4", 403), ("file:///etc/passwd", 403),
    ("link.mp4", 403), ("notes.txt", 404), ("missing.mp4", 404), ("2026\\keynote.mp4", 400),
    ("2026/keynote.mp4\0.txt", 400), ("", 400),
])
def test_names_outside_the_folders_are_refused(folders, name, status):
    library = Library([folders[0]])
    with pytest.raises(Refused) as caught:
        library.get(name)
    assert caught.value.status == status


def test_several_folders_are_told_apart_by_their_names(folders):
    a, b, _ = folders
    library = Library([a, b])
    assert [e.path for e in library.scan()] == ["talks-2/keynote.mp4", "talks/2026/keynote.mp4"]
    assert library.get("talks-2/keynote.mp4").size_bytes == 20
    assert library.get("talks/2026/keynote.mp4").size_bytes == 10
    with pytest.raises(Refused):
        library.get("talks-2/../talks/2026/keynote.mp4")


def test_a_missing_folder_is_one_line_with_the_fix(tmp_path):
    with pytest.raises(VidqaError, match="is not a folder"):
        Library([tmp_path / "nowhere"])


def test_a_ten_hour_lane_is_drawn_from_a_summary():
    lines = [Item(i * 0.5, i * 0.5 + 2.0, f"line {i}") for i in range(72_000)]  # 10 h at 2 fps
    lane = summarise(lines, 0.0, 36_000.0, 1500)
    assert lane["binned"] and lane["count"] == 72_000
    assert len(lane["items"]) == 1500
    assert sum(i["count"] for i in lane["items"]) >= 72_000
    assert lane["items"][0]["text"].startswith("line 0 (+")
    # a zoomed window of one minute gives the lines themselves
    window = summarise(lines, 600.0, 660.0, 1500)
    assert not window["binned"] and window["items"][0]["text"] == "line 1197"  # 598.5-600.5 s; 1196 ends at 600.0
    assert all(600.0 - 2.0 < i["start_s"] < 660.0 for i in window["items"])
