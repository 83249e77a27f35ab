"""A job's server-sent events follow its changes as they happen (the stream waits on the job,
it does not poll) and keep a quiet stream open with comments."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx

from helpers.serving import running
from vidqa.serve.jobs import Job, Jobs


def test_a_change_from_another_thread_wakes_the_waiting_stream_at_once():
    job = Job("job-x", "video", "clip.mp4")

    async def wait():
        quiet_t0 = time.monotonic()
        quiet = await job.next_change(job.version, 0.05)  # nothing changes: the timeout
        quiet_s = time.monotonic() - quiet_t0
        threading.Timer(0.2, job.finish, args=("done",)).start()
        t0 = time.monotonic()
        changed = await job.next_change(job.version, 30)
        return quiet, quiet_s, changed, time.monotonic() - t0

    quiet, quiet_s, changed, waited_s = asyncio.run(wait())
    assert quiet == 0 and 0.04 < quiet_s < 1
    assert changed == 1 and 0.15 < waited_s < 1  # woken by the change, not a poll or timeout
    assert job._waiters == []


def test_the_events_stream_sends_each_stage_then_done_with_keep_alives_between(
        tmp_path, vidqa_home, monkeypatch, no_openai_env):
    from vidqa.serve import pages
    from vidqa.serve.service import Service

    monkeypatch.setattr(pages, "KEEPALIVE_S", 0.1)
    go = threading.Event()

    def work(job):
        go.wait(30)
        with job.progress("decode", 2, "s") as advance:
            time.sleep(0.3)  # quiet: keep-alives
            advance(1)
            time.sleep(0.3)
            advance(1)
        return "indexed"

    service = Service([tmp_path], check=False)
    service.jobs.close()
    service.jobs = Jobs(work)
    job = service.jobs.submit("video", "clip.mp4")
    with running(service) as server, httpx.stream(
            "GET", f"{server.url}/api/jobs/{job.id}/events", timeout=30) as stream:
        go.set()
        lines = list(stream.iter_lines())
    service.close()
    events = [line[7:] for line in lines if line.startswith("event: ")]
    assert events[0] == "progress" and events[-1] == "done" and events.count("done") == 1
    assert ": keep-alive" in lines
    last = json.loads([line for line in lines if line.startswith("data: ")][-1][6:])
    assert last["state"] == "done" and last["stages"][0]["done"] == 2
