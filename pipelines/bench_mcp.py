"""`find` through each door, on one indexed video, in one run: the MCP tool over stdio (the
SDK's own client talking to a `vidqa mcp` process, as a desktop client does), the MCP tool over
streamable HTTP (`vidqa mcp --http`), the HTTP API (`POST /v1/find` of `vidqa serve`), and the
command line (`vidqa find` as a whole process).

    python3 pipelines/bench_mcp.py [--minutes 10] [--work /tmp/bench-mcp] [--finds 100]

The video is `vidqa sample --minutes N` (shots, slides with caption events, spoken sentences),
indexed once with `vidqa index --no-captions` (on-screen text and speech) in its own VIDQA_HOME
under --work; a second run finds it cached. Each server is a real process started one at a
time with nothing else running; its first call is timed apart (it may load what `warm` has not
yet), then --finds calls go one after another over the query list (the same queries at every
door, k=5). MCP latencies are what the SDK's `Client.call_tool` takes, JSON-RPC framing and
pydantic validation of the result included; the HTTP API's are http.client's on one kept-alive
connection. Results are printed as a Markdown table, then the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_serve  # noqa: E402
from bench_serve import Client, Served, log, summary  # noqa: E402

bench_serve.SETTINGS = []  # the default settings, as `vidqa index` and `vidqa mcp` use them

QUERIES = ["the first event", "quarterly budget", "yellow box", "slide two", "thank you",
           "the second event", "welcome to the demo", "a red car in the parking lot",
           "event on screen", "budget review"]


def vidqa(*args: str, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidqa", *args], env=env, check=True,
                          capture_output=True, text=True, **kwargs)


def cli_finds(video: Path, env: dict, runs: int) -> list[float]:
    out = []
    for i in range(runs):
        start = time.perf_counter()
        vidqa("find", str(video), QUERIES[i % len(QUERIES)], "-k", "5", env=env)
        out.append((time.perf_counter() - start) * 1000)
    return out


def api_finds(folder: Path, env: dict, finds: int) -> tuple[float, list[float], float]:
    served = Served(folder, env, extra=[])
    try:
        served.wait_checked()
        client = Client(served.url)
        start = time.perf_counter()
        client.json("POST", "/v1/find", {"query": QUERIES[0], "k": 5})
        first = (time.perf_counter() - start) * 1000
        times = []
        for i in range(finds):
            start = time.perf_counter()
            body = client.json("POST", "/v1/find", {"query": QUERIES[i % len(QUERIES)], "k": 5})
            times.append((time.perf_counter() - start) * 1000)
            assert body[0]["data"] is not None
        client.close()
        return first, times, served.startup_s
    finally:
        served.stop()


async def _mcp_finds(target, finds: int) -> tuple[float, float, list[float]]:
    from mcp import Client as McpClient

    started = time.perf_counter()
    async with McpClient(target) as client:
        ready = (time.perf_counter() - started) * 1000
        start = time.perf_counter()
        result = await client.call_tool("find", {"query": QUERIES[0], "k": 5})
        first = (time.perf_counter() - start) * 1000
        assert not result.is_error, result
        times = []
        for i in range(finds):
            start = time.perf_counter()
            result = await client.call_tool("find", {"query": QUERIES[i % len(QUERIES)],
                                                     "k": 5})
            times.append((time.perf_counter() - start) * 1000)
            assert not result.is_error and result.structured_content["hits"], result
        return ready, first, times


def mcp_stdio(folder: Path, env: dict, finds: int):
    import anyio
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=sys.executable, env=env, cwd=str(folder),
                                   args=["-m", "vidqa", "mcp", str(folder)])
    return anyio.run(_mcp_finds, params, finds)


def mcp_http(folder: Path, env: dict, finds: int):
    import re
    import threading

    import anyio

    proc = subprocess.Popen([sys.executable, "-m", "vidqa", "mcp", str(folder), "--http",
                             "--port", "0"], env=env, cwd=str(folder), text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url, seen = [], threading.Event()

    def drain():
        for line in proc.stderr:
            match = re.search(r"at (http://\S+/mcp)", line)
            if match and not url:
                url.append(match.group(1))
                seen.set()
        seen.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not seen.wait(300) or not url:
            raise RuntimeError("vidqa mcp --http did not start")
        time.sleep(2.0)  # the checker thread reads the index from the cache
        return anyio.run(_mcp_finds, url[0], finds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-mcp"))
    parser.add_argument("--finds", type=int, default=100)
    parser.add_argument("--cli-runs", type=int, default=5)
    args = parser.parse_args()

    folder = args.work / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / "sample.mp4"
    env = {**os.environ, "VIDQA_HOME": str(args.work / "home"), "OMP_NUM_THREADS": "1"}
    if not video.exists():
        log(f"making a {args.minutes:g}-minute sample")
        vidqa("sample", str(video), "--minutes", str(args.minutes), env=env)
        (folder / "sample.truth.json").unlink(missing_ok=True)
    log("indexing (cached after the first run)")
    start = time.perf_counter()
    vidqa("index", "--no-captions", str(video), env=env)
    log(f"indexed in {time.perf_counter() - start:.1f} s")

    rows = []
    log("CLI")
    cli = cli_finds(video, env, args.cli_runs)
    rows.append(("`vidqa find` as a whole process", None, None, summary(cli)))
    log("HTTP API")
    first, times, startup = api_finds(folder, env, args.finds)
    rows.append(("`POST /v1/find` of `vidqa serve`, kept-alive", startup * 1000, first,
                 summary(times)))
    log("MCP over stdio")
    ready, first, times = mcp_stdio(folder, env, args.finds)
    rows.append(("MCP `find` over stdio (`vidqa mcp`)", ready, first, summary(times)))
    log("MCP over HTTP")
    ready, first, times = mcp_http(folder, env, args.finds)
    rows.append(("MCP `find` over streamable HTTP (`vidqa mcp --http`)", ready, first,
                 summary(times)))

    base = rows[1][3]["p50"]
    print("| door | start (ms) | first find (ms) | n | p50 ms | p95 ms | max ms | p50 / API |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, started, first, stats in rows:
        cells = [f"{started:.0f}" if started is not None else "",
                 f"{first:.1f}" if first is not None else ""]
        print(f"| {name} | {' | '.join(cells)} | {stats['n']} | {stats['p50']:.1f} | "
              f"{stats['p95']:.1f} | {stats['max']:.1f} | {stats['p50'] / base:.2f}x |")
    print()
    print("command: python3 " + " ".join(shlex.quote(a) for a in sys.argv))
    print(json.dumps({"video_minutes": args.minutes}), file=sys.stderr)


if __name__ == "__main__":
    main()
