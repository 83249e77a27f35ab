"""`vidqa mcp` as a desktop client starts it (over stdio), with the test model that captions and
answers (`answering`, tests/helpers/scripted.py) registered in the real backend registry first:

    python tests/helpers/mcp_stdio.py DIR -b answering -m answering-model

Everything after the script's name is `vidqa mcp`'s own arguments."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `helpers` importable

from helpers.scripted import ANSWERING  # noqa: E402
from vidqa.model.backends import REGISTRY  # noqa: E402

REGISTRY["answering"] = ANSWERING

from vidqa.cli import main  # noqa: E402  - after the registry holds the test model

if __name__ == "__main__":
    sys.argv = ["vidqa", "mcp", *sys.argv[1:]]
    main()
