"""On-screen text: OCR on the key frames, one `TextLine` per line of text and the time it shows.

Burned-in subtitles, slide titles, signs and UI text are often the answer to a question ("what
did the caption say when...", "when does 'Enter Password' appear"), and a vision model asked
about a 640x352 frame misreads small text that a dedicated OCR model reads exactly. The key
frames already mark every change of picture, so OCR runs on them alone: a caption that stays on
screen across several key frames is read each time and merged into one line, half-open
[start_s, end_s) from the first key frame that shows it to the next key frame that no longer
does (or the video end). Times are the key frames' own absolute times, never recomputed.

The engine is RapidOCR 3 (`pip install 'vidqa[ocr]'`): PP-OCRv6 detection and recognition
models that ship inside its wheel, run by onnxruntime on the CPU. Nothing is downloaded at run
time: the model files are passed by path, so RapidOCR's download step never runs. The
orientation classifier is off: video text stands upright, and on short crops ("Yes?") the
classifier can flip a line by 180 degrees and turn it into noise.

Thread budget: onnxruntime takes every core by default, while ffmpeg and torch run beside it.
`OcrEngine(threads=1)` gives the detection and recognition sessions one intra-op thread each
and no inter-op pool; raise it only on a machine with cores to spare (see
`pipelines/bench_ocr.py` for what a second thread buys).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from vidqa.config import cores
from vidqa.errors import CacheError, ConfigError, VidqaError, one_line
from vidqa.store import atomic_write_text, write_error
from vidqa.timecode import Timed
from vidqa.tracks.base import Segment, Tools

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult

# Bump when reading, normalising or merging changes what the track holds.
OCR_VERSION = "3"  # 2: lines pinned to their first 8 fps frame; 3: boxes, changed regions
MIN_SCORE = 0.5  # recognition confidence below which a line is dropped
MIN_CHARS = 2  # shorter lines are mostly noise (a lone "l" from a fence post)
MERGE_RATIO = 0.8  # SequenceMatcher ratio (lower-cased) for "the same line as before"
INSTALL_HINT = "install it with: pip install 'vidqa[ocr]'"

# The models RapidOCR 3.10+ ships in its wheel (rapidocr/models/).
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"  # never run (use_cls off), but must resolve
# The detector's input: the frame scaled so its short side is this many pixels (RapidOCR's
# default, 736, doubles a 640x352 key frame; 264 keeps 3/4 of it: the same lines of the
# generated benchmark footage at a tenth of the cost, but a short 24-pixel subtitle is lost,
# BENCHMARKS.md, OCR). A region of a frame is scaled as its frame is.
DET_SIDE = 736
BOX_MARGIN = 4  # pixels around a line's box when it is read alone

# Pinning (at index time, so `find` needs no OCR): a key frame shows a line up to a sample
# interval or so after it appeared; the frames before it are decoded at PIN_FPS and searched
# for the first one that shows the line.
PIN_FPS = 8.0
PIN_BEFORE_S = 2.5  # how far before its first key frame a line may have appeared
PIN_MATCH = 0.7  # similar() of a reading to the line for "shows it"

Reading = tuple[str, float, tuple[int, int, int, int]]  # text, confidence, (left, top, right, bottom)


@dataclass(frozen=True)
class TextLine(Timed):
    """One line of on-screen text: half-open [start_s, end_s) in absolute seconds."""

    start_s: float
    end_s: float
    text: str
    score: float  # recognition confidence of the kept spelling, 0..1
    seen_s: float | None = None  # the first key frame that shows it (start_s when not pinned)
    box: tuple[int, int, int, int] | None = None  # where that key frame shows it (pixels)

    def to_dict(self) -> dict:
        return asdict(self)


def ocr_available() -> bool:
    """True when the OCR library and its runtime are installed (the `ocr` extra), found
    without importing them (rapidocr's import takes most of a second; a broken native library
    shows when the engine is made)."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("onnxruntime", "rapidocr"))


