"""Another web page attacks `vidqa serve` in a real Chromium (Debian's, headless): a page served
by a second loopback server, on another site (`localhost` against `127.0.0.1`) and on another
port of the same machine, tries what a page can send unasked: an upload through `fetch` with
`mode: "no-cors"`, a form POST, `text/plain` JSON to the API, reading the library, playing a
video. None reads or writes anything: no file, no job, no search. A request with a foreign
`Host` (what DNS rebinding sends) comes from the test client. Meanwhile the page from the
server's own origin lists, searches, uploads and plays."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import httpx
import pytest

from helpers.serving import chromium, running, screenshot, served_folder, wait_for

ATTACK = """<!doctype html><meta charset="utf-8"><title>a page of another site</title>
<body><script>
const params = new URLSearchParams(location.search);
const V = params.get("target"), ID = params.get("id");
window.results = {};
async function attempt(name, work) {
  try { results[name] = await work(); } catch (e) { results[name] = "failed: " + e.name; }
}
function formPost(action, fields, enctype) {
  return new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.name = "sink-" + Math.random().toString(36).slice(2);
    document.body.append(frame);
    frame.addEventListener("load", () => resolve("submitted"), { once: true });
    const form = document.createElement("form");
    form.method = "POST"; form.action = action; form.target = frame.name;
    if (enctype) form.enctype = enctype;
    for (const [name, value] of Object.entries(fields)) {
      const input = document.createElement("input");
      input.type = "hidden"; input.name = name; input.value = value; form.append(input);
    }
    document.body.append(form);
    form.submit();
  });
}
(async () => {
  const json = JSON.stringify({ query: "fire alarm test", video: "event.mp4" });
  await attempt("upload", async () => (await fetch(V + "/api/upload/evil.mp4",
    { method: "POST", mode: "no-cors", body: new Blob([new Uint8Array(4096)]) })).type);
  await attempt("find", async () => (await fetch(V + "/v1/find", { method: "POST",
    mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: json })).type);
  await attempt("chat", async () => (await fetch(V + "/v1/chat/completions", { method: "POST",
    mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: JSON.stringify(
      { model: "vidqa", messages: [{ role: "user", content: [
        { type: "video_url", video_url: { url: "event.mp4" } },
        { type: "text", text: "what is shown?" }] }] }) })).type);
  await attempt("index_form", () => formPost(V + "/api/videos/" + ID + "/index", {}));
  // a text/plain form whose body reads as JSON: {"query": "...", "video": "...", "x": "="}
  await attempt("find_form", () => formPost(V + "/v1/find",
    { '{"query": "fire alarm test", "video": "event.mp4", "x": "': '"}' }, "text/plain"));
  await attempt("read_library", async () => await (await fetch(V + "/api/videos")).text());
  await attempt("read_library_no_cors", async () => {
    const reply = await fetch(V + "/api/videos", { mode: "no-cors" });
    return reply.type + ":" + (await reply.text()).length;
  });
  await attempt("play", () => new Promise((resolve) => {
    const video = document.createElement("video");
    video.muted = true;
    video.addEventListener("loadedmetadata", () => resolve("played"));
    video.addEventListener("error", () => resolve("refused"));
    video.src = V + "/api/videos/" + ID + "/media";
    document.body.append(video);
  }));
  window.done = true;
})();
</script>"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def attacker_site(tmp_path):
    """A second loopback server (another port) serving the attacking page."""
    root = tmp_path / "attacker"
    root.mkdir()
    (root / "attack.html").write_text(ATTACK)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_another_page_reads_and_writes_nothing_while_the_own_page_works(
        tmp_path, shared_home, serve_config, event_video, cuts_video, clips, attacker_site,
        monkeypatch):
    from selenium.webdriver.common.by import By

    from vidqa.serve.service import Service

    folder = served_folder(tmp_path / "site", {"event.mp4": event_video[0],
                                               "talks/cuts.mp4": cuts_video[0]})
    service = Service([folder], serve_config)
    service.indexed(service.entry("event.mp4"))
    calls = {"find": 0, "ask": 0}
    for name in calls:
        def counted(*args, _real=getattr(service, name), _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)
        monkeypatch.setattr(service, name, counted)
    cuts = service.entry("talks/cuts.mp4")
    listing = sorted(p.name for p in folder.rglob("*"))
    jobs = [j.id for j in service.jobs.all()]
    try:
        with running(service) as server, chromium() as driver:
            # the rebinding-style request: the attacker's name, addressed to this server
            rebound = httpx.get(f"{server.url}/api/videos",
                                headers={"Host": f"attacker.example:{server.port}"})
            assert rebound.status_code == 403 and "event.mp4" not in rebound.text

            for site in ("localhost", "127.0.0.1"):  # another site; another port
                driver.get(f"http://{site}:{attacker_site}/attack.html?target={server.url}"
                           f"&id={cuts.id}")
                wait_for(driver, "window.done === true", 60, f"the attack from {site} ran")
                results = driver.execute_script("return window.results")
                assert results["upload"] == "opaque" and results["find"] == "opaque", results
                assert results["index_form"] == results["find_form"] == "submitted", results
                assert results["read_library"].startswith("failed"), results
                assert results["read_library_no_cors"] == "opaque:0", results
                assert results["play"] == "refused", results
            assert sorted(p.name for p in folder.rglob("*")) == listing  # nothing written
            assert [j.id for j in service.jobs.all()] == jobs  # no job started
            assert calls == {"find": 0, "ask": 0} and cuts.state != "indexed"

            # the page from the server's own origin lists, searches, uploads and plays
            driver.get(f"{server.url}/")
            wait_for(driver, "document.querySelectorAll('#library li').length === 2",
                     what="the library lists both videos")
            driver.find_element(By.ID, "query").send_keys("fire alarm test")
            driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
            wait_for(driver, "document.querySelectorAll('#hits a.hit').length > 0", 60,
                     "search hits")
            assert "FIRE ALARM TEST" in driver.find_element(By.ID, "hits").text
            assert calls["find"] == 1
            fresh = tmp_path / "fresh.mp4"
            shutil.copyfile(clips["short3"], fresh)
            driver.find_element(By.ID, "upload").send_keys(str(fresh))
            wait_for(driver, "document.querySelectorAll('#library li').length === 3", 60,
                     "the uploaded video in the library")
            assert (folder / "fresh.mp4").read_bytes() == fresh.read_bytes()
            driver.execute_script("const p = document.getElementById('player'); "
                                  "p.muted = true; p.play();")
            wait_for(driver, "document.getElementById('player').currentTime > 0.3", 30,
                     "the player plays")
            screenshot(driver, "serve-own-origin")
    finally:
        service.close()
