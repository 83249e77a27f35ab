"""A server killed while it writes leaves only store temporaries: a half-made playable copy
(`.tmp-proxy-*.mp4` in the cache) or a half-received upload (`.tmp-upload-*.part` in the served
folder). `clean_stale`, which the next write there runs, removes them; a live writer's
temporary is left alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from helpers import ROOT
from helpers.serving import running
from vidqa.media.ffmpeg import ffmpeg_exe
from vidqa.store import clean_stale, host_tag, temp_name, temp_owner

PROXY = """
    import sys
    from vidqa.serve.service import Service
    service = Service([sys.argv[1]], check=False)
    service.proxy(service.entry("old.avi"))
"""

SERVE = """
    import sys, time
    from vidqa.serve.app import Server, create_app
    from vidqa.serve.service import Service
    server = Server(create_app(Service([sys.argv[1]], check=False)))
    print(server.port, flush=True)
    time.sleep(600)
"""


def _child(script: str, folder: Path) -> subprocess.Popen:
    """A process of its own group (its ffmpeg dies with it) running `script` on `folder`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                         os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), str(folder)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)


def _kill_when_written(proc: subprocess.Popen, folder: Path, pattern: str,
                       timeout_s: float = 60.0) -> Path:
    """SIGKILL the child's whole group once a temporary matching `pattern` holds bytes; that
    temporary."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [p for p in folder.glob(pattern) if p.stat().st_size > 0]
        if found:
            break
        assert proc.poll() is None, f"the child ended ({proc.returncode}) before writing"
        assert time.monotonic() < deadline, f"no {pattern} in {folder} after {timeout_s:g} s"
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    (left,) = found
    assert temp_owner(left) == (proc.pid, host_tag())
    return left


def test_a_playable_copy_killed_midway_leaves_a_temporary_the_next_copy_removes(tmp_path,
                                                                               vidqa_home):
    from vidqa.paths import cache_dir
    from vidqa.serve.service import Service

    folder = tmp_path / "archive"
    folder.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=640x480:rate=25:duration=12", "-c:v", "mpeg4",
                    str(folder / "old.avi")], check=True)
    proxies = cache_dir() / "proxies"
    left = _kill_when_written(_child(PROXY, folder), proxies, ".tmp-proxy-*.mp4")
    assert list(proxies.iterdir()) == [left]  # never taken for the finished copy
    live = proxies / temp_name("proxy", ".mp4")  # this process's: a writer still at work
    live.write_bytes(b"half")

    service = Service([folder], check=False)
    made = service.proxy(service.entry("old.avi"))  # the next copy cleans the folder first
    service.close()
    assert not left.exists() and live.exists()
    assert sorted(p.name for p in proxies.iterdir()) == sorted([made.name, live.name])


def test_an_upload_cut_by_a_killed_server_leaves_a_temporary_the_next_upload_removes(
        tmp_path, vidqa_home, clips, no_openai_env):
    from vidqa.serve.service import Service

    folder = tmp_path / "uploads"
    folder.mkdir()
    proc = _child(SERVE, folder)
    port = int(proc.stdout.readline())
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"PUT /api/upload/clip.mp4 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Content-Length: {4 << 20}\r\n\r\n".encode() + b"\0" * (256 << 10))
        left = _kill_when_written(proc, folder, ".tmp-upload-*.part")
    assert left.suffix == ".part" and not (folder / "clip.mp4").exists()
    live = folder / temp_name("upload", ".part")
    live.write_bytes(b"half")
    clean_stale(folder)
    assert not left.exists() and live.exists()  # the dead server's gone, the live one's kept

    dead = folder / left.name  # once more, removed by the next upload itself
    dead.write_bytes(b"half")
    service = Service([folder], check=False)
    with running(service) as server:
        made = httpx.put(f"{server.url}/api/upload/clip.mp4",
                         content=clips["short3"].read_bytes())
    service.close()
    assert made.status_code == 201, made.text[:300]
    assert sorted(p.name for p in folder.iterdir()) == sorted(["clip.mp4", live.name])
