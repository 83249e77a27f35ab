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
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from vidqa.errors import CacheError, ConfigError, VidqaError, one_line
from vidqa.store import atomic_write_text, write_error
from vidqa.timecode import Timed
from vidqa.tracks.base import Segment, Tools

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult

# Bump when reading, normalising or merging changes what the track holds.
OCR_VERSION = "1"
MIN_SCORE = 0.5  # recognition confidence below which a line is dropped
MIN_CHARS = 2  # shorter lines are mostly noise (a lone "l" from a fence post)
MERGE_RATIO = 0.8  # SequenceMatcher ratio (lower-cased) for "the same line as before"
INSTALL_HINT = "install it with: pip install 'vidqa[ocr]'"

# The models RapidOCR 3.10+ ships in its wheel (rapidocr/models/).
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"  # never run (use_cls off), but must resolve

@dataclass(frozen=True)
class TextLine(Timed):
    """One line of on-screen text: half-open [start_s, end_s) in absolute seconds."""

    start_s: float
    end_s: float
    text: str
    score: float  # recognition confidence of the kept spelling, 0..1

    def to_dict(self) -> dict:
        return asdict(self)


def ocr_available() -> bool:
    """True when the OCR library and its runtime import (the `ocr` extra is installed)."""
    try:
        import onnxruntime  # noqa: F401
        import rapidocr  # noqa: F401
    except Exception:  # ImportError, or a broken native library
        return False
    return True


