"""The Hugging Face cache, read at call time: is a model there, and can the hub be reached.

Weights come through the cache (`HF_HOME`, `HF_HUB_CACHE`) and load offline once cached. When a
model is not cached and the hub cannot be reached, callers fail at once with the fix instead of
waiting out the hub client's minutes of retries.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse


def hf_home() -> str:
    return os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))


def hub_cache() -> str:
    """Where hub downloads live, read now (not when huggingface_hub was imported)."""
    return os.environ.get("HF_HUB_CACHE", str(Path(hf_home()) / "hub"))


def cached_locally(model: str) -> bool:
    """True for a local directory, or a hub id whose files are in the Hugging Face cache."""
    if Path(model).expanduser().is_dir():
        return True
    return bool(_cached_commit(model))


def _cached_commit(model: str) -> str:
    """The commit of the cached snapshot of hub id `model` that has a config.json, or "". The
    Hugging Face cache layout (models--org--name/refs/main -> snapshots/<commit>/) is read
    directly: importing huggingface_hub's download module costs `vidqa find` 0.2 s."""
    folder = Path(hub_cache()) / ("models--" + model.strip().replace("/", "--"))
    try:
        commit = (folder / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return ""
    return commit if commit and (folder / "snapshots" / commit / "config.json").is_file() else ""


def hub_reachable(timeout_s: float = 5.0) -> bool:
    """Whether the hub answers at all (HF_HUB_OFFLINE set, or no network: False)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def model_revision(model: str) -> str:
    """Which weights a model name stands for now, without loading them: for a local directory
    its real path and a digest of its config and weight files' sizes and times; for a hub id
    the cached snapshot's commit ("" when not cached). Captions are keyed by it."""
    local = Path(model).expanduser()
    if local.is_dir():
        digest = hashlib.blake2b(digest_size=8)
        for item in sorted(local.iterdir()):
            if item.is_file() and (item.name.endswith((".json", ".safetensors", ".bin"))):
                st = item.stat()
                digest.update(f"{item.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return f"dir:{local.resolve()}:{digest.hexdigest()}"
    commit = _cached_commit(model)
    return f"hub:{commit}" if commit else ""
