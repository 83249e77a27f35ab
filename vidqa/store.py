"""Per-video work directories, keyed by the file's content and the settings that matter.

    <cache>/videos/<fingerprint>/<settings key>/manifest.json
                                               /keyframes/000012_6.004.jpg

A directory is built under a temporary name beside its final one and renamed into place only
once its manifest is written, so a run killed at any point (SIGKILL included) leaves either a
complete directory or a `.tmp-*` one that no reader takes for complete; the next run removes
stale temporaries and builds again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from vidqa.config import cache_dir
from vidqa.errors import CacheError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_BLOCK = 1 << 20


@contextmanager
def atomic_open(path: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """A text file to write that appears at `path` only when the block ends without an error
    (a temporary file beside it, fsync, rename): readers see the old or the new file, whole."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (see `atomic_open`)."""
    with atomic_open(path) as handle:
        handle.write(text)


def fingerprint(path: str | os.PathLike) -> str:
    """BLAKE2b-128 of the file's bytes (remembered per path, size, mtime and inode)."""
    p = Path(path).resolve()
    st = p.stat()
    memo_key = hashlib.blake2b(str(p).encode(), digest_size=16).hexdigest()
    memo = cache_dir() / "fingerprints" / f"{memo_key}.json"
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}
    try:
        data = json.loads(memo.read_text())
        if {k: data.get(k) for k in stamp} == stamp and isinstance(data.get("fingerprint"), str):
            return data["fingerprint"]
    except (OSError, ValueError):
        pass
    digest = hashlib.blake2b(digest_size=16)
    with open(p, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    value = digest.hexdigest()
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo, json.dumps({**stamp, "fingerprint": value}))
    except OSError:
        pass  # the memo only saves time
    return value


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (the owner of a temporary dir)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_pid(path: Path) -> int | None:
    """The builder's pid in a temporary's name, `.tmp-<tag>-<pid>-...` (None if it has none)."""
    parts = path.name.split("-", 4)
    return int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None


def clean_stale(parent: Path, patterns: tuple[str, ...] = (".tmp-*",)) -> None:
    """Remove the temporaries in `parent` of builders that died, and leftover trash
    (`.tmp-trash-*`): every cache here builds under `.tmp-<tag>-<pid>-...` and renames."""
    if not parent.is_dir():
        return
    for pattern in patterns:
        for entry in parent.glob(pattern):
            pid = temp_pid(entry)
            if entry.name.startswith(".tmp-trash-") or pid is None or not pid_alive(pid):
                shutil.rmtree(entry, ignore_errors=True)


class WorkDir:
    """The cached outcome of one (video content, settings) pair."""

    def __init__(self, video_fingerprint: str, settings_key: str, root: Path | None = None):
        self.parent = (root or cache_dir()) / "videos" / video_fingerprint
        self.path = self.parent / settings_key
        self.settings_key = settings_key

    def load(self) -> dict[str, Any] | None:
        """The manifest of a complete directory, or None (missing, unreadable or incomplete)."""
        try:
            data = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            return None
        images = [k.get("image") for k in data.get("keyframes", [])]
        if not all(img and (self.path / img).is_file() for img in images):
            return None
        return data

    def discard(self) -> None:
        """Move an unusable directory out of the way (renamed first, so no reader sees it half gone)."""
        if self.path.exists():
            trash = self.parent / f".tmp-trash-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(self.path, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def clean_stale(self) -> None:
        """Remove temporaries left by runs that died."""
        clean_stale(self.parent)

    def begin(self) -> Path:
        """A fresh temporary directory to build into."""
        self.clean_stale()
        tmp = self.parent / f".tmp-{self.settings_key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            (tmp / "keyframes").mkdir(parents=True)
        except OSError as exc:
            raise CacheError(f"cannot write the cache at '{self.parent}': {exc.strerror}; free "
                             "space or set VIDQA_HOME to a writable folder") from None
        return tmp

    def commit(self, tmp: Path, manifest: dict[str, Any]) -> None:
        """Write the manifest last, then rename the directory into place."""
        atomic_write_text(tmp / MANIFEST, json.dumps({"format": FORMAT_VERSION, **manifest}))
        try:
            os.rename(tmp, self.path)
        except OSError:
            # Another run finished the same work first: keep theirs.
            shutil.rmtree(tmp, ignore_errors=True)
            if self.load() is None:
                raise CacheError(f"cannot store results in '{self.path}'; remove it and run again")

    def abort(self, tmp: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)
