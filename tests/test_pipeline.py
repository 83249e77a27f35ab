"""One pipeline: the Python API and the command line run the same stages with the same cache
keys; the CLI, `vidqa --help` and `vidqa paths` import no heavy library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import vidqa
from helpers.media import make_video
from helpers.openai_server import API_KEY, OpenAIServer
from vidqa.cli import cli
from vidqa.config import Config
from vidqa.paths import cache_dir
from vidqa.model.backends import open_backend


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_python_and_the_command_line_share_every_cache(clips, no_openai_env):
    """The library used to caption without the on-screen text the CLI fed in, so the same
    video was captioned twice; now both go through one pipeline with one key per stage."""
    video = str(clips["slide"])
    server = OpenAIServer()
    with server as base_url:
        config = Config().replace("model", backend="openai", model="tiny-vl", base_url=base_url)
        config = config.replace("ocr", mode="on")
        done = vidqa.index_video(video, config, open_backend(config, api_key=API_KEY))
        assert done.captions is not None and "ocr" in done.tracks
        asked = len(done.captions.chunks)
        assert len(server.requests) == asked
        out = run("index", "--json", "--ocr", "on", "-b", "openai", "-m", "tiny-vl",
                  "--base-url", base_url, "--api-key", API_KEY, video)
        assert out.exit_code == 0, out.stderr
        assert len(server.requests) == asked  # captions, text and index all from the cache
        (doc,) = json.loads(out.stdout)
        assert doc["events"] == done.to_dict()["events"] and doc["tracks"] == done.to_dict()["tracks"]
        # ... and back: the API finds what the CLI indexed, with no model loaded.
        hits = vidqa.find(video, "quarterly budget review", config)
        assert hits and hits[0].kind in ("text", "event", "summary")


def _frame_sizes() -> set[tuple[int, int]]:
    return {tuple(json.loads(p.read_text())["frame_size"])
            for p in (cache_dir() / "videos").rglob("manifest.json")}


def test_a_preset_never_overrides_a_flag(tmp_path):
    video = str(make_video(tmp_path / "hd.mp4", seconds=2, size="1280x720"))
    assert run("index", "--no-captions", "--ocr", "off", "-m", "8b", "--max-pixels", "230400",
               video).exit_code == 0
    assert _frame_sizes() == {(640, 352)}  # 230400 is the default, but it was asked for
    assert run("index", "--no-captions", "--ocr", "off", "-m", "8b", video).exit_code == 0
    assert _frame_sizes() == {(640, 352), (832, 480)}  # the 8B preset's 409600 pixels


@pytest.mark.parametrize("args", [["--help"], ["paths"], ["eval", "--help"], ["index", "--help"]])
def test_the_command_line_starts_light(args):
    code = ("import sys\nfrom vidqa.cli import main\nsys.argv = ['vidqa', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('cv2', 'scenedetect', 'av', 'torch', 'faiss', 'onnxruntime') "
            "if m in sys.modules]\nprint('HEAVY', heavy, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    assert proc.stdout.strip()


_WATCH = ("torch", "sentence_transformers", "rapidocr", "cv2", "scenedetect", "huggingface_hub.file_download")


@pytest.mark.parametrize("args", [["find", "--json", "{video}", "quarterly budget"],
                                  ["events", "{video}"]])
def test_find_and_events_on_an_indexed_video_load_no_torch_ocr_or_opencv(clips, args):
    """What `vidqa find` waits for: no torch (the query is embedded by MiniLM on onnxruntime,
    exported at index time), no OCR (text lines were pinned at index time), no OpenCV or
    PySceneDetect (the ingest is read from its cache)."""
    video = str(clips["slide"])
    assert run("index", "--no-captions", "--ocr", "on", video).exit_code == 0
    code = ("import sys\nfrom vidqa.cli import main\nsys.argv = ['vidqa', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', [m for m in {_WATCH!r} if m in sys.modules], file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *[a.format(video=video) for a in args]],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "HEAVY []" in proc.stderr, proc.stderr
    if args[0] == "find":
        top = json.loads(proc.stdout)["hits"][0]
        assert top["kind"] == "text" and "budget" in top["text"].lower(), top


# What a stage loads when it runs, never at start-up: decoding, scene detection, models, OCR,
# speech, search, serving, the cluster and the evaluation data.
_HEAVY = ("av", "cv2", "scenedetect", "torch", "transformers", "accelerate", "openai", "rapidocr",
          "onnxruntime", "faster_whisper", "faiss", "sentence_transformers", "starlette",
          "uvicorn", "ray", "pandas", "pyarrow")


def test_the_public_api_is_lazy():
    """`import vidqa`, a name of its API and the pipeline module itself load none of the
    heavy libraries (in a fresh interpreter: other tests' imports do not count)."""
    code = ("import sys, vidqa\nassert 'vidqa.pipeline' not in sys.modules\n"
            "assert vidqa.Pipeline.__module__ == 'vidqa.pipeline'\n"
            "assert vidqa.TimeRange(0, 1).length_s == 1\n"
            f"print(sorted(m for m in {_HEAVY!r} if m in sys.modules))\n"
            "assert callable(vidqa.ingest)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"loaded at start-up: {proc.stdout.strip()}"
    assert all(getattr(vidqa, name) is not None for name in vidqa.__all__)  # every name resolves
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        vidqa.nothing  # noqa: B018


def test_each_command_loads_the_model_only_for_what_it_makes(clips, no_openai_env, monkeypatch):
    video = str(clips["slide"])
    server = OpenAIServer()
    with server as base_url:
        model = ["-b", "openai", "-m", "tiny-vl", "--base-url", base_url, "--api-key", API_KEY]
        assert run("index", "--no-captions", "--ocr", "on", video).exit_code == 0
        # The model pins caption hits; the text hits are pinned by OCR, and nothing is captioned.
        out = run("find", "--ocr", "on", "--refine-model", *model, video, "quarterly budget")
        assert out.exit_code == 0, out.stderr
        assert "BUDGET" in out.stdout and server.requests == []
        # Captions asked for alone still read the on-screen text: the same captions as `index`.
        assert run("index", "--ocr", "on", *model, video).exit_code == 0
        asked = len(server.requests)
        out = run("events", "-f", "jsonl", "--tracks", "captions", "--ocr", "on", *model, video)
        assert out.exit_code == 0 and len(server.requests) == asked
        assert {json.loads(line)["source"] for line in out.stdout.splitlines()} == {"captions"}
    # A model named in the environment is not loaded for a log without captions.
    monkeypatch.setenv("VIDQA_MODEL", "no-such-org/no-such-model")
    out = run("events", "-f", "txt", "--tracks", "ocr", "--ocr", "on", video)
    assert out.exit_code == 0, out.stderr


def test_a_bad_embedder_fails_once_before_any_video_is_read(clips):
    out = run("index", "--no-captions", "--embedder", "no-such-org/no-such-embedder",
              clips["short3"], clips["base"])
    assert out.exit_code == 1 and out.stderr.count("\n") == 1
    assert "no-such-embedder" in out.stderr and "videos failed" not in out.stderr
    assert not (cache_dir() / "videos").exists()
