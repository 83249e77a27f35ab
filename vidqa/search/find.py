"""Second-level lookup: search the vector index, then pin each hit to where it begins.

Hits come from the FAISS index over chunk summaries, event lines, on-screen text lines and
speech (`vidqa.search.index`), with the entries that hold the query's exact strings first (a
time, a code, a plate, a quoted name: `vidqa.search.lexical`); a collection of videos is one
index with both. On-screen text lines were pinned to the first 8 fps frame that shows them
when the video was indexed (`vidqa.tracks.ocr_pin.pin_lines`), so a text hit needs no work here; a
speech hit is pinned to the first of its words that matches the query, and the top
caption and event hits, when a model is given, to the 4 fps frame the model names.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from vidqa.config import Config
from vidqa.paths import cache_dir
from vidqa.errors import VidqaError
from vidqa.keyframes.ingest import IngestResult
from vidqa.search.lexical import STOPWORDS
from vidqa.timecode import Timed
from vidqa.tracks.ocr import similar

REFINE_BEFORE_S = 2.5  # how far before the hit's first key frame the model looks


@dataclass
class Found(Timed):
    """One search result: which video, what matched, and when (absolute seconds)."""

    video: str
    kind: str  # summary, event, text, speech
    start_s: float
    end_s: float
    text: str
    score: float
    refined_s: float | None = None  # where the match begins, pinned at 8 fps
    refined_by: str | None = None  # "ocr" (at index time), "words" (speech) or "model"

    @property
    def time_s(self) -> float:
        return self.refined_s if self.refined_s is not None else self.start_s

    def to_dict(self) -> dict:
        return {**asdict(self), "time_s": self.time_s}


_WORD = re.compile(r"\w+")


def _words_of(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def refine_speech_hit(found: Found, words: list, query: str) -> float | None:
    """The start of the first word of a speech hit that matches a word of `query` (its
    content words when it has some; a near spelling counts: "budgets" for "budget"), or None
    when the segment has no word times or none matches. `words`: [[start_s, end_s, word]]."""
    wanted = _words_of(query)
    wanted = [w for w in wanted if w not in STOPWORDS] or wanted
    for start_s, _end_s, word in words:
        for spoken in _words_of(word):
            if any(spoken == w or (min(len(spoken), len(w)) >= 4 and similar(spoken, w) >= 0.8)
                   for w in wanted):
                return float(start_s)
    return None


MODEL_REFINE_FPS = 4.0
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def refine_visual_hit(result: IngestResult, found: Found, backend, config: Config,
                      workdir: Path) -> float | None:
    """Ask the model which 4 fps frame of the hit's window shows the start of what matched
    (captions and events: "the red car", not text on screen). None when it names no time
    inside the window."""
    import cv2

    from vidqa.media.decode import FrameReader
    from vidqa.model.captions import strip_reasoning
    from vidqa.model.messages import timestamp_label
    from vidqa.model.prompts import REFINE_PROMPT

    window = (max(0.0, found.start_s - REFINE_BEFORE_S), min(found.end_s, found.start_s + 5.0))
    reader = FrameReader(result.video, config.decode.__class__(
        **{**config.decode.__dict__, "fps": MODEL_REFINE_FPS}), window=window, allow_errors=True)
    content, times = [], []
    for frame in reader:
        path = workdir / f"refine_{frame.pts_s:.3f}.jpg"
        path.write_bytes(cv2.imencode(".jpg", frame.bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
        content += [{"type": "text", "text": timestamp_label(frame.pts_s)},
                    {"type": "image", "path": str(path), "pts_s": frame.pts_s}]
        times.append(frame.pts_s)
    if not times:
        return None
    content.append({"type": "text", "text": REFINE_PROMPT.format(text=found.text)})
    reply = strip_reasoning(backend.generate([{"role": "user", "content": content}],
                                             max_new_tokens=32).text)
    for number in _NUMBER.findall(reply):
        t = float(number)
        if window[0] <= t <= window[1] + 0.5:
            return min(times, key=lambda x: abs(x - t))  # snap to a frame that was shown
    return None


def _key(*parts) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(),
                           digest_size=8).hexdigest()


OPEN_INDEXES = 64  # indexes a process keeps open (a server searching a collection again)
_opened: OrderedDict[tuple[str, str], object] = OrderedDict()
_opened_lock = threading.Lock()


def _remembered(directory: Path, embedder):
    """The index at `directory` opened before in this process, while the directory is there
    (one that was removed, e.g. to free space, is built again)."""
    key = (str(directory), embedder.name)
    with _opened_lock:
        index = _opened.get(key)
        if index is not None:
            _opened.move_to_end(key)
    if index is not None and not directory.is_dir():
        with _opened_lock:
            _opened.pop(key, None)
        return None
    return index


def open_index(entries: list, embedder, directory: Path, *, opened=None):
    """The index in `directory` if it holds these entries for this embedder, else built anew
    (written atomically, so readers see the old or the new one). The directory's name is a hash
    of the entries, so an index opened before is reused from memory (the last `OPEN_INDEXES`).
    `opened`: the index, opened or built by the caller, to remember."""
    from vidqa.search.index import VectorIndex

    key = (str(directory), embedder.name)
    index = opened or _remembered(directory, embedder)
    if opened is not None or index is None or len(index) != len(entries):
        if opened is None:
            index = VectorIndex.open(directory, embedder)
            if index is None or len(index) != len(entries):
                index = VectorIndex.build(entries, embedder, directory)
        with _opened_lock:
            _opened[key] = index
            while len(_opened) > OPEN_INDEXES:
                _opened.popitem(last=False)
    return index


_keys: OrderedDict[int, tuple[list, str]] = OrderedDict()


def entries_key(entries: list) -> str:
    """A hash of a video's entries, remembered for the list it was computed of (a video's
    run keeps its list, so a server searching it again does not hash it again)."""
    with _opened_lock:
        kept = _keys.get(id(entries))
        if kept is not None and kept[0] is entries:
            return kept[1]
    key = _key([asdict(e) for e in entries])
    with _opened_lock:
        _keys[id(entries)] = (entries, key)
        while len(_keys) > 4 * OPEN_INDEXES:
            _keys.popitem(last=False)
    return key


def collection_index(parts: list[tuple[IngestResult, list]], embedder):
    """One index over several videos' entries (a folder given to `find` or `ask`). The vectors
    come from each video's own index (built when missing), so a collection is never embedded
    twice."""
    import numpy as np

    entries = [e for _, video_entries in parts for e in video_entries]
    key = _key(sorted((r.fingerprint, len(v)) for r, v in parts), embedder.name,
               [entries_key(v) for _, v in parts])
    directory = cache_dir() / "collections" / key
    index = _remembered(directory, embedder)
    if index is not None and len(index) == len(entries):
        return index
    from vidqa.search.index import VectorIndex

    index = VectorIndex.open(directory, embedder)
    if index is None or len(index) != len(entries):
        vectors = [open_index(v, embedder, video_index_dir(r, v, embedder)).vectors()
                   for r, v in parts if v]
        index = VectorIndex.build(entries, embedder, directory,
                                  vectors=np.concatenate(vectors) if vectors else None)
    return open_index(entries, embedder, directory, opened=index)


def search(parts: list[tuple[IngestResult, list]], query: str, embedder, *, k: int = 5,
           kinds: set[str] | None = None) -> list[Found]:
    """Ranked hits for `query` over one video's index or a collection's."""
    if not any(entries for _, entries in parts):
        raise VidqaError("nothing to search: no captions, no on-screen text and no speech were "
                         "found; run `vidqa index` with a model, or with --ocr on")
    if len(parts) == 1:
        result, entries = parts[0]
        index = open_index(entries, embedder, video_index_dir(result, entries, embedder))
    else:
        index = collection_index(parts, embedder)
    return [Found(h.entry.video, h.entry.kind, h.entry.start_s, h.entry.end_s, h.entry.text,
                  round(h.score, 4)) for h in index.search(query, k, kinds=kinds)]


def video_index_dir(result: IngestResult, entries: list, embedder) -> Path:
    key = entries_key(entries)
    return result.workdir / "index" / f"{embedder.name.replace('/', '_')}-{key}"


def refine(found: list[Found], results: dict[str, IngestResult], config: Config, *,
           top: int = 3, backend=None, query: str = "", words: dict | None = None,
           pinned: dict | None = None,
           on_progress: Callable[[Found], None] | None = None) -> list[Found]:
    """Pin hits to where they begin: text hits say where the index pinned them (`pinned`:
    (video, start_s, end_s, text) -> the first key frame that showed it); speech hits (all of
    them) are pinned to the first word that matches `query` (`words`: the same key -> the
    segment's word times); the top caption and event hits by the model on 4 fps frames (when a
    `backend` is given)."""
    words, pinned = words or {}, pinned or {}
    timed = set(words) | set(pinned)  # hits that know their own times: no model needed
    for hit in found:
        key = (hit.video, hit.start_s, hit.end_s, hit.text)
        if words.get(key):
            at = refine_speech_hit(hit, words[key], query)
            if at is not None:
                hit.refined_s, hit.refined_by = at, "words"
        elif pinned.get(key) is not None:
            hit.refined_s, hit.refined_by = hit.start_s, "ocr"
    if backend is None:
        return found
    with tempfile.TemporaryDirectory(prefix="vidqa-refine-") as scratch:
        for hit in found[:top]:
            result = results.get(hit.video)
            if result is not None and (hit.video, hit.start_s, hit.end_s, hit.text) not in timed:
                at = refine_visual_hit(result, hit, backend, config, Path(scratch))
                if at is not None:
                    hit.refined_s, hit.refined_by = at, "model"
            if on_progress:
                on_progress(hit)
    return found
