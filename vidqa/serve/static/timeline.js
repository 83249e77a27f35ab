// The timeline under the player: one lane per source (scenes with key-frame thumbnails, then
// each track's lane: its title and colour come in the data's `order`; a sound-only recording
// has no scenes) drawn on one canvas from the server's summary, so a 10-hour video costs the
// page a few thousand rectangles, not a DOM element per line.
// Shared by the served page (app.js) and the offline report (vidqa report), with the player
// element's choice (playerElement).
"use strict";

function formatHms(seconds) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60;
  const s = Math.floor(ms / 1000) % 60, rest = ms % 1000;
  const two = (n) => String(n).padStart(2, "0");
  return `${two(h)}:${two(m)}:${two(s)}.${String(rest).padStart(3, "0")}`;
}

// The player for a file: an <audio> element for a sound-only recording (no picture), a
// <video> otherwise. `current` is replaced in place (same id, controls) when it is the other
// kind; the element to use is returned.
function playerElement(current, sound) {
  const tag = sound ? "AUDIO" : "VIDEO";
  if (current.tagName === tag) return current;
  const next = document.createElement(tag);
  next.id = current.id;
  next.controls = true;
  next.preload = "metadata";
  if (!sound) next.setAttribute("playsinline", "");
  current.pause();
  current.removeAttribute("src");
  current.load();  // lets the old element's file go
  current.replaceWith(next);
  return next;
}

class VidqaTimeline {
  // options: onSeek(seconds), onWindow(startS, endS) (zoom; the page fetches that stretch),
  // thumbUrl(name) -> the URL of a key frame's JPEG.
  constructor(canvas, tooltip, options) {
    this.canvas = canvas;
    this.tooltip = tooltip;
    this.options = options;
    this.data = null;
    this.time = 0;
    this.window = null;
    this.images = new Map();
    this.lanes = [["scenes", "Scenes", 52, "--scenes"]];  // the data's `order` adds the tracks
    this.labelWidth = 74;
    canvas.addEventListener("mousemove", (e) => this.hover(e));
    canvas.addEventListener("mouseleave", () => { this.tooltip.hidden = true; });
    canvas.addEventListener("click", (e) => {
      const hit = this.itemAt(e);
      const t = hit ? hit.item.at_s : this.timeAt(e);
      if (t !== null && this.options.onSeek) this.options.onSeek(t);
    });
    canvas.addEventListener("wheel", (e) => this.zoom(e), { passive: false });
    canvas.addEventListener("dblclick", () => this.setWindow(0, this.duration()));
    window.addEventListener("resize", () => this.draw());
  }

  duration() { return this.data ? this.data.duration_s : 0; }

  setData(data) {
    this.data = data;
    // [key, title, height, colour]: the scenes taller (thumbnails), a colour a CSS value or
    // the name of a CSS variable ("--scenes")
    if (data.order) {
      this.lanes = data.order.map((lane) =>
        [lane.key, lane.title, lane.key === "scenes" ? 52 : 22, lane.colour]);
    }
    this.window = [data.start_s, data.end_s];
    this.draw();
  }

  setTime(seconds) {
    this.time = seconds;
    this.draw();
  }

  setWindow(start, end) {
    const d = this.duration();
    start = Math.max(0, start); end = Math.min(d, end);
    if (!(end > start)) return;
    this.window = [start, end];
    if (this.options.onWindow) this.options.onWindow(start, end);
    this.draw();
  }

  zoom(event) {
    if (!this.data) return;
    event.preventDefault();
    const [start, end] = this.window;
    const at = this.timeAt(event) ?? (start + end) / 2;
    const factor = event.deltaY < 0 ? 0.5 : 2;
    const span = Math.min(this.duration(), Math.max(2, (end - start) * factor));
    let lo = at - (at - start) * span / (end - start);
    lo = Math.max(0, Math.min(lo, this.duration() - span));
    this.setWindow(lo, lo + span);
  }

  x(seconds) {
    const [start, end] = this.window;
    const width = this.canvas.clientWidth - this.labelWidth;
    return this.labelWidth + (seconds - start) / (end - start) * width;
  }

  timeAt(event) {
    if (!this.data) return null;
    const rect = this.canvas.getBoundingClientRect();
    const px = event.clientX - rect.left;
    if (px < this.labelWidth) return null;
    const [start, end] = this.window;
    return start + (px - this.labelWidth) / (rect.width - this.labelWidth) * (end - start);
  }

  laneAt(event) {
    const y = event.clientY - this.canvas.getBoundingClientRect().top;
    let top = 0;
    for (const lane of this.lanes) {
      if (y >= top && y < top + lane[2]) return lane;
      top += lane[2] + 4;
    }
    return null;
  }

  itemAt(event) {
    const lane = this.laneAt(event);
    const t = this.timeAt(event);
    if (!lane || t === null || !this.data) return null;
    const items = (this.data.lanes[lane[0]] || { items: [] }).items;
    const slack = (this.window[1] - this.window[0]) / Math.max(1, this.canvas.clientWidth) * 3;
    let best = null;
    for (const item of items) {
      if (t >= item.start_s - slack && t <= Math.max(item.end_s, item.start_s) + slack) {
        if (!best || item.start_s > best.start_s) best = item;  // the latest that began
      }
    }
    return best ? { lane, item: best } : null;
  }

