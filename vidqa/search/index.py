"""Second-level lookup: what was said and shown, as vectors in a FAISS index, each with its times.

    <directory>/index.faiss    the vectors, L2-normalised (inner product = cosine similarity)
               /meta.sqlite    entries(id = FAISS id, video, kind, start_s, end_s, text)
                               meta(key, value): format, embedder, dim, count, index_type,
                               ef_search, digest (of index.faiss), build (a fresh id)
                               lexical: the texts in FTS5 (trigrams; `vidqa.search.lexical`)

One directory per video or per collection of videos. Entries are the segments with text that the
tracks make, each with its absolute half-open [start_s, end_s) and its `kind`: one of the kinds
the registered tracks declare (`vidqa.tracks.base.segment_kinds()`), so a new track's segments
are searchable, and filtered by kind, with no change here. An embedder (`vidqa.search.embedders`)
turns their texts into rows, and a query into a row as a query (`encode(texts, query=True)`: e5
embeds "query: ..." apart from "passage: ..."); an index records its embedder's name, and one
built with another embedder does not open (`open` returns None), so callers rebuild rather than
mix vectors (`vidqa.search.find.open_index` says so in one line).

A directory is built under a temporary name beside its final one and swapped into place in one
step (`vidqa.store.building` with `vidqa.store.swap_into_place`), so a build killed at any point
(SIGKILL included) leaves the previous index or a `.tmp-idx-<pid>@<host>-<random>-<name>`
directory that no reader opens; the next build removes those of dead processes. Where the swap
is not atomic a reader that finds no directory waits while a live build holds a finished one.
`meta.sqlite` holds the digest of `index.faiss`, so a reader that opens the two while a build
swaps directories notices a mix and opens again.

Search is exact (`IndexFlatIP`) up to `APPROX_ABOVE` entries and HNSW above it; both measured by
`pipelines/bench_index.py`. A text query is also matched literally (`vidqa.search.lexical`): an
entry holding the exact string asked ("12:01:30", "AB-1234", a quoted name) ranks first.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np

from vidqa.errors import VidqaError
from vidqa.search import lexical
from vidqa.search.embedders import (
    DEFAULT_EMBEDDER,
    Embedder,
    export_for_search,
    get_embedder,
    normalised,
)
from vidqa.store import building, fsync_dir, live_builds, swap_into_place, write_error
from vidqa.timecode import Timed

FORMAT_VERSION = 2  # 2: the lexical table
INDEX_FILE = "index.faiss"
META_FILE = "meta.sqlite"

# Exact search up to this many entries, HNSW above it. Measured on the project's 2-core machine
# (pipelines/bench_index.py, one 384-d query, FAISS 1 thread, p50): flat 0.33 ms at 10k,
# 1.4 ms at 20k, 2.9 ms at 30k, 4.8 ms at 50k, 27 ms at 300k (memory bound, linear); HNSW 0.44,
# 0.89, 1.1, 1.2 ms, 11 ms (at efSearch 1024). They cross near 15k; up to 20k flat stays under
# ~1.5 ms, is exact and needs no graph build (11 s at 20k). 10 hours of video is ~3,300
# entries, so one video is always exact; only collections of 60+ hours go approximate.
APPROX_ABOVE = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
# efSearch grows with the index: the smallest value that kept HNSW's recall@1 against exact
# search >= 0.99 at that size in pipelines/bench_index.py (random 384-d vectors, queries at
# cosine ~0.7 to one of them; real text embeddings are easier).
HNSW_EF_SEARCH = ((50_000, 128), (100_000, 256), (None, 1024))


def hnsw_ef_search(count: int) -> int:
    """HNSW's efSearch for an index of `count` entries."""
    for limit, ef in HNSW_EF_SEARCH:
        if limit is None or count <= limit:
            return ef
    return HNSW_EF_SEARCH[-1][1]


_INSTALL = "pip install 'vidqa[index]'"


def kind_codes() -> dict[str, int]:
    """Entry kinds (the segment kinds of the registered tracks) and their codes in an index."""
    from vidqa.tracks.base import segment_kinds

    return {kind: i for i, kind in enumerate(segment_kinds())}


