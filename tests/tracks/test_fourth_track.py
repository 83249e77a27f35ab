"""A fourth track, declared in this one file, reaches every consumer with no edit elsewhere:
the index and `find`, `ask`'s prompt and the agent's tools, the event log, `vidqa index
--json`, the page's timeline data and the report. It marks loud moments from the audio."""

from __future__ import annotations

import json
import subprocess
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner

from vidqa.cli import cli
from vidqa.config import Config
from vidqa.media.audio import SAMPLE_RATE, AudioReader, choose_audio
from vidqa.media.ffmpeg import ffmpeg_exe
from vidqa.model.backends import get_backend
from vidqa.pipeline import Pipeline
from vidqa.tracks.base import REGISTRY, AgentTool, Lane, Segment, TrackBase, TrackSpec

LOUD_FROM_S, LOUD_TO_S = 5.0, 7.0


class LoudnessTrack(TrackBase):
    """One "loud" segment per stretch of at least half a second whose sound is loud."""

    name: ClassVar[str] = "loudness"
    version: ClassVar[str] = "1"
    kinds: ClassVar[tuple[str, ...]] = ("loud",)
    log_kinds: ClassVar[tuple[str, ...]] = ("loud",)
    needs: ClassVar[str] = ""
    unit: ClassVar[str] = "s"
    frames: ClassVar[bool] = False  # the sound alone: it runs beside the decode
    label: ClassVar[str] = "Sound"
    prompt_kinds: ClassVar[tuple[str, ...]] = ("loud",)
    lane: ClassVar[Lane] = Lane("loud", "Loud", ("loud",), "#ff7043")
    tool: ClassVar[AgentTool] = AgentTool("loudness", "reads the loud moments in a time range",
                                          ("loud",))
    noun: ClassVar[str] = "loud moments"

    def __init__(self, config, tools):
        self.config = config

    def unavailable(self):
        return None

    def segments(self, media, earlier, *, on_progress=None, warn=None):
        stream = choose_audio(media.video)
        if stream is None:
            return []
        step = SAMPLE_RATE // 4  # quarter seconds
        sound = np.concatenate(list(AudioReader(media.video, stream).samples()))
        loud = [float(np.sqrt(np.mean(sound[i:i + step] ** 2))) > 0.03
                for i in range(0, len(sound) - step + 1, step)]
        out, start = [], None
        for i, is_loud in enumerate([*loud, False]):
            if is_loud and start is None:
                start = i
            elif not is_loud and start is not None:
                if i - start >= 2:
                    out.append(Segment(start / 4, i / 4, "a loud bang of sound", self.name,
                                       "loud"))
                start = None
        if on_progress:
            on_progress(len(sound) / SAMPLE_RATE)
        return out

    def cached(self, media, earlier):
        return None


@pytest.fixture
def loudness(monkeypatch):
    monkeypatch.setitem(REGISTRY, "loudness", TrackSpec("loudness", f"{__name__}:LoudnessTrack",
                                                        "loud moments (tests)"))
    return LoudnessTrack


@pytest.fixture(scope="module")
def bang(tmp_path_factory):
    """12 s of a calm slide over a quiet tone, loud from 5 s to 7 s."""
    path = tmp_path_factory.mktemp("bang") / "bang.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "color=c=0x204060:s=320x180:r=10:d=12", "-f", "lavfi", "-i",
                    "sine=f=440:d=12", "-af",
                    f"volume='if(between(t,{LOUD_FROM_S},{LOUD_TO_S}),0.9,0.01)':eval=frame",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
                    str(path)], check=True)
    return str(path)


def test_a_fourth_track_reaches_every_consumer(loudness, bang, scripted, tmp_path):
    from vidqa.serve.report import report_data
    from vidqa.serve.timeline import timeline

    config = Config().replace("ocr", mode="off").replace("speech", mode="off")
    pipeline = Pipeline(config)
    run = pipeline.run(bang)
    (loud,) = run.tracks["loudness"]
    assert loud.start_s == pytest.approx(LOUD_FROM_S, abs=0.3)
    assert loud.end_s == pytest.approx(LOUD_TO_S, abs=0.3)

    # the index and find
    assert ("loud", "a loud bang of sound") in {(e.kind, e.text) for e in run.entries()}
    (hit, *_) = pipeline.find(bang, "a loud bang", refine=False)
    assert hit.kind == "loud" and hit.start_s == loud.start_s
    # the event log, and what `vidqa index` says of the video
    assert [s.source for s in run.event_log().segments] == ["loudness"]
    assert "1 loud moments" in run.describe()
    # the page's timeline data: its lane, title and colour, in the order the page draws
    data = timeline(run)
    assert data["lanes"]["loud"]["items"][0]["text"] == "a loud bang of sound"
    assert {"key": "loud", "title": "Loud", "colour": "#ff7043"} in data["order"]
    # the report carries it in its log and its timeline
    report = report_data(run, tmp_path / "bang.report.html")
    assert any(row["source"] == "loudness" for row in report["log"])
    assert "loud" in report["timeline"]["lanes"]

    # ask's prompt: the line under the track's label, among the frames by time
    scripted.reply("A bang at [5.0-7.0 s].")
    asking = Pipeline(config, backend=get_backend("scripted", "scripted-model"))
    _video, answer = asking.ask(bang, "when is it loud?", scope="full", runs=[run])
    texts = [item["text"] for message in asking.backend.calls[-1]
             for item in message["content"] if item["type"] == "text"]
    assert f"<{loud.start_s:.1f} seconds> Sound: a loud bang of sound" in texts
    assert answer.citations[0].start_s == 5.0

    # the agent's tools: the track's reader is offered, and reads it
    scripted.reply('{"tool": "loudness", "args": {"start_s": 0, "end_s": 12}}',
                   '{"answer": "loud at [5.0-7.0 s]"}')
    agent = Pipeline(config, backend=get_backend("scripted", "scripted-model"))
    _video, answer = agent.ask(bang, "when is it loud?", scope="agent", runs=[run])
    prompt = agent.backend.calls[-2][1]["content"][0]["text"]
    assert '- loudness: {"tool": "loudness"' in prompt
    assert "a loud bang of sound" in answer.trace[0]["result"]


def test_a_fourth_track_is_in_the_index_json(loudness, bang):
    out = CliRunner().invoke(cli, ["index", "--no-captions", "--json", "--ocr", "off",
                                   "--speech", "off", bang], catch_exceptions=False)
    assert out.exit_code == 0, out.stderr
    (doc,) = json.loads(out.stdout)
    assert [s["text"] for s in doc["loudness"]] == ["a loud bang of sound"]
    assert doc["tracks"]["loudness"] == 1
