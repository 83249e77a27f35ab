"""A folder of videos indexed locally one after another against `--ray` (a local Ray instance
with the same cores), wall time and peak memory of each; then what each stage costs per hour
of video, the inputs of the 1,000-hour model in BENCHMARKS.md.

    python3 pipelines/bench_ray.py [--videos 4] [--minutes 2] [--out /tmp/bench-ray]

The videos are `vidqa sample` recordings (shots, slides with text, spoken sentences), each
with its own seed. Both runs index with --no-captions (on-screen text, speech, the search
index: the CPU stages a cluster spreads; captions go to model servers either way), each into a
fresh cache. Peak memory is the largest sum of the resident memory of the command and every
process under it (Ray's GCS, raylet and workers included), sampled every 0.1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil


def tree_rss(root: psutil.Process) -> int:
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS of the process tree in bytes, stderr) of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(root))
        time.sleep(0.1)
    wall = time.perf_counter() - started
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {err[-2000:]}")
    return wall, peak, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-ray"))
    args = parser.parse_args()

    folder = args.out / f"videos-{args.videos}x{args.minutes:g}"
    folder.mkdir(parents=True, exist_ok=True)
    vidqa = [sys.executable, "-m", "vidqa", "-q"]
    for i in range(args.videos):
        path = folder / f"recording{i}.mp4"
        if not path.exists():
            subprocess.run([*vidqa, "sample", str(path), "--minutes", str(args.minutes),
                            "--seed", str(i)], check=True, stdout=subprocess.DEVNULL)
    hours = args.videos * args.minutes / 60
    results = {}
    for name, extra in (("local, one after another", []), ("--ray (local instance)", ["--ray"])):
        home = args.out / ("home-" + ("ray" if extra else "local"))
        shutil.rmtree(home, ignore_errors=True)
        env = {**os.environ, "VIDQA_HOME": str(home)}
        wall, peak, _ = timed([*vidqa, "index", "--no-captions", str(folder), *extra], env)
        results[name] = {"wall_s": round(wall, 1), "peak_mib": round(peak / 2**20)}
        print(f"{name}: {wall:.1f} s, peak {peak / 2**20:.0f} MiB", flush=True)

    # Per-stage costs, one video at a time in this process (the caches of the local run above
    # hold every stage, so this pass runs them again in a fresh cache).
    os.environ["VIDQA_HOME"] = str(args.out / "home-stages")
    shutil.rmtree(os.environ["VIDQA_HOME"], ignore_errors=True)
    from vidqa.pipeline import Pipeline

    pipeline = Pipeline()
    stages: dict[str, float] = {}
    keyframes = chunks = tokens = 0
    for video in sorted(folder.glob("*.mp4")):
        run = pipeline.run(str(video))
        started = time.perf_counter()
        pipeline.index(run)
        run.seconds["index"] = round(time.perf_counter() - started, 2)
        for stage, seconds in run.seconds.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
        keyframes += len(run.ingest.keyframes)
        chunks += len(run.ingest.chunks)
        tokens += sum(c.tokens for c in run.ingest.chunks)
    per_hour = {stage: round(seconds / hours, 1) for stage, seconds in stages.items()}
    summary = {"videos": args.videos, "minutes_each": args.minutes, "runs": results,
               "speedup": round(results["local, one after another"]["wall_s"]
                                / results["--ray (local instance)"]["wall_s"], 2),
               "stage_seconds_per_hour": per_hour,
               "keyframes_per_hour": round(keyframes / hours),
               "chunks_per_hour": round(chunks / hours, 1),
               "visual_tokens_per_hour": round(tokens / hours)}
    print(json.dumps(summary, indent=1))
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
