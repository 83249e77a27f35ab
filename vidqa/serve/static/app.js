// The served page: library, player, timeline, search, ask and indexing with live progress.
// Everything it loads comes from this server (no CDN, no network beyond it).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { videos: [], current: null, tried: null, pendingSeek: null, streams: new Map(),
                lastLibrary: "", offset: 0, picture: null };
// vidqa's times start at 0; a browser playing the file itself puts the container's start time
// on its clock (an mp4 edit list that delays the video): player time = vidqa time + offset.
// The H.264 copy starts at 0 (offset 0).

function headers(extra) {
  const key = sessionStorage.getItem("vidqa-key");
  return Object.assign(key ? { Authorization: `Bearer ${key}` } : {}, extra || {});
}

async function api(path, options) {
  options = options || {};
  const response = await fetch(path, Object.assign({}, options, {
    credentials: "same-origin", headers: headers(options.headers) }));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) { showKeyForm(); }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.code = body && body.error ? body.error.code : null;
    throw error;
  }
  return body;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// -- the API key

function showKeyForm() { $("key-form").hidden = false; $("key").focus(); }

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("key").value.trim();
  const response = await fetch("/api/session", { method: "POST", credentials: "same-origin",
                                                 headers: { Authorization: `Bearer ${key}` } });
  if (!response.ok) { $("key-error").textContent = "wrong key"; return; }
  sessionStorage.setItem("vidqa-key", key);
  $("key-form").hidden = true;
  $("key-error").textContent = "";
  loadLibrary();
});

// -- the library

const LABELS = { unchecked: "checking", checking: "checking", not_indexed: "not indexed",
                 queued: "queued", indexing: "indexing", indexed: "indexed", failed: "failed" };

function renderLibrary() {
  const list = $("library");
  list.replaceChildren(...state.videos.map((video) => {
    const meta = el("span", { class: "meta" },
      el("span", { class: `state ${video.state}` }, LABELS[video.state] || video.state),
      video.has_picture === false ? el("span", { class: "sound", title: "sound only: no picture" }, "\u266a sound") : null,
      video.duration_s ? el("span", {}, formatHms(video.duration_s).replace(/\.\d+$/, "")) : null);
    const missing = video.state === "indexed" && video.missing && video.missing.length;
    if (video.state === "not_indexed" || video.state === "failed" || missing) {
      meta.append(el("button", { type: "button", class: "index", "data-video": video.id,
                                 title: missing ? `make the ${video.missing.join(", ")} track with the model` : null,
                                 onclick: (e) => { e.stopPropagation(); startIndex(video.id); } },
                     video.state === "failed" ? "Retry" : missing ? "Caption" : "Index"));
    }
    const item = el("li", { "data-video": video.id, title: video.error || video.path,
                            class: state.current && state.current.id === video.id ? "current" : "",
                            onclick: () => selectVideo(video.id) },
                    el("span", { class: "name" }, video.path), meta);
    if (video.error) item.append(el("div", { class: "error" }, video.error));
    const stream = state.streams.get(video.id);
    if (stream && stream.progress) item.append(stream.progress);
    return item;
  }));
}

async function loadLibrary() {
  let data;
  try { data = await api("/api/videos"); } catch (e) { $("model").textContent = e.message; return; }
  state.videos = data.videos;
  $("model").textContent = data.model ? `model: ${data.model}` : "no model: search only";
  const signature = JSON.stringify(data.videos.map((v) => [v.id, v.state, v.error, v.missing, v.has_picture]));
  if (signature !== state.lastLibrary) { state.lastLibrary = signature; renderLibrary(); }
  for (const job of data.jobs) follow(job);
  if (state.current) {
    const fresh = data.videos.find((v) => v.id === state.current.id);
    if (fresh && fresh.state === "indexed" && state.current.state !== "indexed") {
      state.current = fresh;
      loadTimeline();
    }
  }
  if (!state.current && data.videos.length && !location.hash) selectVideo(data.videos[0].id);
  const busy = data.videos.some((v) => ["unchecked", "checking", "queued", "indexing"].includes(v.state));
  setTimeout(loadLibrary, busy ? 1500 : 10000);
}

