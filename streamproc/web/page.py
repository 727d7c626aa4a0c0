"""The monitor page: one HTML document, no build step, no external assets (works offline).

Tiles are built from ``/api/stats`` (polled twice a second); each tile's video is an
``<img>`` on ``/cam/{id}/stream.mjpg?view=...``, started once the camera has a frame
(before that the tile says why it has none: starting, connecting and its error). Colours
flag what an operator should look at: fps under 90% / 50% of the camera's rate, more than
1% / 10% of frames dropped, latency p95 over 0.5 / 2 s.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>streamproc monitor</title>
<style>
  body { font: 13px/1.35 system-ui, sans-serif; margin: 0; background: #111; color: #ddd; }
  header { display: flex; gap: 16px; align-items: center; padding: 8px 12px;
           background: #1b1b1b; border-bottom: 1px solid #333; flex-wrap: wrap; }
  header h1 { font-size: 15px; margin: 0; }
  .notice { color: #fc6; }
  #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
          gap: 10px; padding: 10px; }
  .tile { background: #1b1b1b; border: 1px solid #333; border-radius: 4px; padding: 6px; }
  .tile h2 { font-size: 13px; margin: 0 0 4px; display: flex; gap: 8px; align-items: center; }
  .tile img.video { width: 100%; aspect-ratio: 16 / 9; object-fit: contain;
                    background: #000; display: block; }
  .status { padding: 1px 6px; border-radius: 3px; font-size: 11px; text-transform: uppercase; }
  .status.live, .status.running { background: #185c2a; }
  .status.reconnecting, .status.starting, .status.connecting, .status.slow,
  .status.finishing { background: #8a6d0b; }
  .status.ended { background: #444; }
  .tile .source { color: #999; font-weight: normal; font-size: 11px; }
  .reason { color: #fc6; font-size: 12px; min-height: 1.35em; margin: 2px 0; }
  .tile[data-status="failed"] .reason { color: #f88; }
  .warn { color: #fc6; } .bad { color: #f77; font-weight: bold; }
  .status.failed { background: #8b1e1e; }
  .camstats { font-family: ui-monospace, monospace; font-size: 11px; margin: 4px 0; }
  .tile img.video { cursor: zoom-in; }
  .tile.full { position: fixed; inset: 0; z-index: 8; border-radius: 0; overflow: auto; }
  .tile.full img.video { height: calc(100vh - 150px); aspect-ratio: auto; cursor: zoom-out; }
  .faces { display: flex; gap: 4px; overflow-x: auto; min-height: 70px; }
  .faces figure { margin: 0; text-align: center; font-size: 10px; cursor: zoom-in; }
  .faces img { height: 56px; width: 56px; object-fit: cover; display: block; }
  #enlarged { position: fixed; inset: 0; background: rgba(0, 0, 0, 0.85); display: none;
              align-items: center; justify-content: center; cursor: zoom-out; z-index: 9; }
  #enlarged.open { display: flex; }
  #enlarged figure { margin: 0 12px; text-align: center; }
  #enlarged img { width: min(40vw, 420px); image-rendering: pixelated; display: block; }
  #enlarged p { position: absolute; bottom: 16px; width: 100%; text-align: center; }
  table { border-collapse: collapse; margin: 0 10px 10px; font-size: 12px; }
  td, th { border: 1px solid #333; padding: 2px 8px; text-align: right; }
</style>
</head>
<body>
<header>
  <h1>streamproc monitor</h1>
  <span>view:
    <label><input type="radio" name="view" value="enhanced" checked> enhanced</label>
    <label><input type="radio" name="view" value="original"> original</label>
    <label><input type="radio" name="view" value="side"> side by side</label>
  </span>
  <span id="summary"></span>
  <span class="notice">Enhanced faces are machine-generated guesses, not evidence.</span>
</header>
<div id="grid"></div>
<div id="enlarged" role="dialog" aria-label="face, enlarged">
  <figure><img class="original" alt="original"><figcaption>original</figcaption></figure>
  <figure><img class="enhanced" alt="enhanced">
    <figcaption>AI-enhanced (a machine-generated guess)</figcaption></figure>
  <p class="caption"></p>
</div>
<table id="stages"><thead><tr><th>shared stage</th><th>frames</th><th>ms/frame</th>
<th>capacity fps</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
let view = "enhanced";
const tiles = new Map();

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function streamUrl(id) { return `/cam/${id}/stream.mjpg?view=${view}`; }

function makeTile(cam) {
  const tile = el("div", {class: "tile", "data-cam": cam.id});
  const title = el("h2");
  title.append(el("span", {class: "status"}), el("span", {class: "name"}, cam.name),
               el("span", {class: "source"}, cam.source || ""));
  const img = el("img", {class: "video", alt: ""});  // no frame yet: a black box
  // A stream that fails (not served yet, server restarting) is retried at the next poll.
  img.addEventListener("error", () => { img.removeAttribute("src"); });
  // Click: this camera full-screen (click again or Escape: back to the grid).
  img.addEventListener("click", () => tile.classList.toggle("full"));
  tile.append(title, el("div", {class: "reason"}), img, el("div", {class: "camstats"}),
              el("div", {class: "faces"}));
  document.getElementById("grid").append(tile);
  tiles.set(cam.id, tile);
  return tile;
}

function fmtTime(s) {  // video time: m:ss.s
  const m = Math.floor(s / 60);
  return `${m}:${(s - 60 * m).toFixed(1).padStart(4, "0")}`;
}

function faceUrl(cam, f, kind) {
  return `/cam/${cam.id}/face/${f.track_id}.jpg?kind=${kind}&v=${f.version}`;
}

function enlarge(cam, f) {
  const box = document.getElementById("enlarged");
  box.querySelector("img.original").src = faceUrl(cam, f, "original");
  box.querySelector("img.enhanced").src = faceUrl(cam, f, "enhanced");
  box.querySelector(".caption").textContent =
    `${cam.name}: track #${f.track_id}, seen ${fmtTime(f.first_s)}-${fmtTime(f.last_s)} ` +
    `(${f.frames} frames; best crop ${f.height_px} px tall, ${f.enhancer})`;
  box.classList.add("open");
}

function level(value, warn, bad, lowIsBad) {
  if (value === null || value === undefined) return "";
  if (lowIsBad) return value < bad ? "bad" : value < warn ? "warn" : "";
  return value > bad ? "bad" : value > warn ? "warn" : "";
}

function span(text, cls) { return el("span", cls ? {class: cls} : {}, text); }

function camStats(cam) {
  // The recent rate while it runs; the average once it has ended.
  const running = cam.status !== "ended" && cam.status !== "failed";
  const fps = cam.recent_fps === null || !running ? cam.fps : cam.recent_fps;
  const rated = cam.live && cam.nominal_fps && cam.frames_out > 0 && running;
  const rate = rated ? fps / cam.nominal_fps : null;
  const dropShare = cam.frames_in ? cam.dropped / cam.frames_in : 0;
  const parts = [
    span(`frames ${cam.frames_out} | `),
    span(`${fps} fps` + (rated ? ` of ${cam.nominal_fps}` : ""),
         level(rate, 0.9, 0.5, true)),
    span(" | "),
    span(`latency p50 ${cam.latency_ms_p50} ms p95 ${cam.latency_ms_p95} ms`,
         level(cam.latency_ms_p95, 500, 2000, false)),
    span(" | "),
    span(`dropped ${cam.dropped}`, level(dropShare, 0.01, 0.1, false)),
    span(` | faces ${cam.faces} (${cam.faces_enhanced} enhanced, ${cam.faces_fused} fused) | `),
    span(`reconnects ${cam.reconnects}`, cam.reconnects ? "warn" : ""),
  ];
  if (cam.last_frame_age_s !== null && cam.status !== "ended") {
    parts.push(span(" | "), span(`last frame ${cam.last_frame_age_s} s ago`,
                                 level(cam.last_frame_age_s, 2, 10, false)));
  }
  return parts;
}

function update(data) {
  document.getElementById("summary").textContent =
    `${data.cameras.length} cameras, ${data.frames} frames, ` +
    `mean batch ${data.mean_batch_frames} frames, ${data.elapsed_s} s`;
  for (const cam of data.cameras) {
    const tile = tiles.get(cam.id) || makeTile(cam);
    const status = tile.querySelector(".status");
    status.textContent = cam.status;
    status.className = `status ${cam.status}`;
    tile.dataset.status = cam.status;
    tile.dataset.frames = cam.frames_out;
    tile.querySelector(".name").textContent = cam.name;
    tile.querySelector(".source").textContent = cam.source || "";
    tile.querySelector(".reason").textContent = cam.reason || "";
    const img = tile.querySelector("img.video");
    if (cam.frames_out > 0 && !img.getAttribute("src")) img.src = streamUrl(cam.id);
    const stages = Object.entries(cam.stages_ms).map(([k, v]) => `${k} ${v}`).join(", ");
    tile.querySelector(".camstats").replaceChildren(
      ...camStats(cam), span(stages ? ` | ms/frame: ${stages}` : ""));
    // One entry per track; rebuilt only when an event is new, moves or gets a better crop.
    const strip = tile.querySelector(".faces");
    const key = cam.recent_faces.map((f) => `${f.track_id}.${f.version}`).join();
    if (strip.dataset.key === key) {  // same images: only the times move on
      cam.recent_faces.forEach((f, i) => {
        strip.children[i].querySelector("figcaption").textContent =
          `#${f.track_id} ${fmtTime(f.first_s)}-${fmtTime(f.last_s)}`;
      });
    } else {
      strip.dataset.key = key;
      strip.replaceChildren(...cam.recent_faces.map((f) => {
        const fig = el("figure", {"data-track": f.track_id,
                                  title: "click to enlarge: original | enhanced"});
        fig.append(el("img", {src: faceUrl(cam, f, "enhanced"), alt: `track ${f.track_id}`}),
                   el("figcaption", {}, `#${f.track_id} ${fmtTime(f.first_s)}-` +
                                        `${fmtTime(f.last_s)}`));
        fig.addEventListener("click", () => enlarge(cam, f));
        return fig;
      }));
    }
  }
  const body = document.querySelector("#stages tbody");
  body.replaceChildren(...Object.entries(data.stages).map(([name, s]) => {
    const row = el("tr");
    row.append(el("td", {}, name), el("td", {}, s.frames), el("td", {}, s.ms_per_frame),
               el("td", {}, s.capacity_fps));
    return row;
  }));
}

async function poll() {
  try {
    const response = await fetch("/api/stats", {cache: "no-store"});
    if (response.ok) update(await response.json());
    else document.getElementById("summary").textContent = `monitor error ${response.status}`;
  } catch (err) {
    document.getElementById("summary").textContent = "monitor unreachable";
  }
  setTimeout(poll, 500);
}

for (const radio of document.querySelectorAll("input[name=view]")) {
  radio.addEventListener("change", () => {
    view = radio.value;
    for (const [id, tile] of tiles) {
      const img = tile.querySelector("img.video");
      if (img.getAttribute("src")) img.src = streamUrl(id);
    }
  });
}
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.getElementById("enlarged").classList.remove("open");
  for (const tile of tiles.values()) tile.classList.remove("full");
});
document.getElementById("enlarged").addEventListener("click", (event) => {
  event.currentTarget.classList.remove("open");
});
window.addEventListener("load", poll);
</script>
</body>
</html>
"""
