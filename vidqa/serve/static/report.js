// The offline report (vidqa report): the same timeline as the served page, the event log, the
// transcript and the summaries, each time a link that plays the video (beside the report) there.
// A sound-only recording plays in an <audio> element, with no summaries of what is shown.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const $ = (id) => document.getElementById(id);
  const sound = data.video.has_picture === false;
  const player = playerElement($("player"), sound);

  $("title").textContent = data.video.name;
  $("made").textContent = `${data.video.name}, ${formatHms(data.video.duration_s)}; made by ${data.made.by} on ${data.made.at}`;
  document.title = `${data.video.name} - vidqa report`;
  player.src = data.video.href;
  player.addEventListener("error", () => {
    $("missing").hidden = false;
    $("missing").textContent = `The ${sound ? "recording" : "video"} is not beside this report (looked for ${decodeURIComponent(data.video.href)}); keep the two together to play it.`;
  });

  const timeline = new VidqaTimeline($("timeline"), $("tooltip"), {
    onSeek: seek,
    thumbUrl: (name) => data.thumbs[name] || "data:,",
  });
  timeline.setData(data.timeline);
  window.timeline = timeline;
  // vidqa's times start at 0; the browser's clock starts at the container's start time
  const offset = data.video.start_offset_s || 0;
  player.addEventListener("timeupdate", () => timeline.setTime(player.currentTime - offset));

  function seek(seconds) {
    if (player.readyState >= 1) player.currentTime = seconds + offset;
    else player.addEventListener("loadedmetadata", () => { player.currentTime = seconds + offset; }, { once: true });
    timeline.setTime(seconds);
  }

  function at(seconds) {
    const link = document.createElement("a");
    link.href = `#t=${seconds}`;
    link.className = "time";
    link.dataset.time = seconds;
    link.textContent = formatHms(seconds);
    link.addEventListener("click", (e) => { e.preventDefault(); seek(seconds); });
    return link;
  }

  const rows = data.log.map((line) => {
    const row = document.createElement("tr");
    const when = document.createElement("td"); when.className = "when"; when.append(at(line.start_s));
    const source = document.createElement("td"); source.className = "source"; source.textContent = line.kind;
    const text = document.createElement("td"); text.textContent = line.text;
    row.append(when, source, text);
    row.dataset.text = line.text.toLowerCase();
    return row;
  });
  $("log").append(...rows);
  $("filter").addEventListener("input", (e) => {
    const wanted = e.target.value.trim().toLowerCase();
    for (const row of rows) row.hidden = wanted && !row.dataset.text.includes(wanted);
  });

  $("transcript").append(...(data.transcript.length ? data.transcript.map((line) => {
    const p = document.createElement("p");
    p.append(at(line.start_s), " ", line.text);
    return p;
  }) : [Object.assign(document.createElement("p"), { className: "muted", textContent: "Nothing is said." })]));

  $("summaries-panel").hidden = sound && !data.summaries.length;  // nothing is shown to sum up
  $("summaries").append(...(data.summaries.length ? data.summaries.map((chunk) => {
    const p = document.createElement("p");
    p.append(at(chunk.start_s), " ", chunk.text);
    return p;
  }) : [Object.assign(document.createElement("p"), { className: "muted", textContent: "No captions (index with a model to have them)." })]));

  const start = new URLSearchParams(location.hash.slice(1)).get("t");
  if (start) seek(parseFloat(start));
})();