def engine_name(det_side: int = DET_SIDE) -> str:
    """The name `OcrEngine` will have (library version, models, detector size), known without
    importing the library: the text track's cache is looked up by it, so reading a cached track
    loads no OCR."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("rapidocr")
    except PackageNotFoundError:
        release = "?"
    return f"rapidocr-{release}:{Path(DET_MODEL).stem}+{Path(REC_MODEL).stem}:detshort{det_side}"


class OcrEngine:
    """RapidOCR with the models from its wheel, on onnxruntime with a fixed thread budget."""

    def __init__(self, threads: int = 1, *, cache: bool = True, det_side: int = DET_SIDE):
        if not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"OCR threads must be a whole number >= 1, got {threads!r}")
        try:
            import onnxruntime  # noqa: F401
            import rapidocr
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise VidqaError(f"on-screen text needs the OCR library ({exc}); "
                             f"{INSTALL_HINT}") from None
        models = Path(rapidocr.__file__).resolve().parent / "models"
        paths = {kind: models / name for kind, name in
                 (("Det", DET_MODEL), ("Rec", REC_MODEL), ("Cls", CLS_MODEL))}
        missing = [p.name for p in paths.values() if not p.is_file()]
        if missing:
            version = getattr(rapidocr, "__version__", "?")
            raise VidqaError(f"rapidocr {version} does not ship {', '.join(missing)} in "
                             f"'{models}'; install rapidocr 3.10 or newer: pip install "
                             "'vidqa[ocr]' --upgrade")
        # RapidOCR ignores a thread count above the core count (and then takes every core).
        self.threads = min(threads, cores())
        params = {
            "Global.log_level": "error",  # it logs every frame without text as a warning
            "Global.text_score": 0.0,  # read_keyframes applies its own min_score
            "Global.use_cls": False,
            "Det.limit_type": "max",  # vidqa scales the picture itself (read_lines)
            "Det.limit_side_len": 8192,
            **{f"{kind}.model_path": str(path) for kind, path in paths.items()},
            "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        self._ocr = RapidOCR(params=params)
        self.det_side = det_side
        self.name = engine_name(det_side)
        self.cache = FrameCache(self.name) if cache else None

    def read(self, bgr: np.ndarray) -> list[tuple[str, float]]:
        """(text, confidence) per detected line, top to bottom, then left to right. A picture
        read before (the same pixels) comes from the cache."""
        return [(text, score) for text, score, _box in self.read_lines(bgr)]

    def read_box(self, bgr: np.ndarray, box: tuple[int, int, int, int]) -> tuple[str, float]:
        """(text, confidence) of the one line inside `box` of `bgr` (recognition only, no
        detection: a few milliseconds, where reading a whole frame takes hundreds)."""
        left, top, right, bottom = box
        crop = np.ascontiguousarray(bgr[max(0, top - BOX_MARGIN):bottom + BOX_MARGIN,
                                        max(0, left - BOX_MARGIN):right + BOX_MARGIN])
        if crop.size == 0:
            return "", 0.0
        out = self._ocr(crop, use_det=False, use_cls=False, use_rec=True)
        txts, scores = getattr(out, "txts", None), getattr(out, "scores", None)
        return (str(txts[0]), float(scores[0])) if txts else ("", 0.0)

    def read_lines(self, bgr: np.ndarray, frame_short: int | None = None) -> list[Reading]:
        """(text, confidence, box) per detected line in reading order; the box is
        (left, top, right, bottom) in pixels. `frame_short`: the short side of the frame `bgr`
        was cut from (a region is scaled as its frame). A picture read before comes from the
        cache."""
        import cv2

        scale = self.det_side / max(1, frame_short or min(bgr.shape[:2]))
        digest = FrameCache.digest(bgr, f"{scale:.6f}") if self.cache else ""
        if self.cache is not None:
            cached = self.cache.get(digest)
            if cached is not None:
                return cached
        sized = bgr if abs(scale - 1) < 1e-3 else cv2.resize(
            bgr, None, fx=scale, fy=scale,
            interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
        out = self._ocr(sized, use_det=True, use_cls=False, use_rec=True)  # each call says all:
        # RapidOCR keeps what the call before set (read_box turns detection off)
        boxes, txts, scores = (getattr(out, k, None) for k in ("boxes", "txts", "scores"))
        if boxes is None or txts is None or scores is None or len(txts) == 0:
            lines = []
        else:
            lines = [(t, sc, (int(x0 / scale), int(y0 / scale), int(np.ceil(x1 / scale)),
                              int(np.ceil(y1 / scale))))
                     for t, sc, (x0, y0, x1, y1) in _reading_order(boxes, txts, scores)]
        if self.cache is not None:
            self.cache.put(digest, lines)
        return lines


class FrameCache:
    """What OCR read on each picture, keyed by the picture's pixels (SQLite, one file per
    engine under `<cache>/ocr/`). The same frame decoded again, in a re-ingest with other
    settings, a refine window, or a needle cell that shares all but a few seconds with its
    haystack, is read once. Each row is written in its own transaction, so a killed run leaves
    only complete rows; a file SQLite reports as damaged is set aside and started afresh.
    `hits` and `misses` count lookups in this process."""

    def __init__(self, engine_name: str):
        from vidqa.config import cache_dir

        key = hashlib.blake2b(f"{OCR_VERSION}\n{engine_name}".encode(), digest_size=8).hexdigest()
        self.path = cache_dir() / "ocr" / f"frames-{key}.sqlite"
        self._conn = None
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def digest(bgr: np.ndarray, extra: str = "") -> str:
        h = hashlib.blake2b(f"{bgr.shape}{extra}".encode(), digest_size=16)
        h.update(np.ascontiguousarray(bgr).data)
        return h.hexdigest()

    def _open(self):
        conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS frames (digest TEXT PRIMARY KEY, "
                     "lines TEXT NOT NULL)")
        return conn

    def _connect(self):
        with self._lock:
            if self._conn is not None:
                return self._conn
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self._conn = self._open()
                except sqlite3.DatabaseError as exc:
                    if not _damaged(exc):
                        raise
                    for suffix in ("", "-wal", "-shm"):  # set the damaged file aside, whole
                        part = Path(f"{self.path}{suffix}")
                        if part.exists():
                            part.replace(Path(f"{self.path}.damaged{suffix}"))
                    self._conn = self._open()
            except (OSError, sqlite3.Error) as exc:
                raise write_error(exc, self.path, "the OCR cache") from None
            return self._conn

    def get(self, digest: str) -> list[Reading] | None:
        row = self._connect().execute("SELECT lines FROM frames WHERE digest = ?",
                                      (digest,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return [(str(t), float(s), tuple(int(v) for v in b)) for t, s, b in json.loads(row[0])]

    def put(self, digest: str, lines: list[Reading]) -> None:
        try:
            with self._connect() as conn:
                conn.execute("INSERT OR REPLACE INTO frames VALUES (?, ?)",
                             (digest, json.dumps(lines, ensure_ascii=False)))
        except sqlite3.Error as exc:
            raise write_error(exc, self.path, "the OCR cache") from None


def _damaged(exc: Exception) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def _reading_order(boxes, txts, scores) -> list[Reading]:
    """Group boxes into rows (a box whose vertical centre lies inside the row's span joins it),
    rows top to bottom, boxes in a row left to right."""
    items = []
    for box, txt, score in zip(boxes, txts, scores):
        pts = np.asarray(box, dtype=np.float32).reshape(-1, 2)
        rect = (int(pts[:, 0].min()), int(pts[:, 1].min()), int(np.ceil(pts[:, 0].max())),
                int(np.ceil(pts[:, 1].max())))
        items.append((float(pts[:, 1].min()), float(pts[:, 1].max()), float(pts[:, 0].min()),
                      (str(txt), float(score), rect)))
    items.sort(key=lambda i: (i[0], i[2]))
    rows: list[list] = []
    for top, bottom, left, reading in items:
        centre = (top + bottom) / 2
        if rows and rows[-1][0] <= centre <= rows[-1][1]:
            row = rows[-1]
            row[0], row[1] = min(row[0], top), max(row[1], bottom)
            row[2].append((left, reading))
        else:
            rows.append([top, bottom, [(left, reading)]])
    return [reading for _, _, row in rows for _, reading in sorted(row, key=lambda r: r[0])]


def similar(a: str, b: str) -> float:
    """How alike two readings of a line are, 0..1 (SequenceMatcher, lower-cased)."""
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


class _Track:
    """A line being followed across key frames."""

    __slots__ = ("order", "start_s", "text", "score", "last", "box")

    def __init__(self, order: int, start_s: float, text: str, score: float, box):
        self.order, self.start_s = order, start_s  # order: reading order among equal starts
        self.text, self.score, self.last = text, score, text
        self.box = box  # where it was read first

    def close(self, end_s: float) -> tuple[int, TextLine]:
        return self.order, TextLine(round(self.start_s, 6), round(max(end_s, self.start_s), 6),
                                    self.text, round(self.score, 4), box=self.box)


def merge_lines(frames: list[tuple[float, list[tuple[str, float] | Reading]]], end_s: float, *,
                min_score: float = MIN_SCORE) -> list[TextLine]:
    """Turn per-key-frame readings [(pts_s, [(text, score), ...]), ...] into TextLines.

    A line matches a line of the previous key frame when their lower-cased texts have a
    SequenceMatcher ratio >= MERGE_RATIO (each line matches at most one, best pairs first); a
    match extends the line, keeping the spelling with the best score. A line not seen again ends
    at the key frame that no longer shows it; lines still on screen end at `end_s`.
    """
    open_tracks: list[_Track] = []
    done: list[tuple[int, TextLine]] = []
    created = 0
    for pts_s, lines in sorted(frames, key=lambda f: f[0]):
        current = [(one_line(line[0]), line[1], line[2] if len(line) > 2 else None)
                   for line in lines]
        current = [c for c in current if c[1] >= min_score and len(c[0]) >= MIN_CHARS]
        pairs = sorted(((similar(track.last, text), ti, li)
                        for ti, track in enumerate(open_tracks)
                        for li, (text, _, _) in enumerate(current)), reverse=True)
        matched_tracks: dict[int, int] = {}
        matched_lines: set[int] = set()
        for ratio, ti, li in pairs:
            if ratio < MERGE_RATIO:
                break
            if ti in matched_tracks or li in matched_lines:
                continue
            matched_tracks[ti] = li
            matched_lines.add(li)
        still_open = []
        for ti, track in enumerate(open_tracks):
            if ti not in matched_tracks:
                done.append(track.close(pts_s))
                continue
            text, score, _box = current[matched_tracks[ti]]
            track.last = text
            if score > track.score:
                track.text, track.score = text, score
            still_open.append(track)
        for li, (text, score, box) in enumerate(current):
            if li not in matched_lines:
                still_open.append(_Track(created, pts_s, text, score, box))
                created += 1
        open_tracks = still_open
    done += [track.close(end_s) for track in open_tracks]
    return [line for _, line in sorted(done, key=lambda d: (d[1].start_s, d[0]))]


def read_keyframes(result: IngestResult, engine: OcrEngine, *, min_score: float = MIN_SCORE,
                   on_progress: Callable[[float], None] | None = None,
                   counts: dict | None = None) -> list[TextLine]:
    """OCR the key frames of an ingest result and merge the lines into a text track (each line
    from its first key frame; `pin_lines` moves it to its first 8 fps frame).

    Only what can have changed is read: a key frame is compared with the one before it on a
    16x9 grid; where no block changed, the earlier readings stand; where a few did, only that
    region (grown by a block, and to every line it touches) is read, and the lines outside it
    stand; a new scene or a large change is read whole (`counts` tallies "whole", "region" and
    "same"). `on_progress(pts_s)` follows the key frames. Lines under `min_score` or shorter
    than two characters are dropped. Sorted by start time.
    """
    import cv2

    boxes = hasattr(engine, "read_lines")  # an engine without boxes reads every frame whole
    frames, before, readings = [], None, []
    tally = counts if counts is not None else {}
    for keyframe in result.keyframes:
        path = result.image_path(keyframe)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise CacheError(f"cannot read key frame '{path}'; remove '{result.workdir}' and "
                             "ingest the video again")
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        known = boxes and before is not None and all(r[2] is not None for r in readings)
        region = changed_region(before, grey) if known else "whole"
        if region is None:
            kind = "same"
        elif region == "whole":
            kind = "whole"
            readings = engine.read_lines(image) if boxes else \
                [(t, sc, (0, 0, 0, 0)) for t, sc in engine.read(image)]
        else:
            region = _grow(region, readings, grey.shape)
            if region is None:
                kind, readings = "whole", engine.read_lines(image)
            else:
                kind = "region"
                left, top, right, bottom = region
                inside = [(t, sc, (x0 + left, y0 + top, x1 + left, y1 + top)) for t, sc, (x0, y0, x1, y1)
                          in engine.read_lines(np.ascontiguousarray(image[top:bottom, left:right]),
                                               min(grey.shape))]
                kept = [r for r in readings if not _overlaps(r[2], region)]
                readings = _in_reading_order(kept + inside)
        tally[kind] = tally.get(kind, 0) + 1
        before = grey
        frames.append((keyframe.pts_s, readings))
        if on_progress is not None:
            on_progress(keyframe.pts_s)
    last = max((k.pts_s for k in result.keyframes), default=0.0)
    return merge_lines(frames, max(result.stats.end_s, last), min_score=min_score)


CHANGE_GRID = (16, 9)
CHANGE_LEVEL = 6.0  # mean grey difference (0-255) that marks a block changed
WHOLE_SHARE = 0.4  # a change over more of the picture than this: read it whole


def changed_region(before: np.ndarray, grey: np.ndarray):
    """Where `grey` differs from `before` (two key frames, grey): None (nowhere), "whole" (a
    new picture size, or most of it), or (left, top, right, bottom) in pixels, one block of
    the 16x9 grid around the changed blocks."""
    import cv2

    if before.shape != grey.shape:
        return "whole"
    height, width = grey.shape
    blocks = cv2.resize(cv2.absdiff(before, grey), CHANGE_GRID, interpolation=cv2.INTER_AREA)
    changed = blocks > CHANGE_LEVEL
    if not changed.any():
        return None
    if changed.mean() > WHOLE_SHARE:
        return "whole"
    rows, cols = np.nonzero(changed)
    bw, bh = width / CHANGE_GRID[0], height / CHANGE_GRID[1]
    return (int(max(0, (cols.min() - 1) * bw)), int(max(0, (rows.min() - 1) * bh)),
            int(min(width, (cols.max() + 2) * bw)), int(min(height, (rows.max() + 2) * bh)))


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _grow(region, readings: list[Reading], shape):
    """`region` grown to cover every earlier line it touches (a line half inside would be read
    cut); None when that makes it most of the picture."""
    left, top, right, bottom = region
    grown = True
    while grown:
        grown = False
        for _t, _s, box in readings:
            if _overlaps(box, (left, top, right, bottom)) and not (
                    left <= box[0] and top <= box[1] and box[2] <= right and box[3] <= bottom):
                left, top = min(left, box[0]), min(top, box[1])
                right, bottom = max(right, box[2]), max(bottom, box[3])
                grown = True
    height, width = shape
    if (right - left) * (bottom - top) > WHOLE_SHARE * width * height:
        return None
    return max(0, left), max(0, top), min(width, right), min(height, bottom)


def _in_reading_order(readings: list[Reading]) -> list[Reading]:
    corners = [((x0, y0), (x1, y0), (x1, y1), (x0, y1)) for _t, _s, (x0, y0, x1, y1) in readings]
    return _reading_order(corners, [r[0] for r in readings], [r[1] for r in readings])


def pin_lines(result: IngestResult, lines: list[TextLine], engine: OcrEngine) -> list[TextLine]:
    """Each line with `start_s` moved to the first PIN_FPS frame showing it (`seen_s` keeps its
    first key frame); a line that came with a new shot, to the cut. The key frames before a
    line's first one did not show it, so only the frames between the two are read: decoded
    again in one short ffmpeg pass per key frame that brings new lines, and searched by halves
    for the first frame from which on each line shows (a line stays once it appeared: about
    log2(20) = 5 reads for a 2.5 s window instead of 20). Each read is the line's own box,
    recognised without detection (`OcrEngine.read_box`): a line that moved is not found there
    and keeps its key frame's time."""
    from vidqa.media.decode import FrameReader

    times = sorted(k.pts_s for k in result.keyframes)
    starts = sorted({line.start_s for line in lines if line.start_s > times[0]}) if times else []
    pinned: dict[tuple[float, str], float] = {}
    decode = replace(result.config.decode, fps=PIN_FPS)  # same frame size and fast mode
    cuts = {k.pts_s: result.scenes[k.scene_index].start_s for k in result.keyframes
            if k.reason == "scene" and 0 <= k.scene_index < len(result.scenes)}
    for start_s in starts:
        before = max((t for t in times if t < start_s - 1e-6), default=0.0)
        if start_s in cuts:  # came with a new shot: at the cut, nothing to decode
            pinned.update({(start_s, line.text): max(cuts[start_s], before)
                           for line in lines if line.start_s == start_s})
            continue
        window = (max(before + 1e-3, start_s - PIN_BEFORE_S), start_s - 1e-3)
        if window[1] <= window[0]:
            continue
        group = [line for line in lines if line.start_s == start_s]
        reader = FrameReader(result.video, decode, window=window, allow_errors=True)
        try:
            frames = list(reader)
        except VidqaError:
            continue  # a window that does not decode keeps the key frame's time
        whole: dict[int, list[str]] = {}

        def shows(i: int, line: TextLine) -> bool:
            bgr = frames[i].bgr
            if line.box is not None and line.box[2] > line.box[0]:  # where it was read
                text, score = engine.read_box(bgr, line.box)
                return score >= MIN_SCORE and similar(text, line.text) >= PIN_MATCH
            if i not in whole:
                whole[i] = [t for t, score in engine.read(bgr) if score >= MIN_SCORE]
            return any(similar(t, line.text) >= PIN_MATCH for t in whole[i])

        earliest = {}
        for line in group:
            lo, hi = 0, len(frames)  # frames[hi:] show it (the key frame does)
            while lo < hi:
                mid = (lo + hi) // 2
                if shows(mid, line):
                    hi = mid
                else:
                    lo = mid + 1
            earliest[line.text] = frames[hi].pts_s if hi < len(frames) else start_s
        pinned.update({(start_s, text): t for text, t in earliest.items()})
    out = []
    for line in lines:
        start_s = pinned.get((line.start_s, line.text), line.start_s)
        out.append(TextLine(round(start_s, 6), line.end_s, line.text, line.score,
                            line.start_s, line.box))
    return sorted(out, key=lambda x: x.start_s)


def _keyframes_digest(result: IngestResult) -> str:
    listing = "\n".join(f"{k.pts_s:.6f} {k.image}" for k in result.keyframes)
    return hashlib.blake2b(listing.encode(), digest_size=8).hexdigest()


def cache_path(result: IngestResult, engine: str) -> Path:
    """Where the text track of `result` read by the engine named `engine` is kept."""
    settings = (f"{OCR_VERSION}\n{engine}\n{MIN_SCORE}\n{MIN_CHARS}\n{MERGE_RATIO}\n"
                f"{PIN_FPS} {PIN_BEFORE_S} halves {PIN_MATCH} {DET_SIDE}")
    key = hashlib.blake2b(settings.encode(), digest_size=8).hexdigest()
    return result.workdir / "ocr" / f"{key}.json"


def _load(path: Path, engine: str, digest: str, pin: bool = True) -> list[TextLine] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if (data.get("version") != OCR_VERSION or data.get("engine") != engine
                or data.get("keyframes") != digest or data.get("pinned", False) != pin):
            return None
        return [TextLine(float(d["start_s"]), float(d["end_s"]), str(d["text"]),
                         float(d["score"]), d.get("seen_s"),
                         tuple(d["box"]) if d.get("box") else None) for d in data["lines"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def text_track(result: IngestResult, engine: OcrEngine | None = None, *, threads: int = 1,
               on_progress: Callable[[float], None] | None = None,
               pin: bool = True) -> list[TextLine]:
    """The on-screen text of an ingested video, each line pinned to the first 8 fps frame that
    shows it (`pin`), cached in its work directory.

    A second call with the same key frames and engine reads the cache and runs no OCR.
    `threads` is used only when no `engine` is given.
    """
    engine = engine or OcrEngine(threads=threads)
    path = cache_path(result, engine.name)
    digest = _keyframes_digest(result)
    cached = _load(path, engine.name, digest, pin)
    if cached is not None:
        return cached
    lines = read_keyframes(result, engine, on_progress=on_progress)
    if pin:
        lines = pin_lines(result, lines, engine)
    document = {"version": OCR_VERSION, "engine": engine.name, "keyframes": digest,
                "pinned": pin, "lines": [line.to_dict() for line in lines]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path.parent, "the text track in") from None
    atomic_write_text(path, json.dumps(document, ensure_ascii=False, indent=1))
    return lines


def engine_for(mode: str, threads: int = 1, size: int = DET_SIDE) -> OcrEngine | None:
    """The engine for the `index.ocr` settings: None when "off", or "auto" without the OCR
    library; "on" without it raises the install hint. `size`: `index.ocr_size`."""
    if mode == "off" or (mode == "auto" and not ocr_available()):
        return None
    return OcrEngine(threads=threads, det_side=size)


def _segment(line: TextLine) -> Segment:
    return Segment(line.start_s, line.end_s, line.text, OcrTrack.name, "text",
                   {"score": line.score, "seen_s": line.seen_s})


class OcrTrack:
    """The on-screen text track (see the module's docstring): one "text" segment per line."""

    name: ClassVar[str] = "ocr"
    version: ClassVar[str] = OCR_VERSION
    kinds: ClassVar[tuple[str, ...]] = ("text",)
    log_kinds: ClassVar[tuple[str, ...]] = ("text",)
    needs: ClassVar[str] = "ocr"
    unit: ClassVar[str] = "frame"

    def __init__(self, config, tools: Tools):
        self.config, self.tools = config, tools

    def unavailable(self) -> str | None:
        if self.tools.ocr_name() is not None:  # None: off, or "auto" without the library
            return None
        if self.config.index.ocr == "off":
            return "on-screen text is off (--ocr off); drop it or pass --ocr on"
        if not ocr_available():
            return f"on-screen text needs the OCR library; {INSTALL_HINT}"
        return "on-screen text is off for this run"

    def segments(self, result: IngestResult, earlier=None, *,
                 on_progress: Callable[[float], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[Segment]:
        cached = self.cached(result)  # without loading the engine
        if cached is not None:
            return cached
        step = (lambda _pts_s: on_progress(1)) if on_progress else None
        return [_segment(line) for line in
                text_track(result, self.tools.ocr_engine(), on_progress=step)]

    def cached(self, result: IngestResult, earlier=None) -> list[Segment] | None:
        name = self.tools.ocr_name()
        if name is None:
            return None
        lines = _load(cache_path(result, name), name, _keyframes_digest(result))
        return None if lines is None else [_segment(line) for line in lines]
