"""Recordings with no picture (calls, meetings, podcasts, dictations) everywhere a video is
taken: probed and inspected, transcribed in every common sound format, indexed and searched
without a model (there is nothing to caption), answered from what is said (and the answer says
so), picked up by folder scans; a file with neither picture nor sound is one line."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from helpers.models import link_models
from helpers.scripted import SCRIPTED
from vidqa.cli.commands import cli
from vidqa.config import Config
from vidqa.evaluation.spoken import word_error_rate
from vidqa.media.probe import probe
from vidqa.media.subtitles import read_sidecar
from vidqa.model.backends import get_backend
from vidqa.pipeline import Pipeline
from vidqa.tools import Tools


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def reference(media) -> list:
    """The narration's own subtitle cues over the part the sound covers (to 13.06 s)."""
    cues = read_sidecar(media / "torchcodec" / "nasa_13013.mov_text_stream0.srt")
    return [c for c in cues if c.end_s <= 13.1]


def test_every_format_probes_as_sound_only(sound_files):
    for suffix, path in sound_files.items():
        info = probe(path)
        assert not info.has_picture and info.stream_index == -1, suffix
        assert info.duration_s == pytest.approx(13.06, abs=0.1), suffix
        (audio,) = [s for s in info.streams if s.kind == "audio"]
        # Opus decodes at 48 kHz whatever it was made from
        assert audio.sample_rate == (48000 if suffix == ".opus" else 16000), suffix
        assert audio.channels == 1, suffix
        assert VideoInfoRoundTrip.check(info)


class VideoInfoRoundTrip:
    @staticmethod
    def check(info) -> bool:
        """What the cache stores of a sound-only file reads back the same."""
        from vidqa.media.probe import VideoInfo

        return VideoInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def test_inspect_shows_the_sound(sound_files):
    result = run("inspect", str(sound_files[".m4a"]))
    assert result.exit_code == 0
    assert "video:       none: sound only" in result.output
    assert "#0 audio: aac 16000 Hz, 1 ch [eng]  <- heard" in result.output
    assert "picture:" not in result.output


@pytest.mark.parametrize("suffix", [
    ".m4a", pytest.param(".opus", marks=pytest.mark.slow),
    pytest.param(".mp3", marks=pytest.mark.slow), pytest.param(".wav", marks=pytest.mark.slow),
    pytest.param(".flac", marks=pytest.mark.slow)])
def test_each_format_is_transcribed_word_for_word(media, sound_files, models, vidqa_home,
                                                  suffix):
    link_models(models, vidqa_home)
    result = run("transcript", "-f", "txt", str(sound_files[suffix]))
    assert result.exit_code == 0, result.output
    truth = " ".join(c.text.removeprefix("NAR: ") for c in reference(media))
    assert word_error_rate(truth, result.stdout) <= 0.15, result.stdout


@pytest.mark.slow
def test_a_folder_of_calls_is_indexed_and_searched_without_a_model(media, sound_files, models,
                                                                   vidqa_home, tmp_path):
    link_models(models, vidqa_home)
    calls = tmp_path / "calls"
    (calls / "2026").mkdir(parents=True)
    shutil.copy(sound_files[".m4a"], calls / "2026" / "-monday.m4a")  # named like an option
    shutil.copy(sound_files[".opus"], calls / "friday.opus")
    (calls / "notes.txt").write_text("agenda\n")
    shutil.copy(sound_files[".mp3"], calls / ".hidden.mp3")
    result = run("index", str(calls))  # no -m: nothing to caption, no model is loaded
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(calls / "2026" / "-monday.m4a"),
                                                       str(calls / "friday.opus")]
    assert all(": sound only, 1 speech lines, 1 index entries" in line for line in lines), lines
    speech = list(vidqa_home.rglob("speech/*.json"))
    assert len(speech) == 2  # one transcript per file content, beside its cache folder

    result = run("find", "--json", str(calls), "Goddard Space Flight Center")
    hits = json.loads(result.stdout)["hits"]
    assert result.exit_code == 0 and len(hits) == 2
    cue = next(c for c in reference(media) if "Goddard" in c.text)
    for hit in hits:  # pinned to "Goddard", not to the "space" of "Webb space telescope"
        assert hit["kind"] == "speech" and hit["refined_by"] == "words"
        assert cue.start_s <= hit["time_s"] <= cue.end_s, (hit, cue)
    result = run("events", "-f", "srt", str(calls / "friday.opus"))
    assert result.exit_code == 0 and "Greenbelt, Maryland" in result.stdout
    stamps = [os.stat(p).st_mtime_ns for p in speech]
    again = run("index", "--json", str(calls / "friday.opus"))  # cached: nothing is redone
    (doc,) = json.loads(again.stdout)
    assert doc["has_picture"] is False and doc["chunks"] == [] and doc["text_lines"] == []
    assert [os.stat(p).st_mtime_ns for p in speech] == stamps


def test_ask_answers_from_what_is_said_and_says_so(sound_files, whisper, scripted):
    scripted.reply("The clean room is at Goddard [6.0-12.0 s].")
    backend = get_backend("scripted", "scripted-model")
    pipeline = Pipeline(Config(), tools=Tools(Config(), asr=whisper, backend=backend))
    for scope in ("chunks", "all", "full"):
        video, answer = pipeline.ask([str(sound_files[".flac"])], "Where is the clean room?",
                                     scope=scope)
        assert answer.strategy.startswith("speech only: 'narration.flac' has no picture; "
                                          "answered from all 1 lines"), answer.strategy
        assert answer.frames_sent == 0 and [(c.start_s, c.end_s) for c in answer.citations] \
            == [(6.0, 12.0)]
        content = backend.calls[-1][-1]["content"]
        assert not [item for item in content if item["type"] == "image"]
        said = [item["text"] for item in content if "Said:" in item.get("text", "")]
        assert len(said) == 1 and "Goddard" in said[0] and said[0].startswith("<0.3 seconds>")
    scripted.reply('{"answer": "At Goddard [6.0-12.0 s]."}')
    _, answer = pipeline.ask([str(sound_files[".flac"])], "Where?", scope="agent")
    prompt = backend.calls[-1][1]["content"][0]["text"]
    assert "transcript" in prompt and "inspect" not in prompt
    assert answer.text == "At Goddard [6.0-12.0 s]."
    assert SCRIPTED is not None


def test_neither_picture_nor_sound_is_one_line(tmp_path):
    import subprocess

    from vidqa.media.ffmpeg import ffmpeg_exe

    cues = tmp_path / "cues.srt"
    cues.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    empty = tmp_path / "cues.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(cues), str(empty)], check=True)
    result = CliRunner().invoke(cli, ["transcript", str(empty)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: cannot use '{empty}': it has neither picture nor "
                                     "sound (subtitle only); pass a video or a sound recording")
