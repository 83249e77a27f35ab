"""Subtitle files built to leak or to explode: a sidecar that links to a file outside the served
folder is never read (nor served), and a 50 MiB sidecar is refused by its size, in little time
and memory, with one line that names the setting that lets it in."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from helpers.hostile import one_line_error, run
from vidqa.config import Config
from vidqa.pipeline import Pipeline

SECRET = "SECRET launch code is 7 4 1"
NO_OCR = Config().replace("ocr", mode="off")


@pytest.fixture
def linked(tmp_path, clips):
    """srv/talk.mp4 (no sound) with srv/talk.srt -> elsewhere/secret.srt."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.srt").write_text(f"1\n00:00:00,500 --> 00:00:02,000\n{SECRET}\n",
                                          encoding="utf-8")
    folder = tmp_path / "srv"
    folder.mkdir()
    (folder / "talk.mp4").write_bytes(clips["short3"].read_bytes())
    (folder / "talk.srt").symlink_to(elsewhere / "secret.srt")
    return folder


def test_a_sidecar_linked_from_outside_the_folder_is_not_read_and_the_user_is_told(linked):
    video = linked / "talk.mp4"
    told: list[str] = []
    run_ = Pipeline(NO_OCR, warn=told.append).run(str(video))
    assert "speech" not in run_.tracks and run_.warnings == told and len(told) == 1
    assert f"subtitles '{linked / 'talk.srt'}' are a link to a file outside" in told[0]
    assert "copy the file beside the video" in told[0] and "secret" not in told[0]
    assert SECRET not in repr(run_.tracks)
    # `vidqa transcript` (speech alone): the same line as its error, nothing on stdout.
    out = run("transcript", "-f", "txt", video)
    line = one_line_error(out)
    assert "talk.srt' are a link to a file outside" in line and out.stdout == ""
    # The same file named by speech.subtitles_dir is refused the same way.
    other = linked.parent / "videos"
    other.mkdir()
    (other / "talk.mp4").write_bytes(video.read_bytes())
    told.clear()
    from_dir = Pipeline(NO_OCR.replace("speech", subtitles_dir=str(linked)), warn=told.append)
    assert "speech" not in from_dir.run(str(other / "talk.mp4")).tracks and len(told) == 1


def test_the_server_never_serves_a_linked_sidecar(linked):
    from vidqa.serve.service import Service

    service = Service([linked], NO_OCR, check=False)
    try:
        entry = service.entry("talk.mp4")
        job = service.index(entry)
        job.wait()
        assert job.state == "done", job.error
        assert len(job.warnings) == 1 and "are a link to a file outside" in job.warnings[0]
        assert SECRET not in repr(service.run_of(entry).tracks)
    finally:
        service.close()
    # A server started later finds the video indexed (the track had nothing it may read).
    later = Service([linked], NO_OCR, check=False)
    try:
        entry = later.entry("talk.mp4")
        later.check(entry)
        assert entry.state == "indexed" and SECRET not in repr(later.run_of(entry).tracks)
    finally:
        later.close()


@pytest.fixture(scope="session")
def huge_sidecar(tmp_path_factory, clips):
    """big/talk.mp4 (3 s, no sound) beside a 50 MiB talk.srt of dense cues."""
    folder = tmp_path_factory.mktemp("big")
    (folder / "talk.mp4").write_bytes(clips["short3"].read_bytes())
    cue = "00:00:00,500 --> 00:00:02,500\nGood morning everyone, and welcome to the review.\n\n"
    with open(folder / "talk.srt", "w", encoding="utf-8") as out:
        written, i = 0, 0
        while written < 50 << 20:
            i += 1
            written += out.write(f"{i}\n{cue}")
    return folder


def _measured(*args: str) -> tuple[subprocess.CompletedProcess, float, float]:
    """(the finished `vidqa` command, its peak memory in MiB, its seconds): run under a
    Python parent of its own, whose RUSAGE_CHILDREN counts only it and its children (the
    test process's own children, earlier ffmpeg runs included, would blur it)."""
    parent = ("import resource, subprocess, sys\n"
              "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
              "sys.stdout.write(done.stdout)\n"
              "sys.stderr.write(done.stderr)\n"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
              "sys.exit(done.returncode)\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", parent, sys.executable, "-m", "vidqa", *args],
                          check=False,
                          capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    *log, peak_kib = done.stderr.rstrip("\n").split("\n")
    done.stderr = "\n".join(log) + ("\n" if log else "")
    return done, int(peak_kib) / 1024, seconds


def test_a_50_mb_sidecar_is_refused_in_little_memory_and_time(huge_sidecar):
    # Bound: the refusal reads nothing but the file's size, so `vidqa transcript` costs what it
    # costs on a tiny file (about 65 MiB here, the interpreter and imports); 250 MiB leaves
    # room for another Python or PyAV build, and is far below the 750-930 MiB that reading the
    # 50 MiB took before. 20 s: reading it took 13-15 s on 2 cores, refusing it takes 0.5 s.
    done, peak_mib, seconds = _measured("-q", "transcript", "-f", "txt",
                                        str(huge_sidecar / "talk.mp4"))
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: subtitles '") and "talk.srt' are 50.0 MiB, over the 8 MiB " \
        "limit" in lines[0] and "speech.max_subtitles_mb" in lines[0]
    assert peak_mib < 250, f"vidqa transcript peaked at {peak_mib:.0f} MiB"
    assert seconds < 20, f"vidqa transcript took {seconds:.1f} s"


def test_a_50_mb_sidecar_leaves_the_speech_track_out_of_the_event_log(huge_sidecar, tmp_path):
    out_dir = tmp_path / "out"
    done, peak_mib, _ = _measured("-q", "events", "-f", "all", "-o", str(out_dir),
                                  "--tracks", "speech", str(huge_sidecar / "talk.mp4"))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "are 50.0 MiB, over the 8 MiB limit" in warnings[0]
    assert warnings[0].endswith("the speech track is left out")
    assert peak_mib < 250, f"vidqa events peaked at {peak_mib:.0f} MiB"
    assert "Good morning" not in (out_dir / "talk.txt").read_text(encoding="utf-8")
    assert os.path.getsize(out_dir / "talk.srt") < 1000
