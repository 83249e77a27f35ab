"""Image-text embedders: pictures and texts to float32 rows of unit length in one space, so a
text query finds the key frames that look like it (the `visual` track, `vidqa.tracks.visual`).

A small protocol (`ImageEmbedder`: `name`, `source`, `revision`, `dim`, `encode_images`,
`encode_texts`) and a registry of names for CLIP and SigLIP checkpoints on the Hugging Face
hub (`register_image_embedder`):

    siglip2-base  google/siglip2-base-patch16-224   SigLIP 2 ViT-B/16, 224 px, 768-d, multilingual
    siglip-base   google/siglip-base-patch16-224    SigLIP ViT-B/16, 224 px, 768-d, English
                                                    (its tokenizer needs sentencepiece)
    clip-b32      openai/clip-vit-base-patch32      CLIP ViT-B/32, 224 px, 512-d, English
    clip-b16      openai/clip-vit-base-patch16      CLIP ViT-B/16, 224 px, 512-d, English

None ships with vidqa and none is downloaded at run time: the weights come from the Hugging Face
cache (`hf download <id>` once, on a machine with network) or a local folder. The setting
(`index.visual_model`) is resolved without importing torch (`resolve`, `unavailable`): "auto"
is the first registered one whose weights are in the cache, a registered name, any CLIP or
SigLIP hub id in the cache, a local folder, or "off". Loading is transformers' own
(`AutoModel`, `AutoProcessor`); each model loads once per process (`get_image_embedder`).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vidqa.errors import VidqaError
from vidqa.model.hub import hub_cache, model_revision
from vidqa.search.embedders import _quiet_loading, _torch_threads, normalised

if TYPE_CHECKING:
    from collections.abc import Sequence

AUTO, OFF = "auto", "off"
INSTALL = "pip install 'vidqa[local]'"  # torch, transformers and Pillow
MODEL_TYPES = ("clip", "siglip", "siglip2")  # config.json model types that load and embed here
SIGLIP_TYPES = ("siglip", "siglip2")  # text padded to the model's length, as they were trained
IMAGE_BATCH = 16  # key frames embedded at once
SETTING = "index.visual_model (--visual-model)"


@dataclass(frozen=True)
class ImageModel:
    """A registered image-text embedder: its hub id and what it is."""

    source: str
    about: str = ""


IMAGE_EMBEDDERS: dict[str, ImageModel] = {
    "siglip2-base": ImageModel("google/siglip2-base-patch16-224",
                               "SigLIP 2 ViT-B/16 at 224 px, 768-d, multilingual"),
    "siglip-base": ImageModel("google/siglip-base-patch16-224",
                              "SigLIP ViT-B/16 at 224 px, 768-d, English (needs sentencepiece)"),
    "clip-b32": ImageModel("openai/clip-vit-base-patch32", "CLIP ViT-B/32 at 224 px, 512-d, "
                           "English"),
    "clip-b16": ImageModel("openai/clip-vit-base-patch16", "CLIP ViT-B/16 at 224 px, 512-d, "
                           "English"),
}


def register_image_embedder(name: str, source: str, about: str = "") -> None:
    """Make `name` mean the CLIP or SigLIP checkpoint `source` (a hub id or a local folder);
    registered names are tried in order by "auto"."""
    IMAGE_EMBEDDERS[name] = ImageModel(source, about)


class ImageEmbedder(Protocol):
    """Pictures and texts to float32 rows of unit length, comparable by a dot product.
    `name` is what the setting resolved to, `source` what was loaded (a hub id or a folder) and
    `revision` which weights (`vidqa.model.hub.model_revision`): what caches are keyed by."""

    name: str
    source: str
    revision: str
    dim: int

    def encode_images(self, images: Sequence[Any], *, bgr: bool = False) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


# --- which model a setting means, read from the cache without torch --------------------------

@dataclass(frozen=True)
class Choice:
    """What a setting of `index.visual_model` means here: `name` (the registered name, or the id
    or folder given), `source` (what `from_pretrained` loads), `revision` ("" when its weights
    are not here) and `problem` (None when it can load, else why not with the fix)."""

    name: str
    source: str
    revision: str
    problem: str | None = None

    @property
    def key(self) -> str:
        return model_key(self.source, self.revision)


def model_key(source: str, revision: str) -> str:
    """What a cache of a model's vectors is keyed by: its weights, whatever name chose them."""
    return f"{source}@{revision}"


