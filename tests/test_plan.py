"""One stage plan for every executor: the stages and what each reads, a track that sees only
what it declares (locally too), and a package with no import circles."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import ClassVar

import pytest

from helpers import ROOT
from vidqa.config import Config
from vidqa.pipeline import Pipeline
from vidqa.plan import INDEX, INGEST, MEDIA, make_plan
from vidqa.tracks.base import REGISTRY, Segment, TrackBase, TrackSpec


def test_the_plan_says_each_stage_and_what_it_reads():
    plan = make_plan("talk.mp4", ["ocr", "speech", "captions"])
    assert [s.name for s in plan.stages] == [INGEST, "speech", "ocr", "captions", INDEX]
    reads = {s.name: s.reads for s in plan.stages}
    assert reads == {INGEST: (MEDIA,), "speech": (MEDIA,), "ocr": (INGEST,),
                     "captions": (INGEST, "ocr", "speech"),
                     INDEX: (INGEST, "speech", "ocr", "captions")}
    assert plan.stage("speech").beside and not plan.stage("ocr").beside
    assert plan.stage("captions").model and not plan.stage("ocr").model
    assert plan.track_names() == ["speech", "ocr", "captions"]
    # a track's `uses` outside the plan is not read
    assert make_plan("talk.mp4", ["captions"]).stage("captions").reads == (INGEST,)


class Peeking(TrackBase):
    """Reads what it was given: it declares no `uses`, so it must get nothing."""

    name: ClassVar[str] = "peeking"
    version: ClassVar[str] = "1"
    kinds: ClassVar[tuple[str, ...]] = ("peek",)
    needs: ClassVar[str] = ""
    seen: ClassVar[list] = []

    def __init__(self, config, tools):
        pass

    def unavailable(self):
        return None

    def segments(self, result, earlier, *, on_progress=None, warn=None):
        type(self).seen.append(sorted(earlier))
        return [Segment(0.0, 1.0, "peeked", self.name, "peek")]

    def cached(self, result, earlier):
        return None


class Declaring(Peeking):
    name: ClassVar[str] = "declaring"
    uses: ClassVar[tuple[str, ...]] = ("ocr",)


@pytest.fixture
def peekers(monkeypatch):
    for cls in (Peeking, Declaring):
        monkeypatch.setitem(REGISTRY, cls.name, TrackSpec(cls.name, f"{__name__}:{cls.__name__}",
                                                             "tests"))
        monkeypatch.setattr(cls, "seen", [])


def test_a_track_sees_only_the_tracks_it_declares(peekers, clips):
    pipeline = Pipeline(Config().replace("ocr", mode="on").replace("speech", mode="off"),
                        tracks=["ocr", "peeking", "declaring"])
    run = pipeline.run(str(clips["slide"]))
    assert run.tracks["ocr"]  # made before both, in the same run
    assert Peeking.seen == [[]] and Declaring.seen == [["ocr"]]
    assert [s.name for s in pipeline.plan(str(clips["slide"])).stages][-3:] == \
        ["peeking", "declaring", INDEX]


def test_pipeline_imports_no_executor_and_the_package_has_no_import_circles():
    tree = ast.parse((ROOT / "vidqa" / "pipeline.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | \
        {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
         for alias in node.names}
    assert "vidqa.plan" in imported
    assert not [name for name in imported if name and name.startswith("vidqa.cluster")]
    out = subprocess.run([sys.executable, str(ROOT / "pipelines" / "imports.py")],
                         capture_output=True, text=True, check=True).stdout
    assert "circles among module-level imports: 0" in out
    assert "circles among all imports, lazy ones too: 0" in out, out
