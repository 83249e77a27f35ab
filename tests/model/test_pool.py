"""A pool of model servers: each request to the least busy server that answers; a server that
fails is taken out and its requests go to the others; the run ends with a count per server."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from click.testing import CliRunner
from helpers.openai_server import API_KEY, OpenAIServer

from vidqa.cli import cli
from vidqa.config import Config
from vidqa.paths import cache_dir
from vidqa.errors import BackendError, ConfigError
from vidqa.model.backends import backend_class, open_backend, server_urls
from vidqa.model.backends import POOL_IDENTITY
from vidqa.model.backends.pool import Ledger, ServerPool

pytestmark = pytest.mark.usefixtures("no_openai_env")
MODEL = ["-b", "openai", "-m", "tiny-vl", "--api-key", API_KEY]
FAST = ["--ocr", "off", "--speech", "off", "--policy", "uniform", "--max-span", "2"]  # 13 chunks


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def caption_files() -> list:
    return sorted(p for p in (cache_dir() / "videos").rglob("captions/*/*.json"))


def test_the_ledger_gives_the_least_busy_server_and_waits_when_all_are_full():
    ledger = Ledger(["a", "b"], per_server=1)
    assert ledger.acquire() == "a" and ledger.acquire() == "b"
    got = []
    waiter = threading.Thread(target=lambda: got.append(ledger.acquire()))
    waiter.start()
    time.sleep(0.2)
    assert got == []  # both full: it waits for a place
    ledger.release("b", True, 0.1)
    waiter.join(timeout=5)
    assert got == ["b"]
    ledger.release("a", False, why="refused")  # the server's fault: out
    assert ledger.acquire(("b",)) is None  # a is out, b excluded
    assert [c["out"] for c in ledger.counts()] == ["refused", ""]
    assert ledger.due() == []  # asked again only after recheck_s


def test_a_server_taken_out_is_asked_again_and_put_back():
    with OpenAIServer() as url:
        pool = ServerPool("tiny-vl", [url, "http://127.0.0.1:9/v1"], api_key=API_KEY,
                          retries=0, recheck_s=0.0)
        pool.ledger.release(pool.ledger.acquire(), False, why="a blip")  # url taken out
        assert pool.counts()[0]["out"] == "a blip"
        reply = pool.generate([{"role": "user", "content": [{"type": "text",
                                                              "text": "<1.0 seconds>"}]}])
        assert "frame at 1.0 s" in reply.text  # url was back: 9 refuses connections
        assert pool.counts()[0]["out"] == "" and pool.counts()[1]["out"]


def test_urls_come_from_flags_files_and_the_environment(tmp_path, monkeypatch):
    listed = tmp_path / "servers.txt"
    listed.write_text("# the GPU boxes\nhttp://gpu1:8000/v1/\n\nhttp://gpu2:8000/v1  # spare\n")
    assert server_urls(("http://a/v1", str(listed), "http://a/v1/")) == \
        ["http://a/v1", "http://gpu1:8000/v1", "http://gpu2:8000/v1"]
    monkeypatch.setenv("OPENAI_BASE_URL", "http://x/v1,http://y/v1")
    assert server_urls(()) == ["http://x/v1", "http://y/v1"]
    with pytest.raises(ConfigError, match="neither a server URL nor a file"):
        server_urls(("gpu1:8000",))
    (tmp_path / "empty.txt").write_text("# none yet\n")
    with pytest.raises(ConfigError, match="holds no URL"):
        server_urls((str(tmp_path / "empty.txt"),))
    # one server is known by its URL, a pool by what it is, whichever servers it has today
    openai = backend_class("openai")
    one = Config().replace("model", backend="openai", model="m", base_url="http://a/v1")
    assert openai.identity_for(one.model) == "http://a/v1"
    config = one.replace("model", base_url=str(listed))
    assert openai.identity_for(config.model) == POOL_IDENTITY == "pool"
    pool = open_backend(config)
    assert isinstance(pool, ServerPool) and pool.identity == POOL_IDENTITY
    assert pool.urls == ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]
    alone = open_backend(one, pooled=True)  # a Ray job's pool of one: known by its server
    assert isinstance(alone, ServerPool) and alone.identity == "http://a/v1"
    assert ServerPool.identity_for(one.model) == "http://a/v1"


@pytest.mark.slow
def test_three_servers_one_dies_one_is_slow_every_chunk_captioned_once(cuts_video):
    video, _ = cuts_video
    fast, slow, dying = (OpenAIServer(), OpenAIServer(delay_s=0.4), OpenAIServer(die_after=2))
    with fast as a, slow as b, dying as c:
        out = run("index", *MODEL, *FAST, "--base-url", a, "--base-url", b, "--base-url", c,
                  "--json", video)
        assert out.exit_code == 0, out.output
        (doc,) = json.loads(out.stdout)
        chunks = doc["chunks"]
        assert len(chunks) >= 10 and not any(ch.get("warning") for ch in chunks)
        # every chunk answered by exactly one server: the dead one's requests went elsewhere
        assert fast.answered + slow.answered + dying.answered == len(chunks)
        assert dying.answered == 2 and len(dying.requests) >= 3  # then it hung up and died
        assert slow.answered < fast.answered  # least busy: the slow one holds its requests
        assert len(caption_files()) == len(chunks)
        report = out.stderr[out.stderr.index("servers:"):]
        assert f"{a}: {fast.answered} answered, 0 failed" in report
        dead = re.search(rf"{re.escape(c)}: 2 answered, (\d+) failed.*; out: the server at "
                         rf"{re.escape(c)} (accepted the connection but closed it|cannot be "
                         "reached)", report)
        assert dead and int(dead.group(1)) >= 1, report  # its requests in flight then, each moved
        # The captions belong to the pool, not to its servers of the day: a pool of two
        # other servers reads them from the cache.
        again = OpenAIServer()
        with again as d:
            out = run("index", *MODEL, *FAST, "--base-url", d, "--base-url", a, "--json", video)
            assert out.exit_code == 0, out.output
            assert again.requests == [] and "servers:" not in out.stderr


def test_ask_and_eval_go_through_the_pool(cuts_video, tmp_path):
    video, _ = cuts_video
    with OpenAIServer() as a, OpenAIServer() as b:
        pool = ["--base-url", a, "--base-url", b]
        assert run("index", *MODEL, *FAST, *pool, video).exit_code == 0
        out = run("ask", *MODEL, *FAST, *pool, "--scope", "all", video,
                  "what is on screen at 5 seconds?")
        assert out.exit_code == 0, out.output
        assert "servers:" in out.stderr and out.stdout.strip()
        questions = tmp_path / "q.jsonl"
        questions.write_text(json.dumps({"video": video.name, "question": "What is shown?",
                                         "options": ["A. a", "B. b", "C. c", "D. d"],
                                         "answer": "A"}) + "\n")
        out = run("eval", "mcq", questions, "--videos", video.parent, *MODEL, *FAST, *pool,
                  "-o", tmp_path / "out", "--scope", "all")
        assert out.exit_code == 0, out.output
        assert "servers:" in out.stderr


def test_a_pool_with_no_server_left_says_which_failed_and_why(cuts_video):
    video, _ = cuts_video
    dead = ["http://127.0.0.1:9/v1", "http://127.0.0.1:7/v1"]
    out = run("index", *MODEL, *FAST, "--base-url", dead[0], "--base-url", dead[1], video)
    assert out.exit_code == 1
    line = next(l for l in out.stderr.splitlines() if l.startswith("Error:"))
    assert "no server of the pool for model 'tiny-vl' answers" in line
    assert all(f"{u}: the server at {u} cannot be reached" in line for u in dead)


def test_a_request_too_long_for_the_context_fails_without_taking_servers_out():
    with OpenAIServer() as a, OpenAIServer() as b:
        pool = ServerPool("tiny-vl", [a, b], api_key=API_KEY, retries=0)
        images = [{"type": "image", "path": __file__}] * 9  # the test server takes 8
        with pytest.raises(BackendError, match="too long for the context"):
            pool.generate([{"role": "user", "content": images}])
        assert [c["out"] for c in pool.counts()] == ["", ""]
