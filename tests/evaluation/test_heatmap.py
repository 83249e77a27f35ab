"""V-NIAH heatmaps: cell colours read back from the written PNG, shape checks, the colour scale."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidqa.evaluation.heatmap import CELL_H, CELL_W, Panel, cell_center, score_color, write_heatmap

ROWS = ["0%", "50%", "100%"]
COLUMNS = ["10 min", "30 min"]


def _panels() -> list[Panel]:
    return [
        Panel("scene-aware: recall@1", COLUMNS, ROWS, [[1.0, 0.0], [0.5, None], [1.0, 1.0]],
              note="4,180 visual tokens per hour"),
        Panel("uniform 2 fps: recall@1", COLUMNS, ROWS, [[0.0, 0.5], [1.0, 0.0], [None, 1.7]]),
    ]


def _corner_color(img: np.ndarray, x: int, y: int) -> np.ndarray:
    """Median BGR of a 5x5 patch inside the cell's top-left corner, clear of the centred text."""
    left, top = x - CELL_W // 2 + 4, y - CELL_H // 2 + 4
    patch = img[top:top + 5, left:left + 5].reshape(-1, 3)
    return np.median(patch, axis=0)


def test_written_png_has_each_cell_in_its_score_colour(tmp_path):
    panels = _panels()
    title = "V-NIAH"
    path = write_heatmap(tmp_path / "plots" / "niah.png", panels, title=title)

    assert path == tmp_path / "plots" / "niah.png"
    assert [p.name for p in path.parent.iterdir()] == ["niah.png"]  # no temporary left behind
    img = cv2.imread(str(path))
    assert img is not None and img.dtype == np.uint8
    height, width = img.shape[:2]
    assert height >= len(ROWS) * CELL_H and width >= 2 * len(COLUMNS) * CELL_W

    for p, panel in enumerate(panels):
        for r, row in enumerate(panel.values):
            for c, value in enumerate(row):
                x, y = cell_center(panels, p, r, c, title=title)
                assert 0 <= x < width and 0 <= y < height
                expected = np.array(score_color(value))
                assert np.abs(_corner_color(img, x, y) - expected).max() <= 2, (p, r, c, value)


def test_values_are_clamped():
    assert score_color(1.7) == score_color(1.0)
    assert score_color(-0.3) == score_color(0.0)


@pytest.mark.parametrize("values", [
    [[1.0, 0.0], [0.5, None]],                  # a row missing
    [[1.0, 0.0], [0.5], [1.0, 1.0]],            # a short row
    [[1.0, 0.0, 1.0], [0.5, 1.0], [1.0, 1.0]],  # a long row
])
def test_values_not_matching_the_labels_raise(tmp_path, values):
    panels = [Panel("bad", COLUMNS, ROWS, values)]
    with pytest.raises(ValueError, match="bad"):
        write_heatmap(tmp_path / "bad.png", panels)
    assert not (tmp_path / "bad.png").exists()


def test_color_scale_runs_red_yellow_green_with_grey_for_not_run():
    b, g, r = score_color(0.0)
    assert r > g + 80 and r > b + 80
    b, g, r = score_color(1.0)
    assert g > r + 80 and g > b + 80
    b, g, r = score_color(0.5)
    assert r > 200 and g > 200 and b < 100
    b, g, r = score_color(None)
    assert b == g == r and 180 <= b <= 235
