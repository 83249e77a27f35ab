"""Times finer than the key frames: each line pinned to the first frame that shows it, and a line
that changes in place read at every sampled frame.

Both run at index time, so `find` needs no OCR, and both read known boxes by recognition alone
(`OcrEngine.read_boxes`, no detection), and only where the box's pixels changed.

- `pin_lines`: the key frame before a line's first one did not show it (it was read, or its
  picture had not changed since one that was), so the line arrived in between. The frames
  between the two are decoded at PIN_FPS and searched back from the later key frame to the first
  frame that no longer shows the line (the last PIN_STEP_S seconds first, then four times as far
  each time the line was shown all along, to the key frame before); a frame whose box has the
  same pixels as the frame after it shows what that one shows, without reading. A line that came with a new shot is pinned to
  the cut without decoding.
- `read_series`: the readings of a line that changes in place (a clock, a counter, a score: a
  `series`, see `vidqa.tracks.ocr_read`) are read again at every frame of the ingest's
  sampling grid across the series, where the box changed: a clock that ticks every second gets
  a reading per second, each from the first sampled frame that shows it, for one recognition of
  a box per change (never a detection). The stretch is decoded in as many parts as the engine
  has threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from vidqa.errors import VidqaError
from vidqa.tracks.ocr_engine import OcrEngine, similar
from vidqa.tracks.ocr_read import MIN_SCORE, TextLine, box_changed, digits, ink_changed, strokes

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult

PIN_FPS = 8.0
PIN_MATCH = 0.7  # similar() of a reading to the line for "shows it"
PIN_STEP_S = 2.5  # the first stretch searched back; each next one is four times longer
PIN_MAX_S = 60.0  # the longest stretch searched back (key frames come at least this often)


def _grey(bgr: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def _frames(result: IngestResult, window: tuple[float, float], fps: float):
    from vidqa.media.decode import FrameReader

    decode = replace(result.config.decode, fps=fps)
    reader = FrameReader(result.video, decode, window=window, allow_errors=True)
    try:
        return list(reader)
    except VidqaError:
        return []  # a stretch that does not decode keeps the key frames' times


def pin_lines(result: IngestResult, lines: list[TextLine], engine: OcrEngine) -> list[TextLine]:
    """Each line with `start_s` moved to the first PIN_FPS frame showing it (`seen_s` keeps its
    first key frame); see the module's docstring. Of a series, the first reading is pinned
    here (the series arrived then), the others by `read_series`."""
    times = sorted(k.pts_s for k in result.keyframes)
    arrival: dict[int, float] = {}  # a series arrives with its first reading
    for line in lines:
        if line.series is not None:
            arrival[line.series] = min(arrival.get(line.series, line.start_s), line.start_s)

    def arrives(line: TextLine) -> bool:
        return line.series is None or arrival[line.series] == line.start_s

    starts = sorted({line.start_s for line in lines
                     if arrives(line) and times and line.start_s > times[0]})
    pinned: dict[tuple[float, str], float] = {}
    cuts = {k.pts_s: result.scenes[k.scene_index].start_s for k in result.keyframes
            if k.reason == "scene" and 0 <= k.scene_index < len(result.scenes)}
    for start_s in starts:
        before = max((t for t in times if t < start_s - 1e-6), default=0.0)
        group = [line for line in lines if line.start_s == start_s and arrives(line)]
        if start_s in cuts:  # came with a new shot: at the cut, nothing to decode
            pinned.update({(start_s, line.text): max(cuts[start_s], before) for line in group})
            continue
        floor = max(before + 1e-3, start_s - PIN_MAX_S)  # the key frame before: not shown
        searching = [line for line in group if line.box is not None and line.box[2] > line.box[0]]
        later: dict[str, tuple[float, np.ndarray | None]] = {}  # the earliest frame showing it
        end, span = start_s - 1e-3, PIN_STEP_S
        while searching and end > floor:
            window = (max(floor, end - span), end)
            frames = _frames(result, window, PIN_FPS)
            greys = [_grey(f.bgr) for f in frames]
            for line in list(searching):
                shown, grey = later.get(line.text, (start_s, None))
                for i in range(len(frames) - 1, -1, -1):
                    if grey is not None and not box_changed(grey, greys[i], line.box):
                        shown, grey = frames[i].pts_s, greys[i]  # the pixels of the frame after
                        continue
                    text, score = engine.read_box(frames[i].bgr, line.box)
                    if score < MIN_SCORE or similar(text, line.text) < PIN_MATCH:
                        searching.remove(line)  # found where it was not yet shown
                        break
                    shown, grey = frames[i].pts_s, greys[i]
                later[line.text] = (shown, grey)
                pinned[(start_s, line.text)] = shown
            if not frames:
                break  # a stretch that does not decode keeps what was found
            end, span = window[0], span * 4  # shown all along the window: look further back
    out = [replace(line, start_s=round(pinned.get((line.start_s, line.text), line.start_s), 6),
                   seen_s=line.start_s) for line in lines]
    return sorted(out, key=lambda x: x.start_s)


def read_series(result: IngestResult, lines: list[TextLine], engine: OcrEngine) -> list[TextLine]:
    """`lines` with every series read again at each sampled frame where its box changed (see
    the module's docstring); the other lines as they are."""
    series: dict[int, list[TextLine]] = {}
    for line in lines:
        if line.series is not None:
            series.setdefault(line.series, []).append(line)
    if not series:
        return lines
    out = [line for line in lines if line.series is None]
    for number, readings in sorted(series.items()):
        readings.sort(key=lambda x: x.start_s)
        box = _union([r.box for r in readings if r.box is not None])
        if box is None:
            out += readings
            continue
        start, end = readings[0].start_s, readings[-1].end_s
        parts = _parts(start, end, max(1, getattr(engine, "threads", 1)))
        with ThreadPoolExecutor(len(parts), thread_name_prefix="vidqa-ocr-series") as pool:
            seen = [r for part in pool.map(
                lambda window, box=box: _read_box_over(result, window, box, engine), parts)
                for r in part]
        dense = _readings(seen, readings, end, number)
        out += dense if dense else readings
    return sorted(out, key=lambda x: x.start_s)


def _union(boxes):
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes))


