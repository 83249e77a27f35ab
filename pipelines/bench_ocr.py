"""OCR benchmark: cost per key frame of the on-screen text track, and what it implies per hour.

    python pipelines/bench_ocr.py [--threads 1 2] [--minutes 10] [--out bench_ocr.json]

Ingests a few real files from ../shared/media and one generated video (`demo_plan(10, seed=7)`,
1280x720 30 fps, rendered with preset veryfast into a temporary folder), then times
`OcrEngine.read` on every key frame (JPEG loading not counted; one warm-up read first, so model
loading is not counted either) at each thread budget. Prints a Markdown table: key frames, key
frames per hour of video, median and p95 ms per key frame, and the implied OCR minutes per hour
of video (key frames per hour x mean cost per key frame). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("VIDQA_TEST_MEDIA", ROOT.parent / "shared" / "media"))
REAL = [
    "video-subtitle-remover/test_oldrev.mp4",
    "video-feature-extraction/sample_video_for_text.mp4",
    "pyscenedetect/goldeneye-vfr-drop3.mp4",
    "ntu-shot-change-hw/news_from_frames.mp4",
    "pyscenedetect/testvideo.mp4",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def bench(label: str, result, threads: int) -> dict:
    import cv2

    from vidqa.tracks.ocr import OcrEngine, merge_lines

    engine = OcrEngine(threads=threads, cache=False)
    images = [(k.pts_s, cv2.imread(str(result.image_path(k)))) for k in result.keyframes]
    engine.read(images[0][1])  # warm-up: sessions load on the first call
    times, frames = [], []
    for pts_s, image in images:
        start = time.perf_counter()
        lines = engine.read(image)
        times.append(time.perf_counter() - start)
        frames.append((pts_s, lines))
    track = merge_lines(frames, result.stats.end_s)
    per_hour = len(images) / result.stats.end_s * 3600
    mean = statistics.fmean(times)
    return {"video": label, "threads": threads, "keyframes": len(images),
            "duration_s": result.stats.end_s, "frame": f"{result.stats.frame_width}x"
            f"{result.stats.frame_height}", "keyframes_per_hour": round(per_hour, 1),
            "median_ms": round(statistics.median(times) * 1000, 1),
            "p95_ms": round(percentile(times, 0.95) * 1000, 1), "mean_ms": round(mean * 1000, 1),
            "ocr_min_per_hour": round(per_hour * mean / 60, 2), "text_lines": len(track),
            "engine": engine.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--minutes", type=float, default=10.0, help="generated video length")
    parser.add_argument("--media", type=Path, default=MEDIA)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        os.environ["VIDQA_HOME"] = str(Path(tmp) / "home")  # a fresh cache, nothing left behind
        from vidqa.keyframes.ingest import ingest
        from vidqa.evaluation.synth import demo_plan, render

        videos = [(name, args.media / name) for name in REAL if (args.media / name).exists()]
        synth = Path(tmp) / f"demo_{args.minutes:g}min_seed7.mp4"
        print(f"rendering {synth.name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        render(demo_plan(args.minutes, seed=7), synth, preset="veryfast")
        print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        videos.append((f"generated demo_plan({args.minutes:g}, seed=7)", synth))

        rows = []
        for label, path in videos:
            print(f"ingesting {label} ...", file=sys.stderr, flush=True)
            result = ingest(path)
            for threads in args.threads:
                row = bench(label, result, threads)
                print(f"  threads={threads}: median {row['median_ms']} ms", file=sys.stderr,
                      flush=True)
                rows.append(row)

    print(f"OCR engine: {rows[0]['engine']}; {os.cpu_count()} CPU cores\n")
    print("| video | frame | key frames | key frames / h | threads | median ms | p95 ms "
          "| OCR min / h of video | text lines |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['video']} | {r['frame']} | {r['keyframes']} | {r['keyframes_per_hour']:g} "
              f"| {r['threads']} | {r['median_ms']:g} | {r['p95_ms']:g} "
              f"| {r['ocr_min_per_hour']:g} | {r['text_lines']} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
