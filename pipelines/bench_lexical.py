"""Exact strings beside the vectors: what the FTS5 side of a search costs, and what it finds.

    python pipelines/bench_lexical.py [--sizes 3300,10000] [--queries 200]

For each size N: the synthetic entries of `bench_index.py` (summaries, events, slide lines)
plus a camera clock read once a second for 20 minutes (1,200 near-identical text lines), parcel
codes, licence plates and names, N in all, embedded with the packaged MiniLM and written through
`VectorIndex.build` (so the FTS5 table is the shipped one). Then, one query at a time:

  FAISS           the flat index's search alone (k=10, 1 thread): what `find` paid before
  FTS MATCH       `lexical.literal_ids`: every MATCH a query makes (needles, words, marks)
  + bm25()        the same MATCHes ordered by bm25() (LIMIT 50): the ranking left out
  search          `VectorIndex.search`, from query text to hits (embedding included)
  vectors only    embedding + `search_vector`, the search before this change

for exact queries (a second of the clock, a code, a plate, a quoted name, a time among other
words) and for paraphrased event lines (no literal match expected). Top-1: the text wanted came
first (an event line may recur at other times), fused and vectors only. Last, what ordering by
bm25() costs where a string is common. Prints Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_index import log, paraphrase, synthetic_entries  # puts the checkout on sys.path

from vidqa.search import lexical
from vidqa.search.embedders import get_embedder
from vidqa.search.index import META_FILE, Entry, VectorIndex, faiss_threads

CLOCK_S = 1200


def literal_entries(rng: random.Random) -> list[Entry]:
    """The clock (one line a second), parcel codes, plates and names."""
    out = [Entry("day.mp4", "text", 7200.0 + s, 7201.0 + s,
                 f"CAM 03 2024-12-05 12:{s // 60:02d}:{s % 60:02d}") for s in range(CLOCK_S)]
    for i in range(40):
        code = f"{rng.choice('ABCDK')}{rng.choice('ABXY')}-{rng.randint(1000, 9999)}"
        plate = f"K{rng.choice('XY')}-{rng.randint(100, 999)}-{rng.choice(['BT', 'TB', 'ZR'])}"
        out.append(Entry("day.mp4", "text", 9000.0 + 5 * i, 9003.0 + 5 * i, f"PARCEL {code}"))
        out.append(Entry("day.mp4", "text", 9300.0 + 5 * i, 9303.0 + 5 * i, plate))
    for i, name in enumerate(["Natalya", "Natalia", "Nataly", "Natasha", "Talya", "Nathalie"]):
        out.append(Entry("day.mp4", "speech", 9600.0 + 5 * i, 9604.0 + 5 * i,
                         f"{name} said the invoice is late"))
    return out


def exact_queries(entries: list[Entry], rng: random.Random, n: int) -> list[tuple[str, Entry]]:
    """(query, wanted): seconds of the clock, codes, plates, the quoted name and a time among
    other words; only strings that one entry alone holds."""
    clock = [e for e in entries if e.text.startswith("CAM 03")]
    codes = [e for e in entries if e.text.startswith("PARCEL")]
    plates = [e for e in entries if e.text.startswith("K") and e.text.count("-") == 2]
    natalya = next(x for x in entries if x.text.startswith("Natalya "))
    out = []
    for i in range(n):
        kind = i % 5
        e = rng.choice((clock, codes, plates, clock, [natalya])[kind])
        core = {0: e.text[-8:], 1: e.text.split()[-1], 2: e.text, 3: e.text[-8:],
                4: "Natalya"}[kind]
        query = {3: f"camera time {core}", 4: f'"{core}"'}.get(kind, core)
        if sum(core.lower() in x.text.lower() for x in entries) == 1:
            out.append((query, e))
    return out


def ms(fn, reps: int = 1) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) * 1000 / reps


def bm25_matches(conn: sqlite3.Connection, query: lexical.Query) -> None:
    for expr in query.matches():
        conn.execute(f"SELECT rowid, bm25({lexical.TABLE}) FROM {lexical.TABLE} WHERE "
                     f"{lexical.TABLE} MATCH ? ORDER BY bm25({lexical.TABLE}) LIMIT 50",
                     [expr]).fetchall()


def bench(size: int, n_queries: int, embedder) -> dict:
    rng = random.Random(size)
    literal = literal_entries(rng)
    if size < 2 * len(literal):
        raise SystemExit(f"--sizes: each at least {2 * len(literal)} (the literal lines are "
                         f"{len(literal)})")
    hours = (size - len(literal)) / 330.0
    entries = synthetic_entries(hours + 0.5, rng)[:size - len(literal)] + literal
    with tempfile.TemporaryDirectory() as tmp:
        log(f"[lexical] {len(entries)} entries: building")
        t0 = time.perf_counter()
        index = VectorIndex.build(entries, embedder, Path(tmp) / "idx")
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with sqlite3.connect(":memory:") as scratch:
            lexical.write(scratch, ((i, e.text) for i, e in enumerate(entries)))
        fts_build_s = time.perf_counter() - t0
        meta_mb = (Path(tmp) / "idx" / META_FILE).stat().st_size / 2**20
        events = [i for i, e in enumerate(entries) if e.kind == "event"]
        para = [(paraphrase(entries[i].text.lower()), entries[i])
                for i in rng.sample(events, n_queries)]
        exact = exact_queries(entries, rng, n_queries)
        rows = {}
        for label, queries in (("exact", exact), ("paraphrase", para)):
            log(f"[lexical] {label}: {len(queries)} queries")
            index.search("warm up", 10)
            t = {k: [] for k in ("faiss", "match", "bm25", "search", "vector")}
            top = {"search": 0, "vector": 0}
            conn = index._conn
            for q, want in queries:
                parsed = lexical.Query.parse(q)
                vector = embedder.encode([q])
                with faiss_threads(1):
                    t["faiss"].append(ms(lambda v=vector: index.faiss_index.search(v, 10), 3))
                t["match"].append(ms(lambda p=parsed, c=conn: lexical.literal_ids(c, p), 3))
                t["bm25"].append(ms(lambda p=parsed, c=conn: bm25_matches(c, p), 3))
                t0 = time.perf_counter()
                hits = index.search(q, 10)
                t["search"].append((time.perf_counter() - t0) * 1000)
                top["search"] += bool(hits) and hits[0].entry.text == want.text
                t0 = time.perf_counter()
                plain = index.search_vector(embedder.encode([q])[0], 10)
                t["vector"].append((time.perf_counter() - t0) * 1000)
                top["vector"] += bool(plain) and plain[0].entry.text == want.text
            rows[label] = (len(queries), {k: (np.median(v), np.percentile(v, 95))
                                          for k, v in t.items()}, top)
        common, conn = [], index._conn
        match = f"FROM {lexical.TABLE} WHERE {lexical.TABLE} MATCH ?"
        for word in ("the", "slowly", "walks into"):
            arg = [f'"{word}"']
            matched = conn.execute(f"SELECT count(*) {match}", arg).fetchone()[0]
            plain = ms(lambda a=arg: conn.execute(f"SELECT rowid {match}", a).fetchall(), 5)
            ranked = ms(lambda a=arg: conn.execute(
                f"SELECT rowid {match} ORDER BY bm25({lexical.TABLE}) LIMIT 50", a).fetchall(), 5)
            common.append((word, matched, plain, ranked))
        index.close()
    return {"n": len(entries), "build_s": build_s, "fts_build_s": fts_build_s,
            "meta_mb": meta_mb, "rows": rows, "common": common}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3300,10000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    embedder = get_embedder("minilm")
    embedder.query_threads = 1
    results = [bench(int(s), args.queries, embedder) for s in args.sizes.split(",")]
    print("\n| entries | queries | FAISS flat p50 / p95 | FTS MATCH p50 / p95 "
          "| MATCH + bm25() p50 | search p50 / p95 | vectors only p50 / p95 "
          "| top-1 search | top-1 vectors only |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for label, (n, t, top) in r["rows"].items():
            print(f"| {r['n']:,} | {label} ({n}) | {t['faiss'][0]:.3f} / {t['faiss'][1]:.3f} ms "
                  f"| {t['match'][0]:.3f} / {t['match'][1]:.3f} ms | {t['bm25'][0]:.3f} ms "
                  f"| {t['search'][0]:.1f} / {t['search'][1]:.1f} ms "
                  f"| {t['vector'][0]:.1f} / {t['vector'][1]:.1f} ms "
                  f"| {top['search']}/{n} | {top['vector']}/{n} |")
    print("\n| entries | common string | entries holding it | MATCH, every row "
          "| MATCH ORDER BY bm25() LIMIT 50 |")
    print("|---:|---|---:|---:|---:|")
    for r in results:
        for word, matched, plain, ranked in r["common"]:
            print(f"| {r['n']:,} | \"{word}\" | {matched:,} | {plain:.2f} ms | {ranked:.2f} ms |")
    print()
    for r in results:
        print(f"- {r['n']:,} entries: build {r['build_s']:.1f} s (of which the FTS5 table "
              f"{r['fts_build_s']:.2f} s), meta.sqlite {r['meta_mb']:.1f} MiB")


if __name__ == "__main__":
    main()
