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
from typing import TYPE_CHECKING

from vidqa.config import Config
from vidqa.paths import cache_dir
from vidqa.errors import VidqaError, tell
from vidqa.keyframes.ingest import IngestResult
from vidqa.search.lexical import STOPWORDS
from vidqa.timecode import Timed
from vidqa.tracks.ocr import similar

if TYPE_CHECKING:
    import numpy as np

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
    refined_by: str | None = None  # "ocr" (at index time), "words" or "sentence" (speech),
    # or "model"

    @property
    def time_s(self) -> float:
        return self.refined_s if self.refined_s is not None else self.start_s

    def to_dict(self) -> dict:
        return {**asdict(self), "time_s": self.time_s}


_WORD = re.compile(r"\w+")


def _words_of(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def refine_speech_hit(found: Found, words: list, query: str) -> float | None:
    """The start of the first word of the stretch of a speech hit that matches the most words
    of `query` (its content words when it has some; a near spelling counts: "budgets" for
    "budget"): "Goddard Space Flight Center" pins to "Goddard", not to an earlier "space".
    None when the segment has no word times or none matches. `words`: [[start_s, end_s,
    word, ...]] (a probability may follow)."""
    wanted = _words_of(query)
    wanted = [w for w in wanted if w not in STOPWORDS] or wanted
    spoken = [(float(item[0]), said) for item in words for said in _words_of(str(item[2]))]

    def match(said: str) -> str | None:
        return next((w for w in wanted if said == w or
                     (min(len(said), len(w)) >= 4 and similar(said, w) >= 0.8)), None)

    matched = [match(said) for _, said in spoken]
    span = len(wanted) + 2  # the query's words, with a word or two between them
    best, at = 0, None
    for i, first in enumerate(matched):
        if first is None:
            continue
        found_here = len({m for m in matched[i:i + span] if m is not None})
        if found_here > best:
            best, at = found_here, spoken[i][0]
    return at


SENTENCE_PAUSE_S = 0.4  # a pause between words this long also ends a sentence


def sentences_of(words: list) -> list[tuple[float, str]]:
    """A speech segment's words as its sentences: (start_s, text) of each, cut after a word
    that ends one (. ? ! and their full-width forms) or before a pause of SENTENCE_PAUSE_S."""
    out: list[tuple[float, list[str]]] = []
    ended, last_end = True, None
    for item in words:
        start_s, end_s, word = float(item[0]), float(item[1]), str(item[2]).strip()
        if not word:
            continue
        if ended or (last_end is not None and start_s - last_end >= SENTENCE_PAUSE_S):
            out.append((start_s, []))
        out[-1][1].append(word)
        ended, last_end = word.endswith((".", "?", "!", "。", "？", "！")), end_s
    return [(start_s, " ".join(said)) for start_s, said in out]


def refine_by_sentence(words: list, asked: Callable[[], np.ndarray], embedder) -> float | None:
    """Where the sentence of a speech hit that means most what the query means begins: for a
    question whose words the segment does not share (asked in another language, or in other
    words), when the segment holds more than one sentence. None when it holds one. `asked()`:
    the query's row, embedded once however many hits need it."""
    sentences = sentences_of(words)
    if len(sentences) < 2:
        return None
    import numpy as np

    rows = embedder.encode([text for _, text in sentences])
    return sentences[int(np.argmax(rows @ asked()))][0]


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
        jpeg = cv2.imencode(".jpg", frame.bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
        path.write_bytes(jpeg.tobytes())
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


def _built_with_other(directory: Path, embedder) -> str | None:
    """The embedder of another index of the same entries beside `directory` (a video's indexes
    are named `<embedder>-<entries hash>`), or None."""
    own = _dir_name(embedder)
    suffix = directory.name[len(own):] if directory.name.startswith(f"{own}-") else None
    if not suffix or not directory.parent.is_dir():
        return None
    for other in sorted(directory.parent.glob(f"*{suffix}")):
        if other != directory and not other.name.startswith(".") and other.is_dir():
            return other.name[:-len(suffix)]
    return None


def open_index(entries: list, embedder, directory: Path, *, opened=None, warn=None):
    """The index in `directory` if it holds these entries for this embedder, else built anew
    (written atomically, so readers see the old or the new one). The directory's name is a hash
    of the entries, so an index opened before is reused from memory (the last `OPEN_INDEXES`).
    `opened`: the index, opened or built by the caller, to remember. A video indexed before
    with another embedder (`index.embedder` changed) is embedded again, once, and `warn` is told
    in one line (`vidqa.errors.tell`); its old index stays for that embedder."""
    from vidqa.search.index import VectorIndex

    key = (str(directory), embedder.name)
    index = opened or _remembered(directory, embedder)
    if opened is not None or index is None or len(index) != len(entries):
        if opened is None:
            index = VectorIndex.open(directory, embedder)
            if index is None or len(index) != len(entries):
                other = _built_with_other(directory, embedder) if index is None else None
                if other is not None and entries:
                    texts = f"{len(entries)} text{'s' if len(entries) != 1 else ''}"
                    tell(f"the search index of '{Path(entries[0].video).name}' was built with "
                         f"the '{other}' embedder; embedding its {texts} again with "
                         f"'{embedder.name}' (index.embedder), once", warn)
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


def collection_index(parts: list[tuple[IngestResult, list]], embedder, *, warn=None):
    """One index over several videos' entries (a folder given to `find` or `ask`). The vectors
    come from each video's own index (built when missing; `warn` as in `open_index`), so a
    collection is never embedded twice."""
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
        vectors = [open_index(v, embedder, video_index_dir(r, v, embedder), warn=warn).vectors()
                   for r, v in parts if v]
        index = VectorIndex.build(entries, embedder, directory,
                                  vectors=np.concatenate(vectors) if vectors else None)
    return open_index(entries, embedder, directory, opened=index)


def search(parts: list[tuple[IngestResult, list]], query: str, embedder, *, k: int = 5,
           kinds: set[str] | None = None, warn=None) -> list[Found]:
    """Ranked hits for `query` over one video's index or a collection's (`warn`: told when an
    index is embedded again for another embedder, as in `open_index`)."""
    if not any(entries for _, entries in parts):
        raise VidqaError("nothing to search: no captions, no on-screen text and no speech were "
                         "found; run `vidqa index` with a model, or with --ocr on")
    if len(parts) == 1:
        result, entries = parts[0]
        index = open_index(entries, embedder, video_index_dir(result, entries, embedder),
                           warn=warn)
    else:
        index = collection_index(parts, embedder, warn=warn)
    return [Found(h.entry.video, h.entry.kind, h.entry.start_s, h.entry.end_s, h.entry.text,
                  round(h.score, 4)) for h in index.search(query, k, kinds=kinds)]


RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al.): a hit at rank r adds 1/(60+r)


def fuse(lists: list[list[Found]], k: int) -> list[Found]:
    """Hits of several rankings (the text index's, a visual track's) in one, by reciprocal
    rank fusion: each hit's rank in its own list counts, not its score, whose scales differ
    (a sentence embedder's cosine against CLIP's). Each hit keeps its own score."""
    fused: dict[int, tuple[float, Found]] = {}
    for hits in lists:
        for rank, hit in enumerate(hits, 1):
            before = fused.get(id(hit), (0.0, hit))[0]
            fused[id(hit)] = (before + 1.0 / (RRF_K + rank), hit)
    return [hit for _, hit in sorted(fused.values(), key=lambda x: -x[0])][:k]


def _dir_name(embedder) -> str:
    return embedder.name.replace("/", "_")


def video_index_dir(result: IngestResult, entries: list, embedder) -> Path:
    key = entries_key(entries)
    return result.workdir / "index" / f"{_dir_name(embedder)}-{key}"


def refine(found: list[Found], results: dict[str, IngestResult], config: Config, *,
           top: int = 3, backend=None, query: str = "", words: dict | None = None,
           pinned: dict | None = None, embedder=None,
           on_progress: Callable[[Found], None] | None = None) -> list[Found]:
    """Pin hits to where they begin: text hits say where the index pinned them (`pinned`:
    (video, start_s, end_s, text) -> the first key frame that showed it); speech hits (all of
    them) are pinned to the first word that matches `query` (`words`: the same key -> the
    segment's word times), or, when no word matches, to the sentence that means most what the
    query means (`embedder`: the index's; a question in another language); the top caption
    and event hits by the model on 4 fps frames (when a `backend` is given)."""
    words, pinned = words or {}, pinned or {}
    timed = set(words) | set(pinned)  # hits that know their own times: no model needed
    query_row: list[np.ndarray] = []

    def asked() -> np.ndarray:
        if not query_row:
            query_row.append(embedder.encode([query], query=True)[0])
        return query_row[0]

    for hit in found:
        key = (hit.video, hit.start_s, hit.end_s, hit.text)
        if words.get(key):
            at = refine_speech_hit(hit, words[key], query)
            if at is not None:
                hit.refined_s, hit.refined_by = at, "words"
            elif embedder is not None and query:
                at = refine_by_sentence(words[key], asked, embedder)
                if at is not None:
                    hit.refined_s, hit.refined_by = at, "sentence"
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
