"""Tracks: a protocol and a registry; a new source is one class, and every consumer (segments,
index entries, the event log, find, the `events` command) takes it with no new wiring."""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from typing import ClassVar

import pytest
from click.testing import CliRunner

from vidqa.cli import cli
from vidqa.config import Config
from vidqa.errors import ConfigError, VidqaError
from vidqa.pipeline import Pipeline
from vidqa.tracks.base import REGISTRY, Segment, TrackBase, TrackSpec, get_track, parse_tracks


class SpokenTrack(TrackBase):
    """What a speech track will look like: one "speech" segment per scene."""

    name: ClassVar[str] = "spoken"
    version: ClassVar[str] = "1"
    kinds: ClassVar[tuple[str, ...]] = ("speech",)
    log_kinds: ClassVar[tuple[str, ...]] = ("speech",)
    needs: ClassVar[str] = ""
    unit: ClassVar[str] = "s"  # progress in seconds of video, as speech recognition goes
    built: ClassVar[list[str]] = []

    def __init__(self, config, tools):
        self.config = config

    def unavailable(self):
        return None

    def segments(self, result, earlier, *, on_progress=None, warn=None):
        type(self).built.append(result.video.path)
        for scene in result.scenes:
            on_progress(scene.length_s)
        return [Segment(s.start_s, s.end_s, f"the speaker talks about the budget in scene "
                        f"{s.index + 1}", self.name, "speech") for s in result.scenes]

    def cached(self, result, earlier):
        return None


@pytest.fixture
def spoken(monkeypatch):
    monkeypatch.setitem(REGISTRY, "spoken", TrackSpec("spoken", f"{__name__}:SpokenTrack",
                                                      "scripted speech (tests)"))
    monkeypatch.setattr(SpokenTrack, "built", [])
    return SpokenTrack


def test_the_registry_names_the_built_in_tracks():
    assert list(REGISTRY)[:3] == ["ocr", "speech", "captions"]
    assert get_track("ocr").kinds == ("text",) and get_track("captions").log_kinds == ("event",)
    assert parse_tracks("captions, ocr") == ("ocr", "captions")  # registry order
    assert parse_tracks("all") is None and parse_tracks(None) is None
    assert get_track("speech").frames is False  # it runs beside the decode
    with pytest.raises(ConfigError, match="unknown track.*'speach'.*ocr, speech, captions"):
        parse_tracks("speach")


def test_a_new_track_is_one_class(spoken, clips):
    video = str(clips["slide"])
    bars: dict[str, list] = {}

    @contextmanager
    def progress(desc, total, unit):
        bars[desc] = [total, unit, 0.0]
        yield lambda amount=1: bars[desc].__setitem__(2, bars[desc][2] + amount)

    pipeline = Pipeline(Config().replace("ocr", mode="on"), progress=progress)
    run = pipeline.run(video)
    end_s = run.ingest.stats.end_s
    assert bars["slide.mp4 spoken"] == [end_s, "s", pytest.approx(end_s)]
    assert bars["slide.mp4 ocr"] == [len(run.ingest.keyframes), "frame", len(run.ingest.keyframes)]
    # No model: the captions track is left out (none cached); the others run. The clip has
    # no sound: the speech track runs and hears nothing, without a warning.
    assert list(run.tracks) == ["ocr", "speech", "pictures", "spoken"]
    assert spoken.built == [video]
    assert run.tracks["speech"] == [] and run.warnings == []
    assert {s.source for s in run.segments()} == {"ocr", "pictures", "spoken"}
    assert {e.kind for e in run.entries()} == {"text", "speech"}
    log = run.event_log()
    assert [s.source for s in log.segments].count("spoken") == len(run.ingest.scenes)
    hits = pipeline.find(video, "what did the speaker say about the budget", refine=False)
    assert hits[0].kind == "speech" and hits[0].video == video
    # The event log from the command line carries the new source in its own column.
    out = CliRunner().invoke(cli, ["events", "-f", "csv", "--ocr", "on", video],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {r["source"] for r in rows} == {"ocr", "spoken"}
    assert any(r["source"] == "ocr" and "BUDGET" in r["text"] for r in rows)
    assert "no captions in the log" in out.stderr  # and how to get them


def test_events_without_a_model_writes_the_on_screen_text(clips, tmp_path):
    out = CliRunner().invoke(cli, ["events", "-f", "all", "-o", str(tmp_path), "--ocr", "on",
                                   str(clips["slide"])], catch_exceptions=False)
    assert out.exit_code == 0, out.stderr
    txt = (tmp_path / "slide.txt").read_text(encoding="utf-8")
    assert "ocr: QUARTERLY BUDGET REVIEW" in txt
    assert "QUARTERLY BUDGET REVIEW" in (tmp_path / "slide.srt").read_text(encoding="utf-8")
    chosen = CliRunner().invoke(cli, ["events", "-f", "txt", "--tracks", "ocr", "--ocr", "on",
                                      str(clips["slide"])], catch_exceptions=False)
    assert chosen.stdout == txt and "no captions" not in chosen.stderr


def test_a_track_asked_for_that_cannot_run_says_why(clips):
    with pytest.raises(VidqaError, match="cannot make the ocr track.*--ocr off"):
        Pipeline(Config().replace("ocr", mode="off"), tracks=["ocr"]).run(str(clips["short3"]))
    out = CliRunner().invoke(cli, ["events", "--tracks", "ocr", "--ocr", "off",
                                   str(clips["short3"])], catch_exceptions=False)
    assert out.exit_code == 1 and out.stderr.count("\n") == 1 and "--ocr off" in out.stderr
