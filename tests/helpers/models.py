"""The models vidqa keeps in its cache, made once per session and given to a home by hard links.

A fresh VIDQA_HOME makes them on first use: MiniLM's ONNX export (sentence-transformers and
torch imported, the model exported: 5-10 s) and the offline Whisper model (140 MB assembled from
its wheels' parts and checked). Inside the test process MiniLM loads once and the export is
linked into each new home, but a process a test starts on a fresh home (`vidqa serve`, a Ray
task, a rebuilding writer) pays it again. `link_models` gives such a home the session's copies:
the same files, as a user's second run finds them. The tests of the making itself
(test_embedders.py, test_asr.py) keep a fresh home.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def make_models(home: Path) -> Path:
    """Make MiniLM's ONNX export and, where its wheels are installed, the offline Whisper base
    model in the cache of VIDQA_HOME `home`; their folder. Without the `index` extra there is
    no export: the tests that need it fail or skip on their own, as without this."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDQA_HOME", str(home))
        try:
            from vidqa.search.embedders import export_for_search, get_embedder

            export_for_search(get_embedder("minilm"))
        except Exception:  # noqa: BLE001 - a missing extra is the consuming test's to report
            pass
        try:
            from vidqa.model.asr import offline_installed, offline_model_dir

            if offline_installed("base"):
                offline_model_dir("base")
        except Exception:  # noqa: BLE001 - as above
            pass
    models = home / "cache" / "models"
    models.mkdir(parents=True, exist_ok=True)
    return models


def link_models(models: Path, home: Path) -> Path:
    """Give VIDQA_HOME `home` every model folder of `models` (hard links, or copies across
    file systems); `home`."""
    target = home / "cache" / "models"
    for folder in models.iterdir():
        if folder.name.startswith(".") or not folder.is_dir() or (target / folder.name).exists():
            continue
        (target / folder.name).mkdir(parents=True)
        for path in folder.iterdir():
            try:
                os.link(path, target / folder.name / path.name)
            except OSError:
                shutil.copy2(path, target / folder.name / path.name)
    return home
