"""The monitor page: one HTML document, no build step, no external assets (works offline).

Tiles are built from ``/api/stats`` (polled twice a second); each tile's video is an
``<img>`` on ``/cam/{id}/stream.mjpg?view=...``, started once the camera has a frame
(before that the tile says why it has none: starting, connecting and its error). A tile
clicked full-screen is a wipe: the original stream under the enhanced one, cut at a handle
the operator drags. A face event clicked opens its crops and the camera's recording
(``/cam/{id}/recording``) seeked to when the face was first seen. Colours
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
  .tile.full img.video, .tile .wipe, .tile .back { display: none; }
  .tile.full .wipe { display: block; }
  .tile.full .back { display: inline; margin-left: auto; }
  .wipe { position: relative; height: calc(100vh - 150px); background: #000; --wipe: 50%;
          cursor: ew-resize; touch-action: none; user-select: none; overflow: hidden; }
  .wipe img { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain;
              pointer-events: none; }
  .wipe img.enhanced { clip-path: inset(0 0 0 var(--wipe)); }
  .wipe .handle { position: absolute; top: 0; bottom: 0; left: var(--wipe); width: 4px;
                  margin-left: -2px; background: #fc6; box-shadow: 0 0 4px #000; }
  /* The captions ride on either side of the handle, clear of the corners' burned-in text. */
  .wipe .cap { position: absolute; bottom: 12%; padding: 2px 8px; border-radius: 3px;
               background: rgba(0, 0, 0, 0.65); font-size: 14px; white-space: nowrap; }
  .wipe .cap.original { right: calc(100% - var(--wipe) + 8px); }
  .wipe .cap.enhanced { left: calc(var(--wipe) + 8px); color: #fc6; }
  .faces { display: flex; gap: 4px; overflow-x: auto; min-height: 70px; }
  .faces figure { margin: 0; text-align: center; font-size: 10px; cursor: zoom-in; }
  .faces img { height: 56px; width: 56px; object-fit: cover; display: block; }
  #enlarged { position: fixed; inset: 0; background: rgba(0, 0, 0, 0.85); display: none;
              flex-direction: column; align-items: center; justify-content: center;
              gap: 10px; cursor: zoom-out; z-index: 9; }
  #enlarged.open { display: flex; }
  #enlarged .crops { display: flex; }
  #enlarged figure { margin: 0 12px; text-align: center; }
  #enlarged img { width: min(28vw, 36vh, 320px); image-rendering: pixelated; display: block; }
  #enlarged .player { text-align: center; cursor: default; }
  #enlarged video { max-width: 80vw; max-height: 40vh; background: #000; display: block; }
  #enlarged video[hidden] { display: none; }
  #enlarged .player .note { color: #fc6; margin: 4px 0 0; }
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
  <div class="crops">
    <figure><img class="original" alt="original"><figcaption>original</figcaption></figure>
    <figure><img class="enhanced" alt="enhanced">
      <figcaption>AI-enhanced (a machine-generated guess)</figcaption></figure>
  </div>
  <p class="caption"></p>
  <div class="player">
    <video controls muted preload="auto" hidden></video>
    <p class="note"></p>
  </div>
</div>
<table id="stages"><thead><tr><th>shared stage</th><th>frames</th><th>ms/frame</th>
<th>capacity fps</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
let view = "enhanced";
const tiles = new Map();
const latest = new Map();  // each camera's newest stats (its recording may be ready now)

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function streamUrl(id) { return `/cam/${id}/stream.mjpg?view=${view}`; }
function wipeUrl(id, side) { return `/cam/${id}/stream.mjpg?view=${side}`; }

function makeTile(cam) {
  const tile = el("div", {class: "tile", "data-cam": cam.id});
  const title = el("h2");
  title.append(el("span", {class: "status"}), el("span", {class: "name"}, cam.name),
               el("span", {class: "source"}, cam.source || ""));
  const img = el("img", {class: "video", alt: ""});  // no frame yet: a black box
  // A stream that fails (not served yet, server restarting) is retried at the next poll.
  img.addEventListener("error", () => { img.removeAttribute("src"); });
  // Click: this camera full-screen, as a wipe (the button or Escape: back to the grid).
  img.addEventListener("click", () => setFull(tile, true));
  const back = el("button", {class: "back", type: "button"}, "back to the grid");
  back.addEventListener("click", () => setFull(tile, false));
  title.append(back);
  tile.append(title, el("div", {class: "reason"}), img, makeWipe(),
              el("div", {class: "camstats"}), el("div", {class: "faces"}));
  document.getElementById("grid").append(tile);
  tiles.set(cam.id, tile);
  return tile;
}

// The full-screen wipe: the original under the enhanced stream, which shows only right of
// the handle; drag anywhere on the picture (or arrow keys on the handle) to move it.
function makeWipe() {
  const wipe = el("div", {class: "wipe"});
  const handle = el("div", {class: "handle", role: "slider", tabindex: "0",
                            "aria-label": "original | AI-enhanced", "aria-valuenow": "50"});
  wipe.append(el("img", {class: "original", alt: "original"}),
              el("img", {class: "enhanced", alt: "AI-enhanced"}), handle,
              el("span", {class: "cap original"}, "original"),
              el("span", {class: "cap enhanced"}, "AI-enhanced"));
  const moveTo = (share) => {
    const pct = Math.min(100, Math.max(0, share * 100));
    wipe.style.setProperty("--wipe", `${pct.toFixed(1)}%`);
    handle.setAttribute("aria-valuenow", pct.toFixed(0));
  };
  const fromPointer = (event) => {
    const box = wipe.getBoundingClientRect();
    moveTo((event.clientX - box.left) / box.width);
  };
  wipe.addEventListener("pointerdown", (event) => {
    wipe.setPointerCapture(event.pointerId);
    fromPointer(event);
  });
  wipe.addEventListener("pointermove", (event) => {
    if (wipe.hasPointerCapture(event.pointerId)) fromPointer(event);
  });
  handle.addEventListener("keydown", (event) => {
    const step = {ArrowLeft: -5, ArrowRight: 5}[event.key];
    if (step) moveTo((Number(handle.getAttribute("aria-valuenow")) + step) / 100);
  });
  return wipe;
}

function setFull(tile, on) {
  tile.classList.toggle("full", on);
  for (const img of tile.querySelectorAll(".wipe img")) {
    if (!on) img.removeAttribute("src");  // closes its stream
    else if (tile.dataset.frames > 0) img.src = wipeUrl(tile.dataset.cam, img.className);
  }
}

function fmtTime(s) {  // video time: m:ss.s
  const m = Math.floor(s / 60);
  return `${m}:${(s - 60 * m).toFixed(1).padStart(4, "0")}`;
}

function faceUrl(cam, f, kind) {
  return `/cam/${cam.id}/face/${f.track_id}.jpg?kind=${kind}&v=${f.version}`;
}

// The camera's recording at the event's first-seen time, if the browser can play it now.
function openRecording(cam, f) {
  const player = document.querySelector("#enlarged .player");
  const video = player.querySelector("video");
  const rec = cam.recording;
  closeRecording();
  if (!rec || !rec.ready) {
    player.querySelector(".note").textContent = rec ? rec.why : "not recorded (-o null)";
    return;
  }
  player.querySelector(".note").textContent =
    `recording of ${cam.name} from ${fmtTime(f.first_s)}, when track #${f.track_id} was first seen`;
  video.dataset.seek = f.first_s;
  video.hidden = false;
  video.src = `${rec.url}?open=${Date.now()}`;  // not a cached copy: the file grows
}

function closeRecording() {
  const video = document.querySelector("#enlarged video");
  video.pause();
  video.hidden = true;
  if (video.getAttribute("src")) {
    video.removeAttribute("src");
    video.load();  // drops the connection
  }
}

function enlarge(cam, f) {
  cam = latest.get(cam.id) || cam;
  const box = document.getElementById("enlarged");
  box.querySelector("img.original").src = faceUrl(cam, f, "original");
  box.querySelector("img.enhanced").src = faceUrl(cam, f, "enhanced");
  box.querySelector(".caption").textContent =
    `${cam.name}: track #${f.track_id}, seen ${fmtTime(f.first_s)}-${fmtTime(f.last_s)} ` +
    `(${f.frames} frames; best crop ${f.height_px} px tall, ${f.enhancer})`;
  openRecording(cam, f);
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
  if (cam.push) {
    const p = cam.push;
    parts.push(span(" | "), span(`push sent ${p.frames_sent}, dropped ${p.frames_dropped}` +
                                 (p.last_error ? `: ${p.last_error}` : ""),
                                 p.last_error ? "bad" : (p.frames_dropped ? "warn" : "")));
  }
  return parts;
}

function update(data) {
  document.getElementById("summary").textContent =
    `${data.cameras.length} cameras, ${data.frames} frames, ` +
    `mean batch ${data.mean_batch_frames} frames, ${data.elapsed_s} s`;
  for (const cam of data.cameras) {
    latest.set(cam.id, cam);
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
    if (tile.classList.contains("full") && !tile.querySelector(".wipe img").getAttribute("src")) {
      setFull(tile, true);  // its first frame came while it was full-screen
    }
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
                                  title: "click: original | enhanced, and the recording"});
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
function closeEnlarged() {
  closeRecording();
  document.getElementById("enlarged").classList.remove("open");
}

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  closeEnlarged();
  for (const tile of tiles.values()) setFull(tile, false);
});
// A click anywhere but on the player closes the enlarged face.
document.getElementById("enlarged").addEventListener("click", (event) => {
  if (!event.target.closest(".player")) closeEnlarged();
});
// Once the recording's start is known: to the event's first-seen time.
document.querySelector("#enlarged video").addEventListener("loadedmetadata", (event) => {
  const video = event.currentTarget;
  video.currentTime = Math.min(Number(video.dataset.seek), video.duration || Infinity);
});
window.addEventListener("load", poll);
</script>
</body>
</html>
"""
