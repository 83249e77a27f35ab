"""Needle-in-a-haystack heatmaps (V-NIAH style) as PNG images.

Columns are haystack lengths, rows needle depths (0% at the top), and each cell is coloured
by a score from 0 (red) through 0.5 (yellow) to 1 (green), its value printed inside; a cell
not run (None) is light grey with "-". Several panels, one per selector, sit side by side.

Drawn with OpenCV rather than matplotlib: the package already ships OpenCV for frame work,
so plots need no new dependency.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidqa.store import atomic_open, write_error

CELL_W = 80
CELL_H = 40
MARGIN = 24
PANEL_GAP = 48
FONT = cv2.FONT_HERSHEY_SIMPLEX

WHITE = (255, 255, 255)
INK = (40, 40, 40)
MUTED = (100, 100, 100)
NOT_RUN = (215, 215, 215)
# BGR colour stops at scores 0, 0.5 and 1: red, yellow, green.
_STOPS = ((0.0, (70, 70, 215)), (0.5, (70, 215, 245)), (1.0, (80, 170, 60)))


@dataclass(frozen=True)
class _Font:
    scale: float
    thickness: int
    color: tuple[int, int, int]


TITLE_FONT = _Font(0.75, 2, INK)
PANEL_FONT = _Font(0.6, 2, INK)
NOTE_FONT = _Font(0.48, 1, MUTED)
LABEL_FONT = _Font(0.45, 1, INK)
CAPTION_FONT = _Font(0.45, 1, MUTED)
CELL_FONT = _Font(0.5, 1, INK)

TITLE_H = 44          # overall title line
PANEL_TITLE_H = 28    # panel title line
NOTE_H = 22           # note line under a panel title
HEADER_GAP = 10       # between the header lines and the grid
ROW_LABEL_GAP = 8     # between the row labels and the grid
CAPTION_W = 22        # column for the rotated "needle depth" caption
COLUMN_LABEL_H = 22   # under the grid: column labels
CAPTION_H = 24        # under the column labels: "haystack length"
LEGEND_W = 240
LEGEND_H = 12
LEGEND_BLOCK_H = 52   # legend bar, its labels and the space above it


@dataclass(frozen=True)
class Panel:
    title: str                         # e.g. "scene-aware: recall@1"
    columns: list[str]                 # column labels, e.g. ["10 min", "30 min"]
    rows: list[str]                    # row labels, e.g. ["0%", "50%", "100%"]
    values: list[list[float | None]]   # values[row][column], each 0..1 or None (not run)
    note: str = ""


@dataclass(frozen=True)
class _Layout:
    width: int
    height: int
    grid_top: int
    panel_lefts: list[int]   # x where each panel's block starts
    grid_lefts: list[int]    # x where each panel's grid starts
    panel_widths: list[int]
    legend_top: int


def score_color(value: float | None) -> tuple[int, int, int]:
    """BGR colour of a score: red at 0, yellow at 0.5, green at 1 (clamped); None is grey."""
    if value is None:
        return NOT_RUN
    v = min(max(float(value), 0.0), 1.0)
    for (lo, lo_color), (hi, hi_color) in zip(_STOPS, _STOPS[1:]):
        if v <= hi:
            t = (v - lo) / (hi - lo)
            return tuple(round(a + (b - a) * t) for a, b in zip(lo_color, hi_color))
    return _STOPS[-1][1]


def _text_size(text: str, font: _Font) -> tuple[int, int]:
    (w, h), _ = cv2.getTextSize(text, FONT, font.scale, font.thickness)
    return w, h


def _put(img: np.ndarray, text: str, x: int, baseline_y: int, font: _Font,
         color: tuple[int, int, int] | None = None) -> None:
    cv2.putText(img, text, (x, baseline_y), FONT, font.scale, color or font.color,
                font.thickness, cv2.LINE_AA)


def _put_centered(img: np.ndarray, text: str, cx: int, cy: int, font: _Font,
                  color: tuple[int, int, int] | None = None) -> None:
    """Text whose box is centred on (cx, cy)."""
    w, h = _text_size(text, font)
    _put(img, text, cx - w // 2, cy + h // 2, font, color)


def _put_rotated(img: np.ndarray, text: str, cx: int, cy: int, font: _Font) -> None:
    """Text turned 90 degrees counter-clockwise (reading bottom to top), centred on (cx, cy)."""
    w, h = _text_size(text, font)
    strip = np.full((h + 8, w + 4, 3), 255, np.uint8)
    _put(strip, text, 2, h + 3, font)
    strip = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)
    sh, sw = strip.shape[:2]
    top, left = cy - sh // 2, cx - sw // 2
    img[top:top + sh, left:left + sw] = np.minimum(img[top:top + sh, left:left + sw], strip)


def _validate(panels: list[Panel]) -> None:
    if not panels:
        raise ValueError("a heatmap needs at least one panel")
    for panel in panels:
        name = f"panel {panel.title!r}"
        if not panel.rows or not panel.columns:
            raise ValueError(f"{name} needs at least one row and one column")
        if len(panel.values) != len(panel.rows):
            raise ValueError(f"{name}: values has {len(panel.values)} rows, "
                             f"expected {len(panel.rows)} (one per row label)")
        for i, row in enumerate(panel.values):
            if len(row) != len(panel.columns):
                raise ValueError(f"{name}: values row {i} has {len(row)} entries, "
                                 f"expected {len(panel.columns)} (one per column label)")


def _label_width(panel: Panel) -> int:
    """Width left of the grid: the rotated caption and the row labels."""
    widest = max(_text_size(label, LABEL_FONT)[0] for label in panel.rows)
    return CAPTION_W + widest + ROW_LABEL_GAP


def _panel_width(panel: Panel) -> int:
    grid_w = CELL_W * len(panel.columns)
    return max(_label_width(panel) + grid_w,
               _text_size(panel.title, PANEL_FONT)[0],
               _text_size(panel.note, NOTE_FONT)[0])


def _legend_width() -> int:
    """The legend line: "score", the colour bar, the grey swatch and "not run"."""
    return (_text_size("score", LABEL_FONT)[0] + 10 + LEGEND_W + 24 + 24
            + _text_size("not run", LABEL_FONT)[0])


def _layout(panels: list[Panel], title: str) -> _Layout:
    _validate(panels)
    top = MARGIN + (TITLE_H if title else 0)
    grid_top = top + PANEL_TITLE_H + (NOTE_H if any(p.note for p in panels) else 0) + HEADER_GAP
    panel_lefts, grid_lefts, widths = [], [], []
    x = MARGIN
    for panel in panels:
        panel_lefts.append(x)
        grid_lefts.append(x + _label_width(panel))
        widths.append(_panel_width(panel))
        x += widths[-1] + PANEL_GAP
    content_w = x - PANEL_GAP + MARGIN
    width = max(content_w, _text_size(title, TITLE_FONT)[0] + 2 * MARGIN,
                _legend_width() + 2 * MARGIN)
    grid_bottom = grid_top + CELL_H * max(len(p.rows) for p in panels)
    legend_top = grid_bottom + COLUMN_LABEL_H + CAPTION_H
    height = legend_top + LEGEND_BLOCK_H + MARGIN
    return _Layout(width, height, grid_top, panel_lefts, grid_lefts, widths, legend_top)


def _cell_center(layout: _Layout, panel: int, row: int, column: int) -> tuple[int, int]:
    return (layout.grid_lefts[panel] + column * CELL_W + CELL_W // 2,
            layout.grid_top + row * CELL_H + CELL_H // 2)


def _text_color(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    """White on dark fills, dark ink on light ones."""
    b, g, r = fill
    return WHITE if 0.114 * b + 0.587 * g + 0.299 * r < 140 else INK


def _format(value: float | None) -> str:
    return "-" if value is None else f"{round(min(max(float(value), 0.0), 1.0) * 100)}%"


def _draw_cell(img: np.ndarray, cx: int, cy: int, value: float | None) -> None:
    fill = score_color(value)
    x0, y0 = cx - CELL_W // 2, cy - CELL_H // 2
    # One pixel of white on each side leaves a thin gap between neighbouring cells.
    cv2.rectangle(img, (x0 + 1, y0 + 1), (x0 + CELL_W - 2, y0 + CELL_H - 2), fill, cv2.FILLED)
    color = MUTED if value is None else _text_color(fill)
    _put_centered(img, _format(value), cx, cy, CELL_FONT, color)


def _clamp_left(center: int, text_w: int, lo: int, hi: int) -> int:
    """Left x of text centred on `center`, kept inside [lo, hi]."""
    return max(lo, min(center - text_w // 2, hi - text_w))


def _draw_panel(img: np.ndarray, layout: _Layout, index: int, panel: Panel, title: str) -> None:
    left, grid_left = layout.panel_lefts[index], layout.grid_lefts[index]
    right = left + layout.panel_widths[index]
    grid_w, grid_h = CELL_W * len(panel.columns), CELL_H * len(panel.rows)
    grid_cx = grid_left + grid_w // 2

    y = MARGIN + (TITLE_H if title else 0)
    w, h = _text_size(panel.title, PANEL_FONT)
    _put(img, panel.title, _clamp_left(grid_cx, w, left, right), y + h + 4, PANEL_FONT)
    if panel.note:
        w, h = _text_size(panel.note, NOTE_FONT)
        note_left = _clamp_left(grid_cx, w, left, right)
        _put(img, panel.note, note_left, y + PANEL_TITLE_H + h + 2, NOTE_FONT)

    for r, label in enumerate(panel.rows):
        w, _ = _text_size(label, LABEL_FONT)
        cy = layout.grid_top + r * CELL_H + CELL_H // 2
        _put_centered(img, label, grid_left - ROW_LABEL_GAP - w // 2, cy, LABEL_FONT)
        for c in range(len(panel.columns)):
            _draw_cell(img, *_cell_center(layout, index, r, c), panel.values[r][c])
    # Centred on the grid, but never above its top (a short grid lets it run on below).
    caption_h = _text_size("needle depth", CAPTION_FONT)[0]
    caption_cy = layout.grid_top + max(grid_h, caption_h + 8) // 2
    _put_rotated(img, "needle depth", left + CAPTION_W // 2, caption_cy, CAPTION_FONT)

    grid_bottom = layout.grid_top + grid_h
    for c, label in enumerate(panel.columns):
        _put_centered(img, label, grid_left + c * CELL_W + CELL_W // 2,
                      grid_bottom + COLUMN_LABEL_H // 2 + 2, LABEL_FONT)
    _put_centered(img, "haystack length", grid_cx, grid_bottom + COLUMN_LABEL_H + CAPTION_H // 2,
                  CAPTION_FONT)


def _draw_legend(img: np.ndarray, layout: _Layout) -> None:
    """A red-yellow-green bar from 0% to 100%, then a grey swatch for cells not run."""
    x = (layout.width - _legend_width()) // 2
    bar_top = layout.legend_top + 16
    label_w, label_h = _text_size("score", LABEL_FONT)
    _put(img, "score", x, bar_top + LEGEND_H // 2 + label_h // 2, LABEL_FONT)
    x += label_w + 10
    ramp = np.array([score_color(i / (LEGEND_W - 1)) for i in range(LEGEND_W)], np.uint8)
    img[bar_top:bar_top + LEGEND_H, x:x + LEGEND_W] = ramp[np.newaxis]
    for fraction, text in ((0.0, "0%"), (0.5, "50%"), (1.0, "100%")):
        _put_centered(img, text, x + round(fraction * (LEGEND_W - 1)), bar_top + LEGEND_H + 14,
                      CAPTION_FONT)
    x += LEGEND_W + 24
    cv2.rectangle(img, (x, bar_top), (x + 18, bar_top + LEGEND_H - 1), NOT_RUN, cv2.FILLED)
    _put(img, "not run", x + 24, bar_top + LEGEND_H // 2 + label_h // 2, LABEL_FONT)


def render_heatmap(panels: list[Panel], title: str = "") -> np.ndarray:
    """The heatmap as a BGR uint8 image; ValueError when a panel's values don't fit its labels."""
    layout = _layout(panels, title)
    img = np.full((layout.height, layout.width, 3), 255, np.uint8)
    if title:
        w, h = _text_size(title, TITLE_FONT)
        _put(img, title, (layout.width - w) // 2, MARGIN + h + 4, TITLE_FONT)
    for index, panel in enumerate(panels):
        _draw_panel(img, layout, index, panel, title)
    _draw_legend(img, layout)
    return img


def write_heatmap(path: str | os.PathLike, panels: list[Panel], title: str = "") -> Path:
    """Render and write a PNG atomically (a temporary file beside it, fsync, rename)."""
    ok, encoded = cv2.imencode(".png", render_heatmap(panels, title))
    if not ok:
        raise ValueError("OpenCV could not encode the heatmap as PNG")
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, target) from None
    with atomic_open(target, binary=True) as handle:
        handle.write(encoded.tobytes())
    return target


def cell_center(panels: list[Panel], panel: int, row: int, column: int,
                title: str = "") -> tuple[int, int]:
    """(x, y) pixel centre of one cell in `render_heatmap(panels, title)`."""
    return _cell_center(_layout(panels, title), panel, row, column)
