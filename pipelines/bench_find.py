"""What a person waits for at the command line: `vidqa find`, `vidqa events` and `vidqa ask` (up to
the model call) on an indexed video, as whole processes (start to exit, warm disk cache).

    python3 pipelines/bench_find.py [--checkout DIR ...] [--runs 5] [--video samples/demo.mp4]

For each checkout (default: this one; pass an older one to compare, e.g. a `git worktree` of
main) it indexes the video once (`vidqa index --no-captions`, its own VIDQA_HOME), then runs
each command `--runs` times as `python3 -m vidqa ...` with that checkout first on PYTHONPATH,
and reports the median wall time and the largest peak RSS (GNU time's maximum resident set
size). `ask` goes to an OpenAI-compatible server that is not there (127.0.0.1:9), so what is
timed is everything before the model call, plus the failed connection.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "find": ["find", "{video}", "the first event", "-k", "3"],
    "events": ["events", "{video}"],
    "ask": ["ask", "{video}", "what is the first event?", "-b", "openai", "-m",
            "Qwen/Qwen3-VL-2B-Instruct", "--base-url", "http://127.0.0.1:9/v1"],
}


def timed(argv: list[str], env: dict, cwd: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one process, measured by GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        started = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv], env=env, cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        return wall, int(out.read().split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", type=Path, nargs="+", default=[ROOT])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--video", type=Path, default=ROOT / "samples" / "demo.mp4")
    parser.add_argument("--commands", nargs="+", default=list(COMMANDS))
    args = parser.parse_args()
    video = args.video.resolve()
    rows = []
    for checkout in args.checkout:
        home = tempfile.mkdtemp(prefix="bench-find-home-")
        env = {**os.environ, "VIDQA_HOME": home, "PYTHONPATH": str(checkout.resolve())}
        python = [sys.executable, "-m", "vidqa", "-q"]
        # cwd: the home folder, so that the checkout on PYTHONPATH is the one imported
        subprocess.run([*python, "index", "--no-captions", str(video)], env=env, check=True,
                       cwd=home, stdout=subprocess.DEVNULL)
        for name in args.commands:
            argv = [*python, *[a.format(video=video) for a in COMMANDS[name]]]
            timed(argv, env, home)  # once to warm the disk cache and any export
            runs = [timed(argv, env, home) for _ in range(args.runs)]
            wall = [w for w, _ in runs]
            row = (checkout.name, name, statistics.median(wall), min(wall), max(wall),
                   max(m for _, m in runs))
            rows.append(row)
            print(f"{row[0]} {name}: median {row[2]:.2f} s (min {row[3]:.2f}, max {row[4]:.2f}),"
                  f" peak {row[5]:.0f} MiB", file=sys.stderr, flush=True)
    print("| checkout | command | median wall s | min | max | peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.0f} |")


if __name__ == "__main__":
    main()