// -- indexing, followed live

async function startIndex(id) {
  try {
    const reply = await api(`/api/videos/${id}/index`, { method: "POST" });
    if (reply.job) follow(reply.job);
  } catch (e) { alert(e.message); }
}

function follow(job) {
  if (state.streams.has(job.video)) return;
  const bar = el("div", { class: "progress" }, el("div"));
  const label = el("div", { class: "muted job", "data-job": job.id }, "queued");
  const progress = el("div", {}, label, bar);
  const source = new EventSource(`/api/jobs/${job.id}/events`, { withCredentials: true });
  state.streams.set(job.video, { source, progress });
  const show = (data) => {
    const stage = data.stages[data.stages.length - 1];
    if (!stage) { label.textContent = data.state; return; }
    const total = stage.total ? `/${Math.round(stage.total)}` : "";
    label.textContent = `${stage.desc}: ${Math.round(stage.done)}${total} ${stage.unit}`;
    bar.firstChild.style.width = stage.total ? `${Math.min(100, 100 * stage.done / stage.total)}%` : "30%";
  };
  source.addEventListener("progress", (e) => show(JSON.parse(e.data)));
  const end = (e) => {
    source.close();
    state.streams.delete(job.video);
    state.lastLibrary = "";
    const data = JSON.parse(e.data);
    if (data.state === "failed") alert(`Indexing failed: ${data.error}`);
    loadLibrary();
  };
  source.addEventListener("done", end);
  source.addEventListener("failed", end);
  source.addEventListener("cancelled", end);
  renderLibrary();
}

// -- the player and the timeline

const timeline = new VidqaTimeline($("timeline"), $("tooltip"), {
  onSeek: (t) => seekTo(state.current && state.current.id, t),
  onWindow: (start, end) => loadTimeline(start, end),
  thumbUrl: (name) => `/api/videos/${state.current.id}/keyframes/${encodeURIComponent(name)}`,
});

// #player is a <video>, or an <audio> while a sound-only recording plays (usePlayer)
let player = $("player");

function wirePlayer(node) {
  node.addEventListener("timeupdate", () => timeline.setTime(node.currentTime - state.offset));
  node.addEventListener("seeked", () => timeline.setTime(node.currentTime - state.offset));
  node.addEventListener("loadedmetadata", () => {
    if (state.pendingSeek !== null) {
      node.currentTime = state.pendingSeek + state.offset;
      state.pendingSeek = null;
    }
  });
  node.addEventListener("error", () => {
    const video = state.current;
    if (video && state.tried !== "proxy" && node.getAttribute("src")) {
      // a codec the browser cannot play: the copy it plays (H.264, or AAC for sound)
      state.tried = "proxy";
      state.offset = 0;
      $("title").textContent = `${video.path} (making a copy this browser plays...)`;
      node.src = video.proxy_url;
    }
  });
}
wirePlayer(player);

function usePlayer(sound) {
  const next = playerElement(player, sound);
  if (next !== player) { player = next; wirePlayer(player); }
  $("question").placeholder = sound ? "Ask about this recording (what is said)" : "Ask about this video";
}

async function selectVideo(id) {
  if (state.current && state.current.id === id) return state.current;
  const video = await api(`/api/videos/${id}`);
  state.current = video;
  state.tried = video.media_url.includes("proxy") ? "proxy" : "original";
  state.offset = state.tried === "proxy" ? 0 : (video.start_offset_s || 0);
  $("title").textContent = video.path;
  $("title").classList.remove("muted");
  usePlayer(video.has_picture === false);
  player.src = video.media_url;
  renderLibrary();
  timeline.data = null;
  timeline.draw();
  if (video.state === "indexed") loadTimeline();
  return video;
}

