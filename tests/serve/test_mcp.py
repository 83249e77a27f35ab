"""`vidqa mcp`: the SDK's own client drives vidqa's MCP server over streamable HTTP (in this
process, behind the guards) and over stdio (the real `vidqa mcp` command a desktop client
starts): initialize, list the tools, call each, images, refusals, a cancelled long call, and an
answer from the scripted model."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path

import anyio
import cv2
import httpx
import numpy as np
import pytest

from helpers.serving import served_folder
from helpers.store import complete_manifests
from vidqa.serve.app import Server

mcp = pytest.importorskip("mcp")
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

TOOLS = {"list_videos", "index_video", "find", "transcript", "events", "frames", "ask"}
EVENT = (41.3, 43.3)  # the caption event of event.mp4
HELPERS = Path(__file__).resolve().parents[1] / "helpers"


def http_server(service, **options) -> Server:
    from vidqa.serve.mcp import create_mcp, http_app

    return Server(http_app(service, create_mcp(service), host="127.0.0.1", **options))


def run(main, *args):
    return anyio.run(main, *args)


def text_of(result) -> str:
    return " ".join(c.text for c in result.content if c.type == "text")


def one_line_error(result) -> str:
    assert result.is_error, result
    message = text_of(result)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def event_id(service) -> str:
    return next(e.id for e in service.library.scan() if e.path == "event.mp4")


@pytest.fixture
def mcp_http(service):
    with http_server(service) as live:
        yield live


def test_every_tool_over_http_from_the_sdks_client(service, mcp_http):
    video = event_id(service)

    async def main():
        # "legacy": the initialize handshake, as desktop clients of 2025 speak it.
        async with Client(f"{mcp_http.url}/mcp", mode="legacy") as client:
            assert client.server_info.name == "vidqa" and "list_videos" in client.instructions
            assert client.protocol_version < "2026"  # the handshake's version, not 2026's
            listed = {t.name: t for t in (await client.list_tools()).tools}
            assert set(listed) == TOOLS
            assert listed["find"].input_schema["properties"]["k"]["maximum"] == 100
            assert listed["frames"].annotations.read_only_hint is True

            videos = (await client.call_tool("list_videos", {})).structured_content["videos"]
            assert {v["path"] for v in videos} == {"event.mp4", "talks/cuts.mp4"}

            indexed = (await client.call_tool("index_video", {"video": "event.mp4"}))
            assert not indexed.is_error, text_of(indexed)
            assert indexed.structured_content["state"] == "indexed"
            assert indexed.structured_content["duration"] == "00:01:30.000"

            found = (await client.call_tool("find", {"query": "FIRE ALARM TEST", "k": 3,
                                                     "video": video})).structured_content
            top = found["hits"][0]
            assert top["path"] == "event.mp4" and "ALARM" in top["text"].upper()
            assert abs(top["time_s"] - EVENT[0]) <= 1.0
            assert top["time"] == _hms(top["time_s"])  # seconds and HH:MM:SS.mmm agree

            log = (await client.call_tool("events", {"video": video, "start": "0:40",
                                                     "end": 45})).structured_content
            assert log["range"] == {"start_s": 40.0, "start": "00:00:40.000", "end_s": 45.0,
                                    "end": "00:00:45.000"}
            assert any("ALARM" in line["text"].upper() for line in log["lines"])
            assert all(line["end_s"] > 40 and line["start_s"] < 45 for line in log["lines"])

            said = (await client.call_tool("transcript", {"video": video})).structured_content
            assert said["lines"] == [] and "speech" in said["note"]  # speech is off here

            frames = await client.call_tool("frames", {"video": video, "start": 40,
                                                       "end": 46, "max_frames": 3})
            labels, images = _frames(frames)
            assert 1 <= len(images) <= 3 and len(labels) == len(images)
            assert all(40 <= t < 46 for t in labels)
            assert all(img.shape[0] > 0 and img.shape[1] > 0 for img in images)

            at = await client.call_tool("frames", {"video": video, "times": [42.0, "0:10"]})
            labels, images = _frames(at)
            assert len(images) == 2 and abs(labels[0] - 42.0) < 0.2 and abs(labels[1] - 10) < 0.2

            answer = await client.call_tool("ask", {"video": video,
                                                    "question": "When is the alarm test?"})
            reply = answer.structured_content
            assert "alarm test" in reply["answer"].lower() and reply["scope"] == "chunks"
            assert reply["citations"][0] == {"start_s": 41.0, "start": "00:00:41.000",
                                             "end_s": 43.5, "end": "00:00:43.500"}

            templates = {t.uri_template for t in
                         (await client.list_resource_templates()).resource_templates}
            assert templates == {"vidqa://videos/{video}/transcript",
                                 "vidqa://videos/{video}/events"}
            events = await client.read_resource(f"vidqa://videos/{video}/events")
            doc = json.loads(events.contents[0].text)
            assert doc["video"].endswith("event.mp4") and doc["events"]
            vtt = await client.read_resource(f"vidqa://videos/{video}/transcript")
            assert vtt.contents[0].text.startswith("WEBVTT")
            assert vtt.contents[0].mime_type == "text/vtt"

    run(main)


def _hms(seconds: float) -> str:
    from vidqa.timecode import format_hms

    return format_hms(seconds)


def _frames(result) -> tuple[list[float], list[np.ndarray]]:
    """The `<t seconds>` labels and the decoded images of a frames result, checking that each
    image follows its label."""
    assert not result.is_error, text_of(result)
    labels, images, last = [], [], None
    for item in result.content[1:]:
        if item.type == "text":
            assert item.text.startswith("<") and " seconds> (" in item.text, item.text
            labels.append(float(item.text[1:item.text.index(" seconds>")]))
        else:
            assert last == "text" and item.mime_type == "image/jpeg"
            data = np.frombuffer(base64.b64decode(item.data), np.uint8)
            images.append(cv2.imdecode(data, cv2.IMREAD_COLOR))
        last = item.type
    return labels, images


def test_bad_arguments_and_paths_outside_the_folder_are_one_line_tool_errors(service, mcp_http):
    async def main():
        async with Client(f"{mcp_http.url}/mcp") as client:
            for args in ({"video": "../../etc/passwd"}, {"video": "/etc/passwd"},
                         {"video": "file:///etc/passwd"}, {"video": "talks/../../x.mp4"}):
                message = one_line_error(await client.call_tool("frames", args))
                assert "served folders" in message or "file URL" in message, message
                assert "root:" not in message
            cases = [("find", {"query": "x", "k": "lots"}, "'k'"),
                     ("find", {"query": "x", "k": 0}, "'k'"),
                     ("transcript", {"video": "event.mp4", "start": 50, "end": 10}, "empty"),
                     ("events", {"video": "event.mp4", "start": "soon"}, "cannot read"),
                     ("events", {"video": "event.mp4", "tracks": ["nope"]}, "no track nope"),
                     ("frames", {"video": "event.mp4", "times": [500]}, "past the end"),
                     ("frames", {"video": "event.mp4", "max_frames": 99}, "'max_frames'"),
                     ("ask", {"video": "event.mp4", "question": "?", "scope": "x"}, "scope"),
                     ("find", {"video": "nothing.mp4", "query": "x"}, "no video"),
                     ("transcript", {}, "'video'")]
            for tool, args, expected in cases:
                message = one_line_error(await client.call_tool(tool, args))
                assert expected in message, (tool, args, message)
            # The server is still there.
            assert (await client.call_tool("list_videos", {})).structured_content["videos"]

    run(main)


def test_the_http_transport_is_guarded_like_vidqa_serve(service):
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "page", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    with http_server(service, api_key="k3y") as live, httpx.Client(base_url=live.url) as web:
        url, key = "/mcp", {"Authorization": "Bearer k3y"}
        # An attacker's page: its own origin, or its own name re-pointed at 127.0.0.1.
        page = web.post(url, json=hello, headers={**accept, **key,
                                                  "Origin": "https://evil.example"})
        assert page.status_code == 403 and page.json()["error"]["code"] == "cross_site_request"
        rebound = web.post(url, json=hello, headers={**accept, **key,
                                                     "Host": f"evil.example:{live.port}"})
        assert rebound.status_code == 403
        assert rebound.json()["error"]["code"] == "host_not_allowed"
        sneaky = web.post(url, json=hello, headers={**accept, **key,
                                                    "Sec-Fetch-Site": "cross-site"})
        assert sneaky.status_code == 403
        # No key, or JSON sent as a form's text/plain: refused before any session exists.
        assert web.post(url, json=hello, headers=accept).status_code == 401
        plain = web.post(url, content=json.dumps(hello), headers={
            **accept, **key, "Content-Type": "text/plain"})
        assert plain.status_code in (400, 415) and "mcp-session-id" not in plain.headers
        ok = web.post(url, json=hello, headers={**accept, **key})
        assert ok.status_code == 200, ok.text


def test_a_cancelled_index_call_cancels_its_indexing_and_leaves_nothing_half_made(
        tmp_path, monkeypatch, event_video, answering, serve_config):
    from vidqa.serve.service import Service

    home = tmp_path / "home"
    monkeypatch.setenv("VIDQA_HOME", str(home))  # nothing cached: indexing takes a while
    folder = served_folder(tmp_path / "lib", {"event.mp4": event_video[0]})
    service = Service([folder], serve_config, backend=answering)
    progress: list[tuple[float, str]] = []

    async def main(url):
        async with Client(f"{url}/mcp") as client:
            with anyio.move_on_after(60) as waited:
                async with anyio.create_task_group() as group:
                    async def on_progress(done, total, message):
                        progress.append((done, message))
                        group.cancel_scope.cancel()  # the user gave up

                    group.start_soon(lambda: client.call_tool(
                        "index_video", {"video": "event.mp4"}, progress_callback=on_progress))
            assert not waited.cancelled_caught, "no progress came in 60 s"
            deadline = time.monotonic() + 60
            while not service.jobs.all()[0].finished and time.monotonic() < deadline:
                await anyio.sleep(0.1)
            listed = await client.call_tool("list_videos", {})  # still answering
            return listed.structured_content["videos"][0]

    try:
        with Server(_app(service)) as live:
            video = run(main, live.url)
    finally:
        service.close()
    job = service.jobs.all()[0]
    assert progress and job.state == "cancelled", (job.state, job.error, progress)
    assert video["state"] == "not_indexed"  # as it was before the call
    assert not complete_manifests(home) or all("ingest" in str(p) or "decode" in str(p)
                                               for p in complete_manifests(home))
    assert not [p for p in home.rglob("*") if p.name.startswith(".tmp-")]


def _app(service):
    from vidqa.serve.mcp import create_mcp, http_app

    return http_app(service, create_mcp(service), host="127.0.0.1")


@pytest.mark.slow
def test_vidqa_mcp_over_stdio_with_the_scripted_model(library, served_home, service):
    """The real command, as Claude Desktop starts it (here through a launcher that registers
    the test model first): initialize, tools, find, ask, a path outside refused."""
    video = event_id(service)
    run_of = service.indexed(service.entry(video))  # indexed in the shared home
    assert run_of.tracks
    env = {**os.environ, "VIDQA_HOME": str(served_home), "PYTHONPATH": os.pathsep.join(
        [str(HELPERS.parent), os.environ.get("PYTHONPATH", "")])}
    params = StdioServerParameters(
        command=sys.executable, env=env, cwd=str(library),
        args=[str(HELPERS / "mcp_stdio.py"), str(library), "--speech", "off",
              "-b", "answering", "-m", "answering-model"])

    async def main():
        async with Client(params) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            found = await client.call_tool("find", {"query": "FIRE ALARM TEST",
                                                    "video": "event.mp4"})
            assert abs(found.structured_content["hits"][0]["time_s"] - EVENT[0]) <= 1.0
            answer = await client.call_tool("ask", {"video": "event.mp4",
                                                    "question": "When is the alarm test?"})
            assert answer.structured_content["citations"][0]["start"] == "00:00:41.000"
            outside = one_line_error(await client.call_tool("transcript", {
                "video": str(Path("/etc/passwd"))}))
            assert "absolute path" in outside

    run(main)


def test_the_command_refuses_a_key_without_http_and_an_open_address_without_a_key(tmp_path):
    from click.testing import CliRunner

    from vidqa.cli import cli

    runner = CliRunner()
    keyed = runner.invoke(cli, ["mcp", str(tmp_path), "--api-key", "k"])
    assert keyed.exit_code == 2 and "--http" in keyed.output
    open_ = runner.invoke(cli, ["mcp", str(tmp_path), "--http", "--host", "0.0.0.0"],
                          env={"VIDQA_API_KEY": ""})
    assert open_.exit_code == 2 and "--api-key" in open_.output


def test_a_key_in_the_environment_does_not_stop_stdio(tmp_path):
    """$VIDQA_API_KEY set for `vidqa serve` (a desktop client passes the user's environment):
    `vidqa mcp` over stdio starts all the same, and answers."""
    env = {**os.environ, "VIDQA_API_KEY": "k3y", "VIDQA_HOME": str(tmp_path / "home")}
    params = StdioServerParameters(command=sys.executable, env=env, cwd=str(tmp_path),
                                   args=["-m", "vidqa", "mcp", str(tmp_path)])

    async def main():
        async with Client(params) as client:
            listed = await client.call_tool("list_videos", {})
            assert listed.structured_content["videos"] == []

    run(main)
