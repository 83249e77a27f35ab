"""Start-up cost of the command line: `vidqa --help` and `vidqa paths`, wall time and peak memory,
this checkout against a baseline git revision, measured in the same run (alternating, median).

    python pipelines/bench_startup.py --baseline bf38af1 --runs 9

Each run is a fresh `python -c` process that imports `vidqa.cli` from the given tree (by
PYTHONPATH, ahead of the installed package), runs the command and exits; /usr/bin/time gives the
peak resident memory. Also lists which heavy libraries the command imported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("cv2", "scenedetect", "av", "torch", "faiss", "onnxruntime")
CODE = ("import sys\nfrom vidqa.cli import main\nsys.argv = ['vidqa', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)")


def once(tree: Path, args: list[str]) -> tuple[float, float, str]:
    # From a neutral folder: `python -c` puts the working folder first on sys.path.
    proc = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-c", CODE,
                           *args], capture_output=True, text=True, cwd=tree.parent,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    lines = proc.stderr.splitlines()
    wall, kib = next(line for line in lines if line.startswith("TIME ")).split()[1:]
    heavy = next(line for line in lines if line.startswith("HEAVY "))[6:]
    return float(wall), int(kib) / 1024, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base),
                        args.baseline], check=True)
        try:
            print("| command | tree | median wall (s) | median peak (MiB) | heavy imports |")
            print("|---|---|---|---|---|")
            for command in (["--help"], ["paths"]):
                results: dict[str, list] = {"baseline": [], "this": []}
                for _ in range(args.runs):
                    results["baseline"].append(once(base, command))
                    results["this"].append(once(ROOT, command))
                walls = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
                for name, runs in results.items():
                    print(f"| vidqa {' '.join(command)} | {name} | {walls[name]:.3f} | "
                          f"{statistics.median(r[1] for r in runs):.1f} | {runs[-1][2]} |")
                print(f"| vidqa {' '.join(command)} | this / baseline | "
                      f"{walls['this'] / walls['baseline']:.2f}x | | |")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                           check=False)


if __name__ == "__main__":
    main()