async function loadTimeline(start, end) {
  const video = state.current;
  if (!video) return;
  const width = Math.max(200, Math.round($("timeline").clientWidth));
  let query = `bins=${width}`;
  if (start !== undefined) query += `&start_s=${start}&end_s=${end}`;
  const data = await api(`/api/videos/${video.id}/timeline?${query}`);
  if (!state.current || state.current.id !== video.id) return;
  if (start === undefined) timeline.setData(data);
  else { timeline.data = Object.assign({}, data, { duration_s: data.duration_s }); timeline.draw(); }
}

async function seekTo(id, seconds) {
  if (!id) return;
  if (!state.current || state.current.id !== id) await selectVideo(id);
  if (player.readyState >= 1) player.currentTime = seconds + state.offset;
  else state.pendingSeek = seconds;
  timeline.setTime(seconds);
}

function seekFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("v")) seekTo(params.get("v"), parseFloat(params.get("t") || "0"));
}
window.addEventListener("hashchange", seekFromHash);

// -- search

// A date and time, or a time alone ("2024-12-05 12:01:30", "12/05/2024 1:01 PM", "12:01:30"),
// is a wall-clock time: the page looks it up on the clock burned into the picture and seeks
// there. "@" before anything, or "at " before such a time, says so when it would not be.
const CLOCK = /^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|(?:\d{1,2}\s+)?[a-z]{3,9}\.?\s+(?:\d{1,2},?\s+)?\d{4})?[\sT]*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[ap]\.?\s?m\.?)?$/i;

function clockTime(query) {
  if (query.startsWith("@")) return { at: query.slice(1).trim(), forced: true };
  const rest = query.replace(/^at\s+/i, "");
  return CLOCK.test(rest) ? { at: rest, forced: rest !== query } : null;
}

async function lookUpClock(at, forced) {
  // true when handled; false when no video shows a clock and the words should be searched
  const body = { at };
  if ($("only-this").checked && state.current) body.video = state.current.id;
  $("hits-note").textContent = `Looking up ${at} on the clock...`;
  $("hits").replaceChildren();
  let data;
  try {
    data = await api("/v1/find", { method: "POST", body: JSON.stringify(body),
                                    headers: { "Content-Type": "application/json" } });
  } catch (e) {
    if (!forced && e.code === "no_clock") return false;
    $("hits-note").textContent = e.message;
    return true;
  }
  const several = data.videos.length > 1;
  const matches = data.videos.flatMap((v) => v.matches.map((m) => Object.assign({ video: v.video, path: v.path }, m)));
  const notes = data.videos.flatMap((v) => v.notes.map((n) => several ? `${v.path}: ${n}` : n));
  const wall = (data.videos.find((v) => v.wall) || data).wall || at;  // with the clock's date
  const summary = matches.length ? `The clock shows ${matches[0].wall} at ${matches[0].time}` +
    (matches.length > 1 ? ` (and ${matches.length - 1} more)` : "") : `The clock never shows ${wall}`;
  $("hits-note").replaceChildren(summary, ...notes.map((n) => el("span", { class: "clock-note" }, n)));
  $("hits").replaceChildren(...matches.map((m) => el("li", {},
    el("a", { href: `#v=${m.video}&t=${m.time_s}`, class: "hit clock", "data-video": m.video,
              "data-time": m.time_s, onclick: (e) => { e.preventDefault(); seekTo(m.video, m.time_s); } },
       el("span", { class: "when" }, m.time)),
    " ", el("span", { class: "muted" }, m.path), " ", el("span", { class: "kind" }, "[clock]"), " ",
    m.wall, el("span", { class: "muted" }, m.between[1] ? ` between "${m.between[0].text}" and "${m.between[1].text}"`
                                                         : ` after "${m.between[0].text}"`))));
  const here = matches.find((m) => state.current && m.video === state.current.id) || matches[0];
  if (here) seekTo(here.video, here.time_s);
  return true;
}

