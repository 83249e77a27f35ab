"""`vidqa serve` on a 10-hour collection: /v1/find latency on a warm server, time to first byte
of the page, and the memory of the idle server with its models loaded.

    python3 pipelines/bench_serve.py [--video /work/bench-data/bench_60min_720p30.mp4]
        [--copies 10] [--work /tmp/bench-serve] [--finds 200] [--clients 20 --per-client 10]
        [--no-tiny-model] [--keep-collection]

The collection is 10 copies of ONE hour, not 10 different hours: the 60-minute video is indexed
once (`vidqa index --no-captions --ocr-size 264 --speech off`, on-screen text only, its own
VIDQA_HOME under --work; a second run finds it cached and does no work), then hard-linked under
--copies names into a served folder. The caches are keyed by file content, so that one index
run indexes every copy; the library serves each name as its own video, so the server holds
copies x 60 min of video and its collection index copies x the entries of one hour, with every
text there copies times (a top-5 hit list is then mostly one moment in five copies).

Then, one at a time, each as a real process (`python3 -m vidqa serve FOLDER --port 0 --ocr-size
264 --speech off`, the URL read from its stderr), with nothing else running:

- the CLI baseline: `vidqa find VIDEO QUERY -k 5` as a whole process (cold process, warm disk
  cache): what a warm server saves per search. Median wall time, peak RSS (GNU time).
- the server over the copies folder: start-up (to its "serving" line, the embedder and OCR
  loaded by `Service.warm`) and until GET /api/videos shows every video "indexed"; RSS and peak
  RSS (VmHWM) idle after that; time to first byte (response headers, fresh connection) of GET /,
  /static/app.js, /static/timeline.js, and the full load of GET /api/videos and of one video's
  timeline; POST /v1/find `{"query", "k": 5}` over every indexed video: the first request
  (the collection index is built then: its cached directory is removed before the server starts,
  unless --keep-collection), warm-ups, then --finds sequential requests over the query list, the
  same naming one video, and --clients threads x --per-client requests at once; RSS idle after.
- the same server over a folder with ONE copy (the 1-video baseline of the collection search).
- with --tiny-model (default on): the one-copy server started with `-m` on the tiny random
  Qwen3-VL of tests/helpers/tiny_qwen3_vl.py (transformers, CPU): idle RSS with a model loaded.

Latencies are client-side (http.client with TCP_NODELAY; the client shares the 2 cores with
the server), each measured two ways: on one kept-alive HTTP/1.1 connection (what a browser or an
SDK does) and on a new connection per request (as curl). Before the listening socket named
IPPROTO_TCP (`vidqa.serve.app.bind`), asyncio left Nagle on for the accepted connections and a
kept-alive client waited ~40 ms for each response body; the two ways now agree.
Results are printed as Markdown tables, then the command line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = Path("/work/bench-data/bench_60min_720p30.mp4")
SETTINGS = ["--ocr-size", "264", "--speech", "off"]
# Words that are on screen in the benchmark video (its "Part N", "slide 70NN - vidqa sample" and
# "EVENT 1 AT N" cards), asked the way a person would, plus two that match nothing exactly.
QUERIES = ["part 17", "slide 7042", "vidqa sample", "EVENT 1 AT 30", "event at 44",
           "Part 61", "the slide numbered 7070", "when does event 1 at 12 appear",
           "part thirty three", "a red car in the parking lot"]
SERVING = re.compile(r"vidqa: serving (\d+) (?:videos?|recordings?)(?: \(\d+ sound files?\))? "
                     r"from .* at (http://[^/\s]+)/")


def log(message: str) -> None:
    print(f"[bench-serve {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95),
            "max": max(values), "mean": statistics.fmean(values)}


def rss(pid: int) -> dict:
    """RSS and peak RSS (VmHWM) of a process, MiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return {"rss": fields["VmRSS"], "hwm": fields["VmHWM"]}


# -- HTTP

