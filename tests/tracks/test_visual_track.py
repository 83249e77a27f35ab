"""The visual track and its image-text embedders on tiny, randomly initialised CLIP and SigLIP
checkpoints built offline (`helpers.tiny_clip`) into a Hugging Face cache of the test's own, and
loaded back by hub id through transformers' Auto classes, as real checkpoints are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.extras import need
from vidqa.config import Config
from vidqa.errors import VidqaError
from vidqa.search import image_embedders
from vidqa.tracks.base import REGISTRY, TrackSpec, get_track

SIGLIP2 = "google/siglip2-base-patch16-224"
CLIP = "openai/clip-vit-base-patch32"
NAFLEX = "tiny/siglip2-naflex"  # any other CLIP or SigLIP id: SigLIP 2 NaFlex (Siglip2Model)
SIGLIP = "google/siglip-base-patch16-224"
TINY = {SIGLIP2: "siglip2", CLIP: "clip", NAFLEX: "siglip2-naflex", SIGLIP: "siglip"}


@pytest.fixture(scope="session")
def tiny_hubs(tmp_path_factory) -> dict[str, Path]:
    """Hub caches: "all" holds the tiny models under their ids (SigLIP where sentencepiece is
    installed), "clip" only CLIP."""
    need("torch")
    need("transformers")
    from helpers.tiny_clip import build_cached, can_build

    cache = tmp_path_factory.mktemp("tiny-hub")
    for model_id, kind in TINY.items():
        if can_build(kind):
            build_cached(cache, model_id, kind)
    only_clip = tmp_path_factory.mktemp("tiny-hub-clip")
    name = "models--" + CLIP.replace("/", "--")
    (only_clip / name).symlink_to(cache / name)
    return {"all": cache, "clip": only_clip}


@pytest.fixture
def hub(tiny_hubs, monkeypatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_hubs["all"]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tiny_hubs["all"]


@pytest.fixture
def visual(monkeypatch):
    """The visual track in the registry (as the lead registers it), for this test only."""
    if "visual" not in REGISTRY:
        monkeypatch.setitem(REGISTRY, "visual", TrackSpec(
            "visual", "vidqa.tracks.visual:VisualTrack", "what key frames show (CLIP/SigLIP)"))
    return get_track("visual")


def _reference(snapshot: Path, images, texts) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings by the transformers classes themselves, as their model cards show."""
    import torch
    from transformers import AutoModel, AutoProcessor

    model, processor = AutoModel.from_pretrained(snapshot).eval(), \
        AutoProcessor.from_pretrained(snapshot)
    siglip = model.config.model_type.startswith("siglip")
    length = model.config.text_config.max_position_embeddings
    with torch.inference_mode():
        pictures = model.get_image_features(**processor(images=images, return_tensors="pt"))
        words = model.get_text_features(**processor(
            text=texts, padding="max_length" if siglip else True, max_length=length,
            truncation=True, return_tensors="pt"))
    out = [getattr(x, "pooler_output", x).numpy() for x in (pictures, words)]
    return tuple(x / np.linalg.norm(x, axis=1, keepdims=True) for x in out)


def _pictures(n: int = 3):
    from PIL import Image

    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for _ in range(n)]


# --- resolving the setting: the cache read, nothing loaded -------------------------------------

def test_the_setting_resolves_by_name_id_folder_and_auto(hub, tiny_hubs, monkeypatch):
    siglip2 = image_embedders.resolve("auto")
    assert (siglip2.name, siglip2.source, siglip2.problem) == ("siglip2-base", SIGLIP2, None)
    assert siglip2.revision == "hub:" + (hub / "models--google--siglip2-base-patch16-224" /
                                         "refs" / "main").read_text()
    assert image_embedders.resolve("siglip2-base") == siglip2
    assert image_embedders.resolve("clip-b32").source == CLIP
    assert image_embedders.resolve(NAFLEX).problem is None  # any CLIP/SigLIP id in the cache
    folder = image_embedders.snapshot_folder(CLIP, image_embedders.resolve(CLIP).revision)
    local = image_embedders.resolve(str(folder))
    assert local.problem is None and local.revision.startswith("dir:")
    assert image_embedders.resolve("off") is None
    # "auto" takes the first registered model whose weights are there
    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_hubs["clip"]))
    assert image_embedders.resolve("auto").name == "clip-b32"


