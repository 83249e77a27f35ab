"""What the tests share besides fixtures: test servers, scripted models, video makers.

Tests import from here (`from helpers.media import cut_copy`), never from one another or from
conftest.py, which holds only fixtures and hooks. `tests/` is on sys.path through
`pythonpath = ["tests"]` in pyproject.toml, for `pytest` and `python -m pytest` alike.
"""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent  # the checkout
MEDIA = Path(os.environ.get("VIDQA_TEST_MEDIA", ROOT.parent / "shared" / "media"))
GOLDEN = TESTS / "golden"