async function find(body, searching) {
  // POST /v1/find; the hits listed (video, time, kind, text; a click plays from there), or
  // null after the error is shown
  if ($("only-this").checked && state.current) body.video = state.current.id;
  $("hits-note").textContent = searching;
  $("hits").replaceChildren();
  let data;
  try {
    data = await api("/v1/find", { method: "POST", body: JSON.stringify(body),
                                    headers: { "Content-Type": "application/json" } });
  } catch (e) { $("hits-note").textContent = e.message; return null; }
  $("hits").replaceChildren(...data.data.map((hit) => el("li", {},
    el("a", { href: `#v=${hit.video}&t=${hit.time_s}`, class: "hit", "data-video": hit.video,
              "data-time": hit.time_s, "data-kind": hit.kind,
              onclick: (e) => { e.preventDefault(); seekTo(hit.video, hit.time_s); } },
       el("span", { class: "when" }, hit.time)),
    " ", el("span", { class: "muted" }, hit.path), " ",
    el("span", { class: "kind" }, `[${hit.kind}]`), " ", hit.text)));
  return data.data;
}

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const picture = state.picture;
  if (picture) {
    const hits = await find({ image_url: { url: picture.url, name: picture.name }, k: 10 },
                            `Looking for ${picture.name}...`);
    if (hits) $("hits-note").textContent = hits.length ? `${picture.name} is shown ${hits.length === 1 ? "once" : `${hits.length} times`}`
                                                       : `No frame shows ${picture.name}`;
    return;
  }
  const query = $("query").value.trim();
  if (!query) return;
  const clock = clockTime(query);
  if (clock && await lookUpClock(clock.at, clock.forced)) return;
  const hits = await find({ query, k: 10 }, "Searching...");
  if (hits) $("hits-note").textContent = hits.length ? `${hits.length} hits for "${query}"` : `Nothing found for "${query}"`;
});

// -- find by picture: a picture dropped on the search box or pasted into it is looked for
// (where it is shown: a screenshot, a photo of a slide, a crop of a frame). It goes to the
// server inside the request, as a data URL; nothing else is fetched.

const PICTURE_TYPES = ["image/png", "image/jpeg", "image/webp"];  // what the server reads
const PICTURE_MAX_BYTES = 6 * 1024 * 1024;  // sent as it is up to this; a larger picture, or
const PICTURE_SIDE = 2048;  // another format the browser reads (GIF, BMP, AVIF), is sent as a
                            // JPEG at most this long a side (the search reads it 640 wide)

function readDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function pictureUrl(file) {
  if (PICTURE_TYPES.includes(file.type) && file.size <= PICTURE_MAX_BYTES) return readDataUrl(file);
  let bitmap;
  try { bitmap = await createImageBitmap(file); } catch (e) {
    throw new Error(`cannot read ${file.name || "the pasted file"} as a picture; drop or paste a PNG, JPEG or WebP`);
  }
  const scale = Math.min(1, PICTURE_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";  // a transparent picture over white, as a page shows it
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas.toDataURL("image/jpeg", 0.92);
}

function pictureOf(transfer) {
  // the first picture among the files of a drop or a paste (undefined: none)
  return Array.from((transfer && transfer.files) || []).find((f) => f.type.startsWith("image/"));
}

async function setPicture(file, name) {
  let url;
  try { url = await pictureUrl(file); } catch (e) { $("hits-note").textContent = e.message; return; }
  clearPicture();
  name = name || file.name || "picture";
  state.picture = { name, url, thumb: URL.createObjectURL(file) };
  $("picture-thumb").src = state.picture.thumb;
  $("picture-name").textContent = name;
  $("picture-chip").title = name;
  $("picture-chip").hidden = false;
  $("query").value = "";
  $("query").placeholder = "Enter: find where this picture is shown (\u00d7 to search words)";
  $("query").focus();
}

function clearPicture() {
  if (!state.picture) return;
  URL.revokeObjectURL(state.picture.thumb);
  state.picture = null;
  $("picture-chip").hidden = true;
  $("picture-thumb").removeAttribute("src");
  $("query").placeholder = $("query").dataset.placeholder;
}

$("query").dataset.placeholder = $("query").placeholder;
// the x is a span, not a <button>: the form's one button stays its submit button
$("picture-clear").addEventListener("click", () => { clearPicture(); $("query").focus(); });
$("picture-clear").addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); clearPicture(); $("query").focus(); }
});
$("query").addEventListener("keydown", (e) => {
  if (e.key === "Backspace" && state.picture && !$("query").value) clearPicture();
});
$("query").addEventListener("paste", (e) => {
  const file = pictureOf(e.clipboardData);
  if (!file) return;  // text is pasted as text
  e.preventDefault();
  setPicture(file, file.name === "image.png" ? "pasted picture" : file.name);  // Chromium's name
});

