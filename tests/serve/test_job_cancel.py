"""Cancelling indexing jobs: a job stops when every caller that asked for it let go, never
while one still waits; a cancelled job is never handed to a new caller; a job cancelled in
the queue never starts. The work here is a loop of progress steps (no video)."""

from __future__ import annotations

import threading
import time

from vidqa.serve.jobs import Cancelled, Jobs


def steps(job, started: threading.Event | None = None, count: int = 400):
    """Work of `count` progress steps of 10 ms (4 s), as a pipeline stage reports them."""
    with job.progress("decode", count, "s") as advance:
        if started is not None:
            started.set()
        for _ in range(count):
            time.sleep(0.01)
            advance(1)
    return "made"


def test_a_job_stops_when_its_last_caller_lets_go_and_not_before():
    started = threading.Event()
    jobs = Jobs(lambda job: steps(job, started))
    try:
        first = jobs.submit("v1", "v1.mp4")
        assert started.wait(5)
        second = jobs.submit("v1", "v1.mp4")  # the page asks for the same video: joins it
        assert second is first and first.asked == 2
        assert first.release() is False  # one caller left: it goes on
        time.sleep(0.1)
        assert first.state == "running" and not first.cancelled
        assert first.release() is True  # the last one: cancelled at its next step
        assert first.wait(5) and first.state == "cancelled"
        assert "cancelled" in first.error
    finally:
        jobs.close()


def test_a_cancelled_job_is_not_handed_to_a_new_caller():
    started = threading.Event()
    jobs = Jobs(lambda job: steps(job, started, count=30))
    try:
        doomed = jobs.submit("v1", "v1.mp4")
        assert started.wait(5)
        doomed.release()
        again = jobs.submit("v1", "v1.mp4")  # a retry gets a job of its own, which finishes
        assert again is not doomed
        assert again.wait(10) and again.state == "done" and again.result == "made"
        assert doomed.state == "cancelled"
    finally:
        jobs.close()


def test_a_job_cancelled_in_the_queue_never_starts():
    gate, ran = threading.Event(), []

    def work(job):
        if job.video == "first":
            gate.wait(5)
            return "first"
        job.check()  # as `Service._index` does before any work
        ran.append(job.video)
        return "second"

    jobs = Jobs(work)
    try:
        first = jobs.submit("first", "a.mp4")
        queued = jobs.submit("second", "b.mp4")
        assert queued.state == "queued" and queued.release() is True
        gate.set()
        assert first.wait(5) and queued.wait(5)
        assert queued.state == "cancelled" and ran == []
    finally:
        jobs.close()


def test_cancelled_is_no_video_error():
    """Nothing that reports a video's failure and goes on (`except VidqaError`) takes it."""
    from vidqa.errors import VidqaError

    assert not issubclass(Cancelled, VidqaError)