class Client:
    """One kept-alive connection to the server (http.client: little client overhead)."""

    def __init__(self, url: str, *, fresh: bool = False):
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.fresh = fresh  # a new connection for every request (timed with the connect)
        self.conn = None if fresh else self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        """A connection with Nagle off, as browsers, curl and httpx have it: http.client sends
        a POST's headers and body in two writes, and with Nagle on the body waits for the
        server's delayed ACK (40 ms on Linux), which would be timed as the server's."""
        import socket

        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def request(self, method: str, path: str, body: dict | None = None
                ) -> tuple[int, bytes, float, float]:
        """(status, body, seconds to the response headers, seconds to the whole body)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            try:
                started = time.perf_counter()
                if self.fresh:
                    if self.conn is not None:
                        self.conn.close()
                    self.conn = self._connect()
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                first = time.perf_counter() - started
                payload = response.read()
                return response.status, payload, first, time.perf_counter() - started
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = self._connect()
                if attempt:
                    raise
        raise AssertionError

    def json(self, method: str, path: str, body: dict | None = None) -> tuple[dict, float]:
        status, payload, _, whole = self.request(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path} -> {status}: {payload[:300]!r}")
        return json.loads(payload), whole

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def ttfb(url: str, path: str, runs: int) -> tuple[list[float], list[float], int]:
    """Time to the first byte of the response (fresh connection each time, as a browser's first
    load: connect + request + the server's work) and to the whole body; the body's size."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    import socket

    firsts, wholes, size = [], [], 0
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
               "Accept: */*\r\n\r\n").encode()
    for _ in range(runs):
        started = time.perf_counter()
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(request)
            chunk = sock.recv(65536)
            firsts.append(time.perf_counter() - started)
            received = [chunk]
            while chunk:
                chunk = sock.recv(65536)
                received.append(chunk)
            wholes.append(time.perf_counter() - started)
        raw = b"".join(received)
        if not raw.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"GET {path}: {raw[:200]!r}")
        size = len(raw.partition(b"\r\n\r\n")[2])
    return firsts, wholes, size


# -- processes

class Served:
    """`vidqa serve` as a process, its stderr drained by a thread; the URL from its banner."""

    def __init__(self, folder: Path, env: dict, extra: list[str] = ()):
        self.argv = [sys.executable, "-m", "vidqa", "serve", str(folder), "--port", "0",
                     *SETTINGS, *extra]
        self.lines: list[str] = []
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, env=env, cwd=str(folder), text=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.banner = threading.Event()
        self.url = self.count = None
        threading.Thread(target=self._drain, daemon=True).start()
        if not self.banner.wait(timeout=300) or self.url is None:
            self.stop()
            raise RuntimeError("the server did not start:\n" + "".join(self.lines[-30:]))
        self.startup_s = time.perf_counter() - self.started
        self.pid = self.proc.pid

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            match = SERVING.search(line)
            if match and self.url is None:
                self.count, self.url = int(match.group(1)), match.group(2)
                self.banner.set()
        self.banner.set()  # exited

    def wait_checked(self, timeout_s: float = 300, want: str | None = "indexed") -> list[dict]:
        """Poll GET /api/videos until every video is checked (`want`: in that state)."""
        client = Client(self.url)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                listed = client.json("GET", "/api/videos")[0]["videos"]
                states = [v["state"] for v in listed]
                settled = all(s not in ("unchecked", "checking") for s in states)
                if (want is None and settled) or (states and all(s == want for s in states)):
                    return listed
                if settled and want is not None:
                    raise RuntimeError(f"videos settled as {sorted(set(states))}, not all {want}: "
                                       f"{[v.get('error') for v in listed if v.get('error')]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"videos still {sorted(set(states))} after {timeout_s} s")
                time.sleep(0.2)
        finally:
            client.close()

    def stop(self) -> float:
        """SIGTERM, then SIGKILL after 20 s; seconds to exit."""
        started = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.perf_counter() - started


def timed_process(argv: list[str], env: dict, cwd: str) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit status) of one process, by GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        started = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv], env=env,
                              cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        wall = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(f"{shlex.join(argv)} failed: {done.stderr[-800:]}")
        return wall, int(out.read().split()[-1]) / 1024, done.returncode