def resolve(setting: str) -> Choice | None:
    """The model `setting` means (None for "off"); without loading anything. "auto": the first
    registered model whose weights are in the Hugging Face cache (none there: the first
    registered one, with its `problem`)."""
    setting = (setting or AUTO).strip()
    if setting.lower() == OFF:
        return None
    if setting.lower() == AUTO:
        choices = [_choice(name, entry.source) for name, entry in IMAGE_EMBEDDERS.items()]
        ready = [c for c in choices if c.revision]
        if ready:
            return ready[0]
        first = choices[0] if choices else Choice(AUTO, "", "")
        names = ", ".join(IMAGE_EMBEDDERS) or "none registered"
        return Choice(first.name, first.source, "", _missing(
            first.source, f" (or another of {names}: docs/visual.md)"))
    if setting in IMAGE_EMBEDDERS:
        return _choice(setting, IMAGE_EMBEDDERS[setting].source)
    local = Path(setting).expanduser()
    if local.is_dir():
        return _choice(setting, str(local))
    if _looks_like_path(setting):
        return Choice(setting, setting, "", f"no model folder at '{setting}'; set {SETTING} to "
                      "a folder holding a CLIP or SigLIP checkpoint (config.json and weights), "
                      f"a hub id, auto or off")
    if setting.count("/") != 1:
        return Choice(setting, setting, "", f"unknown visual model '{setting}'; set {SETTING} "
                      f"to one of {', '.join(IMAGE_EMBEDDERS)}, a CLIP or SigLIP hub id "
                      "(org/name) in the Hugging Face cache, a local folder, auto or off")
    return _choice(setting, setting)


def unavailable(setting: str) -> str | None:
    """Why `setting` gives no embedder here, in one line with the fix; None when it loads."""
    choice = resolve(setting)
    if choice is None:
        return (f"the visual track is off ({SETTING} is off); set it to auto or a CLIP or "
                "SigLIP model to add it")
    return choice.problem


def _looks_like_path(setting: str) -> bool:
    return setting.startswith(("/", "./", "../", "~")) or setting.count("/") > 1 or \
        "\\" in setting


def _choice(name: str, source: str) -> Choice:
    revision = model_revision(source)
    if not revision:
        return Choice(name, source, "", _missing(source))
    return Choice(name, source, revision, _cannot_load(name, source, revision))


def _missing(source: str, others: str = "") -> str:
    fix = "" if _libraries_installed() else f"; {INSTALL} for torch and transformers"
    return (f"no CLIP/SigLIP weights for '{source}' in the Hugging Face cache ({hub_cache()}); "
            f"on a machine with network run `hf download {source}`{others}, or set {SETTING} "
            f"to a local folder{fix}")


def _libraries_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None
               for m in ("torch", "transformers", "PIL"))


def snapshot_folder(source: str, revision: str) -> Path:
    """The folder holding the files of `source` at `revision` (a local folder, or the cached
    snapshot of a hub id)."""
    if revision.startswith("hub:"):
        repo = Path(hub_cache()) / ("models--" + source.strip().replace("/", "--"))
        return repo / "snapshots" / revision[len("hub:"):]
    return Path(source).expanduser()


def _cannot_load(name: str, source: str, revision: str) -> str | None:
    """Why weights that are here cannot load (not CLIP or SigLIP, a library missing), from
    their files alone."""
    folder = snapshot_folder(source, revision)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        model_type = str(config.get("model_type", ""))
    except (OSError, ValueError, AttributeError):
        return (f"cannot read the config.json of '{source}' ({folder}); download it again "
                f"with `hf download {source}` or set {SETTING} to another model")
    if model_type not in MODEL_TYPES:
        return (f"'{name}' is a {model_type or 'model of unknown type'} model, not CLIP or "
                f"SigLIP; set {SETTING} to one of {', '.join(IMAGE_EMBEDDERS)}, or another "
                "CLIP or SigLIP model")
    if not _libraries_installed():
        return f"the visual track needs torch, transformers and Pillow; {INSTALL}"
    if (folder / "spiece.model").is_file() and not (folder / "tokenizer.json").is_file() and \
            importlib.util.find_spec("sentencepiece") is None:
        return (f"the tokenizer of '{name}' (SigLIP) needs sentencepiece; pip install "
                f"sentencepiece, or set {SETTING} to siglip2-base or a CLIP model")
    return None


# --- loading and embedding -------------------------------------------------------------------

