"""Writes that appear whole or not at all, and the per-video work directories they make.

One mechanism for every write vidqa keeps: a file or folder is built under a temporary name
beside its final one and put into place in one rename, so a run killed at any point (SIGKILL
included) leaves the old file or folder, or the new one whole, and a `.tmp-*` temporary that no
reader takes for finished; the next writer in that folder removes dead builders' temporaries
(`clean_stale`).

- `atomic_open` / `atomic_write_text`: a file written through a handle;
- `building_file`: a file another writer makes at a path (ffmpeg's output, an upload);
- `building`: a folder; `swap_into_place` replaces one already there (an index) in one step.

The work directories, keyed by the file's content and the settings that matter:

    <cache>/videos/<fingerprint>/<settings key>/manifest.json
                                               /keyframes/000012_6.004.jpg

are folders built this way, renamed into place once their manifest is written.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
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

from vidqa.paths import cache_dir
from vidqa.errors import CacheError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_BLOCK = 1 << 20


# Every temporary vidqa makes beside what it becomes (files and folders alike, made by
# `building`, `building_file` and `atomic_open`, or named by `temp_name`) is named
#     .tmp-<tag>-<pid>@<host>-<random>[<suffix>]
# short whatever the final name is (a 250-byte name must not overflow the 255-byte limit), and
# carries its builder's pid and host, so one cleaner (`clean_stale`) can tell a dead builder's
# leftovers from a live writer's work. Files inside a temporary folder need no such name (they go
# with it), nor does scratch space in the system's temporary folder (`tempfile`: it becomes
# nothing).
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


def temp_path(final: Path, suffix: str = "", *, tag: str = "f") -> Path:
    """A temporary file's path beside `final` to build it in (then `os.replace` it into place);
    stale temporaries of dead builders in that folder are removed first. Removing it when the
    work fails is the caller's (`building_file` does both)."""
    clean_stale(final.parent)
    return final.with_name(temp_name(tag, suffix))


@contextmanager
def building_file(final: Path, *, suffix: str = "", tag: str = "f",
                  place: Callable[[Path, Path], object] = os.replace) -> Iterator[Path]:
    """The one way vidqa makes a file that something else writes at a path (ffmpeg's output, an
    upload's body): a fresh temporary path beside `final` (stale temporaries of dead builders
    there are removed first; `suffix` may set the extension ffmpeg picks its format from). When
    the block ends without an error, `place(tmp, final)` puts it into place (default: renamed
    over `final`; an upload is linked, never over a file that appeared meanwhile). The
    temporary never stays: it is removed on an error and after `place`, and a kill leaves it to
    the next `clean_stale`. An OSError passes through as it is (the caller words it,
    `write_error` or its own)."""
    tmp = temp_path(final, suffix, tag=tag)
    try:
        yield tmp
        place(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


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


def live_builds(final: Path, tag: str, suffix: str = "") -> list[Path]:
    """The temporaries that live builders make beside `final` with `building(final, tag=tag,
    suffix=suffix)` (a reader that finds no `final` waits while one may be renaming it in)."""
    pattern = f"{TEMP_PREFIX}{tag}-*{glob.escape(suffix)}"
    return [tmp for tmp in final.parent.glob(pattern) if temp_alive(tmp)]


# --- a folder swapped into place -----------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.cache
def _renameat2():
    """libc's renameat2 (glibc 2.28+), or None."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


def exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux renameat2); False where that is unsupported."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_into_place(tmp: Path, final: Path) -> Path | None:
    """A `place` for `building` that replaces a folder already at `final`: swapped in one atomic
    step (Linux `renameat2(RENAME_EXCHANGE)`); elsewhere the old one is renamed aside first and
    the new one in, and a reader that finds nothing in between sees the builder's temporary
    (`live_builds`) and waits. Returns what to remove (the old folder), if anything."""
    while True:
        try:
            os.rename(tmp, final)  # nothing there yet (or an empty folder)
            return None
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        try:
            if exchange(tmp, final):
                return tmp  # now holds the old folder
        except FileNotFoundError:
            continue  # removed meanwhile: rename again
        aside = final.parent / temp_name("trash")
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            continue
        try:
            os.rename(tmp, final)
        except OSError as exc:  # another build got there first: theirs stays
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        return aside


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename into it) durable; nothing where that is unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    try:
        with building_file(path) as tmp, open(
                tmp, "wb" if binary else "w", encoding=None if binary else "utf-8",
                newline=None if binary else newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:  # closing flushes too: a full disk may show only there
        raise write_error(exc, path) from None


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
