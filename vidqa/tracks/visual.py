"""The visual track: what each key frame looks like as an image embedding, so a text query finds
the pictures that match it ("a red truck", "a whiteboard", "people at a table") where no text
on screen or in the sound says so.

Each key frame's JPEG is embedded by a CLIP or SigLIP model (`vidqa.search.image_embedders`:
the setting `index.visual_model`, "auto" by default: the first registered model whose weights
are in the Hugging Face cache) when the video is indexed, and the rows are kept in its work
dir (`visual/<key>.npy`, and a stamp beside it that says they are whole), keyed by the model's
weights (source and revision), this track's version and the key frames. Its segments are the
key frames' spans with no text, so nothing shows them (no prompt, lane or event log); `find`
with a text asks this track (`finds = ("text",)`): the query's text embedding against the rows,
and `Pipeline.find` fuses those hits with the text index's by reciprocal rank. Without weights
the track is absent, and `vidqa index` says once how to add it (`tell_absent`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vidqa.search import image_embedders
from vidqa.store import atomic_open, atomic_write_text, write_error
from vidqa.tracks.base import Segment, TrackBase, keyframe_spans, keyframes_digest

if TYPE_CHECKING:
    import numpy as np

    from vidqa.keyframes.ingest import IngestResult
    from vidqa.search.find import Found
    from vidqa.search.image_embedders import Choice, ImageEmbedder
    from vidqa.tools import Tools

VERSION = "1"


class VisualTrack(TrackBase):
    """One "visual" segment per key frame, its image embedding kept beside (see the module)."""

    name: ClassVar[str] = "visual"
    version: ClassVar[str] = VERSION
    kinds: ClassVar[tuple[str, ...]] = ("visual",)
    needs: ClassVar[str] = "local"  # torch and transformers; the weights come from the cache
    unit: ClassVar[str] = "frame"
    frames: ClassVar[bool] = True
    finds: ClassVar[tuple[str, ...]] = ("text",)
    tell_absent: ClassVar[bool] = True
    noun: ClassVar[str] = "key frames embedded"

    @classmethod
    def to_json(cls, segments: list[Segment]) -> dict[str, Any]:
        return {}  # the key frames are in the ingest's part; their vectors are binary

    def __init__(self, config, tools: Tools | None = None):
        self.config, self.tools = config, tools

    def choice(self) -> Choice | None:
        """The image embedder the settings mean here (None: off); loads nothing."""
        return image_embedders.resolve(self.config.index.visual_model)

    def unavailable(self) -> str | None:
        return image_embedders.unavailable(self.config.index.visual_model)

    def embedder(self) -> ImageEmbedder:
        """The image embedder, loaded once per process (a one-line error when it cannot)."""
        return image_embedders.get_image_embedder(self.config.index.visual_model)

    def prepare(self) -> None:
        self.embedder()  # torch, transformers and the weights: seconds, hidden behind a decode

    def segments(self, result: IngestResult, earlier=None, *,
                 on_progress: Callable[[float], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[Segment]:
        cached = self.cached(result)  # without loading the model
        if cached is not None:
            return cached
        embed_keyframes(result, self.embedder(), on_progress=on_progress, warn=warn)
        return keyframe_spans(result, VisualTrack.name, "visual")

    def cached(self, result: IngestResult, earlier=None) -> list[Segment] | None:
        choice = self.choice()
        if choice is None or not choice.revision:
            return None
        if not stored(result, choice.key):
            return None
        return keyframe_spans(result, VisualTrack.name, "visual")

    def embeddings(self, result: IngestResult) -> np.ndarray | None:
        """The key frames' rows (one per key frame, unit length), or None when not stored."""
        choice = self.choice()
        if choice is None or not choice.revision:
            return None
        return load_rows(result, choice.key)

    def find(self, result: IngestResult, segments: list[Segment], query, *,
             k: int = 5) -> list[Found]:
        """The key frames that look most like the text `query` (a picture or an empty text
        finds nothing here), best first, scored by cosine."""
        import numpy as np

        from vidqa.search.find import Found

        if not isinstance(query, str) or not query.strip() or not segments or k <= 0:
            return []
        rows = self.embeddings(result)
        if rows is None or len(rows) != len(segments):
            return []
        scores = rows @ self.embedder().encode_texts([query.strip()])[0]
        top = np.argsort(-scores, kind="stable")[:k]
        shown = query.strip() if len(query.strip()) <= 60 else query.strip()[:57] + "..."
        return [Found(result.video.path, "visual", segments[i].start_s, segments[i].end_s,
                      f"a key frame that looks like '{shown}'", round(float(scores[i]), 4))
                for i in top]


