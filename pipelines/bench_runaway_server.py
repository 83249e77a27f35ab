"""A model server that ignores max_tokens: what one `vidqa index` costs, against a baseline checkout.

    git worktree add /tmp/vidqa-base <commit>        # the baseline, e.g. the commit before
    python pipelines/bench_runaway_server.py --baseline /tmp/vidqa-base [--minutes 0.5]

The loopback test server (`tests/helpers/openai_server.py`, model `huge-vl`) answers every chat
request with ~10 MB of valid JSON: a caption with 80,000 events. The script makes a sample video
(`vidqa sample`, once), then runs `vidqa -q index VIDEO --ocr off -b openai -m huge-vl` with this
checkout and with the baseline (each with an empty VIDQA_HOME, one after the other in one run),
and prints wall time, peak RSS (GNU time's %M) and what the index holds, as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.openai_server import API_KEY, OpenAIServer  # noqa: E402


def run_index(checkout: Path, video: Path, base_url: str, home: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), "VIDQA_HOME": str(home)}
    home.mkdir(parents=True, exist_ok=True)
    command = ["/usr/bin/time", "-f", "TIME wall_s=%e max_rss_kb=%M", sys.executable, "-m",
               "vidqa", "-q", "index", str(video), "--json", "--ocr", "off", "-b", "openai",
               "--api-key", API_KEY, "--base-url", base_url, "-m", "huge-vl"]
    # cwd: not this checkout, whose vidqa/ `python -m` would import whatever PYTHONPATH says
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=home.parent)
    check = subprocess.run([sys.executable, "-c", "import vidqa; print(vidqa.__file__)"],
                           env=env, capture_output=True, text=True, cwd=home.parent)
    assert check.stdout.startswith(str(checkout)), (checkout, check.stdout)
    times = re.search(r"TIME wall_s=([\d.]+) max_rss_kb=(\d+)", proc.stderr)
    row = {"exit": proc.returncode, "wall_s": float(times.group(1)),
           "peak_rss_mib": int(times.group(2)) / 1024}
    if proc.returncode == 0:
        (doc,) = json.loads(proc.stdout)
        row["events"] = len(doc["events"])
        row["warnings"] = sorted({c.get("warning") or "" for c in doc["chunks"]} - {""})
    else:
        row["error"] = proc.stderr.strip().splitlines()[0][:200]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout to compare")
    parser.add_argument("--minutes", type=float, default=0.5)
    parser.add_argument("--data", type=Path, default=ROOT / "bench-data")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    video = args.data / f"runaway-{args.minutes:g}min.mp4"
    if not video.exists():
        subprocess.run([sys.executable, "-m", "vidqa", "sample", str(video), "--minutes",
                        str(args.minutes)], check=True, stdout=sys.stderr,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    rows = {}
    with OpenAIServer(misbehaving=True) as base_url, tempfile.TemporaryDirectory() as scratch:
        for name, checkout in (("baseline", args.baseline), ("this checkout", ROOT)):
            print(f"running {name} ...", file=sys.stderr)
            rows[name] = run_index(checkout.resolve(), video, base_url, Path(scratch) / name)
    print("| code | exit | wall s | peak RSS MiB | events indexed | warning |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['exit']} | {row['wall_s']:.1f} | {row['peak_rss_mib']:.0f} | "
              f"{row.get('events', '-')} | {'; '.join(row.get('warnings', [])) or row.get('error', '')} |")
    base, new = rows["baseline"], rows["this checkout"]
    print(f"\nwall: {new['wall_s'] / base['wall_s']:.4f}x the baseline; peak RSS: "
          f"{new['peak_rss_mib'] / base['peak_rss_mib']:.3f}x")


if __name__ == "__main__":
    main()
