"""File names that look like URLs, protocols or options are local files, read as such.

FFmpeg (the binary and PyAV) reads `file:x`, `http:x`, `concat:a|b`, `pipe:0` as protocols and
`-o.mp4` as an option; vidqa hands it `file:/absolute/path` with only the file protocol allowed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers.hostile import one_line_error, run
from vidqa.config import Config
from vidqa.keyframes.ingest import ingest
from vidqa.media.probe import probe
from vidqa.store import temp_name


pytestmark = pytest.mark.usefixtures("no_openai_env")


@pytest.fixture
def loopback_http(tmp_path):
    """A real HTTP server on 127.0.0.1 that counts the requests it gets."""
    hits: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


def _lookalikes(folder: Path, base: Path, port: int) -> list[str]:
    """Copies of `base` under names FFmpeg would read as something else."""
    names = ["file:short3.mp4", "concat:short3.mp4|short3.mp4", "pipe:0.mp4", "-o.mp4",
             f"http:/127.0.0.1:{port}/short3.mp4"]
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(base, folder / name)
    return names


def test_lookalike_names_are_the_local_files(clips, tmp_path, monkeypatch, loopback_http):
    port, hits = loopback_http
    monkeypatch.chdir(tmp_path)
    shutil.copy(clips["short3"], "short3.mp4")  # what FFmpeg would read for most of them
    for name in _lookalikes(tmp_path, clips["base"], port):
        result = run("inspect", "--json", name)
        assert result.exit_code == 0, (name, result.stderr)
        data = json.loads(result.stdout)
        assert (data["display_width"], data["display_height"], data["duration_s"]) == \
            (640, 360, 8.0), name
    assert hits == []  # nothing was fetched from the loopback server


def test_a_folder_scan_opens_no_url(clips, tmp_path, monkeypatch, loopback_http):
    port, hits = loopback_http
    monkeypatch.chdir(tmp_path)
    shutil.copy(clips["short3"], "short3.mp4")
    names = _lookalikes(tmp_path, clips["base"], port)
    result = run("index", "--no-captions", "--ocr", "off", "--json", ".")
    assert result.exit_code == 0, result.stderr
    assert hits == []
    indexed = {Path(d["video"]).as_posix() for d in json.loads(result.stdout)}
    assert {n for n in names if not n.startswith("-")} <= indexed


def test_the_cache_is_keyed_by_what_was_read(clips, tmp_path, monkeypatch):
    """The drill: a probe that read another file (160x120) built a work dir for this file's
    bytes, and the real file then got 160x128 frames "from cache"."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(clips["short3"], "short3.mp4")
    shutil.copy(clips["base"], "file:short3.mp4")
    shutil.copy(clips["base"], "base.mp4")
    lookalike = ingest("file:short3.mp4")
    real = ingest("base.mp4")
    assert (lookalike.stats.frame_width, lookalike.stats.frame_height) == (640, 352)
    assert (real.stats.frame_width, real.stats.frame_height) == (640, 352)
    assert real.stats.cached and real.workdir == lookalike.workdir  # same bytes, same reading

    # A reading of other streams (as the old probe made) is never served for this one.
    info = probe("base.mp4")
    wrong = dataclasses.replace(info, display_width=160, display_height=120, coded_width=160,
                                coded_height=120, duration_s=3.0)
    other = ingest(wrong, Config())
    assert other.workdir != real.workdir
    again = ingest("base.mp4")
    assert again.workdir == real.workdir and (again.stats.frame_width, again.stats.frame_height) \
        == (640, 352)


def test_a_250_byte_name_goes_through_ingest_and_every_writer(clips, tmp_path, monkeypatch):
    from helpers.openai_server import API_KEY, OpenAIServer

    name = "m" * 246 + ".mp4"  # 250 bytes: the old temporary names overflowed 255
    monkeypatch.chdir(tmp_path)
    shutil.copy(clips["slide"], name)
    assert len(temp_name("f")) < 40 and len(temp_name("idx", "-" + "x" * 40)) < 80
    with OpenAIServer() as base_url:
        result = run("events", name, "-f", "all", "-o", "out", "-b", "openai", "-m", "tiny-vl",
                     "--base-url", base_url, "--api-key", API_KEY, "--ocr", "off")
    assert result.exit_code == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(f"{'m' * 246}.{ext}" for ext in
                             ("json", "jsonl", "csv", "tsv", "srt", "vtt", "txt"))
    assert json.loads((tmp_path / "out" / f"{'m' * 246}.json").read_text())["events"]


def test_control_characters_in_names_are_printed_escaped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = Path("notes\nfake.mp4")
    text.write_text("meeting notes\n")
    for target in (str(text), "gone\r\n\x1b[31mred.mp4"):
        line = one_line_error(run("ingest", target))
        assert "\\n" in line and "\x1b" not in line and "\r" not in line
    line = one_line_error(run("ingest", str(text), "gone\nalso.mp4"))
    assert line == "Error: 2 of 2 videos failed:"