def _one_line(message: str | None) -> str:
    assert message and "\n" not in message
    return message


def test_without_weights_the_track_is_absent_and_says_how_to_add_it(tmp_path):
    """In a fresh process with an empty cache: one line with the fix, and torch not imported."""
    script = (
        "import sys, json\n"
        "from vidqa.config import Config\n"
        "from vidqa.tracks.visual import VisualTrack\n"
        "track = VisualTrack(Config())\n"
        "print(json.dumps([track.unavailable(), track.choice().revision,\n"
        "                  'torch' in sys.modules, 'transformers' in sys.modules]))\n")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True).stdout
    why, revision, torch_loaded, transformers_loaded = json.loads(out)
    assert _one_line(why).startswith(f"no CLIP/SigLIP weights for '{SIGLIP2}' in the Hugging "
                                     f"Face cache ({tmp_path / 'empty'})")
    assert f"`hf download {SIGLIP2}`" in why and "--visual-model" in why
    assert (revision, torch_loaded, transformers_loaded) == ("", False, False)


def test_off_and_wrong_models_say_why_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    assert "is off" in _one_line(image_embedders.unavailable("off"))
    assert "hf download org/name" in _one_line(image_embedders.unavailable("org/name"))
    assert "unknown visual model 'siglip3'" in _one_line(image_embedders.unavailable("siglip3"))
    assert "no model folder at './gone'" in _one_line(image_embedders.unavailable("./gone"))
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text('{"model_type": "bert"}')
    assert "is a bert model, not CLIP or SigLIP" in _one_line(
        image_embedders.unavailable(str(bert)))
    # SigLIP's tokenizer (spiece.model) needs sentencepiece
    siglip = tmp_path / "siglip"
    siglip.mkdir()
    (siglip / "config.json").write_text('{"model_type": "siglip"}')
    (siglip / "spiece.model").write_bytes(b"")
    real_find_spec = image_embedders.importlib.util.find_spec
    monkeypatch.setattr(image_embedders.importlib.util, "find_spec",
                        lambda name, *a: None if name == "sentencepiece"
                        else real_find_spec(name, *a))
    assert "needs sentencepiece; pip install sentencepiece" in _one_line(
        image_embedders.unavailable(str(siglip)))
    with pytest.raises(VidqaError, match="unknown visual model"):
        image_embedders.get_image_embedder("siglip3")


# --- embedding: the same vectors as the transformers classes give ------------------------------

@pytest.mark.parametrize("model_id", list(TINY))
def test_vectors_are_the_transformers_classes_own(hub, model_id):
    from helpers.tiny_clip import can_build

    if not can_build(TINY[model_id]):
        pytest.skip("SigLIP's tokenizer needs sentencepiece, not installed")
    embedder = image_embedders.get_image_embedder(model_id)
    assert image_embedders.get_image_embedder(model_id) is embedder  # loaded once
    choice = image_embedders.resolve(model_id)
    images, texts = _pictures(), ["a red truck", "a slide with a chart of the budget"]
    pictures, words = _reference(image_embedders.snapshot_folder(model_id, choice.revision),
                                 images, texts)
    got = embedder.encode_images(images)
    assert got.dtype == np.float32 and got.shape == (3, embedder.dim)
    np.testing.assert_allclose(got, pictures, atol=1e-5)
    np.testing.assert_allclose(embedder.encode_texts(texts), words, atol=1e-5)
    # a text longer than the model reads is cut where the model stops, not refused
    assert embedder.encode_texts(["a red truck " * 40]).shape == (1, embedder.dim)
    # numpy pixels in OpenCV's order give the same rows
    bgr = [np.asarray(image)[..., ::-1] for image in images]
    np.testing.assert_allclose(embedder.encode_images(bgr, bgr=True), pictures, atol=1e-5)


# --- the track, through the real pipeline -----------------------------------------------------