def _parts(start: float, end: float, count: int) -> list[tuple[float, float]]:
    step = (end - start) / count
    if count == 1 or step < 10.0:
        return [(start, end)]
    return [(start + i * step, start + (i + 1) * step if i + 1 < count else end)
            for i in range(count)]


def _read_box_over(result: IngestResult, window: tuple[float, float], box,
                   engine: OcrEngine) -> list[tuple[float, str, float]]:
    """(pts_s, text, score) at each frame of `window` (the ingest's sampling grid) whose ink in
    `box` changed since the frame last read (the first always)."""
    from vidqa.media.decode import FrameReader

    decode = replace(result.config.decode, threads=1)
    reader = FrameReader(result.video, decode, window=(max(0.0, window[0] - 1e-3),
                                                       window[1]), allow_errors=True)
    out, before = [], None
    try:
        for frame in reader:
            if frame.pts_s >= window[1]:
                break
            ink = strokes(frame.bgr, box)
            if before is None or ink_changed(before, ink):
                text, score = engine.read_box(frame.bgr, box)
                out.append((frame.pts_s, text, score))
                before = ink
    except VidqaError:
        pass  # what decoded stands
    return out


def _readings(seen: list[tuple[float, str, float]], key: list[TextLine], end_s: float,
              number: int) -> list[TextLine]:
    """TextLines from the box read over time: a new one where the digits change."""
    template = key[0]
    out: list[TextLine] = []
    for pts_s, text, score in seen:
        if score < MIN_SCORE or not digits(text):
            continue
        if out and digits(out[-1].text) == digits(text):
            if score > out[-1].score:
                out[-1] = replace(out[-1], text=text, score=round(score, 4))
            continue
        if out:
            out[-1] = replace(out[-1], end_s=round(pts_s, 6))
        key_frame = next((k for k in key if k.start_s <= pts_s < k.end_s), template)
        out.append(TextLine(round(pts_s, 6), round(end_s, 6), text, round(score, 4),
                            seen_s=key_frame.start_s, box=template.box, series=number))
    return out
