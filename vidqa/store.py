"""Per-video work directories, keyed by the file's content and the settings that matter.

    <cache>/videos/<fingerprint>/<settings key>/manifest.json
                                               /keyframes/000012_6.004.jpg

A directory is built under a temporary name beside its final one and renamed into place only
once its manifest is written, so a run killed at any point (SIGKILL included) leaves either a
complete directory or a `.tmp-*` one that no reader takes for complete; the next run removes
stale temporaries (`clean_stale`) and builds again.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from vidqa.config import cache_dir
from vidqa.errors import CacheError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_BLOCK = 1 << 20


# Every temporary vidqa makes (files and folders alike) is named
#     .tmp-<tag>-<pid>@<host>-<random>[<suffix>]
# beside what it becomes, short whatever the final name is (a 250-byte name must not overflow
# the 255-byte limit), and carries its builder's pid and host, so one cleaner (`clean_stale`)
# can tell a dead builder's leftovers from a live writer's work.
TEMP_PREFIX = ".tmp-"
STALE_ELSEWHERE_S = 24 * 3600  # a temporary of another host (a shared cache) is stale after this
_LEGACY_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")  # the atomic writer's earlier names


@functools.cache
def host_tag() -> str:
    """Six hex digits naming this machine in temporaries' names."""
    return hashlib.blake2b(socket.gethostname().encode(), digest_size=3).hexdigest()


def temp_name(tag: str = "f", suffix: str = "") -> str:
    """A fresh temporary's name (see above); `tag` holds no '-', `suffix` may set an extension
    (ffmpeg picks its output format from it)."""
    return f"{TEMP_PREFIX}{tag}-{os.getpid()}@{host_tag()}-{uuid.uuid4().hex[:8]}{suffix}"


def temp_owner(path: Path) -> tuple[int, str] | None:
    """(pid, host tag) of the builder in a temporary's name; names of older versions,
    `.tmp-<tag>-<pid>-...`, belong to this host. None when the name holds no pid."""
    parts = path.name.split("-", 3)
    if len(parts) < 3:
        return None
    pid, _, host = parts[2].partition("@")
    return (int(pid), host or host_tag()) if pid.isdigit() else None


def temp_alive(path: Path) -> bool:
    """Whether the temporary's builder may still be writing it: its process runs on this host,
    or, for a builder on another host sharing this folder, the temporary changed lately."""
    owner = temp_owner(path)
    if owner is not None and owner[1] == host_tag():
        return pid_alive(owner[0])
    return _recent(path)


def clean_stale(parent: Path) -> None:
    """Remove the temporaries in `parent` whose builders died (files and folders), leftover
    trash (`.tmp-trash-*`) and the earlier atomic writer's pid-less `.NAME.HEX8.tmp` files once
    they are a day old, in one listing of the folder. A live writer's temporaries are left
    alone."""
    try:
        names = [entry.name for entry in os.scandir(parent) if entry.name.startswith(".")]
    except OSError:
        return
    for name in names:
        entry = parent / name
        if name.startswith(TEMP_PREFIX):
            stale = name.startswith(".tmp-trash-") or not temp_alive(entry)
        else:
            stale = bool(_LEGACY_TEMP_NAME.fullmatch(name)) and not _recent(entry)
        if stale:
            _remove(entry)


def _recent(path: Path) -> bool:
    """Changed within STALE_ELSEWHERE_S (False when it is gone)."""
    try:
        return time.time() - path.lstat().st_mtime < STALE_ELSEWHERE_S
    except OSError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def temp_path(final: Path, suffix: str = "") -> Path:
    """A temporary file beside `final` to build it in (then `os.replace` it into place); stale
    temporaries of dead builders in that folder are removed first."""
    clean_stale(final.parent)
    return final.with_name(temp_name("f", suffix))


def _place_new(tmp: Path, final: Path) -> Path | None:
    """Rename the finished `tmp` to `final`; when another run finished `final` first, theirs is
    kept (and `tmp` is returned, to be removed)."""
    try:
        os.rename(tmp, final)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return tmp
        raise
    return None


