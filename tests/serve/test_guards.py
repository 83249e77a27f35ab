"""The server as an attacker's page and a re-pointed name would call it, over real HTTP on
127.0.0.1: a foreign `Host` (DNS rebinding), requests another site's page sends (`Origin`,
`Sec-Fetch-Site`), bodies that are not JSON, hostile upload names and files, bad ranges. Each
refusal is checked for what it leaves: nothing written, no job, no search run."""

from __future__ import annotations

import json
import os
import random
import stat

import httpx
import pytest

from helpers.serving import running

ATTACKER = "http://attacker.example"
FIND = {"query": "fire alarm test", "video": "event.mp4"}


def find(server, **options) -> httpx.Response:
    """POST /v1/find for the event (the first one indexes event.mp4: give it time)."""
    return httpx.post(f"{server.url}/v1/find", timeout=120, **{"json": FIND, **options})


@pytest.fixture
def spied(service, monkeypatch):
    """The service with its searches and answers counted (the real ones still run)."""
    calls = {"find": 0, "ask": 0}
    for name in calls:
        real = getattr(service, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(service, name, counted)
    return calls


@pytest.mark.parametrize("route", ["/api/videos", "/api/videos/event.mp4/media",
                                   "/api/videos/event.mp4/transcript", "/v1/models"])
def test_a_foreign_host_name_reads_nothing(server, route):
    """DNS rebinding: attacker.example re-pointed at 127.0.0.1 sends its own name."""
    for host in (f"attacker.example:{server.port}", "attacker.example", "127.0.0.1.nip.io",
                 f"localhost.attacker.example:{server.port}", "", "[::1"):
        refused = httpx.get(f"{server.url}{route}", headers={"Host": host})
        assert refused.status_code == 403, (host, refused.text[:200])
        error = refused.json()["error"]
        assert error["code"] == "host_not_allowed" and "--allowed-hosts" in error["message"]
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", f"[::1]:{server.port}",
                 f"LOCALHOST:{server.port}"):
        assert httpx.get(f"{server.url}/api/videos", headers={"Host": host}).status_code == 200


def test_allowed_hosts_add_names_and_a_wildcard_bind_takes_addresses(service):
    from vidqa.serve.guard import HostNames

    with running(service, allowed_hosts=("vidqa.lan",)) as server:
        assert httpx.get(f"{server.url}/api/videos",
                         headers={"Host": f"vidqa.lan:{server.port}"}).status_code == 200
        assert httpx.get(f"{server.url}/api/videos",
                         headers={"Host": "other.lan"}).status_code == 403
    wildcard = HostNames("0.0.0.0")
    assert wildcard.allows("192.168.1.20:8765") and wildcard.allows("[fe80::1]:8765")
    assert not wildcard.allows("attacker.example:8765")
    assert HostNames("127.0.0.1", ["*"]).allows("anything.example")
    assert not HostNames("127.0.0.1").allows("192.168.1.20")


def test_same_origin_compares_name_and_port():
    from vidqa.serve.guard import same_origin

    assert same_origin("http://127.0.0.1:8765", "127.0.0.1:8765")
    assert same_origin("http://vidqa.lan", "vidqa.lan:80")
    assert not same_origin("http://127.0.0.1:9999", "127.0.0.1:8765")
    assert not same_origin("http://localhost:8765", "127.0.0.1:8765")
    assert not same_origin("null", "127.0.0.1:8765")
    assert not same_origin("file://", "127.0.0.1:8765")