class OcrEngine:
    """RapidOCR with the models from its wheel, on onnxruntime with a fixed thread budget."""

    def __init__(self, threads: int = 1, *, cache: bool = True):
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
        self.threads = min(threads, os.cpu_count() or 1)
        params = {
            "Global.log_level": "error",  # it logs every frame without text as a warning
            "Global.text_score": 0.0,  # read_keyframes applies its own min_score
            "Global.use_cls": False,
            **{f"{kind}.model_path": str(path) for kind, path in paths.items()},
            "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        self._ocr = RapidOCR(params=params)
        version = getattr(rapidocr, "__version__", None)
        if version is None:
            from importlib.metadata import version as dist_version
            version = dist_version("rapidocr")
        self.name = (f"rapidocr-{version}:{Path(DET_MODEL).stem}+{Path(REC_MODEL).stem}"
                     f":det{self._ocr.cfg.Det.limit_type}{self._ocr.cfg.Det.limit_side_len}")
        self.cache = FrameCache(self.name) if cache else None

    def read(self, bgr: np.ndarray) -> list[tuple[str, float]]:
        """(text, confidence) per detected line, top to bottom, then left to right. A picture
        read before (the same pixels) comes from the cache."""
        digest = FrameCache.digest(bgr) if self.cache else ""
        if self.cache is not None:
            cached = self.cache.get(digest)
            if cached is not None:
                return cached
        out = self._ocr(bgr)
        boxes, txts, scores = (getattr(out, k, None) for k in ("boxes", "txts", "scores"))
        if boxes is None or txts is None or scores is None or len(txts) == 0:
            lines = []
        else:
            lines = [(txt, float(score)) for txt, score in _reading_order(boxes, txts, scores)]
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
    def digest(bgr: np.ndarray) -> str:
        h = hashlib.blake2b(str(bgr.shape).encode(), digest_size=16)
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

    def get(self, digest: str) -> list[tuple[str, float]] | None:
        row = self._connect().execute("SELECT lines FROM frames WHERE digest = ?",
                                      (digest,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return [(str(t), float(s)) for t, s in json.loads(row[0])]

    def put(self, digest: str, lines: list[tuple[str, float]]) -> None:
        try:
            with self._connect() as conn:
                conn.execute("INSERT OR REPLACE INTO frames VALUES (?, ?)",
                             (digest, json.dumps(lines, ensure_ascii=False)))
        except sqlite3.Error as exc:
            raise write_error(exc, self.path, "the OCR cache") from None


def _damaged(exc: Exception) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def _reading_order(boxes, txts, scores) -> list[tuple[str, float]]:
    """Group boxes into rows (a box whose vertical centre lies inside the row's span joins it),
    rows top to bottom, boxes in a row left to right."""
    items = []
    for box, txt, score in zip(boxes, txts, scores):
        pts = np.asarray(box, dtype=np.float32).reshape(-1, 2)
        items.append((float(pts[:, 1].min()), float(pts[:, 1].max()), float(pts[:, 0].min()),
                      txt, score))
    items.sort(key=lambda i: (i[0], i[2]))
    rows: list[list] = []
    for top, bottom, left, txt, score in items:
        centre = (top + bottom) / 2
        if rows and rows[-1][0] <= centre <= rows[-1][1]:
            row = rows[-1]
            row[0], row[1] = min(row[0], top), max(row[1], bottom)
            row[2].append((left, txt, score))
        else:
            rows.append([top, bottom, [(left, txt, score)]])
    return [(txt, score) for _, _, row in rows for _, txt, score in sorted(row, key=lambda r: r[0])]


def similar(a: str, b: str) -> float:
    """How alike two readings of a line are, 0..1 (SequenceMatcher, lower-cased)."""
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


class _Track:
    """A line being followed across key frames."""

    __slots__ = ("order", "start_s", "text", "score", "last")

    def __init__(self, order: int, start_s: float, text: str, score: float):
        self.order, self.start_s = order, start_s  # order: reading order among equal starts
        self.text, self.score, self.last = text, score, text

    def close(self, end_s: float) -> tuple[int, TextLine]:
        return self.order, TextLine(round(self.start_s, 6), round(max(end_s, self.start_s), 6),
                                    self.text, round(self.score, 4))


def merge_lines(frames: list[tuple[float, list[tuple[str, float]]]], end_s: float, *,
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
        current = [(one_line(t), s) for t, s in lines]
        current = [(t, s) for t, s in current if s >= min_score and len(t) >= MIN_CHARS]
        pairs = sorted(((similar(track.last, text), ti, li)
                        for ti, track in enumerate(open_tracks)
                        for li, (text, _) in enumerate(current)), reverse=True)
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
            text, score = current[matched_tracks[ti]]
            track.last = text
            if score > track.score:
                track.text, track.score = text, score
            still_open.append(track)
        for li, (text, score) in enumerate(current):
            if li not in matched_lines:
                still_open.append(_Track(created, pts_s, text, score))
                created += 1
        open_tracks = still_open
    done += [track.close(end_s) for track in open_tracks]
    return [line for _, line in sorted(done, key=lambda d: (d[1].start_s, d[0]))]


def read_keyframes(result: IngestResult, engine: OcrEngine, *, min_score: float = MIN_SCORE,
                   on_progress: Callable[[float], None] | None = None) -> list[TextLine]:
    """OCR every key frame of an ingest result and merge the lines into a text track.

    `on_progress(pts_s)` follows the key frames. Lines under `min_score` or shorter than two
    characters are dropped. Sorted by start time.
    """
    import cv2

    frames = []
    for keyframe in result.keyframes:
        path = result.image_path(keyframe)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise CacheError(f"cannot read key frame '{path}'; remove '{result.workdir}' and "
                             "ingest the video again")
        frames.append((keyframe.pts_s, engine.read(image)))
        if on_progress is not None:
            on_progress(keyframe.pts_s)
    last = max((k.pts_s for k in result.keyframes), default=0.0)
    return merge_lines(frames, max(result.stats.end_s, last), min_score=min_score)


def _keyframes_digest(result: IngestResult) -> str:
    listing = "\n".join(f"{k.pts_s:.6f} {k.image}" for k in result.keyframes)
    return hashlib.blake2b(listing.encode(), digest_size=8).hexdigest()


def cache_path(result: IngestResult, engine: OcrEngine) -> Path:
    """Where the text track of `result` read by `engine` is kept."""
    settings = f"{OCR_VERSION}\n{engine.name}\n{MIN_SCORE}\n{MIN_CHARS}\n{MERGE_RATIO}"
    key = hashlib.blake2b(settings.encode(), digest_size=8).hexdigest()
    return result.workdir / "ocr" / f"{key}.json"


def _load(path: Path, engine: OcrEngine, digest: str) -> list[TextLine] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if (data.get("version") != OCR_VERSION or data.get("engine") != engine.name
                or data.get("keyframes") != digest):
            return None
        return [TextLine(float(d["start_s"]), float(d["end_s"]), str(d["text"]),
                         float(d["score"])) for d in data["lines"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def text_track(result: IngestResult, engine: OcrEngine | None = None, *, threads: int = 1,
               on_progress: Callable[[float], None] | None = None) -> list[TextLine]:
    """The on-screen text of an ingested video, cached in its work directory.

    A second call with the same key frames and engine reads the cache and runs no OCR.
    `threads` is used only when no `engine` is given.
    """
    engine = engine or OcrEngine(threads=threads)
    path = cache_path(result, engine)
    digest = _keyframes_digest(result)
    cached = _load(path, engine, digest)
    if cached is not None:
        return cached
    lines = read_keyframes(result, engine, on_progress=on_progress)
    document = {"version": OCR_VERSION, "engine": engine.name, "keyframes": digest,
                "lines": [line.to_dict() for line in lines]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path.parent, "the text track in") from None
    atomic_write_text(path, json.dumps(document, ensure_ascii=False, indent=1))
    return lines


def engine_for(mode: str, threads: int = 1) -> OcrEngine | None:
    """The engine for the `index.ocr` setting: None when "off", or "auto" without the OCR
    library; "on" without it raises the install hint."""
    if mode == "off" or (mode == "auto" and not ocr_available()):
        return None
    return OcrEngine(threads=threads)


def _segment(line: TextLine) -> Segment:
    return Segment(line.start_s, line.end_s, line.text, OcrTrack.name, "text",
                   {"score": line.score})


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
        if self.tools.ocr_engine() is not None:  # None: off, or "auto" without the library
            return None
        if self.config.index.ocr == "off":
            return "on-screen text is off (--ocr off); drop it or pass --ocr on"
        if not ocr_available():
            return f"on-screen text needs the OCR library; {INSTALL_HINT}"
        return "on-screen text is off for this run"

    def segments(self, result: IngestResult, earlier=None, *,
                 on_progress: Callable[[float], None] | None = None) -> list[Segment]:
        step = (lambda _pts_s: on_progress(1)) if on_progress else None
        return [_segment(line) for line in
                text_track(result, self.tools.ocr_engine(), on_progress=step)]

    def cached(self, result: IngestResult, earlier=None) -> list[Segment] | None:
        if self.unavailable() is not None:
            return None
        engine = self.tools.ocr_engine()
        lines = _load(cache_path(result, engine), engine, _keyframes_digest(result))
        return None if lines is None else [_segment(line) for line in lines]