@dataclass(frozen=True)
class Entry(Timed):
    """One searchable text about a video: half-open [start_s, end_s) in absolute seconds."""

    video: str
    kind: str  # one of `vidqa.tracks.base.segment_kinds()`
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Hit:
    """A search result: the entry and its cosine similarity to the query."""

    entry: Entry
    score: float


def _swap_in_flight(directory: Path) -> bool:
    """Whether a live build holds a finished index for `directory` (a rename may be under way)."""
    return any((tmp / META_FILE).is_file()
               for tmp in live_builds(directory, "idx", f"-{directory.name}"))


def _faiss():
    try:
        import faiss
    except ImportError:
        raise VidqaError(f"the vector index needs faiss; {_INSTALL}") from None
    return faiss


@contextmanager
def faiss_threads(threads: int):
    """FAISS's OpenMP threads at `threads` for the calls inside, restored after. Scoped because
    the setting is shared: when torch was imported before faiss, FAISS's `omp_set_num_threads`
    lands in torch's OpenMP runtime and would change torch's thread count too."""
    faiss = _faiss()
    threads = max(1, int(threads))
    before = faiss.omp_get_max_threads()
    if before == threads:
        yield
        return
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def make_faiss_index(vectors: np.ndarray, index_type: str = "auto", *, threads: int = 1):
    """A FAISS inner-product index holding `vectors` (row i gets id i): exact `IndexFlatIP`, or
    `IndexHNSWFlat` ("hnsw", or "auto" above APPROX_ABOVE rows); built on `threads` threads."""
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if index_type == "auto":
        index_type = "hnsw" if len(vectors) > APPROX_ABOVE else "flat"
    dim = vectors.shape[1]
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = hnsw_ef_search(len(vectors))
    else:
        raise ValueError(f"index_type must be auto, flat or hnsw; got {index_type!r}")
    if len(vectors):
        with faiss_threads(threads):
            index.add(vectors)
    return index


def _write_bytes(path: Path, data) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection to a file that never changes: no locks, no journal. It keeps its
    file open, so it still reads after a newer build replaces (and deletes) the directory."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


@dataclass
class _SearchPlan:
    index: object
    params: object
    selected: int  # entries of the wanted kinds
    fallback: object = None  # exact index to use when the approximate one finds too few
    fallback_params: object = None
    keep: tuple = ()


class _Retry(Exception):
    """The directory changed under a reader (or a build is renaming it in); open it again."""

    def __init__(self, changed: bool = True):
        super().__init__()
        self.changed = int(changed)


_OPEN_WAITS = 200  # 10 ms apart: a rename in flight takes microseconds
_OPEN_REREADS = 5  # a directory still unreadable after this many tries is not being swapped
_OPEN_WAIT_S = 0.01


