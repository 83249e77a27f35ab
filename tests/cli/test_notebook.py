"""The notebook's code runs as written (display calls aside)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from helpers import ROOT

NOTEBOOK = ROOT / "notebooks" / "ingest.ipynb"


@pytest.mark.slow
def test_ingest_notebook_runs(tmp_path, monkeypatch, capsys):
    shown = []
    display_module = types.ModuleType("IPython.display")
    display_module.Image = lambda filename, width=None: filename
    display_module.display = shown.append
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "<notebook>", "exec"), namespace)
    result = namespace["result"]
    truth = json.loads(Path(result.video.path).with_suffix(".truth.json").read_text())
    assert len(result.scenes) == len(truth["cuts_s"]) + 1
    times = [k.pts_s for k in result.keyframes]
    assert all(any(e["start_s"] <= t < e["end_s"] for t in times) for e in truth["events"])
    assert result.stats.token_reduction > 0.9
    assert shown and all(Path(p).is_file() for p in shown)
    assert "<0.0 seconds>" in capsys.readouterr().out