class HFImageEmbedder:
    """A CLIP or SigLIP model through transformers: its processor prepares pictures and texts
    (`processor(images=...)`, `processor(text=...)`), `get_image_features` and
    `get_text_features` embed them. On the GPU when torch sees one, else the CPU, in float32.
    Torch's threads are set for each call and restored: `batch_threads` for pictures and more
    than 4 texts, `query_threads` for a query. One call at a time."""

    def __init__(self, name: str, source: str, revision: str, model, processor, *,
                 batch_threads: int | None = None, query_threads: int | None = 1):
        self.name, self.source, self.revision = name, source, revision
        self.model, self.processor = model, processor
        config = model.config
        self.model_type = str(getattr(config, "model_type", ""))
        # texts padded to the model's own length for SigLIP (as its model card says: it was
        # trained so), to the longest in the batch for CLIP; longer ones are cut there
        self.text_length = int(config.text_config.max_position_embeddings)
        self.padding: bool | str = "max_length" if self.model_type in SIGLIP_TYPES else True
        self.batch_threads, self.query_threads = batch_threads, query_threads
        self.device = next(model.parameters()).device
        self._lock = threading.Lock()
        self.dim = 0
        self.dim = int(self.encode_texts(["a picture"]).shape[1])  # whatever its heads give

    def encode_images(self, images: Sequence[Any], *, bgr: bool = False) -> np.ndarray:
        """Rows of unit length for `images`: PIL images, paths, or (H, W, 3) uint8 arrays in
        RGB order (`bgr`: in OpenCV's BGR order)."""
        pictures = [_rgb(image, bgr) for image in images]
        if not pictures:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = []
        for start in range(0, len(pictures), IMAGE_BATCH):
            inputs = self.processor(images=pictures[start:start + IMAGE_BATCH],
                                    return_tensors="pt")
            rows.append(self._features("get_image_features", inputs, self.batch_threads))
        return normalised(np.concatenate(rows))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        inputs = self.processor(text=texts, padding=self.padding, truncation=True,
                                max_length=self.text_length, return_tensors="pt")
        threads = self.query_threads if len(texts) <= 4 else self.batch_threads
        return normalised(self._features("get_text_features", inputs, threads))

    def _features(self, method: str, inputs, threads: int | None) -> np.ndarray:
        import torch

        inputs = {k: v.to(self.device) for k, v in inputs.items() if hasattr(v, "to")}
        with self._lock, _torch_threads(threads if self.device.type == "cpu" else None), \
                torch.inference_mode():
            out = getattr(self.model, method)(**inputs)
        return features_of(out).float().cpu().numpy()

    def __repr__(self) -> str:
        return (f"HFImageEmbedder(name={self.name!r}, source={self.source!r}, "
                f"dim={self.dim})")


def features_of(out):
    """The embeddings in what `get_image_features` / `get_text_features` return: a tensor
    (transformers 4), or an output whose `pooler_output` holds the projected embeddings
    (transformers 5), or its tuple form (second item)."""
    if hasattr(out, "pooler_output"):
        return out.pooler_output
    if isinstance(out, tuple):
        return out[1]
    return out


def _rgb(image: Any, bgr: bool):
    """A PIL RGB image of a PIL image, a path or an (H, W[, 3|4]) uint8 array."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as opened:
                return opened.convert("RGB")
        except OSError as exc:
            raise VidqaError(f"cannot read the picture '{image}': {exc}; give a PNG or JPEG "
                             "file") from None
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise VidqaError(f"a picture must be (height, width, 3) pixels, not shape "
                         f"{array.shape}")
    array = array[..., :3]
    if bgr:
        array = array[..., ::-1]
    return Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8), "RGB")


_LOADED: dict[tuple[str, str], ImageEmbedder] = {}
_LOAD_LOCK = threading.Lock()


def get_image_embedder(setting: str | Choice) -> ImageEmbedder:
    """The embedder `setting` (a value of `index.visual_model`, or a resolved `Choice`) means,
    loaded once per process for its weights (source and revision); a one-line error with the
    fix when it cannot load."""
    choice = resolve(setting) if isinstance(setting, str) else setting
    if choice is None:
        raise VidqaError(unavailable(OFF) or "")
    if choice.problem:
        raise VidqaError(choice.problem)
    with _LOAD_LOCK:
        embedder = _LOADED.get((choice.source, choice.revision))
        if embedder is None:
            embedder = _load(choice)
            _LOADED[(choice.source, choice.revision)] = embedder
        return embedder


def _load(choice: Choice) -> ImageEmbedder:
    import torch
    from transformers import AutoModel, AutoProcessor

    from vidqa.paths import cores

    kwargs: dict[str, Any] = {}
    if choice.revision.startswith("hub:"):  # the cached snapshot the revision names
        kwargs = dict(cache_dir=hub_cache(), local_files_only=True,
                      revision=choice.revision[len("hub:"):])
    try:
        with _quiet_loading(), _warnings_off():
            processor = AutoProcessor.from_pretrained(choice.source, **kwargs)
            model = AutoModel.from_pretrained(choice.source, dtype=torch.float32, **kwargs)
    except (OSError, ValueError, ImportError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VidqaError(f"cannot load the visual model '{choice.name}' ({choice.source}): "
                         f"{first}; download it again with `hf download {choice.source}`, or "
                         f"set {SETTING} to another model") from None
    if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
        raise VidqaError(f"'{choice.name}' ({type(model).__name__}) embeds no pictures and "
                         f"texts; set {SETTING} to a CLIP or SigLIP model")
    model.eval()
    if torch.cuda.is_available():
        model.to("cuda")
    return HFImageEmbedder(choice.name, choice.source, choice.revision, model, processor,
                           batch_threads=max(1, min(cores(), 8)))


@contextmanager
def _warnings_off():
    """transformers' warnings off while a checkpoint loads: the real SigLIP configs leave the
    text tower's token ids at CLIP's defaults, which transformers 5 warns of on every load."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def describe_embedders() -> list[tuple[str, str, str, bool]]:
    """(name, hub id, what it is, whether its weights are in the cache) of each registered
    embedder, for help texts and docs; reads the cache, loads nothing."""
    return [(name, entry.source, entry.about, bool(model_revision(entry.source)))
            for name, entry in IMAGE_EMBEDDERS.items()]