def test_requests_another_site_sends_change_and_read_nothing(server, service, library, spied):
    before = sorted(p.name for p in library.iterdir())
    cuts = service.entry("talks/cuts.mp4")
    jobs_before = len(service.jobs.all())
    simple = {"Origin": ATTACKER, "Content-Type": "text/plain"}
    attempts = [
        ("POST", "/api/upload/evil.mp4", b"\0" * 4096, simple),
        ("PUT", "/api/upload/evil.mp4", b"\0" * 4096, {"Origin": ATTACKER}),
        ("POST", f"/api/videos/{cuts.id}/index", b"", simple),
        ("POST", "/v1/find", b'{"query": "alarm"}', simple),
        ("POST", "/v1/chat/completions", b'{"model": "vidqa", "messages": []}', simple),
        ("POST", "/api/session", b"", {"Origin": ATTACKER}),
        ("POST", "/v1/find", b'{"query": "alarm"}', {"Origin": "null",
                                                     "Content-Type": "application/json"}),
        # a page on another port of the same machine is another origin too
        ("POST", "/v1/find", b'{"query": "alarm"}', {"Origin": "http://127.0.0.1:1",
                                                     "Content-Type": "application/json"}),
        # no Origin (a GET, an <img>, a <video>), but the browser says another site sent it
        ("GET", "/api/videos", b"", {"Sec-Fetch-Site": "cross-site"}),
        ("GET", f"/api/videos/{cuts.id}/media", b"", {"Sec-Fetch-Site": "cross-site"}),
        ("GET", f"/api/videos/{cuts.id}/transcript", b"", {"Sec-Fetch-Site": "same-site"}),
    ]
    for method, path, body, headers in attempts:
        refused = httpx.request(method, f"{server.url}{path}", content=body, headers=headers)
        assert refused.status_code == 403, (method, path, refused.text[:300])
        assert refused.json()["error"]["code"] == "cross_site_request"
    assert sorted(p.name for p in library.iterdir()) == before
    assert len(service.jobs.all()) == jobs_before and spied == {"find": 0, "ask": 0}
    # the page itself may be opened from another site's link
    page = httpx.get(f"{server.url}/", headers={"Sec-Fetch-Site": "cross-site"})
    assert page.status_code == 200 and "/static/app.js" in page.text


