"""The embedders on the packaged MiniLM: unit-length vectors that place related texts near,
loaded once per process; an uncached hub model fails at once with the fix; MiniLM's ONNX export
gives the same vectors with no torch imported."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from vidqa.errors import VidqaError
from vidqa.search.embedders import SentenceEmbedder, get_embedder


def test_minilm_vectors_are_unit_length_and_sensible(minilm):
    assert minilm.name == "minilm" and minilm.dim == 384
    vectors = minilm.encode(["a red car drives into the parking lot", "vehicle arriving",
                             "slide about the quarterly budget"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    car, vehicle, budget = vectors
    assert float(car @ vehicle) > float(car @ budget) + 0.2
    assert minilm.encode([]).shape == (0, 384)
    assert get_embedder("minilm") is minilm  # loaded once per process


def test_uncached_hub_model_fails_at_once_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    t0 = time.monotonic()
    with pytest.raises(VidqaError) as info:
        get_embedder("nobody-here/no-such-embedder")
    assert time.monotonic() - t0 < 5
    message = str(info.value)
    assert "\n" not in message and "no-such-embedder" in message
    assert "huggingface-cli download" in message


def test_minilm_on_onnxruntime_gives_the_same_vectors_without_torch(vidqa_home):
    """The first load exports MiniLM to ONNX (torch is there); the next process searches on
    onnxruntime with the same vectors, and imports no torch."""
    from vidqa.search import embedders

    texts = ["the invoice number", "Please send your invoices to Maria before Friday.",
             "EVENT 1 AT 0", ""]
    first = embedders._load_minilm()
    assert isinstance(first, SentenceEmbedder)
    second = embedders._load_minilm()
    assert isinstance(second, embedders.OnnxEmbedder) and second.dim == first.dim == 384
    assert np.allclose((first.encode(texts) * second.encode(texts)).sum(axis=1), 1.0, atol=1e-4)
    probe = ("import sys; from vidqa.search.embedders import get_embedder; "
             "e = get_embedder('minilm'); e.encode(['a query']); "
             "print(type(e).__name__, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**os.environ, "VIDQA_HOME": str(vidqa_home)}, check=True)
    assert out.stdout.split() == ["OnnxEmbedder", "False"]