# -- the measurements

def find_runs(client: Client, queries: list[str], count: int, extra: dict | None = None
              ) -> tuple[list[float], list[dict]]:
    times, last = [], []
    for i in range(count):
        body = {"query": queries[i % len(queries)], "k": 5, **(extra or {})}
        data, seconds = client.json("POST", "/v1/find", body)
        times.append(seconds)
        last = data["data"]
    return times, last


def concurrent_finds(url: str, queries: list[str], clients: int, per_client: int, *,
                     fresh: bool = False) -> tuple[list[float], float, int]:
    """(latencies, wall seconds, errors) of `clients` threads each sending `per_client`."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def worker(n: int) -> None:
        client = Client(url, fresh=fresh)
        mine = []
        barrier.wait()
        for i in range(per_client):
            try:
                _, seconds = client.json("POST", "/v1/find",
                                         {"query": queries[(n + i) % len(queries)], "k": 5})
                mine.append(seconds)
            except Exception:  # noqa: BLE001 - counted, reported
                with lock:
                    errors[0] += 1
        client.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started, errors[0]


def index_video(video: Path, env: dict, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vidqa", "-q", "index", "--no-captions", *SETTINGS,
                    str(video)], env=env, cwd=str(work), check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def served_folder(folder: Path, video: Path, copies: int) -> list[Path]:
    """`copies` hard links of `video` (a copy where links are not possible) in `folder`."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    names = []
    for n in range(copies):
        target = folder / f"hour-{n + 1:02d}{video.suffix}"
        try:
            os.link(video, target)
        except OSError:
            shutil.copyfile(video, target)
        names.append(target)
    return names


def bench_server(name: str, folder: Path, env: dict, args, queries: list[str], home: Path,
                 results: dict, *, page: bool) -> None:
    """One server over `folder`: start-up, memory, (page,) finds; into results[name]."""
    out: dict = results.setdefault(name, {})
    collections = home / "cache" / "collections"
    if collections.exists() and not args.keep_collection:
        shutil.rmtree(collections)  # so that the first collection search builds it, honestly
    log(f"{name}: starting the server on {folder}")
    server = Served(folder, env)
    try:
        out["startup_s"] = server.startup_s
        out["videos"] = server.count
        listed = server.wait_checked()
        out["indexed_s"] = time.perf_counter() - server.started
        log(f"{name}: {server.count} videos at {server.url}, banner after "
            f"{server.startup_s:.1f} s, all indexed after {out['indexed_s']:.1f} s")
        time.sleep(args.settle_s)
        out["mem_idle"] = rss(server.pid)
        client = Client(server.url)
        first = listed[0]
        timeline, _ = client.json("GET", f"/api/videos/{first['id']}/timeline")
        out["text_lines"] = timeline["lanes"]["text"]["count"]
        out["duration_s"] = sum(v["duration_s"] or 0 for v in listed)
        if page:
            log(f"{name}: time to first byte of the page ({args.ttfb_runs} runs each)")
            out["ttfb"] = {}
            for path in ("/", "/static/app.js", "/static/timeline.js"):
                firsts, wholes, size = ttfb(server.url, path, args.ttfb_runs)
                out["ttfb"][path] = (summary(firsts), summary(wholes), size)
            for path in ("/api/videos", f"/api/videos/{first['id']}/timeline"):
                firsts, wholes, size = ttfb(server.url, path, args.ttfb_runs)
                out["ttfb"][path] = (summary(firsts), summary(wholes), size)
            client.request("GET", "/api/videos")
            out["videos_kept"] = summary([client.request("GET", "/api/videos")[3]
                                          for _ in range(args.ttfb_runs)])
        log(f"{name}: first /v1/find (cold: builds the collection index when several videos)")
        data, cold = client.json("POST", "/v1/find", {"query": queries[0], "k": 5})
        out["cold_s"] = cold
        out["collection_dirs"] = len(list(collections.iterdir())) if collections.exists() else 0
        find_runs(client, queries, 3)  # warm-up
        log(f"{name}: {args.finds} sequential /v1/find over every indexed video")
        times, hits = find_runs(client, queries, args.finds)
        out["find"] = summary(times)
        out["hits"] = hits
        log(f"{name}: {args.finds} sequential /v1/find, a new connection each")
        fresh = Client(server.url, fresh=True)
        out["find_fresh"] = summary(find_runs(fresh, queries, args.finds)[0])
        if page:
            log(f"{name}: {args.finds} sequential /v1/find naming one video")
            find_runs(client, queries, 3, {"video": first["path"]})
            times, named_hits = find_runs(client, queries, args.finds, {"video": first["path"]})
            out["find_named"] = summary(times)
            out["find_named_fresh"] = summary(find_runs(fresh, queries, args.finds,
                                                        {"video": first["path"]})[0])
            log(f"{name}: {args.clients} clients x {args.per_client} /v1/find at once")
            for key, new in (("concurrent", False), ("concurrent_fresh", True)):
                latencies, wall, errors = concurrent_finds(server.url, queries, args.clients,
                                                           args.per_client, fresh=new)
                out[key] = (summary(latencies) if latencies else None, wall, len(latencies),
                            errors)
        client.close()
        time.sleep(args.settle_s)
        out["mem_after"] = rss(server.pid)
    finally:
        out["stop_s"] = server.stop()
        out["stderr_tail"] = [line.rstrip() for line in server.lines[-5:]]
        out["returncode"] = server.proc.returncode


