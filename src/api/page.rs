//! The operator page at `GET /`: one self-contained HTML document and its
//! script (`/page.js`, not inline, so the CSP can forbid inline script),
//! served from constants.
//!
//! The control room network is isolated, so the page loads nothing from
//! anywhere else: no CDN, no fonts, no framework. It keeps the token in the
//! browser's localStorage and sends it as a bearer header on every call;
//! the live colours come over `/api/live` read with `fetch` (not
//! `EventSource`, which cannot send an Authorization header), so the
//! token never appears in a URL. Text from the server (names, notes) is
//! inserted with `textContent`, never as HTML.

use axum::http::header;
use axum::response::IntoResponse;

pub(super) async fn page() -> impl IntoResponse {
    // The security headers (CSP without inline script, no framing) are
    // added to every answer by the guard.
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

/// The page's script, served from this server so the CSP can forbid
/// inline script.
pub(super) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nightscape</title>
<style>
  :root { color-scheme: dark; --bg:#0b0e14; --panel:#141a24; --line:#263042; --text:#d8dee9; --dim:#8090a8; --warn:#ffb000; --bad:#ff5060; --ok:#50d890; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; gap:1rem; align-items:center; padding:.6rem 1rem; border-bottom:1px solid var(--line); flex-wrap:wrap; }
  header h1 { font-size:1.1rem; margin:0; }
  #clock { color:var(--dim); }
  main { display:grid; grid-template-columns: minmax(320px, 2fr) minmax(300px, 1fr); gap:1rem; padding:1rem; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:.8rem; margin-bottom:1rem; }
  h2 { font-size:.95rem; margin:0 0 .5rem; color:var(--dim); text-transform:uppercase; letter-spacing:.05em; }
  canvas { width:100%; height:70vh; background:#05070a; border-radius:4px; display:block; }
  label { display:block; margin:.3rem 0 .1rem; color:var(--dim); }
  input, select, button { font:inherit; padding:.35rem .5rem; border-radius:4px; border:1px solid var(--line); background:#0e131b; color:var(--text); }
  button { cursor:pointer; background:#1d2636; }
  button.danger { background:#4a1520; border-color:#7a2030; }
  .row { display:flex; gap:.4rem; align-items:end; flex-wrap:wrap; }
  ul { list-style:none; padding:0; margin:0; }
  li { padding:.3rem 0; border-bottom:1px solid var(--line); display:flex; justify-content:space-between; gap:.5rem; align-items:center; }
  .tag { font-size:.8rem; color:var(--dim); }
  #msg { min-height:1.2rem; }
  .err { color:var(--bad); } .ok { color:var(--ok); } .warn { color:var(--warn); }
  @media (max-width: 800px) { main { grid-template-columns: 1fr; } canvas { height:50vh; } }
</style>
</head>
<body>
<header>
  <h1 id="site">nightscape</h1>
  <span id="clock"></span>
  <span id="fps" class="tag"></span>
  <span style="flex:1"></span>
  <input id="token" type="password" placeholder="API token" autocomplete="off" size="24">
  <button id="save">Use token</button>
</header>
<div id="msg" style="padding:0 1rem"></div>
<main>
  <div>
    <section>
      <h2>Map</h2>
      <canvas id="map"></canvas>
      <div class="tag" id="hover">&nbsp;</div>
    </section>
  </div>
  <div>
    <section>
      <h2>Festival scene</h2>
      <div class="row">
        <div><label for="show">Show</label><select id="show"></select></div>
        <div><label for="dur">For</label><input id="dur" value="30m" size="6"></div>
        <button id="trigger">Trigger</button>
      </div>
    </section>
    <section>
      <h2>Blackout</h2>
      <div class="row">
        <div><label for="group">Group</label><select id="group"></select></div>
        <div><label for="ttl">For</label><input id="ttl" value="5m" size="6"></div>
        <label><input type="checkbox" id="emergency"> emergency</label>
        <button id="blackout" class="danger">Black out</button>
      </div>
    </section>
    <section>
      <h2>Grand master</h2>
      <div class="row">
        <input id="master" type="range" min="0" max="100" value="100" style="flex:1">
        <span id="masterval">100%</span>
        <button id="setmaster">Set</button>
      </div>
    </section>
    <section>
      <h2>Overrides <button id="releaseall" class="danger" style="float:right">Release all</button></h2>
      <ul id="overrides"></ul>
    </section>
    <section>
      <h2>Scenes</h2>
      <ul id="scenes"></ul>
    </section>
    <section>
      <h2>Now playing</h2>
      <ul id="playing"></ul>
      <h2 style="margin-top:.8rem">Outputs</h2>
      <ul id="outputs"></ul>
    </section>
  </div>
</main>
<script src="/page.js"></script>
</body>
</html>
"##;

const SCRIPT: &str = r##""use strict";
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("nightscape-token") || "";
$("token").value = token;
let fixtures = [], colors = [], liveAbort = null;

function headers(json) {
  const h = {};
  if (token) h["Authorization"] = "Bearer " + token;
  if (json) h["Content-Type"] = "application/json";
  return h;
}
function say(text, cls) { const m = $("msg"); m.textContent = text; m.className = cls || ""; }
async function api(method, path, body) {
  const r = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
  if (!r.ok) {
    const err = (data && data.error) || r.statusText;
    throw new Error(r.status + ": " + err + (data && data.field ? " (" + data.field + ")" : ""));
  }
  return data;
}
function li(text, tag, button) {
  const el = document.createElement("li");
  const left = document.createElement("span");
  left.textContent = text;
  if (tag) { const t = document.createElement("span"); t.className = "tag"; t.textContent = " " + tag; left.appendChild(t); }
  el.appendChild(left);
  if (button) el.appendChild(button);
  return el;
}
function btn(label, onclick, cls) {
  const b = document.createElement("button"); b.textContent = label; b.onclick = onclick; if (cls) b.className = cls; return b;
}
function fill(select, names) {
  select.replaceChildren(...names.map((n) => { const o = document.createElement("option"); o.value = n; o.textContent = n; return o; }));
}
function secs(s) { if (s == null) return "until released"; s = Math.round(s); return s >= 3600 ? Math.floor(s/3600) + "h" + Math.round((s%3600)/60) + "m" : s >= 60 ? Math.floor(s/60) + "m" + (s%60) + "s" : s + "s"; }

async function loadSite() {
  try {
    const [shows, groups, fx] = await Promise.all([api("GET", "/api/shows"), api("GET", "/api/groups"), api("GET", "/api/fixtures")]);
    fill($("show"), shows.map((s) => s.name));
    fill($("group"), ["*"].concat(groups.map((g) => g.name)));
    fixtures = fx;
    draw();
    startLive();
    say("");
  } catch (e) { say(e.message + (token ? "" : " — enter a token"), "err"); }
}

async function refresh() {
  try {
    const s = await api("GET", "/api/status");
    $("site").textContent = s.site.name;
    $("clock").textContent = s.clock.local.replace("T", " ").slice(0, 19) + (s.clock.simulated ? " (simulated ×" + s.clock.speed + ")" : "");
    const fps = s.frames.actual_fps == null ? "–" : s.frames.actual_fps.toFixed(1);
    $("fps").textContent = fps + " / " + s.frames.target_fps + " fps · " + s.frames.frames + " frames · " + s.frames.late_frames + " late";
    $("overrides").replaceChildren(...s.overrides.map((o) => li(
      "#" + o.id + " " + o.target + ": " + (o.kind === "level" ? "level " + Math.round(o.level * 100) + "%" : o.kind === "color" ? o.color : o.kind === "show" ? o.show : "blackout"),
      o.state + ", " + secs(o.remaining_s) + " · " + o.author + (o.note ? " · " + o.note : ""),
      o.state === "releasing" ? null : btn("Cancel", () => act("DELETE", "/api/overrides/" + o.id)))));
    $("scenes").replaceChildren(...s.scenes.map((x) => li(
      "#" + x.id + " " + x.show + (x.target ? " on " + x.target : ""), x.state + ", " + secs(x.remaining_s) + " · " + x.author,
      x.state === "releasing" ? null : btn("Stop", () => act("DELETE", "/api/scenes/" + x.id)))));
    $("playing").replaceChildren(...s.active_shows.map((n) => li(n)));
    $("outputs").replaceChildren(...s.outputs.map((o) => {
      const el = li(o.kind + " → " + o.target, o.state + " · " + o.packets_sent + " packets · " + o.send_errors + " errors");
      el.firstChild.className = o.state === "ok" ? "" : "warn"; return el; }));
    const gm = s.masters.find((m) => m.target === "*");
    if (document.activeElement !== $("master")) { $("master").value = Math.round((gm ? gm.level : 1) * 100); $("masterval").textContent = $("master").value + "%"; }
  } catch (e) { say(e.message, "err"); }
}

async function act(method, path, body) {
  try { await api(method, path, body); say(method + " " + path + " done", "ok"); refresh(); }
  catch (e) { say(e.message, "err"); }
}

function draw() {
  const c = $("map"), ctx = c.getContext("2d");
  const w = c.width = c.clientWidth * devicePixelRatio, h = c.height = c.clientHeight * devicePixelRatio;
  ctx.fillStyle = "#05070a"; ctx.fillRect(0, 0, w, h);
  if (!fixtures.length) return;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const f of fixtures) { x0 = Math.min(x0, f.position[0]); x1 = Math.max(x1, f.position[0]); y0 = Math.min(y0, f.position[1]); y1 = Math.max(y1, f.position[1]); }
  const pad = 20 * devicePixelRatio, k = Math.min((w - 2*pad) / Math.max(x1 - x0, 1), (h - 2*pad) / Math.max(y1 - y0, 1));
  const r = Math.max(2, 4 * devicePixelRatio);
  draw.project = (f) => [pad + (f.position[0] - x0) * k + ((w - 2*pad) - (x1 - x0) * k) / 2, h - pad - (f.position[1] - y0) * k - ((h - 2*pad) - (y1 - y0) * k) / 2];
  fixtures.forEach((f, i) => {
    const [x, y] = draw.project(f);
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = colors[i] || "#1a2030"; ctx.fill();
    ctx.strokeStyle = "#334"; ctx.stroke();
  });
}
$("map").addEventListener("mousemove", (ev) => {
  if (!draw.project) return;
  const rect = ev.target.getBoundingClientRect();
  const mx = (ev.clientX - rect.left) * devicePixelRatio, my = (ev.clientY - rect.top) * devicePixelRatio;
  let best = null, bd = 144 * devicePixelRatio;
  fixtures.forEach((f, i) => { const [x, y] = draw.project(f); const d = (x-mx)**2 + (y-my)**2; if (d < bd) { bd = d; best = i; } });
  $("hover").textContent = best == null ? "\u00a0" : fixtures[best].name + " · " + fixtures[best].profile + " " + fixtures[best].mode + " · " + fixtures[best].universe + "." + fixtures[best].address + " · " + (colors[best] || "");
});
window.addEventListener("resize", draw);

async function startLive() {
  if (liveAbort) liveAbort.abort();
  liveAbort = new AbortController();
  try {
    const r = await fetch("/api/live", { headers: headers(false), signal: liveAbort.signal });
    if (!r.ok) throw new Error("live: " + r.status);
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i); buf = buf.slice(i + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
        if (data) { try { colors = JSON.parse(data).colors; draw(); } catch (e) {} }
      }
    }
  } catch (e) { if (e.name === "AbortError") return; }
  setTimeout(startLive, 2000);
}

$("save").onclick = () => { token = $("token").value.trim(); localStorage.setItem("nightscape-token", token); loadSite(); refresh(); };
$("trigger").onclick = () => act("POST", "/api/scenes/" + encodeURIComponent($("show").value) + "/trigger", { duration: $("dur").value });
$("blackout").onclick = () => {
  const body = { target: $("group").value, blackout: true, note: "from the operator page" };
  if ($("ttl").value.trim()) body.ttl = $("ttl").value.trim();
  if ($("emergency").checked) body.priority = "emergency";
  act("POST", "/api/overrides", body);
};
$("releaseall").onclick = () => { if (confirm("Release every override?")) act("DELETE", "/api/overrides"); };
$("master").oninput = () => { $("masterval").textContent = $("master").value + "%"; };
$("setmaster").onclick = () => act("POST", "/api/master", { level: $("master").value + "%" });
loadSite(); refresh(); setInterval(refresh, 2000);
"##;

#[cfg(test)]
mod tests {
    #[test]
    fn page_loads_nothing_from_elsewhere() {
        assert!(!super::PAGE.contains("http://") && !super::PAGE.contains("https://"));
        assert!(!super::SCRIPT.contains("http://") && !super::SCRIPT.contains("https://"));
        assert!(!super::SCRIPT.contains("innerHTML"));
        // No inline script: the CSP forbids it.
        assert!(!super::PAGE.contains("<script>"));
    }
}
