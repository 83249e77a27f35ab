"""Picture needles benchmark: the built-in image and clip needles found by their picture.

    VIDQA_HOME=/work/bench-data/picture-needle-home nice -n 10 \\
        python pipelines/bench_picture_needles.py --lengths 10,30,60 --depths 10,50,90 \\
            --out /work/bench-data/picture-needle-bench

Runs `vidqa.evaluation.needle.needle_eval` in find mode with `builtin-picture` (the two images and
the two clips, rotating over the cells) on a generated 60-minute haystack (seed 7, the needle
benchmark's; `--videos` makes it from real footage instead), with vidqa's key frames and with
every 2 fps frame (`--selectors`), offline: no model, and by default no OCR (`--ocr` adds the
text query, whose OCR of every sampled frame makes uniform cells at 30 and 60 minutes cost many
minutes each). Each needle is looked for by its picture as it is (the image file, the clip's
frame 1.5 s in) and degraded (half size, rough JPEG). Resumes from `--out` like the command.
Prints one line per cell as it finishes (its wall time: the splice for the first selector, the
pipeline, both picture queries), the summary table, the wall time per length and selector, and
a JSON document of both; writes the heatmap (`--heatmap`, default in `--out`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="10,30,60")
    parser.add_argument("--depths", default="10,50,90")
    parser.add_argument("--selectors", default="scenes,uniform")
    parser.add_argument("--needles", default="builtin-picture")
    parser.add_argument("--videos", nargs="*", default=[],
                        help="haystack source videos (default: a generated haystack)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--haystack-min", type=float, default=60.0,
                        help="one generated haystack for every length, so they share pieces")
    parser.add_argument("--ocr", action="store_true",
                        help="read the on-screen text too, so the text query is scored beside")
    parser.add_argument("--out", default="picture-needle-bench")
    parser.add_argument("--heatmap", default=None, help="default: OUT/heatmap.png")
    args = parser.parse_args()

    from vidqa.config import Config
    from vidqa.evaluation.needle import (Sweep, format_table, needle_eval, parse_depths,
                                         parse_lengths)
    from vidqa.pipeline import Pipeline

    config = Config() if args.ocr else Config().replace("ocr", mode="off")
    sweep = Sweep(lengths_min=parse_lengths(args.lengths), depths=parse_depths(args.depths),
                  needles=args.needles, seed=args.seed, haystack_min=args.haystack_min,
                  videos=tuple(args.videos), selectors=tuple(args.selectors.split(",")))
    walls: dict[str, float] = {}
    last = [time.perf_counter()]

    def on_cell(record: dict, skipped: bool) -> None:
        now = time.perf_counter()
        wall, last[0] = now - last[0], now
        if not skipped:
            walls[record["key"]] = round(wall, 1)
        queries = ", ".join(f"{q['variant']} rank {q['rank']} error {q['time_error_s']}"
                            for q in record.get("pictures", []))
        print(f"{record['selector']} {record['length_min']:g} min {record['depth']:.0%} "
              f"{record['needle']['id']}: {queries}"
              + (" (done before)" if skipped else f"; {wall:.1f} s, {record['seconds']}"),
              file=sys.stderr, flush=True)

    started = time.perf_counter()
    report = needle_eval(sweep, args.out, Pipeline(config), on_cell=on_cell,
                         on_status=lambda t: print(t, file=sys.stderr, flush=True))
    total_s = round(time.perf_counter() - started, 1)
    if args.heatmap:
        from vidqa.evaluation.needle import write_report_heatmap

        write_report_heatmap(Path(args.heatmap), report.records, sweep, report.rows)
    cost = []
    for selector in sweep.selectors:
        for length in sweep.lengths_min:
            mine = [r for r in report.records if r["selector"] == selector
                    and r["length_min"] == length and r["key"] in walls]
            if not mine:
                continue
            cell_walls = [walls[r["key"]] for r in mine]
            def stage(name: str, mine: list[dict] = mine) -> float:
                return round(statistics.median(r["seconds"].get(name, 0.0) for r in mine), 2)

            cost.append({"selector": selector, "length_min": length, "cells": len(mine),
                         "median_cell_s": round(statistics.median(cell_walls), 1),
                         "max_cell_s": max(cell_walls), "ingest_s": stage("ingest"),
                         "pictures_track_s": stage("pictures"),
                         "find_picture_s": stage("find_picture"), "splice_s": stage("splice"),
                         "keyframes": round(statistics.median(r["keyframes"] for r in mine))})
    print(format_table(report.rows, sweep))
    print()
    print(f"{'selector':<9} {'length':>7} {'cells':>5} {'median cell':>11} {'max cell':>8} "
          f"{'ingest':>7} {'pictures':>8} {'find pic':>8} {'splice':>6} {'key frames':>10}")
    for c in cost:
        print(f"{c['selector']:<9} {c['length_min']:>5g} m {c['cells']:>5} "
              f"{c['median_cell_s']:>9.1f} s {c['max_cell_s']:>6.1f} s {c['ingest_s']:>7.1f} "
              f"{c['pictures_track_s']:>8.1f} {c['find_picture_s']:>8.1f} {c['splice_s']:>6.1f} "
              f"{c['keyframes']:>10}")
    print(f"\n{report.ran} cells run, {report.skipped} done before, {total_s} s in all; "
          f"results in {report.results_path}, heatmap in {args.heatmap or report.heatmap_path}")
    print(json.dumps({"rows": report.rows, "cost": cost, "wall_s": total_s,
                      "ran": report.ran, "skipped": report.skipped}, indent=1))


if __name__ == "__main__":
    main()