def bench_tiny_model(folder: Path, env: dict, args, results: dict) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers.tiny_qwen3_vl import build

    out = results.setdefault("tiny", {})
    target = Path(args.work) / "tiny-qwen3-vl"
    if not (target / "config.json").exists():
        started = time.perf_counter()
        build(target)
        out["build_s"] = time.perf_counter() - started
    log("tiny model: starting the one-copy server with -m (transformers, CPU)")
    server = Served(folder, env, ["-m", str(target), "-b", "transformers"])
    try:
        out["startup_s"] = server.startup_s
        listed = server.wait_checked(want=None)
        out["states"] = sorted({v["state"] for v in listed})
        time.sleep(args.settle_s)
        out["mem_idle"] = rss(server.pid)
        client = Client(server.url)
        data, _ = client.json("GET", "/api/videos")
        out["model"] = data.get("model")
        client.close()
    finally:
        out["stop_s"] = server.stop()
        out["returncode"] = server.proc.returncode


# -- report

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def report(results: dict, args, command: str) -> None:
    cli = results["cli"]
    big, one = results["collection"], results.get("single", {})
    hours = big["duration_s"] / 3600
    n = big["videos"]
    cli_s = statistics.median(cli["walls"])

    def row(label: str, s: dict | None) -> None:
        if s:
            print(f"| {label} | {s['n']} | {ms(s['p50'])} | {ms(s['p95'])} | {ms(s['max'])} |")

    print()
    print(f"Collection: {n} videos = {args.copies} hard-linked copies of ONE "
          f"{big['duration_s'] / args.copies / 60:.0f}-minute video ({hours:.1f} h in all), "
          f"indexed once (on-screen text, --ocr-size 264, speech off, no captions): "
          f"{big['text_lines']} text lines per copy, so the collection index holds "
          f"{big['text_lines'] * args.copies} entries, each text {args.copies} times.")
    print(f"Indexing the hour: {results['index_s']:.1f} s "
          f"({'cached, no work' if results['index_s'] < 30 else 'indexed now'}).")
    print(f"Indexing the {args.copies} copies at their own paths (frames and text from the "
          f"cache, each copy's own search index built): {results['index_copies_s']:.1f} s.")
    print("kept-alive: one HTTP/1.1 connection reused (a browser, an SDK); new connection: "
          "connect + request each time (as curl).")
    print()
    print("| what | n | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for path, (first, whole, size) in big.get("ttfb", {}).items():
        label = "/ (the page)" if path == "/" else path.replace(big_id(results), "{id}")
        row(f"TTFB GET {label} ({size:,} B), new connection", first)
        if path.startswith("/api/"):
            row(f"full load GET {label}, new connection", whole)
    row("full load GET /api/videos, kept-alive", big.get("videos_kept"))
    print(f"| /v1/find, {n} videos ({hours:.0f} h), first request (cold: builds the collection "
          f"index) | 1 | {ms(big['cold_s'])} | | |")
    row(f"/v1/find, {n} videos ({hours:.0f} h), warm, sequential, kept-alive", big["find"])
    row(f"/v1/find, {n} videos ({hours:.0f} h), warm, sequential, new connection",
        big.get("find_fresh"))
    row(f"/v1/find naming 1 video of the {n}, warm, sequential, kept-alive",
        big.get("find_named"))
    row(f"/v1/find naming 1 video of the {n}, warm, sequential, new connection",
        big.get("find_named_fresh"))
    if one:
        print(f"| /v1/find, 1-video server (baseline), first request | 1 | "
              f"{ms(one['cold_s'])} | | |")
        row("/v1/find, 1-video server (baseline), warm, sequential, kept-alive", one["find"])
        row("/v1/find, 1-video server (baseline), warm, sequential, new connection",
            one.get("find_fresh"))
    for key, how in (("concurrent", "kept-alive"), ("concurrent_fresh", "new connection")):
        if big.get(key) and big[key][0]:
            lat, wall, count, errors = big[key]
            row(f"/v1/find, {n} videos, {args.clients} clients x {args.per_client} at once, "
                f"{how} ({count / wall:.1f} req/s, {errors} errors)", lat)
    print(f"| `vidqa find` CLI process, 1 video (baseline; cold process, warm disk cache) | "
          f"{len(cli['walls'])} | {ms(cli_s)} | | {ms(max(cli['walls']))} |")
    print()
    print("| ratio (same run) | value |")
    print("|---|---:|")
    for label, key in ((f"{n} videos", "find"), (f"{n} videos, new connection", "find_fresh"),
                       ("1 video named", "find_named"),
                       ("1 video named, new connection", "find_named_fresh")):
        if big.get(key):
            p50 = big[key]["p50"]
            print(f"| server warm p50 ({label}) / `vidqa find` process | {p50 / cli_s:.3f} "
                  f"(the process takes {cli_s / p50:.0f}x) |")
    if one:
        print(f"| {n}-video collection p50 / 1-video server p50, kept-alive | "
              f"{big['find']['p50'] / one['find']['p50']:.2f} |")
        if one.get("find_fresh") and big.get("find_fresh"):
            print(f"| {n}-video collection p50 / 1-video server p50, new connection | "
                  f"{big['find_fresh']['p50'] / one['find_fresh']['p50']:.2f} |")
    print(f"| first collection search / warm collection p50 (kept-alive) | "
          f"{big['cold_s'] / big['find']['p50']:.0f} |")
    print()
    print("| server process | start-up to banner s | all indexed s | idle RSS MiB | "
          "RSS after finds MiB | peak RSS (VmHWM) MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, key in ((f"{n} videos ({hours:.0f} h)", "collection"), ("1 video", "single")):
        r = results.get(key)
        if r:
            print(f"| {label}, no model | {r['startup_s']:.1f} | {r['indexed_s']:.1f} | "
                  f"{r['mem_idle']['rss']:.0f} | {r['mem_after']['rss']:.0f} | "
                  f"{r['mem_after']['hwm']:.0f} |")
    tiny = results.get("tiny")
    if tiny and "mem_idle" in tiny:
        print(f"| 1 video, -m tiny random Qwen3-VL (transformers, CPU; its video "
              f"{'/'.join(tiny['states'])}) | {tiny['startup_s']:.1f} | | "
              f"{tiny['mem_idle']['rss']:.0f} | | {tiny['mem_idle']['hwm']:.0f} |")
    print(f"| `vidqa find` CLI process (for scale) | | | | | {max(cli['peaks']):.0f} |")
    if tiny and "error" in tiny:
        print(f"\ntiny model: skipped ({tiny['error']})")
    print()
    hits = big.get("hits") or []
    paths = {h.get("path") for h in hits}
    print(f"Last collection hit list: {len(hits)} hits from {len(paths)} distinct videos; "
          f"paths resolved: {None not in paths}; e.g. "
          + "; ".join(f"{h.get('path')} {h.get('time')} {h.get('text')!r}" for h in hits[:3]))
    print(f"Collection index directories after the first search: {big['collection_dirs']}")
    print()
    print(f"Command: {command}")


def big_id(results: dict) -> str:
    for path in results["collection"].get("ttfb", {}):
        match = re.match(r"/api/videos/([0-9a-f]+)/timeline", path)
        if match:
            return match.group(1)
    return "\0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-serve"),
                        help="scratch folder: VIDQA_HOME (home/), the served folders")
    parser.add_argument("--finds", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--ttfb-runs", type=int, default=50)
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--settle-s", type=float, default=3.0,
                        help="idle seconds before reading a server's memory")
    parser.add_argument("--queries", nargs="+", default=QUERIES)
    parser.add_argument("--keep-collection", action="store_true",
                        help="keep a collection index cached by an earlier run (the first "
                             "search then opens it instead of building it)")
    parser.add_argument("--tiny-model", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    work = args.work.resolve()
    video = args.video.resolve()
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "VIDQA_HOME": str(home)}
    results: dict = {}
    started = time.perf_counter()

    log(f"indexing {video} once (cached when indexed before)")
    results["index_s"] = index_video(video, env, work)
    log(f"index: {results['index_s']:.1f} s")

    log(f"CLI baseline: vidqa find as a whole process, {args.cli_runs} runs after one warm-up")
    argv = [sys.executable, "-m", "vidqa", "-q", "find", str(video), args.queries[0], "-k", "5",
            *SETTINGS]
    timed_process(argv, env, str(work))
    runs = [timed_process(argv, env, str(work)) for _ in range(args.cli_runs)]
    results["cli"] = {"walls": [w for w, _, _ in runs], "peaks": [p for _, p, _ in runs]}
    log(f"CLI: median {statistics.median(results['cli']['walls']):.2f} s")

    many = work / f"served-{args.copies}"
    served_folder(many, video, args.copies)
    # Each copy indexed at its own path, as every video of a real collection is: the frames
    # and the text lines come from the cache (same content), and each copy's own search index
    # is built (its entries name its path), which the collection index takes its vectors from.
    log(f"indexing the {args.copies} copies (their own search indexes)")
    results["index_copies_s"] = index_video(many, env, work)
    log(f"copies: {results['index_copies_s']:.1f} s")
    bench_server("collection", many, env, args, args.queries, home, results, page=True)
    single = work / "served-1"
    served_folder(single, video, 1)
    bench_server("single", single, env, args, args.queries, home, results, page=False)
    if args.tiny_model:
        try:
            bench_tiny_model(single, env, args, results)
        except Exception as exc:  # noqa: BLE001 - optional; reported
            results.setdefault("tiny", {})["error"] = f"{type(exc).__name__}: {exc}"[:300]
            log(f"tiny model failed: {exc}")
    log(f"done in {time.perf_counter() - started:.0f} s")
    (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    report(results, args, command)


if __name__ == "__main__":
    main()
