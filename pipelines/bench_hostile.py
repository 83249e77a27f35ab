"""What the defences of issue 23 cost, and what a hostile subtitle file costs, in one run.

    python3 pipelines/bench_hostile.py [--work /tmp/bench-hostile] [--base /tmp/vidqa-base]
        [--finds 300]

1. Subtitles: `python3 -m vidqa -q transcript -f txt talk.mp4` (a 3-second generated video) as a
   whole process, with a sidecar `talk.srt` of each size: 2 cues (the baseline), 7.8 MiB (under
   the 8 MiB limit) and 50 MiB (over it). Peak RSS of the process (`wait4`'s ru_maxrss), wall
   time and exit status. With `--base DIR` (a checkout of the code before the change, e.g. a
   `git worktree` of the parent commit) the same commands run on that code too
   (PYTHONPATH=DIR), in the same run.
2. The server's guard (Host, Origin, key, limits: `vidqa.serve.guard`): POST /v1/find on a warm
   server over one indexed generated video, `--finds` sequential requests on one kept-alive
   connection, with the guard and without it (the same Starlette app, unwrapped), alternating
   in blocks of 50 so that drift hits both alike. Median and p90, client side.

Results are printed as Markdown tables.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CUE = "{n}\n{a} --> {b}\nline {n} of a very long subtitle file, said at this time\n\n"


def stamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(path: Path, size_bytes: int) -> None:
    """SubRip cues 0.1 s apart (most of them past the video's end) up to `size_bytes`."""
    with open(path, "w", encoding="utf-8") as out:
        n, written = 1, 0
        while written < size_bytes:
            text = CUE.format(n=n, a=stamp(n * 0.1), b=stamp(n * 0.1 + 0.09))
            out.write(text)
            written += len(text)
            n += 1


def run_measured(args: list[str], env: dict, cwd: Path) -> tuple[float, float, int]:
    """(peak RSS MiB, wall seconds, exit status) of a command."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.stderr.close()
    return usage.ru_maxrss / 1024, wall, os.waitstatus_to_exitcode(status)


def subtitles(work: Path, base: str | None) -> list[str]:
    from vidqa.media.ffmpeg import ffmpeg_exe

    video = work / "talk.mp4"
    if not video.exists():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=320x240:rate=25:duration=3", "-pix_fmt", "yuv420p",
                        str(video)], check=True)
    srt = work / "talk.srt"
    rows = ["| sidecar | code | peak RSS | x baseline | wall | exit |", "|---|---|---|---|---|---|"]
    codes = [("this change", None)] + ([("before (--base)", base)] if base else [])
    baseline: dict[str, float] = {}
    for label, size in (("2 cues (baseline)", 200), ("7.8 MiB", int(7.8 * 2**20)),
                        ("50 MiB", 50 * 2**20)):
        write_srt(srt, size)
        for code, path in codes:
            # each code its own cache; run from the work folder, so that `-m vidqa` takes the
            # code PYTHONPATH names, not a checkout in the current folder
            env = {**os.environ, "VIDQA_HOME": str(work / f"home-{len(path or '')}"),
                   "OMP_NUM_THREADS": "1"}
            if path:
                env["PYTHONPATH"] = path
            rss, wall, status = run_measured([sys.executable, "-m", "vidqa", "-q", "transcript",
                                              "-f", "txt", str(video)], env, work)
            baseline.setdefault(code, rss)  # the first size is the baseline
            rows.append(f"| {label} | {code} | {rss:.0f} MiB | {rss / baseline[code]:.2f}x | "
                        f"{wall:.1f} s | {status} |")
    return rows


def guard_cost(work: Path, finds: int) -> list[str]:
    from vidqa.config import Config
    from vidqa.media.ffmpeg import ffmpeg_exe
    from vidqa.serve.app import Server, create_app
    from vidqa.serve.service import Service

    os.environ["VIDQA_HOME"] = str(work / "home")
    folder = work / "served"
    folder.mkdir(exist_ok=True)
    video = folder / "slide.mp4"
    if not video.exists():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                        "color=c=0x204060:size=640x360:rate=25:duration=20", "-vf",
                        "drawtext=text='QUARTERLY BUDGET REVIEW':fontsize=40:fontcolor=white:"
                        "x=40:y=150", "-pix_fmt", "yuv420p", str(video)], check=True)
    service = Service([folder], Config().replace("speech", mode="off"), check=False)
    service.indexed(service.entry("slide.mp4"))
    guarded = create_app(service)
    servers = {"with the guard": Server(guarded), "without": Server(guarded.app)}
    body = json.dumps({"query": "budget review", "video": "slide.mp4", "k": 5})
    times: dict[str, list[float]] = {name: [] for name in servers}
    try:
        conns = {name: http.client.HTTPConnection(s.host, s.port) for name, s in servers.items()}
        for _ in range(max(1, finds // 50)):
            for name, conn in conns.items():
                for _ in range(50):
                    started = time.perf_counter()
                    conn.request("POST", "/v1/find", body=body,
                                 headers={"Content-Type": "application/json"})
                    reply = conn.getresponse()
                    reply.read()
                    assert reply.status == 200, reply.status
                    times[name].append(time.perf_counter() - started)
    finally:
        for server in servers.values():
            server.close()
        service.close()
    base = statistics.median(times["without"])
    rows = ["| /v1/find | requests | median | p90 | x without |", "|---|---|---|---|---|"]
    for name, values in times.items():
        values.sort()
        rows.append(f"| {name} | {len(values)} | {statistics.median(values) * 1000:.2f} ms | "
                    f"{values[int(len(values) * 0.9)] * 1000:.2f} ms | "
                    f"{statistics.median(values) / base:.3f}x |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/bench-hostile")
    parser.add_argument("--base", default=None, help="the code before the change (PYTHONPATH)")
    parser.add_argument("--finds", type=int, default=300)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print("\n".join(subtitles(work, args.base)))
    print()
    print("\n".join(guard_cost(work, args.finds)))
    print()
    print("command: python3 " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