@contextmanager
def building(final: Path, what: str, *, tag: str = "build", suffix: str = "",
             place: Callable[[Path, Path], Path | None] = _place_new) -> Iterator[Path]:
    """The one way vidqa builds a folder: a fresh temporary folder beside `final` (stale ones of
    dead builders there are removed first) to build in; when the block ends without an error,
    `place(tmp, final)` puts it into place (default: renamed, unless another run finished first)
    and returns what is left to remove (an old copy, or `tmp` itself), which is removed. On any
    error, interrupt or kill the temporary never becomes `final`: an error removes it, a kill
    leaves it for the next `clean_stale`. `what` names `final` in a write error ("the index
    at")."""
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clean_stale(parent)
        tmp = parent / temp_name(tag, suffix)
        tmp.mkdir()
    except OSError as exc:
        raise write_error(exc, final, what) from None
    leftover: Path | None = tmp
    try:
        yield tmp
        try:
            leftover = place(tmp, final)
        except OSError as exc:
            raise write_error(exc, final, what) from None
    finally:
        if leftover is not None:
            shutil.rmtree(leftover, ignore_errors=True)


def write_error(exc: OSError | sqlite3.Error, path: str | os.PathLike, what: str = "", *,
                verb: str = "write") -> CacheError:
    """One line for a failed write of `path`: what happened and the fix (a full disk, a name too
    long, a read-only or unwritable folder, a file where a folder should be). SQLite's errors
    count too ("database or disk is full" is a full disk)."""
    where = f"cannot {verb} {what + ' ' if what else ''}'{path}'"
    if isinstance(exc, sqlite3.Error):
        full = getattr(exc, "sqlite_errorcode", None) == 13 or "disk is full" in str(exc)
        exc = OSError(errno.ENOSPC if full else errno.EIO, str(exc))
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return CacheError(f"{where}: the disk is full (no space left on the device); free space "
                          "there, or set VIDQA_HOME to a folder on another disk, and run again")
    if code == errno.ENAMETOOLONG:
        return CacheError(f"{where}: the file name is too long for the file system; rename the "
                          "video to a shorter name, or write to a shorter folder")
    if code == errno.EROFS:
        return CacheError(f"{where}: the file system is read-only; set VIDQA_HOME (or -o) to a "
                          "writable folder")
    if code in (errno.EACCES, errno.EPERM):
        return CacheError(f"{where}: permission denied; make the folder writable or set "
                          "VIDQA_HOME (or -o) to a writable folder")
    if code in (errno.EEXIST, errno.ENOTDIR):
        return CacheError(f"{where}: a file stands where a folder is needed ("
                          f"'{getattr(exc, 'filename', None) or path}'); remove or rename it, "
                          "or choose another folder")
    reason = exc.strerror or str(exc)
    return CacheError(f"{where}: {reason}; free space or set VIDQA_HOME to a writable folder")


def output_folder(path: str | os.PathLike, holds: str) -> Path:
    """The folder at `path` that -o names, or a CacheError when a file stands there (checked
    before any work, so nothing is computed for nothing). `holds` says what goes in it."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise CacheError(f"cannot write to '{folder}': it is a file, not a folder; pass -o a "
                         f"folder ({holds})")
    return folder


@contextmanager
def atomic_open(path: Path, *, newline: str | None = None,
                binary: bool = False) -> Iterator[TextIO]:
    """A file to write (text, or bytes with `binary`) that appears at `path` only when the
    block ends without an error (a temporary file beside it, fsync, rename): readers see the
    old or the new file, whole. An OSError of the write becomes a CacheError naming `path` and
    the fix."""
    tmp = temp_path(path)
    try:
        try:
            handle = open(tmp, "wb") if binary else \
                open(tmp, "w", encoding="utf-8", newline=newline)
            with handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:  # closing flushes too: a full disk may show only there
            raise write_error(exc, path) from None
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
            trash = self.parent / temp_name("trash")
            os.replace(self.path, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def building(self):
        """A temporary directory to build into, renamed into place when the block ends
        (see `building`); `write_manifest` last."""
        return building(self.path, "the cache at", tag=self.settings_key)

    @staticmethod
    def write_manifest(tmp: Path, manifest: dict[str, Any]) -> None:
        atomic_write_text(tmp / MANIFEST, json.dumps({"format": FORMAT_VERSION, **manifest}))

    def check(self) -> dict[str, Any]:
        """The manifest of the finished directory (ours, or another run's that finished
        first)."""
        manifest = self.load()
        if manifest is None:
            raise CacheError(f"cannot store results in '{self.path}'; remove it and run again")
        return manifest
