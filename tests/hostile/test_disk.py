"""A full disk: one line naming the file and the fix, exit status 1, nothing half-written kept.

A real tmpfs (mounted by the test, root only) fills up while key frames and the index are
written; SQLite's "database or disk is full" is injected where a tmpfs cannot be sized to hit
it exactly.
"""

from __future__ import annotations

import errno
import gc
import shutil
import sqlite3

import pytest

from helpers.hostile import fill, one_line_error, run, small_disk, temporaries
from helpers.openai_server import API_KEY, OpenAIServer
from vidqa.errors import CacheError
from vidqa.search.embedders import get_embedder
from vidqa.search.index import Entry, VectorIndex
from vidqa.store import MANIFEST


pytestmark = pytest.mark.usefixtures("no_openai_env")


@pytest.fixture
def disk(tmp_path, monkeypatch):
    """VIDQA_HOME on a 16 MiB tmpfs."""
    with small_disk(tmp_path / "disk") as where:
        monkeypatch.setenv("VIDQA_HOME", str(where / "home"))
        yield where


def test_full_disk_while_writing_key_frames(disk, clips):
    ballast = fill(disk, leave_bytes=64 * 1024)  # room for a key frame or two, not for all
    line = one_line_error(run("ingest", clips["base"]))
    assert "cannot write key frame '" in line and "/keyframes/" in line
    assert "the disk is full" in line and "free space" in line and "VIDQA_HOME" in line
    assert not list(disk.rglob(MANIFEST)) and not temporaries(disk)  # nothing half-written
    ballast.unlink()
    result = run("ingest", clips["base"])  # with room again, the same command works
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("room, failing", [(0, "index.faiss"), (4096, "meta.sqlite")])
def test_full_disk_while_writing_the_index(disk, clips, room, failing):
    first = run("index", "--no-captions", clips["slide"])
    assert first.exit_code == 0, first.stderr
    (index_dir,) = [p for p in disk.rglob("index") if p.is_dir()]
    shutil.rmtree(index_dir)  # ingest and text track stay cached; the index is built again
    gc.collect()  # the first run's index (in this process) still holds its deleted meta.sqlite
    ballast = fill(disk, leave_bytes=room)  # one page: index.faiss fits, meta.sqlite does not
    line = one_line_error(run("index", "--no-captions", clips["slide"]))
    assert f"{failing}'" in line and "the disk is full" in line and "free space" in line
    assert not temporaries(disk) and not (index_dir.exists() and any(index_dir.iterdir()))
    ballast.unlink()
    assert run("index", "--no-captions", clips["slide"]).exit_code == 0


def test_full_disk_while_writing_the_event_log(disk, clips, tmp_path):
    out = disk / "out"
    out.mkdir()
    with OpenAIServer() as base_url:
        args = ["events", clips["slide"], "-f", "srt", "-o", out, "-b", "openai", "-m",
                "tiny-vl", "--base-url", base_url, "--api-key", API_KEY, "--ocr", "off"]
        assert run(*args).exit_code == 0  # captions cached, the log written
        (written,) = out.iterdir()
        before = written.read_bytes()
        written.unlink()
        ballast = fill(disk)
        line = one_line_error(run(*args))
    assert f"'{written}'" in line and "the disk is full" in line
    assert list(out.iterdir()) == [] and not temporaries(disk)
    ballast.unlink()
    assert before


def test_sqlite_disk_full_in_meta_sqlite_is_one_line(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(VectorIndex, "_write_meta", staticmethod(full))
    entries = [Entry("v.mp4", "text", 1.0, 2.0, "QUARTERLY BUDGET")]
    with pytest.raises(CacheError) as info:
        VectorIndex.build(entries, get_embedder(), tmp_path / "idx")
    message = str(info.value)
    assert "meta.sqlite'" in message and "the disk is full" in message
    assert not temporaries(tmp_path) and not (tmp_path / "idx").exists()


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "the disk is full"),
                                         (errno.EDQUOT, "the disk is full"),
                                         (errno.ENAMETOOLONG, "the file name is too long"),
                                         (errno.EROFS, "read-only"),
                                         (errno.EACCES, "permission denied")])
def test_every_write_error_names_the_file_and_the_fix(code, words, tmp_path):
    from vidqa.store import write_error

    message = str(write_error(OSError(code, "x"), tmp_path / "f.json"))
    assert f"'{tmp_path / 'f.json'}'" in message and words in message
    assert "; " in message  # then the fix


def test_an_os_error_no_stage_named_is_still_one_line(monkeypatch, capsys):
    from vidqa.cli import commands as cli_module

    def boom(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/cache/x.bin")

    monkeypatch.setattr(cli_module.cli, "main", boom)
    with pytest.raises(SystemExit) as exit_:
        cli_module.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.count("\n") == 1
    assert "'/data/cache/x.bin'" in err and "the disk is full" in err and "unexpected" not in err
