"""The fleet driver's page: every group and camera of ``streamproc fleet``.

Served by the driver (127.0.0.1 unless told otherwise) from the status the driver already
polls; the page polls ``/api/status`` once a second. Each camera's video is relayed from
its group's actor on demand (``/cam/{group}/{cam}/stream.mjpg``): only the newest frame,
only while a browser watches, at most ``MAX_TILE_FPS`` per tile, so watching costs the
cluster little and never slows a pipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from streamproc.web.app import BOUNDARY, mjpeg_part
from streamproc.web.preview import VIEWS

MAX_TILE_FPS = 8.0
IDLE_POLL_S = 0.1

# (group, camera id, view, seq already sent) -> (seq, JPEG or None); seq -1: stream over.
FrameFetch = Callable[[str, str, str, int], tuple[int, bytes | None]]


def build_fleet_app(latest: Callable[[], dict[str, Any]], fetch: FrameFetch) -> Starlette:
    """``latest()``: the newest status document; ``fetch``: a camera's newest JPEG."""

    async def page(_: Request) -> HTMLResponse:
        return HTMLResponse(FLEET_PAGE, headers={"Cache-Control": "no-store"})

    async def status(_: Request) -> JSONResponse:
        return JSONResponse(latest(), headers={"Cache-Control": "no-store"})

    async def stream(request: Request) -> Response:
        view = request.query_params.get("view", "enhanced")
        if view not in VIEWS:
            return Response(f"view must be one of {', '.join(VIEWS)}", status_code=400)
        group, cam = request.path_params["group"], request.path_params["cam"]
        return StreamingResponse(
            _relay(fetch, group, cam, view),
            media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/status", status),
            Route("/cam/{group}/{cam}/stream.mjpg", stream),
        ]
    )


async def _relay(fetch: FrameFetch, group: str, cam: str, view: str) -> AsyncIterator[bytes]:
    seq = 0
    while True:
        new_seq, jpeg = await asyncio.to_thread(fetch, group, cam, view, seq)
        if new_seq < 0:
            return
        if jpeg is None:
            await asyncio.sleep(IDLE_POLL_S)
            continue
        yield mjpeg_part(jpeg, first=seq == 0)
        seq = new_seq
        await asyncio.sleep(1.0 / MAX_TILE_FPS)


FLEET_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>streamproc fleet</title>
<style>
  body { font: 13px/1.35 system-ui, sans-serif; margin: 0; background: #111; color: #ddd; }
  header { display: flex; gap: 16px; padding: 8px 12px; background: #1b1b1b;
           border-bottom: 1px solid #333; flex-wrap: wrap; }
  header h1 { font-size: 15px; margin: 0; }
  .notice { color: #fc6; }
  table { border-collapse: collapse; margin: 10px; }
  td, th { border: 1px solid #333; padding: 2px 8px; text-align: left; }
  td.n { text-align: right; font-family: ui-monospace, monospace; }
  .running, .live { color: #6d6; } .pending, .restarting, .reconnecting, .starting, .connecting {
    color: #fc6; }
  .failed, .dead { color: #f66; } .ended { color: #aaa; }
  #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr));
          gap: 8px; padding: 10px; }
  .tile { background: #1b1b1b; border: 1px solid #333; padding: 4px; }
  .tile img { width: 100%; aspect-ratio: 16 / 9; object-fit: contain; background: #000; }
</style>
</head>
<body>
<header>
  <h1>streamproc fleet</h1>
  <span>view:
    <label><input type="radio" name="view" value="enhanced" checked> enhanced</label>
    <label><input type="radio" name="view" value="original"> original</label>
    <label><input type="radio" name="view" value="side"> side by side</label>
  </span>
  <span id="summary">waiting for the first status</span>
  <span class="notice">Enhanced faces are machine-generated guesses, not evidence.</span>
</header>
<div id="grid"></div>
<table id="cameras">
<thead><tr><th>group</th><th>state</th><th>node</th><th>gpu</th><th>restarts</th>
<th>camera</th><th>status</th><th>fps</th><th>frames</th><th>dropped</th><th>faces</th>
<th>p95 ms</th><th>error</th></tr></thead>
<tbody></tbody>
</table>
<script>
"use strict";
let view = "enhanced";
const tiles = new Map();  // "group/cam" -> tile; a new run of a group keeps its tiles
function streamUrl(key) { return `/cam/${key}/stream.mjpg?view=${view}`; }
function tile(group, cam) {
  const key = `${encodeURIComponent(group)}/${encodeURIComponent(cam.id)}`;
  let node = tiles.get(key);
  if (!node) {
    node = document.createElement("div");
    node.className = "tile";
    node.dataset.key = key;
    const img = document.createElement("img");
    img.alt = `${group} camera ${cam.id}`;
    const caption = document.createElement("div");
    node.append(img, caption);
    document.getElementById("grid").append(node);
    tiles.set(key, node);
  }
  const img = node.querySelector("img");
  img.hidden = cam.status === "failed" && !img.src;  // never opened: no picture to show
  // (Re)connect while the camera runs: after an actor restart the old stream has ended.
  if (cam.status !== "failed" && cam.status !== "ended" && node.dataset.status !== cam.status) {
    img.src = streamUrl(key);
  }
  node.dataset.status = cam.status;
  node.querySelector("div").textContent = `${group} · ${cam.name} · ${cam.status}`;
}
function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}
function update(doc) {
  let cams = 0, fps = 0;
  const rows = [];
  for (const g of doc.groups) {
    const list = g.cameras.length ? g.cameras : [{name: "-", status: ""}];
    for (const c of g.cameras) tile(g.name, c);
    for (const c of list) {
      cams += g.cameras.length ? 1 : 0;
      fps += c.fps || 0;
      const tr = document.createElement("tr");
      tr.dataset.group = g.name;
      tr.dataset.state = g.state;
      tr.append(cell(g.name), cell(g.state, g.state), cell(g.node_ip || "-"),
                cell(g.gpu_ids.length ? g.gpu_ids.join(",") : "cpu"), cell(g.restarts, "n"),
                cell(c.name), cell(c.status, c.status), cell(c.fps, "n"),
                cell(c.frames_out, "n"), cell(c.dropped, "n"), cell(c.faces_enhanced, "n"),
                cell(c.latency_ms_p95, "n"), cell(c.error || g.error));
      rows.push(tr);
    }
  }
  document.querySelector("#cameras tbody").replaceChildren(...rows);
  document.getElementById("summary").textContent =
    `${doc.groups.length} groups, ${cams} cameras running or ended, ` +
    `${fps.toFixed(1)} fps in all, ${doc.elapsed_s} s, updated ${doc.time}`;
}
async function poll() {
  try {
    const response = await fetch("/api/status", {cache: "no-store"});
    if (response.ok) update(await response.json());
  } catch (err) {
    document.getElementById("summary").textContent = "driver unreachable";
  }
  setTimeout(poll, 1000);
}
for (const radio of document.querySelectorAll("input[name=view]")) {
  radio.addEventListener("change", () => {
    view = radio.value;
    for (const [key, node] of tiles) node.querySelector("img").src = streamUrl(key);
  });
}
window.addEventListener("load", poll);
</script>
</body>
</html>
"""
