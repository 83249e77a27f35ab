"""`vidqa index DIR --ray ADDRESS` on a real Ray cluster started here (a head and two worker
nodes): every video indexed with the same results as a local run, a corrupt file reported
while the others finish, a worker node killed mid-run and the job still complete, a re-run
doing nothing, captions from a pool of scripted servers shared by every task."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from helpers.extras import need
from helpers.media import make_video
from helpers.models import link_models
from helpers.openai_server import API_KEY, OpenAIServer
from helpers.raycluster import RayCluster, ray_env

need("ray")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_openai_env")]

SETTINGS = ["--speech", "auto", "--ocr", "on", "--ocr-size", "264", "--max-span", "4"]
MODEL = ["-b", "openai", "-m", "tiny-vl", "--api-key", API_KEY]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, spoken_video) -> Path:
    """Six videos: five slides with text (sizes and lengths differ) and one with speech."""
    root = tmp_path_factory.mktemp("archive")
    for i, (size, seconds) in enumerate([("320x240", 6), ("480x270", 8), ("320x240", 10),
                                         ("640x360", 5), ("320x180", 7)]):
        make_video(root / f"talk{i}.mp4", seconds=seconds, size=size,
                   source=f"color=c=0x{20 + 40 * i:02x}4060", text=f"SLIDE NUMBER {i}")
    shutil.copy(spoken_video[0], root / "meeting.mp4")
    return root


@pytest.fixture(scope="module")
def cluster():
    with RayCluster(workers=2) as running:
        yield running


def vidqa(*args, home: Path, cwd: Path, **popen) -> subprocess.Popen:
    """`vidqa -q ARGS` with its own cache, speech recognition on one thread and OpenMP on one
    thread, as a Ray task with one CPU runs (Ray sets OMP_NUM_THREADS to the task's CPUs):
    Whisper's word times move by a few hundredths of a second with the OpenMP thread count
    (sums in another order; 26.42 s against 26.44 s here), and this machine has two cores."""
    env = {**ray_env(), "VIDQA_HOME": str(home), "OMP_NUM_THREADS": "1"}
    settings = home.parent / "one-thread.yaml"
    settings.write_text("speech:\n  threads: 1\n")
    return subprocess.Popen([sys.executable, "-m", "vidqa", "-q", "--config", str(settings),
                             *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def finished(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def collection_of(home: Path) -> tuple[str, "np.ndarray"]:
    """The folder's collection index, as `find` over it opens it: (its name, a hash of every
    video and entry in it; its vectors)."""
    import faiss

    (folder,) = (home / "cache" / "collections").iterdir()
    index = faiss.read_index(str(folder / "index.faiss"))
    return folder.name, index.reconstruct_n(0, index.ntotal)


def test_a_folder_on_the_cluster_is_indexed_as_a_local_run_indexes_it(folder, cluster,
                                                                       tmp_path, models):
    work = tmp_path / "work"
    (work / "videos").mkdir(parents=True)
    for video in folder.iterdir():
        os.link(video, work / "videos" / video.name)
    (work / "videos" / "broken.mp4").write_bytes((folder / "talk1.mp4").read_bytes()[:3000])
    for home in ("local", "ray"):  # the models a second run finds (helpers.models)
        link_models(models, tmp_path / home)
    servers = [OpenAIServer(), OpenAIServer()]
    with servers[0] as a, servers[1] as b:
        pool = ["--base-url", a, "--base-url", b]
        code, local_out, _ = finished(vidqa("index", "--json", *SETTINGS, *MODEL, *pool,
                                            "videos", home=tmp_path / "local", cwd=work))
        assert code == 1  # the broken file
        asked_locally = sum(len(s.requests) for s in servers)
        started = time.monotonic()
        code, out, err = finished(vidqa("index", "--json", *SETTINGS, *MODEL, *pool, "videos",
                                        "--ray", cluster.address, home=tmp_path / "ray",
                                        cwd=work))
        on_ray_s = time.monotonic() - started
        assert code == 1, err
        # the corrupt file: one line naming it, the others all indexed
        assert "1 of 7 videos failed" in err and "videos/broken.mp4" in err
        docs, local_docs = json.loads(out), json.loads(local_out)
        assert sorted(d["video"] for d in docs) == sorted(d["video"] for d in local_docs)
        assert len(docs) == 6
        by_video = {d["video"]: d for d in local_docs}
        for doc in docs:
            assert doc == by_video[doc["video"]]  # text, speech, captions and events alike
        assert any(doc["speech"] for doc in docs) and all(doc["text_lines"] for doc in docs)
        assert sum(len(d["chunks"]) for d in docs) > 6
        # the pool's counts, as the tasks of both workers used it
        report = err[err.index("servers:"):]
        assert f"{a}: " in report and f"{b}: " in report
        (name, vectors), (local_name, local_vectors) = (collection_of(tmp_path / "ray"),
                                                        collection_of(tmp_path / "local"))
        assert name == local_name and np.allclose(vectors, local_vectors, atol=1e-5)
        assert sum(len(s.requests) for s in servers) == 2 * asked_locally  # once each
        assert all(len(s.requests) > asked_locally // 2 - 4 for s in servers)  # both used
        # a re-run does only what is missing: nothing, no request to a server
        code, out, err = finished(vidqa("index", *SETTINGS, *MODEL, *pool, "videos", "--ray",
                                        cluster.address, home=tmp_path / "ray", cwd=work))
        assert code == 1 and out.count("videos/") == 6 and "servers:" not in err
        assert sum(len(s.requests) for s in servers) == 2 * asked_locally
        print(f"on the cluster: {on_ray_s:.1f} s")


def test_a_worker_node_killed_mid_run_and_the_job_completes(folder, cluster, tmp_path, models):
    servers = [OpenAIServer(delay_s=0.2), OpenAIServer(delay_s=0.2)]
    with servers[0] as a, servers[1] as b:
        process = vidqa("index", *SETTINGS, *MODEL, "--base-url", a, "--base-url", b, folder,
                        "--ray", cluster.address, home=link_models(models, tmp_path / "home"),
                        cwd=tmp_path)
        err: list[str] = []  # drained beside stdout, so neither pipe fills up
        drain = threading.Thread(target=lambda: err.append(process.stderr.read()), daemon=True)
        drain.start()
        first = process.stdout.readline()  # one video done: both workers are busy
        assert first.startswith(str(folder)), process.wait() or err
        cluster.kill_worker(1)
        lines = [first, *process.stdout.read().splitlines()]  # read past readline's buffer
        code = process.wait(timeout=600)
        drain.join(timeout=60)
        assert code == 0, err
        assert sorted(Path(line.split(":")[0]).name for line in lines if line.strip()) == \
            sorted(p.name for p in folder.iterdir())
        assert cluster.alive_nodes_after_a_kill(2) == 2  # the head and the worker left
        # every chunk captioned, each answered once by the pool; a killed task's chunks may be
        # asked again, but no caption is missing
        captions = list((tmp_path / "home").rglob("captions/*/*.json"))
        assert captions and not [p for p in captions if p.name.endswith(".degraded.json")]
        assert servers[0].answered + servers[1].answered >= len(captions)


def test_sound_only_recordings_on_the_cluster(spoken_video, cluster, tmp_path, models):
    """A folder of sound files (no picture) indexed on the cluster as a local run indexes it:
    no model is asked for (nothing to caption), what is said is found."""
    from vidqa.media.ffmpeg import ffmpeg_exe

    work = tmp_path / "work"
    (work / "calls").mkdir(parents=True)
    for suffix, codec in ((".m4a", "copy"), (".opus", "libopus")):
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(spoken_video[0]), "-vn",
                        "-c:a", codec, str(work / "calls" / f"call{suffix}")], check=True)
    documents = {}
    for home, extra in (("local", []), ("ray", ["--ray", cluster.address])):
        code, out, err = finished(vidqa("index", "--json", *SETTINGS, "calls", *extra,
                                        home=link_models(models, tmp_path / home), cwd=work))
        assert code == 0, err
        documents[home] = json.loads(out)
    assert documents["ray"] == documents["local"]
    assert len(documents["ray"]) == 2
    for doc in documents["ray"]:
        assert doc["has_picture"] is False and doc["chunks"] == [] and doc["text_lines"] == []
        assert any("invoices" in s["text"].lower() for s in doc["speech"]), doc["speech"]