  hover(event) {
    const hit = this.itemAt(event);
    if (!hit) { this.tooltip.hidden = true; return; }
    const { item, lane } = hit;
    const count = item.count ? ` (${item.count} items)` : "";
    this.tooltip.textContent = `${lane[1]} ${formatHms(item.at_s)}${count}\n${item.text}`;
    const rect = this.canvas.getBoundingClientRect();
    this.tooltip.style.left = `${Math.min(event.clientX - rect.left + 12, rect.width - 300)}px`;
    this.tooltip.style.top = `${event.clientY - rect.top + 14}px`;
    this.tooltip.hidden = false;
  }

  image(name) {
    if (!this.images.has(name)) {
      const img = new Image();
      img.onload = () => this.draw();
      img.src = this.options.thumbUrl(name);
      this.images.set(name, img);
    }
    return this.images.get(name);
  }

  draw() {
    const canvas = this.canvas, ratio = window.devicePixelRatio || 1;
    const height = this.lanes.reduce((sum, lane) => sum + lane[2] + 4, 0) + 14;
    canvas.style.height = `${height}px`;
    canvas.width = Math.max(1, Math.floor(canvas.clientWidth * ratio));
    canvas.height = Math.floor(height * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, canvas.clientWidth, height);
    const css = getComputedStyle(document.documentElement);
    g.font = "12px system-ui, sans-serif";
    if (!this.data) {
      g.fillStyle = css.getPropertyValue("--muted");
      g.fillText("Not indexed yet: no timeline", 8, 20);
      return;
    }
    const [start, end] = this.window;
    let top = 0;
    for (const [name, label, laneHeight, color] of this.lanes) {
      const lane = this.data.lanes[name] || { items: [], binned: false };
      g.fillStyle = css.getPropertyValue("--muted");
      g.fillText(label, 4, top + Math.min(laneHeight, 22) / 2 + 4);
      g.fillStyle = color.startsWith("--") ? css.getPropertyValue(color) : color;
      const most = Math.max(1, ...lane.items.map((i) => i.count || 1));
      // longest first, so a short line drawn over a long one stays visible
      const shown = lane.items.filter((i) => i.end_s >= start && i.start_s <= end)
        .sort((a, b) => (b.end_s - b.start_s) - (a.end_s - a.start_s));
      for (const item of shown) {
        const x0 = Math.max(this.labelWidth, this.x(item.start_s));
        const x1 = Math.max(x0 + 2, this.x(Math.max(item.end_s, item.start_s)));
        const long = (item.end_s - item.start_s) > 0.2 * (end - start);
        g.globalAlpha = lane.binned ? 0.35 + 0.65 * (item.count || 1) / most : long ? 0.4 : 0.95;
        g.fillRect(x0, top + 2, Math.min(x1, canvas.clientWidth) - x0, laneHeight - 4);
        g.clearRect(x0, top, 1, laneHeight);  // a thin gap marks where each item begins
      }
      g.globalAlpha = 1;
      if (name === "scenes") {
        const frames = this.data.lanes.frames;
        this.drawThumbs(g, frames && frames.items.length ? frames.items : lane.items, top, laneHeight);
      }
      top += laneHeight + 4;
    }
    // the time axis and the playhead
    g.fillStyle = css.getPropertyValue("--muted");
    g.fillText(formatHms(start), this.labelWidth, top + 10);
    const endLabel = formatHms(end);
    g.fillText(endLabel, canvas.clientWidth - g.measureText(endLabel).width - 2, top + 10);
    if (this.time >= start && this.time <= end) {
      const x = this.x(this.time);
      g.fillStyle = "#ff5050";
      g.fillRect(x - 1, 0, 2, top);
    }
  }

  drawThumbs(g, items, top, laneHeight) {
    const withThumbs = items.filter((i) => i.thumb);
    if (!withThumbs.length) return;
    const [start, end] = this.window;
    const thumbHeight = laneHeight - 6, thumbWidth = Math.round(thumbHeight * 16 / 9);
    const room = this.canvas.clientWidth - this.labelWidth;
    const slots = Math.max(1, Math.floor(room / (thumbWidth + 6)));
    let lastX = -Infinity;
    for (let slot = 0; slot < slots; slot++) {
      const t = start + (slot + 0.5) / slots * (end - start);
      let best = null;
      for (const item of withThumbs) {  // the key frame (or scene) showing at the slot's time
        if (item.at_s <= t && (!best || item.at_s > best.at_s)) best = item;
      }
      if (!best) continue;
      const x = Math.max(this.labelWidth, this.x(best.at_s));
      if (x < lastX + thumbWidth + 4) continue;
      const img = this.image(best.thumb);
      if (img.complete && img.naturalWidth) g.drawImage(img, x, top + 3, thumbWidth, thumbHeight);
      lastX = x;
    }
  }
}
