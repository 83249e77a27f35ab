"""Vector index timings: where HNSW starts to pay, and `find` latency at 10 hours of video.

    python pipelines/bench_index.py [--sizes 1000,10000,...,300000] [--skip-ann]
                                    [--skip-find] [--hours 10] [--queries 200]

(a) Flat vs HNSW: N random unit 384-d vectors (seeded). Queries are 200 of those vectors with
    noise added (cosine ~0.7 to their source, like a paraphrase), so each has a true nearest
    neighbour; recall@1 is HNSW's top id against exact flat search (efSearch as shipped for N,
    and a sweep). Search is one query at a time on FAISS's 1 thread (the index's default);
    HNSW is built with --build-threads. The last column is recall@1 for uniformly random
    queries, whose top-1 and top-2 are nearly tied (no true neighbour), shown as the worst case.
(b) `find` at the size of --hours of video: 1 summary per 2-minute chunk, 6 events per chunk,
    120 on-screen text lines per hour (~330 entries an hour), varied synthetic sentences embedded
    with the packaged MiniLM through `VectorIndex.build`; then 200 paraphrased queries through
    `VectorIndex.search`, which includes embedding the query and reading the hit rows from
    SQLite. Run with torch's default threads and with the embedder's query_threads=1.
Prints Markdown tables on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidqa.search import index as vindex  # noqa: E402
from vidqa.search.embedders import get_embedder  # noqa: E402
from vidqa.search.index import Entry, VectorIndex, make_faiss_index  # noqa: E402

DIM = 384
EF_SWEEP = (64, 128, 256, 512, 1024)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def unit(rows: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), np.float32)


def per_query_ms(search, queries: np.ndarray, repeat: int = 1) -> np.ndarray:
    times = []
    for _ in range(repeat):
        for q in queries:
            t0 = time.perf_counter()
            search(q[None, :])
            times.append((time.perf_counter() - t0) * 1000)
    return np.array(times)


def bench_ann(sizes: list[int], n_queries: int, build_threads: int) -> None:
    import faiss

    rng = np.random.default_rng(0)
    rows, sweep = [], []
    for n in sizes:
        log(f"[ann] N={n}: vectors")
        base = unit(rng.standard_normal((n, DIM), dtype=np.float32))
        src = rng.choice(n, n_queries, replace=False)
        # noise of norm ~1 on a unit vector: cosine ~0.7 to the source
        near = unit(base[src] + rng.standard_normal((n_queries, DIM), dtype=np.float32)
                    / np.sqrt(DIM))
        uniform = unit(rng.standard_normal((n_queries, DIM), dtype=np.float32))
        flat = make_faiss_index(base, "flat", threads=1)
        _, truth_near = flat.search(near, 1)
        _, truth_uniform = flat.search(uniform, 1)
        flat_ms = per_query_ms(lambda q: flat.search(q, 10), near)
        log(f"[ann] N={n}: HNSW build ({build_threads} threads)")
        t0 = time.perf_counter()
        hnsw = make_faiss_index(base, "hnsw", threads=build_threads)
        build_s = time.perf_counter() - t0
        faiss.omp_set_num_threads(1)
        for ef in EF_SWEEP:
            hnsw.hnsw.efSearch = ef
            _, got = hnsw.search(near, 1)
            ms = per_query_ms(lambda q: hnsw.search(q, 10), near)
            recall = float(np.mean(got[:, 0] == truth_near[:, 0]))
            sweep.append((n, ef, float(np.median(ms)), recall))
        hnsw.hnsw.efSearch = vindex.hnsw_ef_search(n)
        _, got_near = hnsw.search(near, 1)
        _, got_uniform = hnsw.search(uniform, 1)
        hnsw_ms = per_query_ms(lambda q: hnsw.search(q, 10), near)
        rows.append((n, hnsw.hnsw.efSearch, np.median(flat_ms), np.percentile(flat_ms, 95),
                     np.median(hnsw_ms), np.percentile(hnsw_ms, 95),
                     np.mean(got_near[:, 0] == truth_near[:, 0]),
                     np.mean(got_uniform[:, 0] == truth_uniform[:, 0]), build_s))
        del flat, hnsw, base

    print(f"\n### (a) Flat vs HNSW, one query at a time, k=10, FAISS 1 thread "
          f"(HNSW M={vindex.HNSW_M}, efConstruction={vindex.HNSW_EF_CONSTRUCTION}, "
          f"efSearch as shipped for N)\n")
    print("| N | flat p50 ms | flat p95 ms | efSearch | HNSW p50 ms | HNSW p95 ms "
          "| HNSW recall@1 | recall@1, uniform queries | HNSW build s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, ef, fp50, fp95, hp50, hp95, rec, rec_u, build_s in rows:
        print(f"| {n:,} | {fp50:.3f} | {fp95:.3f} | {ef} | {hp50:.3f} | {hp95:.3f} | {rec:.3f} "
              f"| {rec_u:.3f} | {build_s:.1f} |")
    print("\n### (a') HNSW efSearch sweep (recall@1 against flat, paraphrase-like queries)\n")
    print("| N | efSearch | p50 ms | recall@1 |")
    print("|---:|---:|---:|---:|")
    for n, ef, ms, rec in sweep:
        print(f"| {n:,} | {ef} | {ms:.3f} | {rec:.3f} |")


# --- (b) find at the size of hours of video ---------------------------------------------------

WHO = ["a man in a grey suit", "the presenter", "a woman with a red scarf", "two engineers",
       "the chef", "a delivery driver", "the security guard", "a child", "the camera operator",
       "a nurse", "the lecturer", "a cyclist", "three students", "the mechanic", "a dog"]
DOES = ["walks into", "points at", "leaves", "opens", "cleans", "sets up", "photographs",
        "repairs", "carries a box into", "argues next to", "writes on", "waves at", "locks",
        "inspects", "sits down beside"]
WHAT = ["the whiteboard", "the parking lot", "the kitchen counter", "the server rack",
        "the front door", "a projector screen", "the loading dock", "the reception desk",
        "a blue van", "the staircase", "the conference table", "the window", "a laptop",
        "the garden", "the elevator"]
HOW = ["slowly", "in a hurry", "while talking on the phone", "with a colleague", "at night",
       "in the rain", "without looking back", "for the second time", "under bright lights", ""]
TOPICS = ["the quarterly budget", "a product launch", "network outages", "kitchen hygiene",
          "the hiring plan", "solar panel installation", "customer complaints",
          "the security audit", "a football match", "marketing results", "a chemistry lab",
          "traffic on the highway", "the new office layout", "data backups", "a cooking demo"]
SLIDES = ["REVENUE Q{n}: {m}.{k}M", "AGENDA ITEM {n}: {topic}", "ERROR {n}{k}: DISK FULL",
          "EXIT -> GATE {n}", "ROOM {n}{k}", "SPEED LIMIT {n}0", "TOTAL: ${m}{k}{n}.00",
          "STEP {n}: {topic}", "WARNING: {topic}", "SCORE {n} - {k}"]
SYN = {"walks into": "enters", "points at": "gestures toward", "leaves": "exits",
       "opens": "unlocks", "repairs": "fixes", "photographs": "takes a picture of",
       "the whiteboard": "the board", "the parking lot": "the car park", "a blue van": "a van",
       "the front door": "the entrance", "the elevator": "the lift", "a laptop": "a computer",
       "the presenter": "the speaker", "a delivery driver": "a courier", "the chef": "the cook",
       "the quarterly budget": "budget figures", "network outages": "internet downtime",
       "customer complaints": "unhappy clients", "a football match": "a soccer game"}


def synthetic_entries(hours: float, rng: random.Random) -> list[Entry]:
    """~330 entries an hour: a summary per 2-minute chunk, 6 events per chunk, 120 text lines."""
    out: list[Entry] = []
    chunks = int(hours * 30)
    for c in range(chunks):
        start = c * 120.0
        topic = rng.choice(TOPICS)
        who = rng.sample(WHO, 2)
        out.append(Entry("day.mp4", "summary", start, start + 120.0,
                         f"A session about {topic}. {who[0].capitalize()} and {who[1]} "
                         f"{rng.choice(DOES)} {rng.choice(WHAT)} and discuss {topic}."))
        for _ in range(6):
            t = start + rng.uniform(0, 115)
            text = f"{rng.choice(WHO)} {rng.choice(DOES)} {rng.choice(WHAT)} {rng.choice(HOW)}"
            out.append(Entry("day.mp4", "event", round(t, 1), round(t + rng.uniform(1, 5), 1),
                             text.strip().capitalize()))
    for i in range(int(hours * 120)):
        t = rng.uniform(0, hours * 3600)
        line = rng.choice(SLIDES).format(n=rng.randint(1, 9), m=rng.randint(1, 9),
                                         k=rng.randint(0, 9), topic=rng.choice(TOPICS).upper())
        out.append(Entry("day.mp4", "text", round(t, 1), round(t + 4.0, 1), line))
    return out


def paraphrase(text: str) -> str:
    for a, b in SYN.items():
        text = text.replace(a, b).replace(a.capitalize(), b.capitalize())
    return text


def bench_find(hours: float, n_queries: int) -> None:
    import torch

    rng = random.Random(0)
    entries = synthetic_entries(hours, rng)
    counts = {k: sum(e.kind == k for e in entries) for k in vindex.kind_codes()}
    log(f"[find] {len(entries)} entries {counts}; loading MiniLM")
    t0 = time.perf_counter()
    embedder = get_embedder("minilm")
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        log("[find] building (embedding every entry)")
        t0 = time.perf_counter()
        built = VectorIndex.build(entries, embedder, Path(tmp) / "idx")
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = VectorIndex.open(Path(tmp) / "idx", embedder)
        open_ms = (time.perf_counter() - t0) * 1000
        built.close()
        targets = rng.sample([i for i, e in enumerate(entries) if e.kind == "event"], n_queries)
        queries = [paraphrase(entries[i].text.lower()) for i in targets]
        expected = [entries[i] for i in targets]
        default_threads = torch.get_num_threads()
        results = []
        for threads in (None, 1):
            embedder.query_threads = threads
            index.search("warm up", 5)
            total, encode, faiss_ms, rows_ms, top1 = [], [], [], [], 0
            for q, want in zip(queries, expected):
                t0 = time.perf_counter()
                hits = index.search(q, 10)
                total.append((time.perf_counter() - t0) * 1000)
                top1 += bool(hits) and hits[0].entry.text == want.text
                # the same steps one by one, for the breakdown
                t0 = time.perf_counter()
                vec = embedder.encode([q])
                t1 = time.perf_counter()
                _, ids = index.faiss_index.search(vec, 10)
                t2 = time.perf_counter()
                index._rows([int(i) for i in ids[0] if i >= 0])
                t3 = time.perf_counter()
                encode.append((t1 - t0) * 1000)
                faiss_ms.append((t2 - t1) * 1000)
                rows_ms.append((t3 - t2) * 1000)
            label = (f"{default_threads} (torch default)" if threads is None
                     else f"{threads} (query_threads={threads})")
            results.append((label, total, encode, faiss_ms, rows_ms, top1))
        embedder.query_threads = None
        vectors = index.faiss_index.reconstruct_n(0, len(index))
        probe = embedder.encode(queries)
        exact, _ = index.faiss_index.search(probe, 1)
        hnsw = make_faiss_index(vectors, "hnsw", threads=1)
        approx, _ = hnsw.search(probe, 1)
        # by score: repeated sentences (same vector, other times) tie on different ids
        agree = float(np.mean(np.abs(exact[:, 0] - approx[:, 0]) < 1e-5))
        index.close()

    print(f"\n### (b) `find` at {hours:g} hours of video: {len(entries):,} entries "
          f"({counts['summary']} summaries, {counts['event']} events, {counts['text']} text "
          f"lines), MiniLM on the CPU, {index.index_type} index, {n_queries} queries\n")
    print(f"MiniLM load {load_s:.1f} s; build (embed + write) {build_s:.1f} s "
          f"({len(entries) / build_s:.0f} entries/s); open {open_ms:.0f} ms; paraphrase top-1 "
          f"{results[0][5]}/{n_queries}; HNSW agrees with flat on top-1 for "
          f"{agree * 100:.1f}% of the queries.\n")
    print("| torch threads | search p50 ms | search p95 ms | encode p50 | encode p95 "
          "| FAISS p50 | SQLite rows p50 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for threads, total, encode, faiss_ms, rows_ms, _ in results:
        print(f"| {threads} | {np.median(total):.1f} | {np.percentile(total, 95):.1f} "
              f"| {np.median(encode):.1f} | {np.percentile(encode, 95):.1f} "
              f"| {np.median(faiss_ms):.3f} | {np.median(rows_ms):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,20000,30000,50000,100000,300000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--skip-ann", action="store_true")
    parser.add_argument("--skip-find", action="store_true")
    args = parser.parse_args()
    if not args.skip_ann:
        bench_ann([int(s) for s in args.sizes.split(",")], args.queries, args.build_threads)
    if not args.skip_find:
        bench_find(args.hours, args.queries)


if __name__ == "__main__":
    main()
