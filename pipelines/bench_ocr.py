"""OCR benchmark: cost per key frame of the on-screen text track, and what it implies per hour.

    python pipelines/bench_ocr.py [--threads 1 2] [--minutes 10] [--det 736 352 264]
                                  [--generated-only] [--out bench_ocr.json]

Ingests a few real files from ../shared/media and one generated video (`demo_plan(10, seed=7)`,
1280x720 30 fps, rendered with preset veryfast into a temporary folder), then times
`OcrEngine.read` on every key frame (JPEG loading not counted; one warm-up read first, so model
loading is not counted either) at each thread budget. Prints a Markdown table: key frames, key
frames per hour of video, median and p95 ms per key frame, and the implied OCR minutes per hour
of video (key frames per hour x mean cost per key frame); then the cost of pinning the lines to
their first 8 fps frame (`pin_lines`: short decodes and OCR), the whole text track per hour, and
for the generated video how many of its captions were read and how far their pinned start lies
from the truth. Progress goes to stderr.
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


def bench(label: str, result, threads: int, det: int = 736, truth: list | None = None
          ) -> dict:
    import cv2

    from vidqa.tracks.ocr import OcrEngine, merge_lines, pin_lines, read_keyframes, similar

    engine = OcrEngine(threads=threads, cache=False, det_side=det)
    images = [(k.pts_s, cv2.imread(str(result.image_path(k)))) for k in result.keyframes]
    engine.read(images[0][1])  # warm-up: sessions load on the first call
    times, frames = [], []
    for pts_s, image in images:
        start = time.perf_counter()
        lines = engine.read(image)
        times.append(time.perf_counter() - start)
        frames.append((pts_s, lines))
    whole = merge_lines(frames, result.stats.end_s)  # every key frame read whole
    counts: dict = {}
    started = time.perf_counter()
    track = read_keyframes(result, engine, counts=counts)  # what the text track does
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    pinned = pin_lines(result, track, engine)
    pin_s = time.perf_counter() - started
    per_hour = len(images) / result.stats.end_s * 3600
    mean = statistics.fmean(times)
    events = {}
    for event in truth or []:  # the captions the generated video shows: read, and when
        seen = [line for line in pinned if similar(line.text, event["text"]) >= 0.8
                and line.end_s > event["start_s"] - 1 and line.start_s < event["end_s"] + 1]
        events[event["text"]] = round(min(seen, key=lambda x: x.start_s).start_s
                                      - event["start_s"], 3) if seen else None
    errors = [abs(e) for e in events.values() if e is not None]
    track_s = read_s + pin_s
    return {"video": label, "threads": threads, "det": det, "keyframes": len(images),
            "read_s": round(read_s, 2), "reads": counts,
            "same_lines_as_whole": sorted(x.text for x in whole) == sorted(x.text for x in track),
            "pin_s": round(pin_s, 2), "track_min_per_hour": round(track_s / result.stats.end_s
                                                                   * 60, 2),
            "events_read": f"{len(errors)}/{len(events)}" if truth else "",
            "mean_time_error_s": round(statistics.fmean(errors), 3) if errors else None,
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
    parser.add_argument("--det", nargs="+", type=int, default=[736],
                        help="detector input sizes to compare: the key frame's short side "
                        "scaled to this (736: RapidOCR's default; 352: a 640x352 frame as is)")
    parser.add_argument("--generated-only", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        os.environ["VIDQA_HOME"] = str(Path(tmp) / "home")  # a fresh cache, nothing left behind
        from vidqa.keyframes.ingest import ingest
        from vidqa.evaluation.synth import demo_plan, render

        videos = [] if args.generated_only else \
            [(name, args.media / name) for name in REAL if (args.media / name).exists()]
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
            truth_file = Path(path).with_suffix(".truth.json")
            truth = json.loads(truth_file.read_text())["events"] if truth_file.exists() else None
            for det in args.det:
                for threads in args.threads:
                    row = bench(label, result, threads, det, truth)
                    print(f"  {det} threads={threads}: median {row['median_ms']} ms, "
                          f"pin {row['pin_s']} s, events {row['events_read']} "
                          f"{row['mean_time_error_s']}", file=sys.stderr, flush=True)
                    rows.append(row)

    print(f"OCR engine: {rows[0]['engine']}; {os.cpu_count()} CPU cores\n")
    print("| video | frame | detector input | key frames / h | threads | median ms | p95 ms "
          "| every key frame read whole: min / h | track: whole / region / same reads "
          "| track reading s | pinning s | text track min / h | text lines (as whole) | captions "
          "read | mean time error s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: "
          "| ---: | --- | ---: |")
    for r in rows:
        print(f"| {r['video']} | {r['frame']} | {r['det']} | {r['keyframes_per_hour']:g} "
              f"| {r['threads']} | {r['median_ms']:g} | {r['p95_ms']:g} "
              f"| {r['ocr_min_per_hour']:g} | {r['reads'].get('whole', 0)} / "
              f"{r['reads'].get('region', 0)} / {r['reads'].get('same', 0)} | {r['read_s']:g} "
              f"| {r['pin_s']:g} | {r['track_min_per_hour']:g} "
              f"| {r['text_lines']} ({'same' if r['same_lines_as_whole'] else 'differ'}) "
              f"| {r['events_read']} | {r['mean_time_error_s']} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
