"""Looking into vidqa's cache from the outside."""

from __future__ import annotations

from pathlib import Path

from vidqa.store import MANIFEST


def complete_manifests(home: Path) -> list[Path]:
    """Manifests a reader would take as complete (not inside a .tmp-* directory)."""
    return [p for p in home.rglob(MANIFEST) if not any(part.startswith(".tmp-") for part in p.parts)]
