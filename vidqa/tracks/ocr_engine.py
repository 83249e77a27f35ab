"""The OCR engine behind the on-screen text track: RapidOCR with the models of its wheel.

RapidOCR 3 (`pip install 'vidqa[ocr]'`) runs PP-OCRv6 detection and recognition models that ship
inside its wheel on onnxruntime on the CPU. Nothing is downloaded at run time: the model files
are passed by path, so RapidOCR's download step never runs. The orientation classifier is off:
video text stands upright, and on short crops ("Yes?") the classifier can flip a line by 180
degrees and turn it into noise.

Detection and recognition are separate steps here. The detector sees the picture scaled so its
short side is `side` pixels (736, RapidOCR's default, doubles a 640x352 key frame and finds a
24-pixel subtitle; the frame's own size, a "look", costs a fifth and finds every line taller
than about 12 pixels); the recogniser always reads each box cut from the key frame itself, in
one batch, so a cheap detection reads as well as a costly one. `read_boxes` recognises known
boxes without detecting (about 10-30 ms a box, where a detection at 736 takes 400-1000 ms).

Threads: onnxruntime takes every core by default, while ffmpeg and torch run beside it. Each
call borrows a set of RapidOCR sessions (one intra-op thread, no inter-op pool) that no other
call is using, made when none is free, so the text track reads `threads` key frames at once
(one per core) instead of one key frame on several threads, which was slower (BENCHMARKS.md,
OCR).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import sqlite3
import threading
from pathlib import Path

import numpy as np

from vidqa.paths import cores
from vidqa.errors import ConfigError, VidqaError
from vidqa.store import write_error

# Bump when reading, normalising or merging changes what the track holds (the frame cache and
# the track's cache are keyed by it).
OCR_VERSION = "4"  # 2: pinned to 8 fps; 3: boxes, changed regions; 4: looks, readings, batches
INSTALL_HINT = "install it with: pip install 'vidqa[ocr]'"

# The models RapidOCR 3.10+ ships in its wheel (rapidocr/models/).
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"  # never run (use_cls off), but must resolve
# The full detection's input: the frame scaled so its short side is this many pixels (RapidOCR's
# default, 736: a short 24-pixel subtitle is found; 264 keeps the large lines at a tenth of the
# cost, BENCHMARKS.md, OCR). A region of a frame is scaled as its frame is.
DET_SIDE = 736
BOX_MARGIN = 4  # pixels around a line's box when it is recognised

Box = tuple[int, int, int, int]  # (left, top, right, bottom) in pixels of the key frame
Reading = tuple[str, float, Box]  # text, confidence, box


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
    """RapidOCR with the models from its wheel: one set of sessions per calling thread, each on
    one onnxruntime thread. `threads`: how many threads the text track reads with at once (0:
    every core this process may use)."""

    def __init__(self, threads: int = 0, *, cache: bool = True, det_side: int = DET_SIDE):
        if not isinstance(threads, int) or threads < 0:
            raise ConfigError(f"OCR threads must be a whole number >= 0 (0: every core), "
                              f"got {threads!r}")
        try:
            import onnxruntime  # noqa: F401
            import rapidocr
        except ImportError as exc:
            raise VidqaError(f"on-screen text needs the OCR library ({exc}); "
                             f"{INSTALL_HINT}") from None
        models = Path(rapidocr.__file__).resolve().parent / "models"
        paths = {kind: models / name for kind, name in
                 (("Det", DET_MODEL), ("Rec", REC_MODEL), ("Cls", CLS_MODEL))}
        missing = [p.name for p in paths.values() if not p.is_file()]
        if missing:
            raise VidqaError(f"rapidocr does not ship {', '.join(missing)} in '{models}'; "
                             "install rapidocr 3.10 or newer: pip install 'vidqa[ocr]' --upgrade")
        self.threads = min(threads or cores(), cores())
        self._params = {
            "Global.log_level": "error",  # it logs every frame without text as a warning
            "Global.text_score": 0.0,  # the track applies its own min_score
            "Global.use_cls": False,
            "Det.limit_type": "max",  # vidqa scales the picture itself (read_lines)
            "Det.limit_side_len": 8192,
            **{f"{kind}.model_path": str(path) for kind, path in paths.items()},
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        self._idle: list = []  # RapidOCR instances no call is using
        self._lock = threading.Lock()
        with self._rapid():  # load the models now: a broken install shows here, not mid-track
            pass
        self.det_side = det_side
        self.name = engine_name(det_side)
        self.cache = FrameCache(self.name) if cache else None

    @contextlib.contextmanager
    def _rapid(self):
        """A RapidOCR instance for one call: its calls switch detection and recognition on and
        off, so two threads never use one at once; one more is made when all are in use."""
        with self._lock:
            ocr = self._idle.pop() if self._idle else None
        if ocr is None:
            from rapidocr import RapidOCR

            ocr = RapidOCR(params=self._params)
        try:
            yield ocr
        finally:
            with self._lock:
                self._idle.append(ocr)

    def read(self, bgr: np.ndarray) -> list[tuple[str, float]]:
        """(text, confidence) per detected line, top to bottom, then left to right. A picture
        read before (the same pixels) comes from the cache."""
        return [(text, score) for text, score, _box in self.read_lines(bgr)]

    def read_box(self, bgr: np.ndarray, box: Box) -> tuple[str, float]:
        """(text, confidence) of the one line inside `box` of `bgr` (recognition only)."""
        return self.read_boxes(bgr, [box])[0]

    def read_boxes(self, bgr: np.ndarray, boxes: list[Box]) -> list[tuple[str, float]]:
        """(text, confidence) of the line inside each box of `bgr`, recognised in one batch
        without detection. Boxes of a picture read before come from the cache."""
        if not boxes:
            return []
        digest = FrameCache.digest(bgr, f"read {boxes}") if self.cache else ""
        if self.cache is not None:
            cached = self.cache.get(digest)
            if cached is not None:
                return [(text, score) for text, score, _box in cached]
        read = self._read_boxes(bgr, boxes)
        if self.cache is not None:
            self.cache.put(digest, [(t, sc, b) for (t, sc), b in zip(read, boxes)])
        return read

    def _read_boxes(self, bgr: np.ndarray, boxes: list[Box]) -> list[tuple[str, float]]:
        crops, where = [], []
        height, width = bgr.shape[:2]
        for i, (left, top, right, bottom) in enumerate(boxes):
            crop = bgr[max(0, top - BOX_MARGIN):min(height, bottom + BOX_MARGIN),
                       max(0, left - BOX_MARGIN):min(width, right + BOX_MARGIN)]
            if crop.size and crop.shape[0] >= 2 and crop.shape[1] >= 2:
                crops.append(np.ascontiguousarray(crop))
                where.append(i)
        out: list[tuple[str, float]] = [("", 0.0)] * len(boxes)
        if crops:
            for i, (text, score) in zip(where, self._recognise(crops)):
                out[i] = (text, score)
        return out

    def _recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        with self._rapid() as ocr:
            rec = ocr.recognize_txt(crops)
        txts, scores = getattr(rec, "txts", None) or (), getattr(rec, "scores", None) or ()
        return [(str(t), float(s)) for t, s in zip(txts, scores)]

    def read_lines(self, bgr: np.ndarray, frame_short: int | None = None, *,
                   side: int | None = None) -> list[Reading]:
        """(text, confidence, box) per line in reading order; the box is (left, top, right,
        bottom) in pixels of `bgr`. The detector sees `bgr` scaled by `side` (default
        `det_side`) over `frame_short`, the short side of the frame `bgr` was cut from (a
        region is scaled as its frame); each box is recognised from `bgr` itself. A picture
        read before at the same scale comes from the cache."""
        scale = (side or self.det_side) / max(1, frame_short or min(bgr.shape[:2]))
        digest = FrameCache.digest(bgr, f"{scale:.6f}") if self.cache else ""
        if self.cache is not None:
            cached = self.cache.get(digest)
            if cached is not None:
                return cached
        boxes = self._detect(bgr, scale)
        read = self._read_boxes(bgr, boxes)
        lines = in_reading_order([(t, s, b) for (t, s), b in zip(read, boxes)])
        if self.cache is not None:
            self.cache.put(digest, lines)
        return lines

    def detect(self, bgr: np.ndarray, frame_short: int | None = None, *,
               side: int | None = None) -> list[Box]:
        """The boxes of the lines in `bgr`, detected at the scale `read_lines` says, without
        reading them. A picture detected before at the same scale comes from the cache."""
        scale = (side or self.det_side) / max(1, frame_short or min(bgr.shape[:2]))
        digest = FrameCache.digest(bgr, f"boxes {scale:.6f}") if self.cache else ""
        if self.cache is not None:
            cached = self.cache.get(digest)
            if cached is not None:
                return [box for _text, _score, box in cached]
        boxes = self._detect(bgr, scale)
        if self.cache is not None:
            self.cache.put(digest, [("", 0.0, box) for box in boxes])
        return boxes

    def _detect(self, bgr: np.ndarray, scale: float) -> list[Box]:
        import cv2

        sized = bgr if abs(scale - 1) < 1e-3 else cv2.resize(
            bgr, None, fx=scale, fy=scale,
            interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
        # Each call says all: RapidOCR keeps what the call before set.
        with self._rapid() as ocr:
            found = ocr(sized, use_det=True, use_cls=False, use_rec=False)
        quads = getattr(found, "boxes", None)
        if quads is None or not len(quads):
            return []
        height, width = bgr.shape[:2]
        boxes = []
        for quad in quads:
            pts = np.asarray(quad, dtype=np.float32).reshape(-1, 2) / scale
            boxes.append((max(0, int(pts[:, 0].min())), max(0, int(pts[:, 1].min())),
                          min(width, int(np.ceil(pts[:, 0].max()))),
                          min(height, int(np.ceil(pts[:, 1].max())))))
        return boxes


class FrameCache:
    """What OCR read on each picture, keyed by the picture's pixels (SQLite, one file per
    engine under `<cache>/ocr/`). The same frame decoded again, in a re-ingest with other
    settings, a refine window, or a needle cell that shares all but a few seconds with its
    haystack, is read once. Each row is written in its own transaction, so a killed run leaves
    only complete rows; a file SQLite reports as damaged is set aside and started afresh.
    `hits` and `misses` count lookups in this process."""

    def __init__(self, engine_name: str):
        from vidqa.paths import cache_dir

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


def in_reading_order(readings: list[Reading]) -> list[Reading]:
    """Rows top to bottom (a box whose vertical centre lies inside the row's span joins it),
    boxes in a row left to right."""
    items = sorted(readings, key=lambda r: (r[2][1], r[2][0]))
    rows: list[list] = []
    for reading in items:
        _left, top, _right, bottom = reading[2]
        centre = (top + bottom) / 2
        if rows and rows[-1][0] <= centre <= rows[-1][1]:
            row = rows[-1]
            row[0], row[1] = min(row[0], top), max(row[1], bottom)
            row[2].append(reading)
        else:
            rows.append([top, bottom, [reading]])
    return [reading for _, _, row in rows for reading in sorted(row, key=lambda r: r[2][0])]


def similar(a: str, b: str) -> float:
    """How alike two readings of a line are, 0..1 (SequenceMatcher, lower-cased)."""
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def engine_for(mode: str, threads: int = 0, size: int = DET_SIDE) -> OcrEngine | None:
    """The engine for the `ocr.mode` setting: None when "off", or "auto" without the OCR
    library; "on" without it raises the install hint. `size`: `ocr.detect_size`."""
    if mode == "off" or (mode == "auto" and not ocr_available()):
        return None
    return OcrEngine(threads=threads, det_side=size)