# --- the rows, kept in the work dir ----------------------------------------------------------

def rows_path(result: IngestResult, model_key: str) -> Path:
    """Where the rows of `result`'s key frames by the model `model_key` (`Choice.key`) are."""
    key = hashlib.blake2b(f"{VERSION}\n{model_key}".encode(), digest_size=8).hexdigest()
    return result.workdir / "visual" / f"{key}.npy"


def _stamp(path: Path) -> Path:
    return path.with_suffix(".json")


def stored(result: IngestResult, model_key: str) -> bool:
    """Whether the rows are in the work dir, whole, for these key frames (read without numpy
    loading them, nor torch)."""
    path = rows_path(result, model_key)
    try:
        data = json.loads(_stamp(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("version") == VERSION and \
        data.get("model") == model_key and data.get("keyframes") == keyframes_digest(result) \
        and data.get("rows") == len(result.keyframes) and path.is_file()


def load_rows(result: IngestResult, model_key: str) -> np.ndarray | None:
    import numpy as np

    if not stored(result, model_key):
        return None
    try:
        rows = np.load(rows_path(result, model_key), allow_pickle=False)
    except (OSError, ValueError):
        return None
    return rows if rows.ndim == 2 and len(rows) == len(result.keyframes) else None


def embed_keyframes(result: IngestResult, embedder: ImageEmbedder, *,
                    on_progress: Callable[[float], None] | None = None,
                    warn: Callable[[str], None] | None = None) -> np.ndarray:
    """The rows of every key frame of `result` by `embedder`, embedded in batches and kept in
    its work dir (the npy first, then the stamp that says it is whole). A key frame whose JPEG
    is missing or does not decode gets a row of zeros (it matches nothing) and `warn` is
    told."""
    import numpy as np
    from PIL import Image

    path = rows_path(result, image_embedders.model_key(embedder.source, embedder.revision))
    rows = np.zeros((len(result.keyframes), embedder.dim), dtype=np.float32)
    lost: list[float] = []
    batch: list[tuple[int, Any]] = []

    def flush() -> None:
        if batch:
            rows[[i for i, _ in batch]] = embedder.encode_images([image for _, image in batch])
            if on_progress:
                for _ in batch:
                    on_progress(1)
            batch.clear()

    for i, keyframe in enumerate(result.keyframes):
        try:
            if keyframe.image is None:
                raise OSError("no image stored")
            with Image.open(result.image_path(keyframe)) as image:
                batch.append((i, image.convert("RGB")))
        except OSError:
            lost.append(keyframe.pts_s)
            if on_progress:
                on_progress(1)
        if len(batch) >= image_embedders.IMAGE_BATCH:
            flush()
    flush()
    if lost and warn:
        warn(f"{len(lost)} of {len(result.keyframes)} key frames of '{result.video.path}' could "
             f"not be read for the visual track (the first at {lost[0]:.3f} s); they match "
             "nothing")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path.parent, "the key frames' image embeddings in") from None
    with atomic_open(path, binary=True) as out:
        np.save(out, rows, allow_pickle=False)
    atomic_write_text(_stamp(path), json.dumps({
        "version": VERSION, "model": image_embedders.model_key(embedder.source, embedder.revision),
        "name": embedder.name,
        "keyframes": keyframes_digest(result), "rows": len(rows), "dim": int(embedder.dim)}))
    return rows