def test_the_page_own_origin_and_programs_are_served(server, spied):
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    found = find(server, headers=own)
    assert found.status_code == 200, found.text
    assert httpx.get(f"{server.url}/api/videos",
                     headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert httpx.get(f"{server.url}/api/videos", headers={"Sec-Fetch-Site": "none"}
                     ).status_code == 200  # typed in the address bar
    assert find(server).status_code == 200  # a program: no Origin, no Sec-Fetch-Site
    assert spied["find"] == 2


def test_listed_origins_are_let_in_with_cors(service):
    origin = "http://localhost:3000"
    with running(service, cors_origins=(origin,)) as server:
        reply = find(server, headers={"Origin": origin})
        assert reply.status_code == 200
        assert reply.headers["access-control-allow-origin"] == origin
        preflight = httpx.options(f"{server.url}/v1/find", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200
        assert httpx.post(f"{server.url}/v1/find", json={"query": "x"},
                          headers={"Origin": ATTACKER}).status_code == 403
    with running(service, cors_origins=(origin,), api_key="k3y") as server:
        preflight = httpx.options(f"{server.url}/v1/find", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 200  # a preflight carries no key; the request does
        assert find(server, headers={"Origin": origin}).status_code == 401


def test_json_routes_take_json_only_with_a_json_content_type(server, spied):
    body = json.dumps(FIND).encode()
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 None):
        headers = {"Content-Type": kind} if kind else {}
        refused = httpx.post(f"{server.url}/v1/find", content=body, headers=headers)
        assert refused.status_code == 415, kind
        assert refused.json()["error"]["code"] == "unsupported_media_type"
        chat = httpx.post(f"{server.url}/v1/chat/completions", content=body, headers=headers)
        assert chat.status_code == 415
    assert spied["find"] == 0
    for kind in ("application/json", "application/json; charset=utf-8",
                 "application/vnd.api+json"):
        assert find(server, json=None, content=body,
                    headers={"Content-Type": kind}).status_code == 200


def test_range_errors_come_in_the_api_error_shape(server, service):
    cuts = service.entry("talks/cuts.mp4")
    size = cuts.file.stat().st_size
    url = f"{server.url}/api/videos/{cuts.id}/media"
    past = httpx.get(url, headers={"Range": f"bytes={size + 10}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    assert past.headers["content-type"] == "application/json"
    assert past.json()["error"]["code"] == "invalid_range"
    bad = httpx.get(url, headers={"Range": "items=0-1"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_range"
    good = httpx.get(url, headers={"Range": "bytes=0-9"})
    assert good.status_code == 206 and len(good.content) == 10


@pytest.fixture
def upload_server(tmp_path, shared_home):
    from vidqa.serve.service import Service

    folder = tmp_path / "uploads"
    folder.mkdir()
    service = Service([folder], check=False)
    with running(service) as server:
        yield server, folder
    service.close()


@pytest.mark.parametrize("name, why", [
    ("%5C..%5Cz.mp4", "path separator"),
    ("a%5Cb.mp4", "path separator"),
    ("a%0Ab.mp4", "control"),
    ("a%0D%0Ab.mp4", "control"),
    ("a%09b.mp4", "control"),
    ("a%E2%80%AEb.mp4", "control"),  # a right-to-left override
    ("a%E2%80%A8b.mp4", "control"),  # a line separator
    ("x" * 296 + ".mp4", "200"),
    ("%C3%A9" * 99 + ".mp4", "200"),  # 202 bytes, 103 characters
    (".hidden.mp4", "'.'"),
    ("notes.txt", "not a video or sound file name"),
])
def test_upload_names_are_one_safe_component_checked_before_writing(upload_server, name, why):
    server, folder = upload_server
    refused = httpx.put(f"{server.url}/api/upload/{name}", content=b"\0" * 1000)
    assert refused.status_code == 400, refused.text[:300]
    error = refused.json()["error"]
    assert error["code"] == "invalid_path" and why in error["message"]
    assert str(folder) not in error["message"] and "\n" not in error["message"]
    assert list(folder.iterdir()) == []  # nothing written, not even a temporary


def test_an_upload_name_holding_a_slash_matches_no_route(upload_server):
    server, folder = upload_server
    refused = httpx.put(f"{server.url}/api/upload/..%2Fz.mp4", content=b"\0" * 1000)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert list(folder.iterdir()) == [] and not (folder.parent / "z.mp4").exists()


def test_a_file_that_is_not_a_video_is_refused_and_leaves_nothing(upload_server):
    server, folder = upload_server
    # Noise from a fixed seed: os.urandom's bytes, now that sound-only files are taken, once in
    # a full run happened to open as a sound stream (an MPEG audio frame header by chance).
    noise = random.Random(26).randbytes(20000)
    for body in (b"just some notes, not a video\n" * 10, b"\0" * 1000, noise):
        refused = httpx.put(f"{server.url}/api/upload/notes.mp4", content=body)
        assert refused.status_code == 415, refused.text[:300]
        error = refused.json()["error"]
        assert error["code"] == "unsupported_media" and "notes.mp4" in error["message"]
        assert str(folder) not in error["message"] and ".tmp-" not in error["message"]
        assert list(folder.iterdir()) == []


def test_an_uploaded_video_gets_the_folder_s_usual_permissions(upload_server, clips):
    server, folder = upload_server
    data = clips["short3"].read_bytes()
    made = httpx.put(f"{server.url}/api/upload/clip.mp4", content=data)
    assert made.status_code == 201 and made.json()["path"] == "clip.mp4"
    assert (folder / "clip.mp4").read_bytes() == data
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((folder / "clip.mp4").stat().st_mode) == 0o666 & ~umask
    again = httpx.put(f"{server.url}/api/upload/clip.mp4", content=data)
    assert again.status_code == 409
    assert sorted(p.name for p in folder.iterdir()) == ["clip.mp4"]