const box = $("search-box");
const carriesFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files");
for (const type of ["dragenter", "dragover"]) {
  box.addEventListener(type, (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    box.classList.add("dragover");
  });
}
box.addEventListener("dragleave", (e) => { if (!box.contains(e.relatedTarget)) box.classList.remove("dragover"); });
box.addEventListener("drop", (e) => {
  box.classList.remove("dragover");
  if (!carriesFiles(e)) return;  // dragged text drops as text
  e.preventDefault();
  const file = pictureOf(e.dataTransfer);
  if (file) setPicture(file);
  else $("hits-note").textContent = "Drop a picture (PNG, JPEG, WebP) to find where it is shown";
});
// a file dropped anywhere else is not opened in place of the page
window.addEventListener("dragover", (e) => { if (carriesFiles(e)) e.preventDefault(); });
window.addEventListener("drop", (e) => { if (carriesFiles(e)) e.preventDefault(); });

// -- ask

const CITED = /(\[?(\d+(?:\.\d+)?)\s*(?:s|sec|seconds)?\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)\s*(?:s|sec|seconds)\]?|\b(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)\b)/g;

function linkTimes(text, videoId) {
  // the answer's text, with each time it names (12.0-15.5 s, 00:01:02.500) a link that seeks
  const out = [];
  let last = 0;
  for (const m of text.matchAll(CITED)) {
    const t = m[2] !== undefined ? parseFloat(m[2]) : (+m[4]) * 3600 + (+m[5]) * 60 + parseFloat(m[6]);
    out.push(text.slice(last, m.index));
    out.push(el("a", { href: `#v=${videoId}&t=${t}`, class: "cite", "data-time": t,
                       onclick: (e) => { e.preventDefault(); seekTo(videoId, t); } }, m[0]));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  const video = state.current;
  if (!question || !video) return;
  const answer = $("answer");
  answer.replaceChildren(el("span", { class: "muted" }, "Thinking..."));
  const button = event.submitter || $("ask-form").querySelector("button");
  button.disabled = true;
  try {
    const reply = await api("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "vidqa", messages: [{ role: "user", content: [
        { type: "video_url", video_url: { url: video.id } }, { type: "text", text: question }] }] }) });
    const text = reply.choices[0].message.content.split("\n\nSources:")[0];
    const data = reply.vidqa;
    const sources = el("div", { class: "sources" }, "Sources: ",
      ...data.citations.flatMap((c, i) => [i ? ", " : "",
        el("a", { href: `#v=${data.video.id}&t=${c.start_s}`, class: "cite source", "data-time": c.start_s,
                  onclick: (e) => { e.preventDefault(); seekTo(data.video.id, c.start_s); } },
           `${c.start}-${c.end}`)]));
    answer.replaceChildren(...linkTimes(text, data.video.id), sources);
    if (data.warning) answer.append(el("div", { class: "error" }, data.warning));
  } catch (e) {
    answer.replaceChildren(el("span", { class: "error" }, e.message));
  } finally {
    button.disabled = false;
  }
});

// -- upload

$("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  $("model").textContent = `uploading ${file.name}...`;
  try {
    await api(`/api/upload/${encodeURIComponent(file.name)}`, { method: "PUT", body: file });
  } catch (e) { alert(`Upload failed: ${e.message}`); }
  event.target.value = "";
  state.lastLibrary = "";
  loadLibrary();
});

loadLibrary().then(seekFromHash);
