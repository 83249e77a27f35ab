"""Needle recall by answering, per answering scope: `chunks` (retrieval), `full` (every key
frame in one request) and `agent` (tool calls), each over vidqa's key frames (`scenes`) and
uniform 2 fps, with what each costs: requests, frames and visual tokens sent, wall time.

    python3 pipelines/bench_answer_scopes.py [--lengths 5] [--depths 10,50,90] [--out DIR]

No real weights can be loaded here, so the model is the tests' OCR reader (registered through
the real backend registry): it reads the frames it is shown with the real OCR engine and
replies with the text, so a text needle is answered right exactly when its frame was put in
front of it. It writes no tool calls, so the agent scope measures only its plumbing (it is
asked twice, then stops as malformed): agent accuracy needs a real model. On a GPU, run a
full-size model through `--scope full` instead (`pipelines/bench_gpu_captions.py` builds one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="5")
    parser.add_argument("--depths", default="10,50,90")
    parser.add_argument("--scopes", default="chunks,full,agent")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-answer-scopes"))
    args = parser.parse_args()

    from helpers.scripted import OCR_READER
    from vidqa.config import Config
    from vidqa.evaluation.grid import parse_depths, parse_lengths
    from vidqa.evaluation.needle import Sweep, needle_eval
    from vidqa.model.backends import REGISTRY, get_backend

    from vidqa.pipeline import Pipeline

    REGISTRY["ocr-reader"] = OCR_READER
    backend = get_backend("ocr-reader", "ocr-reader")
    config = Config().replace("speech", mode="off")
    rows = []
    for scope in args.scopes.split(","):
        sweep = Sweep(lengths_min=parse_lengths(args.lengths), depths=parse_depths(args.depths),
                      needles="builtin-text", selectors=("scenes", "uniform"), mode="ask",
                      scope=scope).validated()
        started = time.perf_counter()
        report = needle_eval(sweep, args.out / scope, Pipeline(config, backend=backend))
        wall = time.perf_counter() - started
        for selector in sweep.selectors:
            cells = [r for r in report.records if r["selector"] == selector]
            rows.append({
                "scope": scope, "selector": selector, "cells": len(cells),
                "accuracy": sum(bool(r["correct"]) for r in cells) / max(1, len(cells)),
                "frames_sent": statistics.mean(r.get("frames_sent") or 0 for r in cells),
                "visual_tokens_sent": statistics.mean(r.get("visual_tokens_sent") or 0
                                                      for r in cells),
                "answer_s": statistics.mean(r["seconds"].get("answer", 0.0) for r in cells),
                "strategy": cells[0].get("strategy", "") if cells else "",
            })
        rows[-1]["wall_s"] = round(wall, 1)
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
    print("| scope | selector | cells | accuracy | frames sent | visual tokens sent | "
          "answer s | how |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['scope']} | {r['selector']} | {r['cells']} | {r['accuracy']:.0%} | "
              f"{r['frames_sent']:.1f} | {r['visual_tokens_sent']:,.0f} | {r['answer_s']:.2f} | "
              f"{r['strategy']} |")
    print("\nwall time of each scope's sweep (the first one ingests, reads the text and "
          "captions; the others find those cached): " +
          ", ".join(f"{r['scope']} {r['wall_s']} s" for r in rows if "wall_s" in r))
    print(f"\nCommand: python3 pipelines/bench_answer_scopes.py --lengths {args.lengths} "
          f"--depths {args.depths} --scopes {args.scopes}")


if __name__ == "__main__":
    main()
