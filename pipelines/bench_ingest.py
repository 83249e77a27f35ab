"""Ingest benchmark: vidqa ingest against a full ffmpeg decode and PySceneDetect's CLI.

    python pipelines/bench_ingest.py --minutes 10 60

Generates (once, cached under --data) 1280x720 30 fps H.264 videos with libx264's default
preset (B-frames on) and varied shots, then measures in one run, per video, wall time and peak
RSS (the whole process tree, polled) of:
  (a)  ffmpeg -i V -f null -                      full decode, ffmpeg's default threads
  (a2) ffmpeg -threads 2 -i V -f null -          full decode, two threads
  (b)  vidqa ingest V                            fresh cache, no model
  (c)  scenedetect -i V detect-adaptive list-scenes
and checks the key frames against the video's truth: every 2-second event keeps a key frame,
visual tokens kept against uniform 2 fps. Prints a Markdown table and writes --out JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from vidqa.media.ffmpeg import ffmpeg_exe
from vidqa.evaluation.synth import demo_plan, render


def measure(command: list[str], *, env: dict | None = None, cwd: str | None = None) -> dict:
    """Wall seconds and peak RSS (MiB) of a command and all its children, polled every 20 ms."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=cwd)
    root = psutil.Process(proc.pid)
    peak = 0
    out_chunks: list[bytes] = []
    import threading

    def drain(stream, sink):
        for chunk in iter(lambda: stream.read(65536), b""):
            sink.append(chunk)

    threads = [threading.Thread(target=drain, args=(proc.stdout, out_chunks), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, []), daemon=True)]
    for t in threads:
        t.start()
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in tree if p.is_running())
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    for t in threads:
        t.join()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(command)}")
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(peak / 2**20, 1),
            "stdout": b"".join(out_chunks).decode("utf-8", "replace")}


def ensure_video(data: Path, minutes: float) -> tuple[Path, dict]:
    path = data / f"bench_{minutes:g}min_720p30.mp4"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        render(demo_plan(minutes, seed=7), path)
        print(f"  {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return path, json.loads(path.with_suffix(".truth.json").read_text())


def events_kept(result: dict, truth: dict) -> tuple[int, int]:
    times = [k["pts_s"] for k in result["keyframes"]]
    # Truth times are sums of float durations: allow a millisecond.
    kept = sum(any(e["start_s"] - 1e-3 <= t < e["end_s"] for t in times) for e in truth["events"])
    return kept, len(truth["events"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--data", type=Path, default=Path("bench-data"))
    parser.add_argument("--out", type=Path, default=Path("bench-data/bench_ingest.json"))
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--skip-scenedetect", action="store_true",
                        help="leave out (c), PySceneDetect's CLI (the slowest run)")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    videos = [ensure_video(args.data, m) for m in args.minutes]
    if args.generate_only:
        return
    ffmpeg = ffmpeg_exe()
    scenedetect = shutil.which("scenedetect") or str(Path(sys.executable).with_name("scenedetect"))
    vidqa = shutil.which("vidqa") or str(Path(sys.executable).with_name("vidqa"))
    rows = []
    for (path, truth), minutes in zip(videos, args.minutes):
        row: dict = {"minutes": minutes, "video": str(path), "size_mib": round(path.stat().st_size / 2**20, 1)}
        row["a_ffmpeg_decode"] = measure([ffmpeg, "-nostdin", "-hide_banner", "-i", str(path),
                                          "-f", "null", "-"])
        row["a2_ffmpeg_decode_threads2"] = measure([ffmpeg, "-nostdin", "-hide_banner",
                                                    "-threads", "2", "-i", str(path), "-f", "null", "-"])
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "VIDQA_HOME": home}
            row["b_vidqa_ingest"] = measure([vidqa, "ingest", str(path), "--json"], env=env)
            row["b2_vidqa_ingest_cached"] = measure([vidqa, "ingest", str(path), "--json"], env=env)
        with tempfile.TemporaryDirectory() as home:  # one pass: a single ffmpeg (before issue 12)
            one = Path(home) / "one-pass.yaml"
            one.write_text("decode:\n  segments: 1\n")
            env = {**os.environ, "VIDQA_HOME": home}
            row["b1_vidqa_ingest_one_pass"] = measure([vidqa, "--config", str(one), "ingest",
                                                       str(path), "--json"], env=env)
        result = json.loads(row["b_vidqa_ingest"]["stdout"])[0]
        with tempfile.TemporaryDirectory() as work:
            row["c_scenedetect_cli"] = {"wall_s": float("nan"), "peak_rss_mib": float("nan")} \
                if args.skip_scenedetect else measure([scenedetect, "-i", str(path.resolve()),
                                                       "detect-adaptive", "list-scenes"], cwd=work)
        for key in list(row):
            if isinstance(row[key], dict):
                row[key].pop("stdout", None)
        kept, total = events_kept(result, truth)
        stats = result["stats"]
        row.update(keyframes=stats["keyframes"], frames_sampled=stats["frames_sampled"],
                   token_reduction=stats["token_reduction"], events_kept=kept, events=total,
                   chunks=len(result["chunks"]))
        a, b, c = (row["a_ffmpeg_decode"]["wall_s"], row["b_vidqa_ingest"]["wall_s"],
                   row["c_scenedetect_cli"]["wall_s"])
        row["b_over_a"] = round(b / a, 3)
        row["b_over_a2"] = round(b / row["a2_ffmpeg_decode_threads2"]["wall_s"], 3)
        row["b1_over_a"] = round(row["b1_vidqa_ingest_one_pass"]["wall_s"] / a, 3)
        row["c_over_b"] = round(c / b, 2)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print("| video | (a) decode | (a2) decode -threads 2 | (b) vidqa ingest | (b) cached | (b1) one pass | (c) scenedetect | b/a | b1/a | b/a2 | c/b | peak RSS (b) | tokens saved | 2 s events kept |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['minutes']:g} min ({r['size_mib']} MiB) | {r['a_ffmpeg_decode']['wall_s']} s, {r['a_ffmpeg_decode']['peak_rss_mib']} MiB "
              f"| {r['a2_ffmpeg_decode_threads2']['wall_s']} s | {r['b_vidqa_ingest']['wall_s']} s "
              f"| {r['b2_vidqa_ingest_cached']['wall_s']} s | {r['b1_vidqa_ingest_one_pass']['wall_s']} s "
              f"| {r['c_scenedetect_cli']['wall_s']} s, {r['c_scenedetect_cli']['peak_rss_mib']} MiB "
              f"| {r['b_over_a']} | {r['b1_over_a']} | {r['b_over_a2']} | {r['c_over_b']} | {r['b_vidqa_ingest']['peak_rss_mib']} MiB "
              f"| {r['token_reduction']:.1%} | {r['events_kept']}/{r['events']} |")


if __name__ == "__main__":
    main()
