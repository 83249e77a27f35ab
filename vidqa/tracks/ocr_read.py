"""Reading the key frames: what to read on each, and how readings become `TextLine`s.

Each key frame is read only as much as can have changed since the key frame before it:
- `whole`: the first key frame, one that starts a new shot, or a new picture size: a full
  detection at `det_side` (736: the 24-pixel subtitle is found).
- `same`: no block of a 16x9 grid changed: the readings before stand.
- `region`: a few blocks changed (a caption appeared on a slide): that region alone, grown to
  every line it touches, gets a full detection; the lines outside it stand.
- `look`: most of the picture changed inside a shot (a moving camera, a game, a drone): a
  detection at the frame's own size (about a fifth of the full cost) finds most lines; lines
  read before that the look did not find (small text) are recognised in their own boxes, without
  detection, and kept while they still read the same. When the look finds a line that was not
  there, or a line is gone (a subtitle changed: the next one may be too small for a look), the
  key frame is read whole after all.
A whole read covers only the part of the picture with any detail (a slide's flat background
holds no text: `busy_region`); on a busy picture it first takes a look, and reads in full only
when the look found a line (`_read_whole`). Whole and look reads do not depend on what came
before, so they run ahead on `engine.threads` threads (one key frame each); the rest follows in
order.

Merging (`merge_lines`): a line matches a line of the key frame before when their texts are
alike (SequenceMatcher ratio >= MERGE_RATIO), and a match extends it. A line whose characters
change while its box stays (a clock, a counter, a score) is not averaged over minutes: when the
digits of a match differ and its box's pixels changed, the old reading ends and a new one starts,
and the readings share a `series` number (`vidqa.tracks.ocr_pin.read_series` then reads them at
every sampled frame between the key frames).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from vidqa.errors import CacheError, one_line
from vidqa.timecode import Timed
from vidqa.tracks.ocr_engine import Box, OcrEngine, Reading, in_reading_order, similar

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult

MIN_SCORE = 0.5  # recognition confidence below which a line is dropped
MIN_CHARS = 2  # shorter lines are mostly noise (a lone "l" from a fence post)
MERGE_RATIO = 0.8  # SequenceMatcher ratio (lower-cased) for "the same line as before"
KEEP_MATCH = 0.7  # similar() of a box read again to the line it held, for "still shows it"
SAME_PLACE = 0.5  # intersection over union of two boxes in "the same place"

CHANGE_GRID = (16, 9)
CHANGE_LEVEL = 6.0  # mean grey difference (0-255) that marks a block (or a box) changed
WHOLE_SHARE = 0.4  # a change over more of the picture than this: a new look at all of it
STROKE_LEVEL, STROKE_SHARE = 48, 0.004  # a box whose pixels changed this much here and there
INK_CHANGED = 0.08  # share of a character-wide column of a box whose ink changed
BUSY_GRID = (32, 18)
BUSY_LEVEL = 10.0  # mean 3x3 morphological gradient (0-255) of a block with any detail
BUSY_SHARE = 0.6  # detail over more of the picture than this: a whole read reads all of it

_DIGITS = re.compile(r"\d")
SHOT = "shot"  # `merge_lines`: the readings of a key frame that starts a shot


@dataclass(frozen=True)
class TextLine(Timed):
    """One line of on-screen text: half-open [start_s, end_s) in absolute seconds. A line that
    changes in place is a series of these, one per reading, with the same `series`."""

    start_s: float
    end_s: float
    text: str
    score: float  # recognition confidence of the kept spelling, 0..1
    seen_s: float | None = None  # the first key frame that shows it (start_s when not pinned)
    box: Box | None = None  # where that key frame shows it (pixels)
    series: int | None = None  # readings of one line that changes in place share this number

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.series is None:
            del data["series"]
        return data


def digits(text: str) -> str:
    return "".join(_DIGITS.findall(text))


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def box_changed(before: np.ndarray | None, grey: np.ndarray, box: Box) -> bool:
    """Whether the pixels inside `box` differ between two grey pictures of one size."""
    if before is None or before.shape != grey.shape:
        return True
    left, top, right, bottom = box
    a, b = before[top:bottom, left:right], grey[top:bottom, left:right]
    if a.size == 0:
        return True
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    # A whole box that changed, or a few strokes (one digit of a long line) that changed a lot.
    return float(diff.mean()) > CHANGE_LEVEL or float((diff > STROKE_LEVEL).mean()) > STROKE_SHARE


def strokes(bgr: np.ndarray, box) -> np.ndarray:
    """The text's strokes inside `box`: the crop split into ink and ground at its own Otsu
    threshold (what shows through a translucent box behind the text stays ground)."""
    import cv2

    left, top, right, bottom = box
    crop = np.ascontiguousarray(bgr[top:bottom, left:right])
    if crop.size == 0:
        return np.zeros((0, 0), bool)
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    _level, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return ink > 0


def ink_changed(before: np.ndarray, now: np.ndarray) -> bool:
    """Whether a character's worth of a box changed ink: the largest share of changed pixels
    in a window half the box's height wide (one digit that changed stands out; light spread
    over the whole line, or a background showing through, does not)."""
    if before.shape != now.shape or not now.size:
        return True
    changed = (before != now).sum(axis=0).astype(np.float32)
    width = max(1, now.shape[0] // 2)
    windows = np.convolve(changed, np.ones(width, np.float32), "valid") / (width * now.shape[0])
    return float(windows.max(initial=0.0)) > INK_CHANGED


class _Track:
    """A line being followed across key frames."""

    __slots__ = ("box", "last", "order", "score", "series", "start_s", "text")

    def __init__(self, order: int, start_s: float, text: str, score: float, box,
                 series: int | None = None):
        self.order, self.start_s = order, start_s  # order: reading order among equal starts
        self.text, self.score, self.last = text, score, text
        self.box, self.series = box, series  # box: where it was read first

    def close(self, end_s: float) -> tuple[int, TextLine]:
        return self.order, TextLine(round(self.start_s, 6), round(max(end_s, self.start_s), 6),
                                    self.text, round(self.score, 4), box=self.box,
                                    series=self.series)


def merge_lines(frames: list[tuple[float, list]], end_s: float, *,
                min_score: float = MIN_SCORE) -> list[TextLine]:
    """Turn per-key-frame readings [(pts_s, [(text, score[, box[, changed]]), ...]), ...] into
    TextLines (see the module's docstring). `changed`: whether the reading's box changed
    pixels since the key frame before (True when not given), or SHOT on the first key frame of
    a shot (a line whose numbers differ after a cut is another line, never a series: a series
    is read again at every sampled frame, within its shot). Lines still on screen end at
    `end_s`. Sorted by start time, then reading order."""
    open_tracks: list[_Track] = []
    done: list[tuple[int, TextLine]] = []
    created = series_count = 0
    for pts_s, lines in sorted(frames, key=lambda f: f[0]):
        current = [(one_line(line[0]), line[1], line[2] if len(line) > 2 else None,
                    line[3] if len(line) > 3 else True) for line in lines]
        current = [c for c in current if c[1] >= min_score and len(c[0]) >= MIN_CHARS]
        pairs = sorted(((similar(track.last, text), ti, li)
                        for ti, track in enumerate(open_tracks)
                        for li, (text, _, _, _) in enumerate(current)), reverse=True)
        matched_tracks: dict[int, int] = {}
        matched_lines: set[int] = set()
        for ratio, ti, li in pairs:
            if ratio < MERGE_RATIO:
                break
            if ti in matched_tracks or li in matched_lines:
                continue
            matched_tracks[ti] = li
            matched_lines.add(li)
        still_open, closed = [], []
        for ti, track in enumerate(open_tracks):
            if ti not in matched_tracks:
                closed.append(track)  # closed below, once its series is known
                continue
            text, score, box, changed = current[matched_tracks[ti]]
            before, now = digits(track.last), digits(text)
            in_place = box is None or track.box is None or overlaps(box, track.box)
            if changed == SHOT and before != now:  # other numbers after a cut: another line
                closed.append(track)
                matched_lines.discard(matched_tracks[ti])
                continue
            if changed and in_place and before and now and before != now:
                if track.series is None:
                    track.series, series_count = series_count, series_count + 1
                done.append(track.close(pts_s))
                still_open.append(_Track(created, pts_s, text, score, box, track.series))
                created += 1
                continue
            track.last = text
            if score > track.score:
                track.text, track.score = text, score
            still_open.append(track)
        for li, (text, score, box, changed) in enumerate(current):
            if li not in matched_lines:
                # Other numbers in the same place (a clock set to another time): the series
                # goes on. The closed reading may have ended a series or start one now.
                same_place = next((t for t in closed if changed != SHOT
                                   and digits(t.last) and digits(text)
                                   and box is not None and t.box is not None
                                   and _iou(box, t.box) >= SAME_PLACE), None)
                series = None
                if same_place is not None:
                    if same_place.series is None:
                        same_place.series, series_count = series_count, series_count + 1
                    series = same_place.series
                    closed.remove(same_place)
                    done.append(same_place.close(pts_s))
                still_open.append(_Track(created, pts_s, text, score, box, series))
                created += 1
        done += [track.close(pts_s) for track in closed]
        open_tracks = still_open
    done += [track.close(end_s) for track in open_tracks]
    return [line for _, line in sorted(done, key=lambda d: (d[1].start_s, d[0]))]


def _iou(a: Box, b: Box) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


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


def busy_region(grey: np.ndarray):
    """The part of a picture with any detail, one block of a 32x18 grid around it: (left, top,
    right, bottom) in pixels; "none" for a flat picture, "all" when it is most of it."""
    import cv2

    height, width = grey.shape
    edges = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    busy = cv2.resize(edges, BUSY_GRID, interpolation=cv2.INTER_AREA) > BUSY_LEVEL
    if not busy.any():
        return "none"
    rows, cols = np.nonzero(busy)
    bw, bh = width / BUSY_GRID[0], height / BUSY_GRID[1]
    box = (int(max(0, (cols.min() - 1) * bw)), int(max(0, (rows.min() - 1) * bh)),
           int(min(width, (cols.max() + 2) * bw)), int(min(height, (rows.max() + 2) * bh)))
    if (box[2] - box[0]) * (box[3] - box[1]) > BUSY_SHARE * width * height:
        return "all"
    return box


def _read_part(engine: OcrEngine, image: np.ndarray, region, frame_short: int) -> list[Reading]:
    """The lines inside `region` of `image` (a full detection, scaled as the whole frame)."""
    left, top, right, bottom = region
    return [(t, sc, (x0 + left, y0 + top, x1 + left, y1 + top))
            for t, sc, (x0, y0, x1, y1) in engine.read_lines(
                np.ascontiguousarray(image[top:bottom, left:right]), frame_short)]


def _read_whole(engine: OcrEngine, image: np.ndarray, grey: np.ndarray, *,
                has_text: bool = False) -> list[Reading]:
    """A full detection of a key frame, where it can find something: a calm picture (a slide)
    only over its detail; a busy one (a moving scene) only when a look at its own size finds
    a line (`has_text`: one is known to be there), since small text comes with larger text
    (a game's interface, a subtitle under a fansub's name) far more often than alone."""
    region = busy_region(grey)
    if region == "none":
        return []
    if region != "all":
        return _read_part(engine, image, region, min(grey.shape))
    if not has_text:
        looked = engine.read_lines(image, side=min(grey.shape))
        if not any(score >= MIN_SCORE and len(text) >= MIN_CHARS for text, score, _b in looked):
            return looked
    return engine.read_lines(image)


def _grow(region, readings: list[Reading], shape):
    """`region` grown to cover every earlier line it touches (a line half inside would be read
    cut); None when that makes it most of the picture."""
    left, top, right, bottom = region
    grown = True
    while grown:
        grown = False
        for _t, _s, box in readings:
            if overlaps(box, (left, top, right, bottom)) and not (
                    left <= box[0] and top <= box[1] and box[2] <= right and box[3] <= bottom):
                left, top = min(left, box[0]), min(top, box[1])
                right, bottom = max(right, box[2]), max(bottom, box[3])
                grown = True
    height, width = shape
    if (right - left) * (bottom - top) > WHOLE_SHARE * width * height:
        return None
    return max(0, left), max(0, top), min(width, right), min(height, bottom)


def _load(result: IngestResult, keyframe):
    import cv2

    path = result.image_path(keyframe)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CacheError(f"cannot read key frame '{path}'; remove '{result.workdir}' and "
                         "ingest the video again")
    return image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def plan_reads(result: IngestResult) -> list[str]:
    """What each key frame gets before its readings are known: "whole", "look", "same", or
    "change" (a small change: a region read, or more once the lines it touches are known)."""
    plan, before = [], None
    scene = None
    for keyframe in result.keyframes:
        _image, grey = _load(result, keyframe)
        new_shot = keyframe.scene_index != scene
        scene = keyframe.scene_index
        region = "whole" if before is None or new_shot else changed_region(before, grey)
        if region is None:
            plan.append("same")
        elif region == "whole":
            plan.append("whole" if before is None or new_shot or before.shape != grey.shape
                        else "look")
        else:
            area = (region[2] - region[0]) * (region[3] - region[1])
            plan.append("look" if area > WHOLE_SHARE * grey.size else "change")
        before = grey
    return plan


def read_keyframes(result: IngestResult, engine: OcrEngine, *, min_score: float = MIN_SCORE,
                   on_progress: Callable[[float], None] | None = None,
                   counts: dict | None = None) -> list[TextLine]:
    """OCR the key frames of an ingest result and merge the readings into a text track (each
    line from its first key frame; `vidqa.tracks.ocr_pin` pins it to its first frame). What is
    read on each key frame is the module's docstring; `counts` tallies "whole", "look",
    "region" and "same". `on_progress(pts_s)` follows the key frames. Lines under `min_score`
    or shorter than two characters are dropped. Sorted by start time."""
    boxes = hasattr(engine, "read_lines")  # an engine without boxes reads every frame whole
    keyframes = result.keyframes
    plan = plan_reads(result) if boxes else ["whole"] * len(keyframes)
    tally = counts if counts is not None else {}
    threads = max(1, getattr(engine, "threads", 1))

    def ahead(i: int) -> list[Reading]:
        image, grey = _load(result, keyframes[i])
        if not boxes:
            return [(t, sc, (0, 0, 0, 0)) for t, sc in engine.read(image)]
        if plan[i] == "look":  # boxes only: what to read depends on the key frames before
            return engine.detect(image, side=min(image.shape[:2]))
        return _read_whole(engine, image, grey)

    with ThreadPoolExecutor(threads, thread_name_prefix="vidqa-ocr") as pool:
        futures = {i: pool.submit(ahead, i) for i, kind in enumerate(plan)
                   if kind in ("whole", "look")}
        try:
            frames = _in_order(result, engine, plan, futures, min_score, tally, on_progress)
        except BaseException:
            for future in futures.values():  # a failed or stopped run waits for no more reads
                future.cancel()
            raise
    last = max((k.pts_s for k in keyframes), default=0.0)
    return merge_lines(frames, max(result.stats.end_s, last), min_score=min_score)


def _in_order(result: IngestResult, engine: OcrEngine, plan: list[str], futures: dict,
              min_score: float, tally: dict, on_progress) -> list[tuple[float, list]]:
    """The readings of each key frame in turn: (pts_s, [(text, score, box, changed), ...])."""
    frames: list[tuple[float, list]] = []
    before, before_image, readings = None, None, []
    changing: list[Box] = []  # where a line's digits changed: series, read later
    for i, keyframe in enumerate(result.keyframes):
        image, grey = _load(result, keyframe)
        kind = plan[i]
        if kind == "change":
            region = _grow(changed_region(before, grey), readings, grey.shape)
            if region is None:
                kind = "look"  # most of the picture after all
                fresh = _look(engine, image, before_image, readings, changing, min_score,
                              engine.detect(image, side=min(grey.shape)))
                if fresh is None:
                    kind, fresh = "whole", _read_whole(engine, image, grey, has_text=True)
            else:
                kind = "region"
                kept = [r for r in readings if not overlaps(r[2], region)]
                fresh = in_reading_order(
                    kept + _read_part(engine, image, region, min(grey.shape)))
        elif kind == "same":
            fresh = readings
        else:
            fresh = futures.pop(i).result()
            if kind == "look":
                fresh = _look(engine, image, before_image, readings, changing, min_score,
                              fresh)
                if fresh is None:
                    kind, fresh = "whole", _read_whole(engine, image, grey, has_text=True)
        tally[kind] = tally.get(kind, 0) + 1
        frames.append((keyframe.pts_s, [(t, sc, b, SHOT if plan[i] == "whole" else
                                         kind != "same" and box_changed(before, grey, b))
                                        for t, sc, b in fresh]))
        changing += [b for t, _sc, b in fresh if digits(t) and any(
            _iou(b, e) >= SAME_PLACE and digits(et) and digits(et) != digits(t)
            for et, _es, e in readings) and not any(_iou(b, c) >= SAME_PLACE
                                                   for c in changing)]
        readings, before, before_image = fresh, grey, image
        if on_progress is not None:
            on_progress(keyframe.pts_s)
    return frames


def _look(engine: OcrEngine, image: np.ndarray, before: np.ndarray | None,
          earlier: list[Reading], changing: list[Box], min_score: float,
          boxes: list[Box]) -> list[Reading] | None:
    """The readings of a look (`boxes`, detected at the frame's own size). A box where an
    earlier line was keeps that reading unread when its ink did not change, or when it holds a
    line known to change (`changing`: `read_series` reads those at every sampled frame); the
    rest are recognised in one batch, and the small lines before kept (`_keep_small`). None
    when a line arrived or left: the key frame is to be read whole."""
    fresh: list[Reading] = []
    unread: list[Box] = []
    for box in boxes:
        same = next((r for r in earlier if _iou(box, r[2]) >= SAME_PLACE), None)
        if same is not None and (any(_iou(box, c) >= SAME_PLACE for c in changing) or (
                before is not None and not ink_changed(strokes(before, same[2]),
                                                       strokes(image, same[2])))):
            fresh.append((same[0], same[1], same[2]))
        else:
            unread.append(box)
    fresh += [(t, sc, b) for (t, sc), b in zip(engine.read_boxes(image, unread), unread)]
    fresh = _keep_small(engine, image, in_reading_order(fresh), earlier, min_score)
    return None if _news(fresh, earlier, min_score) else fresh


def _news(now: list[Reading], before: list[Reading], min_score: float) -> bool:
    """Whether a line arrived or left between two sets of readings."""
    def kept(readings):
        return [r[0] for r in readings if r[1] >= min_score and len(r[0]) >= MIN_CHARS]

    a, b = kept(now), kept(before)
    return (any(all(similar(x, y) < MERGE_RATIO for y in b) for x in a)
            or any(all(similar(y, x) < MERGE_RATIO for x in a) for y in b))


def _keep_small(engine: OcrEngine, image: np.ndarray, looked: list[Reading],
                earlier: list[Reading], min_score: float) -> list[Reading]:
    """A look's readings, with the earlier lines it did not find (too small for a look)
    recognised again in their own boxes and kept while they still read the same."""
    missed = [r for r in earlier if not any(overlaps(r[2], b) for _t, _s, b in looked)]
    if not missed:
        return looked
    again = engine.read_boxes(image, [b for _t, _s, b in missed])
    kept = [(text, score, box) for (text, score), (old, _s, box) in zip(again, missed)
            if score >= min_score and similar(text, old) >= KEEP_MATCH]
    return in_reading_order(looked + kept)