def test_the_track_embeds_key_frames_caches_and_finds(hub, visual, cuts_video, monkeypatch):
    from vidqa.pipeline import Pipeline
    from vidqa.search.pictures import Picture

    video = str(cuts_video[0])
    config = Config().replace("index", visual_model="siglip2-base")
    calls = []
    real = image_embedders.HFImageEmbedder.encode_images
    monkeypatch.setattr(image_embedders.HFImageEmbedder, "encode_images",
                        lambda self, images, **kw: calls.append(len(images)) or
                        real(self, images, **kw))
    pipeline = Pipeline(config, tracks=("visual",))
    run = pipeline.run(video)
    keyframes = run.ingest.keyframes
    segments = run.tracks["visual"]
    assert len(keyframes) >= 5 and sum(calls) == len(keyframes)
    assert [s.start_s for s in segments] == [k.pts_s for k in keyframes]
    assert [s.end_s for s in segments[:-1]] == [k.pts_s for k in keyframes[1:]]
    assert segments[-1].end_s == pytest.approx(run.ingest.stats.end_s)
    assert {(s.kind, s.source, s.text) for s in segments} == {("visual", "visual", "")}
    assert "visual" not in run.to_dict() and run.to_dict()["tracks"]["visual"] == len(keyframes)

    # the stored rows are the model's own vectors of the key frames' JPEGs
    track = visual(config, pipeline.tools)
    rows = track.embeddings(run.ingest)
    images = [run.ingest.image_path(k) for k in keyframes]
    choice = image_embedders.resolve("siglip2-base")
    reference, _ = _reference(image_embedders.snapshot_folder(SIGLIP2, choice.revision),
                              [_open(p) for p in images], ["x"])
    np.testing.assert_allclose(rows, reference, atol=1e-5)
    # a key frame's picture scores 1.0 against its own row
    again = track.embedder().encode_images([images[2]])[0]
    assert float(rows[2] @ again) == pytest.approx(1.0, abs=1e-5)

    # a second run, and a load, read the cache: no model work
    calls.clear()
    assert Pipeline(config, tracks=("visual",)).run(video).tracks["visual"] == segments
    assert Pipeline(config, tracks=("visual",)).load(video).tracks["visual"] == segments
    assert calls == []

    # a text query: the key frames by cosine, best first, fused into find's hits
    hits = pipeline.find(video, "a red truck", k=3)
    assert len(hits) == 3 and {h.kind for h in hits} == {"visual"}
    assert {h.start_s for h in hits} <= {k.pts_s for k in keyframes}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].text == "a key frame that looks like 'a red truck'"
    words = track.embedder().encode_texts(["a red truck"])[0]
    assert hits[0].score == round(float(np.max(rows @ words)), 4)
    # a picture is not this track's to find
    assert track.find(run.ingest, segments, Picture(b"", "x.png"), k=3) == []
    assert calls == []


def test_a_named_track_that_cannot_run_is_an_error_with_its_fix(hub, visual, cuts_video):
    from vidqa.pipeline import Pipeline

    config = Config().replace("index", visual_model="off")
    with pytest.raises(VidqaError, match=r"cannot make the visual track of .*: the visual track "
                                         r"is off"):
        Pipeline(config, tracks=("visual",)).run(str(cuts_video[0]))


def _open(path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def test_find_fuses_the_visual_hits_with_the_text_index(hub, visual, cuts_video):
    """Text hits (on-screen text) and the visual track's, by reciprocal rank: each list's
    first hits come first, each keeping its own score."""
    from vidqa.pipeline import Pipeline
    from vidqa.search.find import Found, fuse

    config = Config().replace("index", visual_model="siglip2-base").replace("ocr", mode="on")
    video = str(cuts_video[0])
    hits = Pipeline(config, tracks=("ocr", "visual")).find(video, "Three", k=4)
    assert [h.kind for h in hits].count("visual") == 2 and hits[0].kind == "text"
    assert "Three" in hits[0].text and hits[1].kind == "visual"

    a = [Found("v", "text", float(i), i + 1.0, f"t{i}", 0.9 - i / 10) for i in range(3)]
    b = [Found("v", "visual", float(i), i + 1.0, f"v{i}", 0.3 - i / 10) for i in range(2)]
    assert [h.text for h in fuse([a, b], 5)] == ["t0", "v0", "t1", "v1", "t2"]
    assert [h.text for h in fuse([a, []], 2)] == ["t0", "t1"]
