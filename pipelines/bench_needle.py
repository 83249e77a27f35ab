"""Needle benchmark: the standard sweep's find mode at 10, 30 and 60 minutes x 11 depths.

    VIDQA_HOME=/work/bench-data/needle-home \\
        python pipelines/bench_needle.py --lengths 10,30,60 --uniform-lengths 10 \\
            --out /work/bench-data/needle-bench --heatmap pipelines/needle-heatmap.png

Runs `vidqa.evaluation.needle.needle_eval` with the built-in text needles on a generated 60-minute
haystack (seed 7; `--videos` makes it from real footage instead), offline (OCR, MiniLM,
FAISS): first with vidqa's key frames at every length, then with uniform 2 fps sampling at
`--uniform-lengths` (uniform sampling reads every sampled frame with OCR, up to about 55
minutes per hour of video on 2 cores when no frame repeats, so it is measured on the shorter
lengths only). Resumes from `--out` like the command does. Prints the summary table and a JSON
document with recall@1, recall@5, time error and tokens per selector and length, and writes
the combined heatmap (cells not run are grey). Wall times per cell are in results.jsonl
(`seconds`), with how many frames OCR read and how many its frame cache answered
(`ocr_frames`); use a fresh VIDQA_HOME for a cold cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="10,30,60")
    parser.add_argument("--uniform-lengths", default="10")
    parser.add_argument("--depths", default="11")
    parser.add_argument("--needles", default="builtin-text")
    parser.add_argument("--videos", nargs="*", default=[],
                        help="haystack source videos (default: a generated haystack)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--haystack-min", type=float, default=60.0,
                        help="one generated haystack for every run, so they share cells")
    parser.add_argument("--out", default="needle-bench")
    parser.add_argument("--heatmap", default=str(ROOT / "pipelines" / "needle-heatmap.png"))
    args = parser.parse_args()

    from vidqa.evaluation.needle import (Sweep, format_table, needle_eval, parse_depths, parse_lengths,
                                summarise, write_report_heatmap)

    depths = parse_depths(args.depths)
    runs = [("scenes", parse_lengths(args.lengths))]
    if args.uniform_lengths:
        runs.append(("uniform", parse_lengths(args.uniform_lengths)))
    records, timings = [], {}
    for selector, lengths in runs:
        sweep = Sweep(lengths_min=lengths, depths=depths, needles=args.needles, seed=args.seed,
                      haystack_min=args.haystack_min, videos=tuple(args.videos),
                      selectors=(selector,))
        started = time.perf_counter()
        report = needle_eval(sweep, args.out, on_status=lambda t: print(t, file=sys.stderr),
                             on_cell=lambda r, skipped: print(
                                 f"{r['selector']} {r['length_min']:g} min {r['depth']:.0%}: "
                                 f"rank {r['rank']}, error {r['time_error_s']}"
                                 + (" (done before)" if skipped else f", {r['seconds']}"),
                                 file=sys.stderr, flush=True))
        timings[selector] = {"wall_s": round(time.perf_counter() - started, 1),
                             "ran": report.ran, "skipped": report.skipped}
        records += report.records
    lengths = sorted({m for _, ls in runs for m in ls})
    combined = Sweep(lengths_min=tuple(lengths), depths=depths, needles=args.needles,
                     seed=args.seed, haystack_min=args.haystack_min,
                     videos=tuple(args.videos), selectors=tuple(s for s, _ in runs))
    rows = summarise(records, combined)
    write_report_heatmap(Path(args.heatmap), records, combined, rows)
    print(format_table(rows, combined))
    print(json.dumps({"rows": rows, "timings": timings, "heatmap": args.heatmap}, indent=1))


if __name__ == "__main__":
    main()
