"""Second-level lookup, real and offline: OCR text track + MiniLM + FAISS, then 8 fps refining."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from vidqa.cli.commands import cli
from vidqa.evaluation.synth import Event, Plan, Shot, render
from vidqa.store import temp_owner

from helpers.extras import need
from helpers.processes import kill_when

need("faiss")
need("rapidocr")

# (kind, needle text, what a person would type)
NEEDLES = [
    ("slide", "GATE SEVEN OPENS", "gate seven opens"),
    ("pattern", "RED TRUCK ARRIVES", "the red truck"),
    ("bars", "FIRE DRILL STARTS", "fire drill"),
    ("life", "PACKAGE DELIVERED", "package delivered"),
    ("gradient", "SERVER ROOM ALERT", "alert in the server room"),
    ("plasma", "BUDGET APPROVED", "budget approved"),
]


@pytest.fixture(scope="session")
def needle_video(gen):
    """Six minutes of varied shots (24 of 15 s); six 2-3 s captions at known times inside
    them, each arriving mid-shot, 5-10 s after its cut and at least 1.7 s before the next."""
    segments = []
    for i in range(24):  # 24 shots of 15 s
        kind = NEEDLES[i // 4][0] if i % 4 == 1 else ["slide", "pattern", "bars", "gradient"][i % 4]
        events = []
        if i % 4 == 1:
            _, text, _ = NEEDLES[i // 4]
            start = 5.3 + i // 4
            events = [Event(start, start + 2.0 + 0.2 * (i // 4), text)]
        segments.append(Shot(kind, 15.0, f"Shot {i + 1}", 100 + i, events=events))
    plan = Plan(segments, width=640, height=360, fps=25)
    path = gen / "needles-6min.mp4"
    if not path.exists():
        render(plan, path, preset="veryfast")
    return path, plan.events()


@pytest.fixture(scope="module")
def real_media_home(tmp_path_factory):
    return tmp_path_factory.mktemp("find-media-home")


@pytest.fixture
def media_home(real_media_home, monkeypatch):
    """This test's cache is the one the tests on the real media share: a file one of them
    indexed is indexed for the others (alone, a test indexes what it searches)."""
    monkeypatch.setenv("VIDQA_HOME", str(real_media_home))
    return real_media_home


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_text_needles_are_the_top_hit_within_a_second(needle_video):
    path, events = needle_video
    result = run("index", "--no-captions", "--ocr", "on", str(path))
    assert result.exit_code == 0, result.stderr
    truth = {e.text: e for e in events}
    for _, text, query in NEEDLES:
        out = run("find", "--json", "-k", "3", str(path), query)
        assert out.exit_code == 0, out.stderr
        top = json.loads(out.stdout)["hits"][0]
        assert top["kind"] == "text" and top["text"].upper().replace(" ", "") == text.replace(" ", ""), (query, top)
        assert abs(top["time_s"] - truth[text].start_s) <= 1.0, (query, top, truth[text])
        assert top["refined_by"] == "ocr"


@pytest.mark.slow
def test_real_burned_in_subtitle_and_sign(media, media_home):
    out = run("find", "--json", str(media / "video-subtitle-remover" / "test_oldrev.mp4"),
              "I've decided, Rem")
    assert out.exit_code == 0, out.stderr
    top = json.loads(out.stdout)["hits"][0]
    assert "decided" in top["text"].lower() and 1.0 <= top["time_s"] <= 3.0, top
    out = run("find", "--json", "--no-refine", str(media / "video-feature-extraction" /
                                                   "sample_video_for_text.mp4"), "black lives matter sign")
    hits = json.loads(out.stdout)["hits"][:3]
    # The lightbox sign's three lines are read as three lines, on screen from the start.
    words = " ".join(h["text"].lower() for h in hits)
    assert all(w in words for w in ("black", "lives", "matter")), hits
    assert all(h["kind"] == "text" and h["start_s"] < 1.0 for h in hits), hits


@pytest.mark.slow
def test_find_across_a_folder_reports_video_and_time(media, media_home, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("video-subtitle-remover/test_oldrev.mp4",
                 "video-feature-extraction/sample_video_for_text.mp4"):
        (folder / name.split("/")[1]).symlink_to(media / name)
    out = run("find", "--json", str(folder), "black lives matter")
    assert out.exit_code == 0, out.stderr
    top = json.loads(out.stdout)["hits"][0]
    assert top["video"].endswith("sample_video_for_text.mp4")
    out = run("find", str(folder), "I've decided")
    assert "test_oldrev.mp4" in out.stdout.splitlines()[0]


REBUILDER = """
import sys
from vidqa import Config, Pipeline
from vidqa.search.find import video_index_dir
from vidqa.search.index import VectorIndex
p = Pipeline(Config().replace("ocr", mode="on"))
run = p.run(sys.argv[1])
e, m = run.entries(), p.embedder()
d = video_index_dir(run.ingest, e, m)
while True:  # until killed
    VectorIndex.build(e, m, d)
    print("built", flush=True)
"""


def _rebuilding(home, pid: int) -> bool:
    """Whether process `pid` has a temporary index directory under `home` (mid-build)."""
    try:
        return any((temp_owner(p) or (None,))[0] == pid for p in home.rglob(".tmp-idx*"))
    except OSError:  # a directory went away while it was listed
        return False


@pytest.mark.slow
def test_find_while_index_writes_and_after_sigkill(media, media_home):
    video = media / "video-subtitle-remover" / "test_oldrev.mp4"
    assert run("index", "--no-captions", "--ocr", "on", str(video)).exit_code == 0
    env = {**os.environ, "VIDQA_HOME": str(media_home)}
    # A writer that rebuilds the very index directory `find` reads, again and again, until
    # it is killed.
    writer = subprocess.Popen([sys.executable, "-c", REBUILDER, str(video)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "built\n", "the writer never rebuilt the index"
        for _ in range(5):  # while it rebuilds
            assert writer.poll() is None, "the writer stopped rebuilding"
            out = run("find", "--json", "--no-refine", str(video), "I've decided")
            assert out.exit_code == 0, out.stderr
            assert "decided" in json.loads(out.stdout)["hits"][0]["text"].lower()
        # Killed in the middle of a rebuild: once its temporary index directory is there.
        kill_when(writer, lambda: _rebuilding(media_home, writer.pid), timeout_s=30,
                  what="a temporary index directory")
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
        writer.stdout.close()
    out = run("find", "--json", "--no-refine", str(video), "I've decided")
    assert out.exit_code == 0 and json.loads(out.stdout)["hits"]
