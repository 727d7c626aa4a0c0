"""The fleet driver's status page: every group and camera of ``streamproc fleet``.

Served by the driver (127.0.0.1 unless told otherwise), from the status the driver already
polls; the page itself polls ``/api/status`` once a second. No video: frames stay on the
nodes that record them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route


def build_fleet_app(latest: Callable[[], dict[str, Any]]) -> Starlette:
    """``latest()`` returns the newest status document (see ``Fleet.status_doc``)."""

    async def page(_: Request) -> HTMLResponse:
        return HTMLResponse(FLEET_PAGE, headers={"Cache-Control": "no-store"})

    async def status(_: Request) -> JSONResponse:
        return JSONResponse(latest(), headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/", page), Route("/api/status", status)])


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
  .running, .live { color: #6d6; } .pending, .restarting, .reconnecting, .starting { color: #fc6; }
  .failed, .dead { color: #f66; } .ended { color: #aaa; }
</style>
</head>
<body>
<header>
  <h1>streamproc fleet</h1>
  <span id="summary">waiting for the first status</span>
  <span class="notice">Enhanced faces are machine-generated guesses, not evidence.</span>
</header>
<table id="cameras">
<thead><tr><th>group</th><th>state</th><th>node</th><th>gpu</th><th>restarts</th>
<th>camera</th><th>status</th><th>fps</th><th>frames</th><th>dropped</th><th>faces</th>
<th>p95 ms</th><th>error</th></tr></thead>
<tbody></tbody>
</table>
<script>
"use strict";
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
window.addEventListener("load", poll);
</script>
</body>
</html>
"""
