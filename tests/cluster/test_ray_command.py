"""`vidqa index --ray` from the command line: the option's forms, and what happens without Ray
or without a cluster."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from helpers.extras import need
from helpers.media import make_video
from helpers.models import link_models
from vidqa.cli import cli

FAST = ["--no-captions", "--speech", "off", "--ocr", "on", "--ocr-size", "264"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_without_ray_installed_the_flag_says_which_extra(tmp_path, monkeypatch):
    video = make_video(tmp_path / "a.mp4", seconds=2, size="160x120")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when not installed
    out = run("index", *FAST, video, "--ray")
    assert out.exit_code == 1
    assert out.stderr.strip().splitlines() == [
        "Error: --ray needs Ray; install it with: pip install 'vidqa[ray]'"]


@pytest.mark.slow
def test_ray_alone_runs_a_local_instance_and_a_folder_after_it_is_a_video(tmp_path,
                                                                          monkeypatch,
                                                                          vidqa_home, models):
    need("ray")
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(3):
        make_video(folder / f"c{i}.mp4", seconds=3 + i, size="320x240",
                   source="color=c=0x204060", text=f"CLIP {i}")
    monkeypatch.chdir(tmp_path)
    link_models(models, vidqa_home)  # what Ray's worker processes load (helpers.models)
    local = run("index", "--json", *FAST, "clips")
    assert local.exit_code == 0, local.output
    monkeypatch.setenv("VIDQA_HOME", str(link_models(models, tmp_path / "ray-home")))
    on_ray = run("index", "--json", *FAST, "--ray", "clips")  # clips: the folder, not an address
    assert on_ray.exit_code == 0, on_ray.output
    assert json.loads(on_ray.stdout) == json.loads(local.stdout)
    assert [d["text_lines"][0]["text"] for d in json.loads(on_ray.stdout)] == \
        ["CLIP 0", "CLIP 1", "CLIP 2"]


@pytest.mark.slow
def test_a_local_model_on_a_cluster_without_gpus_is_one_line_not_a_wait(tmp_path, monkeypatch,
                                                                         vidqa_home):
    """Captions by a local model (the default backend) ask every caption task for a GPU: on a
    cluster with none they would wait forever, so the run says so before it submits any."""
    need("ray")
    (tmp_path / "clips").mkdir()
    make_video(tmp_path / "clips" / "a.mp4", seconds=2, size="160x120")
    monkeypatch.chdir(tmp_path)
    out = run("index", "--speech", "off", "--ocr", "off", "clips", "--ray", "local")
    assert out.exit_code == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "Error: captions by a local model need a GPU worker, and the Ray cluster has none (its "
        "tasks would wait for one forever); caption with model servers (-b openai --base-url "
        "URL), or pass --no-captions")


@pytest.mark.slow
def test_one_server_under_ray_is_shared_by_the_tasks_and_keeps_its_cache(tmp_path, monkeypatch,
                                                                          no_openai_env,
                                                                          vidqa_home, models):
    """Under --ray even one server's places are shared by every task (a pool of one, with the
    server's own cache identity): the counts come back, and a local run reads the captions."""
    need("ray")
    from helpers.openai_server import API_KEY, OpenAIServer

    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(2):
        make_video(folder / f"c{i}.mp4", seconds=4, size="320x240", text=f"CLIP {i}")
    model = ["-b", "openai", "-m", "tiny-vl", "--api-key", API_KEY, "--speech", "off",
             "--ocr", "off", "--policy", "uniform", "--max-span", "2"]
    link_models(models, vidqa_home)  # what Ray's worker processes load (helpers.models)
    server = OpenAIServer()
    with server as url:
        on_ray = run("index", *model, "--base-url", url, folder, "--ray")
        assert on_ray.exit_code == 0, on_ray.output
        asked = len(server.requests)
        assert asked >= 4 and f"{url}: {asked} answered, 0 failed" in on_ray.stderr
        local = run("index", *model, "--base-url", url, folder)
        assert local.exit_code == 0, local.output
        assert len(server.requests) == asked  # the same cache: the server's URL, both times


def test_a_cluster_that_is_not_there_is_one_line_at_once(tmp_path):
    need("ray")
    video = make_video(tmp_path / "a.mp4", seconds=2, size="160x120")
    out = run("index", *FAST, video, "--ray", "127.0.0.1:1")
    assert out.exit_code == 1
    assert out.stderr.strip().splitlines() == [
        "Error: cannot reach the Ray cluster at 127.0.0.1:1: connection refused; start the "
        "head with `ray start --head` and pass its address (host:6379), or --ray alone for a "
        "local instance"]