class VectorIndex:
    """A loaded index: FAISS for the vectors, SQLite for the entries of the hits."""

    def __init__(self, directory: Path, embedder: Embedder, faiss_index, conn: sqlite3.Connection,
                 meta: dict[str, str], kind_codes: np.ndarray, *, threads: int = 1):
        self.directory = directory
        self.threads = threads
        self.embedder = embedder
        self.faiss_index = faiss_index
        self.index_type = meta["index_type"]
        self.build_id = meta["build"]  # a fresh id per build
        self.ef_search = int(meta.get("ef_search") or hnsw_ef_search(len(kind_codes)))
        self._conn = conn
        self._kind_codes = kind_codes
        self._selectors: dict[frozenset[str], _SearchPlan] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self.faiss_index.ntotal)

    def __repr__(self) -> str:
        return (f"VectorIndex('{self.directory}', {len(self)} entries, {self.index_type}, "
                f"embedder={self.embedder.name!r})")

    # -- building

    @classmethod
    def build(cls, entries: Iterable[Entry], embedder: Embedder, directory: str | os.PathLike,
              *, index_type: str = "auto", threads: int = 1,
              batch_size: int = 512, vectors: np.ndarray | None = None) -> VectorIndex:
        """Embed `entries` and write the index at `directory`, replacing any index there in one
        step; returns the new index, loaded. `vectors`: the entries' embeddings by this
        embedder, when they are at hand (from other indexes), so nothing is embedded again."""
        export_for_search(embedder)
        entries = list(entries)
        codes = kind_codes()
        for e in entries:
            if e.kind not in codes:
                raise ValueError(f"entry kind must be one of {', '.join(codes)}; got {e.kind!r}")
        directory = Path(directory)
        conn = None
        try:
            with building(directory, "the index at", tag="idx", suffix=f"-{directory.name}",
                          place=swap_into_place) as tmp:
                index, meta = cls._write(tmp, directory, entries, embedder, index_type,
                                         threads=threads, batch_size=batch_size,
                                         vectors=vectors)
                conn = _connect_ro(tmp / META_FILE)  # follows the file through the rename
                conn.execute("SELECT count(*) FROM meta").fetchone()
            fsync_dir(directory.parent)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        codes = np.array([codes[e.kind] for e in entries], dtype=np.uint8)
        return cls(directory, embedder, index, conn, meta, codes, threads=threads)

    @staticmethod
    def _write(tmp: Path, directory: Path, entries: list[Entry], embedder: Embedder,
               index_type: str, *, threads: int, batch_size: int,
               vectors: np.ndarray | None = None):
        """Embed the entries (unless `vectors` holds them) and write index.faiss and
        meta.sqlite into `tmp`: (index, meta)."""
        if vectors is None:
            texts = [e.text for e in entries]
            parts = [embedder.encode(texts[i:i + batch_size])
                     for i in range(0, len(texts), batch_size)]
            vectors = (normalised(np.concatenate(parts)) if parts
                       else np.zeros((0, embedder.dim), dtype=np.float32))
        else:
            vectors = normalised(np.asarray(vectors, dtype=np.float32).reshape(-1, embedder.dim))
        if vectors.shape != (len(entries), embedder.dim):
            raise VidqaError(f"embedder '{embedder.name}' returned {vectors.shape} for "
                             f"{len(entries)} texts of dimension {embedder.dim}")
        index = make_faiss_index(vectors, index_type, threads=threads)
        kind = "hnsw" if hasattr(index, "hnsw") else "flat"
        data = _faiss().serialize_index(index).tobytes()
        try:
            _write_bytes(tmp / INDEX_FILE, data)
        except OSError as exc:
            raise write_error(exc, directory / INDEX_FILE) from None
        meta = {"format": str(FORMAT_VERSION), "embedder": embedder.name,
                "dim": str(embedder.dim), "count": str(len(entries)), "index_type": kind,
                "ef_search": str(index.hnsw.efSearch if kind == "hnsw" else 0),
                "digest": hashlib.blake2b(data, digest_size=16).hexdigest(),
                "build": uuid.uuid4().hex}
        try:
            VectorIndex._write_meta(tmp / META_FILE, entries, meta)
        except (OSError, sqlite3.Error) as exc:
            raise write_error(exc, directory / META_FILE) from None
        fsync_dir(tmp)
        return index, meta

    @staticmethod
    def _write_meta(path: Path, entries: list[Entry], meta: dict[str, str]) -> None:
        """The SQLite sidecar, written under another name and renamed last (its presence marks
        the temporary directory as finished)."""
        part = path.with_name(path.name + ".part")
        conn = sqlite3.connect(part)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, video TEXT NOT NULL, "
                         "kind TEXT NOT NULL, start_s REAL NOT NULL, end_s REAL NOT NULL, "
                         "text TEXT NOT NULL)")
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                             ((i, e.video, e.kind, float(e.start_s), float(e.end_s), e.text)
                              for i, e in enumerate(entries)))
            conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            lexical.write(conn, ((i, e.text) for i, e in enumerate(entries)))
            conn.commit()
        finally:
            conn.close()
        with open(part, "rb") as handle:
            os.fsync(handle.fileno())
        os.rename(part, path)

    # -- opening

    @classmethod
    def open(cls, directory: str | os.PathLike, embedder: Embedder | str = DEFAULT_EMBEDDER,
             *, threads: int = 1) -> VectorIndex | None:
        """The index at `directory`, or None when it is missing, incomplete, of another format,
        or built with another embedder (the caller rebuilds). `embedder` may be a name, loaded
        only when the index matches it."""
        _faiss()
        directory = Path(directory)
        changed = 0
        for _ in range(_OPEN_WAITS):
            try:
                return cls._open_once(directory, embedder, threads)
            except _Retry as retry:
                changed += retry.changed
                if changed > _OPEN_REREADS:
                    return None  # not a swap in progress: an unreadable directory
                time.sleep(_OPEN_WAIT_S)
        return None

    @classmethod
    def _open_once(cls, directory: Path, embedder: Embedder | str,
                   threads: int) -> VectorIndex | None:
        if not directory.is_dir():
            if _swap_in_flight(directory):
                raise _Retry(changed=False)
            return None
        try:
            conn = _connect_ro(directory / META_FILE)
        except sqlite3.Error:
            raise _Retry from None  # moved away meanwhile, or not an index
        try:
            index = cls._load(directory, conn, embedder, threads)
        except BaseException:
            conn.close()
            raise
        if index is None:
            conn.close()
        return index

    @classmethod
    def _load(cls, directory: Path, conn: sqlite3.Connection, embedder: Embedder | str,
              threads: int) -> VectorIndex | None:
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error:
            raise _Retry from None
        name = embedder if isinstance(embedder, str) else embedder.name
        if meta.get("format") != str(FORMAT_VERSION) or meta.get("embedder") != name:
            return None
        try:
            data = (directory / INDEX_FILE).read_bytes()
        except OSError:
            raise _Retry from None
        if hashlib.blake2b(data, digest_size=16).hexdigest() != meta.get("digest"):
            raise _Retry  # index.faiss is from another build than meta.sqlite
        index = _faiss().deserialize_index(np.frombuffer(data, dtype=np.uint8))
        del data
        dim, count = int(meta["dim"]), int(meta["count"])
        known = kind_codes()
        codes = np.array([known.get(k, 255) for (k,) in
                          conn.execute("SELECT kind FROM entries ORDER BY id")], dtype=np.uint8)
        if index.ntotal != count or index.d != dim or len(codes) != count:
            return None
        if isinstance(embedder, str):
            embedder = get_embedder(embedder)
        if embedder.dim != dim:
            return None
        if meta.get("index_type") == "hnsw":
            index.hnsw.efSearch = int(meta.get("ef_search") or hnsw_ef_search(count))
        return cls(directory, embedder, index, conn, meta, codes, threads=threads)

    def vectors(self) -> np.ndarray:
        """Every entry's vector, in id order (flat and HNSW indexes store them whole)."""
        with faiss_threads(self.threads):
            return self.faiss_index.reconstruct_n(0, len(self)) if len(self) else \
                np.zeros((0, self.faiss_index.d), dtype=np.float32)

    # -- searching

    def search(self, query: str, k: int = 10, *, kinds: set[str] | None = None) -> list[Hit]:
        """The `k` entries that best match `query` (best first), optionally of some kinds only:
        by vector, with entries holding its exact strings first (`vidqa.search.lexical`)."""
        if not len(self) or k <= 0:
            return []
        vector = normalised(self.embedder.encode([query], query=True))[0]
        literal = lexical.Query.parse(query)
        if not literal:
            return self.search_vector(vector, k, kinds=kinds)
        found = dict(self._nearest(vector, k, kinds))
        subset = None if kinds is None or set(kinds) >= set(kind_codes()) else sorted(kinds)
        with self._lock:
            matched = lexical.literal_ids(self._conn, literal, subset)
        pool = max(k, lexical.POOL)
        for ids in matched:  # of each match, the entries nearest the query
            ids = [i for i in ids if i not in found]
            cosines = self._cosines(vector, ids)
            if len(ids) > pool:
                keep = np.argpartition(-cosines, pool)[:pool]
                ids, cosines = [ids[j] for j in keep], cosines[keep]
            found.update(zip(ids, cosines.tolist()))
        rows = self._rows(list(found))
        ranked = lexical.rank(literal, {i: (rows[i].text, s) for i, s in found.items()
                                        if i in rows}, k)
        return [Hit(rows[i], s) for i, s in ranked]

    def search_vector(self, vector: np.ndarray, k: int = 10, *,
                      kinds: set[str] | None = None) -> list[Hit]:
        """The `k` entries nearest to a query already embedded (a unit-length row of `dim`
        floats), best first, optionally of some kinds only."""
        found = self._nearest(vector, k, kinds)
        if not found:
            return []
        rows = self._rows([i for i, _ in found])
        return [Hit(rows[i], s) for i, s in found if i in rows]

    def _nearest(self, vector: np.ndarray, k: int,
                 kinds: set[str] | None) -> list[tuple[int, float]]:
        """(id, cosine) of the `k` nearest entries of `kinds`, nearest first."""
        if not len(self) or k <= 0:
            return []
        search = self._search_plan(kinds)
        k = min(int(k), search.selected)
        if k <= 0:
            return []
        query = normalised(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        with faiss_threads(self.threads):
            scores, ids = search.index.search(query, k, params=search.params)
            if search.fallback is not None and int((ids[0] >= 0).sum()) < k:
                # HNSW found too few entries of these kinds: search them exactly
                scores, ids = search.fallback.search(query, k, params=search.fallback_params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _cosines(self, vector: np.ndarray, ids: list[int]) -> np.ndarray:
        """The cosine of `vector` (unit length) to each of these entries' stored vectors."""
        if not ids:
            return np.zeros(0, dtype=np.float32)
        flat = self.faiss_index
        if self.index_type == "hnsw":
            flat = _faiss().downcast_index(flat.storage)
        rows = _faiss().rev_swig_ptr(flat.get_xb(), len(self) * flat.d)  # a view, no copy
        return rows.reshape(len(self), flat.d)[ids] @ vector

    def _search_plan(self, kinds: set[str] | None) -> _SearchPlan:
        """How to search for `kinds`: FAISS parameters with a selector when only some kinds are
        wanted. With HNSW, a filter that keeps at most APPROX_ABOVE entries is searched exactly
        (cheap at that size, and HNSW misses entries that are rare in the graph)."""
        faiss = _faiss()
        known = kind_codes()
        wanted = frozenset(known if kinds is None else kinds)
        unknown = wanted - set(known)
        if unknown:
            raise ValueError(f"kinds must be among {', '.join(known)}; got {sorted(unknown)}")
        with self._lock:
            plan = self._selectors.get(wanted)
            if plan is not None:
                return plan
            mask = np.isin(self._kind_codes, [known[k] for k in wanted])
            selected = int(mask.sum())
            bitmap = selector = None
            if selected < len(mask):
                bitmap = np.packbits(mask, bitorder="little")
                selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
            exact_params = faiss.SearchParameters()
            if selector is not None:
                exact_params.sel = selector
            if self.index_type != "hnsw":
                plan = _SearchPlan(self.faiss_index, exact_params, selected)
            else:
                params = faiss.SearchParametersHNSW()
                params.efSearch = self.ef_search
                storage = faiss.downcast_index(self.faiss_index.storage)  # exact, same ids
                if selector is None:
                    plan = _SearchPlan(self.faiss_index, params, selected)
                elif selected <= APPROX_ABOVE:
                    plan = _SearchPlan(storage, exact_params, selected)
                else:
                    params.sel = selector
                    plan = _SearchPlan(self.faiss_index, params, selected, storage, exact_params)
            plan.keep = (selector, bitmap)  # the selector reads the bitmap: keep both alive
            self._selectors[wanted] = plan
            return plan

    def _rows(self, ids: list[int]) -> dict[int, Entry]:
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id, video, kind, start_s, end_s, text FROM entries WHERE id IN ({marks})",
                ids).fetchall()
        return {row[0]: Entry(*row[1:]) for row in rows}

    def entries(self) -> list[Entry]:
        """Every entry, in id order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT video, kind, start_s, end_s, text FROM entries ORDER BY id").fetchall()
        return [Entry(*row) for row in rows]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> VectorIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
