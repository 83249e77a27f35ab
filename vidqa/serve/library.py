"""The videos a server serves: the files under its folders, and nothing else.

Requests name a video by its id (a hash of its place) or by its path as the library lists it
(relative to its folder; with several folders, the folder's name first). A name that is
absolute, holds `..`, a NUL or a backslash, leads outside the folders (a symlink included) or is
not a video file of the library is refused before any file is opened. The chat API also takes a
`file://` URL or an absolute path (`Library.local`): read as text, it must lie under a served
folder before it is looked at, and the rest is checked like a relative path.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from vidqa.errors import VidqaError, printable
from vidqa.media.collection import MEDIA_EXTENSIONS, expand_videos

RESCAN_S = 5.0  # a listing older than this is read again from the folders


class Refused(VidqaError):
    """A request for something the server does not serve; `status` is the HTTP status."""

    def __init__(self, message: str, status: int = 404, code: str = "video_not_found"):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Entry:
    """One served video."""

    id: str
    path: str  # as requests name it: relative, '/'-separated
    file: Path  # the resolved file on disk
    size_bytes: int = 0
    state: str = "unchecked"  # unchecked, checking, not_indexed, queued, indexing, indexed, failed
    error: str | None = None
    duration_s: float | None = None
    job: str | None = None
    info: dict = field(default_factory=dict)  # what the page shows: codec, size, playable

    def to_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "name": Path(self.path).name,
                "size_bytes": self.size_bytes, "state": self.state, "error": self.error,
                "duration_s": self.duration_s, "job": self.job, **self.info}


def video_id(file: Path) -> str:
    return hashlib.blake2b(str(file).encode(), digest_size=6).hexdigest()


class Library:
    """The served folders and their videos, listed again when older than `RESCAN_S`."""

    def __init__(self, roots: list[str | os.PathLike]):
        if not roots:
            raise VidqaError("no folders to serve; pass one or more folders holding videos")
        resolved, given = [], []
        for root in roots:
            path = Path(root).expanduser()
            if not path.is_dir():
                raise VidqaError(f"cannot serve '{root}': it is not a folder; pass folders "
                                 "holding videos")
            resolved.append(path.resolve())
            given.append(PurePosixPath(os.path.abspath(path)))
        self.roots = resolved
        self.given_roots = given  # as given at start (made absolute, links not followed)
        names: dict[str, int] = {}
        self.prefixes: list[str] = []  # with several folders, each one's name in paths
        for root in resolved:
            name = root.name or "root"
            names[name] = names.get(name, 0) + 1
            self.prefixes.append(name if names[name] == 1 else f"{name}-{names[name]}")
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._scanned = 0.0

    def _relative(self, file: Path) -> str | None:
        for root, prefix in zip(self.roots, self.prefixes):
            if file.is_relative_to(root):
                rel = file.relative_to(root).as_posix()
                return rel if len(self.roots) == 1 else f"{prefix}/{rel}"
        return None

    def scan(self, *, force: bool = False) -> list[Entry]:
        """The served videos (sorted by path), listed again from disk when the listing is old.
        Entries keep their state across scans; a file that went away leaves the list."""
        import time

        with self._lock:
            if not force and time.monotonic() - self._scanned < RESCAN_S:
                return sorted(self._entries.values(), key=lambda e: e.path)
            seen: dict[str, Entry] = {}
            for root in self.roots:
                for name in expand_videos([root]):
                    file = Path(name).resolve()
                    rel = self._relative(file)
                    if rel is None or not file.is_file():
                        continue  # a symlink that leads out of the served folders
                    key = video_id(file)
                    entry = self._entries.get(key) or Entry(key, rel, file)
                    entry.size_bytes = file.stat().st_size
                    seen[key] = entry
            self._entries = seen
            self._scanned = time.monotonic()
            return sorted(seen.values(), key=lambda e: e.path)

    def get(self, ref: str) -> Entry:
        """The video a request names (its id, or its path as listed); `Refused` otherwise."""
        ref = (ref or "").strip()
        if ref.startswith("vidqa://"):
            ref = ref[len("vidqa://"):]
        if not ref:
            raise Refused("no video named; give a video's id or its path as /api/videos "
                          "lists it", 400, "missing_video")
        self.scan()
        with self._lock:
            entry = self._entries.get(ref)
        if entry is not None:
            return entry
        return self._served(self.resolve(ref), ref)

    def _served(self, file: Path, ref: str) -> Entry:
        """The entry of `file` (resolved inside the folders), listed again when it is new."""
        with self._lock:
            entry = self._entries.get(video_id(file))
        if entry is None:
            self.scan(force=True)
            with self._lock:
                entry = self._entries.get(video_id(file))
        if entry is None:
            raise Refused(f"no video '{ref}' is served here; GET /api/videos lists them")
        return entry

    def local(self, ref: str) -> Entry:
        """The served video a `file://` URL or an absolute path names. The name is read as
        text first: a place that is not under a served folder (as given at start, or as it
        resolves) is refused with 403 before anything is looked at, the same for a file that
        exists and one that does not; under a folder, the rest is checked as a relative path
        is (`resolve`: no `..`, no link that leads out)."""
        path = file_url_path(ref) if ref[:5].lower() == "file:" else ref
        refused = Refused(f"'{printable(ref)[:300]}' is not inside the served folders; name a "
                          "video under them (GET /api/videos lists them), by its path there, "
                          "a file:// URL or an absolute path", 403, "path_not_served")
        if path is None or not path.startswith("/"):
            raise refused
        names = [path]
        if ref[:5].lower() == "file:" and "%" in path:
            names.append(unquote(path))  # percent-encoded, as browsers write file URLs
        for name in names:
            if "\x00" in name or "\\" in name:
                raise Refused("a video path must not hold NUL or backslash characters", 400,
                              "invalid_path")
            pure = PurePosixPath(name)
            if ".." in pure.parts:
                raise refused
            rel = self._relative_name(pure)
            if rel is None:
                continue
            try:
                return self._served(self.resolve(rel), ref)
            except Refused as exc:
                if exc.status != 404 or name is names[-1]:
                    raise
        raise refused

    def _relative_name(self, pure: PurePosixPath) -> str | None:
        """The path as the library names it (relative, with the folder's name first when there
        are several) of an absolute `pure` under a served folder, by its text alone."""
        for given, root, prefix in zip(self.given_roots, self.roots, self.prefixes):
            for base in (given, root):
                if pure.is_relative_to(base) and pure != PurePosixPath(base):
                    rel = pure.relative_to(base).as_posix()
                    return rel if len(self.roots) == 1 else f"{prefix}/{rel}"
        return None

    def entry_of(self, file: str | os.PathLike) -> Entry | None:
        """The served video at `file` (a path the pipeline reported), if it is one."""
        with self._lock:
            return self._entries.get(video_id(Path(file).resolve()))

    def resolve(self, ref: str) -> Path:
        """The file a relative path names inside the served folders; `Refused` for anything
        else (checked on the name first, then on the resolved file)."""
        if ref.startswith("file:"):
            raise Refused(f"'{ref}' is a file URL; name a served video by its id or its path as "
                          "/api/videos lists it", 403, "path_not_served")
        if "\x00" in ref or "\\" in ref:
            raise Refused("a video path must not hold NUL or backslash characters", 400,
                          "invalid_path")
        pure = PurePosixPath(ref)
        if pure.is_absolute() or ref.startswith("~"):
            raise Refused(f"'{ref}' is an absolute path; only paths relative to the served "
                          "folders are accepted", 403, "path_not_served")
        if ".." in pure.parts:
            raise Refused(f"'{ref}' holds '..'; only paths inside the served folders are "
                          "accepted", 403, "path_not_served")
        if len(self.roots) == 1:
            candidates = [self.roots[0] / pure]
        else:
            first, rest = pure.parts[0], PurePosixPath(*pure.parts[1:]) if len(pure.parts) > 1 \
                else PurePosixPath(".")
            candidates = [root / rest for root, prefix in zip(self.roots, self.prefixes)
                          if prefix == first]
        for candidate in candidates:
            file = candidate.resolve()
            if not any(file.is_relative_to(root) for root in self.roots):
                raise Refused(f"'{ref}' leads outside the served folders (a link?)", 403,
                              "path_not_served")
            if file.is_file() and file.suffix.lower() in MEDIA_EXTENSIONS:
                return file
        raise Refused(f"no video '{ref}' is served here; GET /api/videos lists them")

    def upload_target(self, name: str) -> Path:
        """Where an uploaded video named `name` goes: the first folder, under a name that is
        one safe path component (`upload_name`) with a video extension, never over an existing
        file. Checked before anything is written."""
        clean = upload_name(name)
        if Path(clean).suffix.lower() not in MEDIA_EXTENSIONS:
            raise Refused(f"'{printable(name)}' is not a video or sound file name; use one of "
                          f"{', '.join(sorted(MEDIA_EXTENSIONS))}", 400, "invalid_path")
        target = self.roots[0] / clean
        if target.exists() or target.is_symlink():
            raise Refused(f"'{clean}' exists already in the served folder; rename the upload",
                          409, "exists")
        return target


def file_url_path(url: str) -> str | None:
    """The absolute path a `file://` URL names on this machine (`file:///x`,
    `file://localhost/x`), as written (lmms-eval writes `file://` + the path, unencoded); None
    for another host or a URL that names no absolute path."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() != "file" or parts.netloc.lower() not in ("", "localhost"):
        return None
    path = url[len(f"{url[:5]}//{parts.netloc}"):] if url[5:7] == "//" else url[5:]
    return path if path.startswith("/") else None


MAX_NAME_BYTES = 200


def upload_name(name: str) -> str:
    """`name` when it is one safe path component: no separator of either kind, no control or
    invisible formatting character, not hidden, at most MAX_NAME_BYTES bytes of UTF-8;
    `Refused` (400) otherwise."""
    import unicodedata

    shown = printable(name)
    if not name or name in (".", "..") or name.startswith("."):
        raise Refused(f"'{shown}' is not a plain file name (empty, or starting with '.'); "
                      "upload as e.g. talk.mp4", 400, "invalid_path")
    if "/" in name or "\\" in name:
        raise Refused(f"'{shown}' holds a path separator ('/' or '\\'); upload under a plain "
                      "file name such as talk.mp4", 400, "invalid_path")
    if any(unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")
           for ch in name):
        raise Refused(f"'{shown}' holds a control or invisible character (a line break, a "
                      "tab, a direction mark); rename the file", 400, "invalid_path")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise Refused(f"the file name is {size} bytes long, more than {MAX_NAME_BYTES}; "
                      "rename the file to something shorter", 400, "invalid_path")
    return name
