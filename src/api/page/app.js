// The nightscape operator console. Plain JavaScript, no build step, no
// libraries: it talks to the public API only (everything it does is
// scriptable with curl), inserts server text with textContent only, and
// runs under a CSP that forbids inline script.
"use strict";

// ------------------------------------------------------------------ i18n
// STRINGS: strings.js, served in front of this file.
let lang = localStorage.getItem("nightscape-lang") ||
  (((navigator.languages && navigator.languages[0]) || navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
function t(key, vars) {
  let s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
  if (vars) for (const k of Object.keys(vars)) s = s.split("{" + k + "}").join(String(vars[k]));
  return s;
}
function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  // Durations offered in menus are worded by duration(), like every other.
  for (const o of document.querySelectorAll("option[data-s]")) o.textContent = duration(+o.dataset.s);
  $("lang").textContent = lang === "zh" ? "EN" : "中文";
}

// ------------------------------------------------------------------ helpers
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  if (attrs) for (const k of Object.keys(attrs)) e.setAttribute(k, attrs[k]);
  if (text != null) e.textContent = text;
  return e;
}
let token = localStorage.getItem("nightscape-token") || "";
const S = {
  site: null, fixtures: [], groups: [], shows: [], status: null, tonight: null, role: null, who: null,
  live: [], liveCells: [], preview: null, previewAt: null, playing: null, connected: true,
  selected: "", view: { k: 1, x: 0, y: 0 }, liveAbort: null, lastOk: 0, tab: "tonight",
  current: null, needToken: false,
};
const EMERGENCY = 1000000;

async function api(method, path, body, opts) {
  const h = {};
  if (token) h.Authorization = "Bearer " + token;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), (opts && opts.timeout) || 4000);
  try {
    const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal: ctl.signal });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
    if (!r.ok) {
      const err = new Error((data && data.error) || r.statusText);
      err.status = r.status; err.field = data && data.field;
      throw err;
    }
    return data;
  } finally { clearTimeout(timer); }
}
let msgTimer = null, msgText = null;
// `text` may be a function that says it: a language switch then says the
// message again in the new language while it is up (`resay`).
function say(text, cls) {
  const m = $("msg");
  msgText = typeof text === "function" ? text : () => text;
  m.textContent = text ? msgText() : ""; m.className = "banner " + (cls || ""); m.hidden = !text;
  clearTimeout(msgTimer);
  if (text) msgTimer = setTimeout(() => { m.hidden = true; }, cls === "err" ? 8000 : 3000);
}
function resay() {
  const m = $("msg");
  if (!m.hidden && msgText) m.textContent = msgText();
}
// A string said later, in the language of the moment: an action's name.
const tt = (key, params) => () => t(key, params);
// Why a request failed, in the page's words: the API's own message (in
// English) only where the daemon answered and refused.
function why(e) {
  if (e.offline) return t("why_offline");
  if (e.name === "AbortError" || e.timeout) return t("why_timeout", { s: Math.round((e.timeout || 4000) / 1000) });
  if (!e.status) return t("why_network");
  if (e.status === 401) return t("why_401");
  if (e.status === 403) return t("why_403");
  return t("why_refused", { code: e.status, msg: e.message + (e.field ? " (" + e.field + ")" : "") });
}
// An operator action: `what` names it for the message if it fails. Nothing
// is sent while the console has lost the daemon.
async function act(method, path, body, what) {
  const label = () => (typeof what === "function" ? what() : what) || method + " " + path;
  if (!S.connected) { say(() => t("act_failed", { what: label(), why: why({ offline: true }) }), "err"); return null; }
  try { const r = await api(method, path, body); say(tt("done"), "ok"); refresh(); loadNow(); return r; }
  catch (e) { say(() => t("act_failed", { what: label(), why: why(e) }), "err"); return null; }
}
function duration(s) {
  if (s == null) return t("until_released");
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), ss = s % 60;
  if (h) return m ? t("dur_hm", { h, m: String(m).padStart(2, "0") }) : t("dur_h", { h });
  if (m) return ss ? t("dur_ms", { m, s: String(ss).padStart(2, "0") }) : t("dur_m", { m });
  return t("dur_s", { s: ss });
}
function stateName(st) { return STRINGS.en["state_" + st] ? t("state_" + st) : st; }
function pct(l) { return Math.round(l * 100) + " %"; }
function hms(ms) { return ms ? new Date(ms).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }) : t("never"); }
function hhmm(iso) { return iso ? iso.slice(11, 16) : "–"; }
function canControl() { return S.role === NAMES.role.operator || S.role === NAMES.role.admin; }
function targetName(g) { return g === "*" ? t("whole_site") : g || "–"; }

// Display colour: keep the hue, lift dim light so it stays visible. The
// legend says so; the tooltip shows the real value.
function parseHex(h) { if (!h || h.length < 7) return null; return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)); }
function displayColor(hex) {
  const c = parseHex(hex);
  if (!c) return null;
  const m = Math.max(c[0], c[1], c[2]);
  if (m < 2) return null;
  const b = 0.38 + 0.62 * Math.sqrt(m / 255);
  const k = (b * 255) / m;
  return "rgb(" + c.map((x) => Math.round(Math.min(255, x * k))).join(",") + ")";
}
function levelOf(hex) { const c = parseHex(hex); return c ? Math.max(c[0], c[1], c[2]) / 255 : 0; }

// ------------------------------------------------------------------ map
const MAP = { svg: null, world: null, overlay: null, zones: null, fx: [], cellEls: [], w: 0, h: 0 };
function buildMap() {
  const svg = $("map");
  svg.replaceChildren();
  MAP.svg = svg;
  MAP.world = el("svg:g", { id: "world" });
  MAP.zones = el("svg:g", { id: "zones" });
  const streets = el("svg:g", { id: "streets" });
  const fxg = el("svg:g", { id: "fixtures" });
  MAP.overlay = el("svg:g", { id: "overlay" });
  MAP.world.append(streets, MAP.zones, fxg);
  svg.append(MAP.world, MAP.overlay);
  for (const p of S.site.paths) {
    streets.append(el("svg:polyline", { class: "street", points: p.points.map((q) => q[0] + "," + q[1]).join(" "), "data-path": p.name }));
  }
  MAP.fx = []; MAP.cellEls = []; MAP.summary = []; MAP.cellGroups = [];
  // Pixel fixtures are drawn as their cells once zoomed in far enough to
  // tell them apart; before that one dot in their mean colour stands for
  // them (thousands of overlapping cells cost paint time and show nothing).
  let spacing = Infinity;
  for (const f of S.site.fixtures) {
    const g = el("svg:g", { class: "fxg", "data-fixture": f.name, "data-index": f.index });
    const cells = [];
    let summary = null, cg = null;
    if (f.cells.length > 1) {
      summary = el("svg:circle", { class: "fx dark summary", cx: f.position[0], cy: f.position[1], r: 1, fill: "#10151d", "data-index": f.index });
      cg = el("svg:g", { class: "cells" });
      for (const c of f.cells) {
        const e = el("svg:circle", { class: "fx dark cell", cx: c[0], cy: c[1], r: 1, fill: "#10151d", "data-index": f.index });
        cg.append(e); cells.push(e);
      }
      const d = Math.hypot(f.cells[1][0] - f.cells[0][0], f.cells[1][1] - f.cells[0][1]);
      if (d > 0) spacing = Math.min(spacing, d);
      g.append(summary, cg);
    } else {
      cells.push(el("svg:circle", { class: "fx dark", cx: f.position[0], cy: f.position[1], r: 1, fill: "#10151d", "data-index": f.index }));
      g.append(cells[0]);
    }
    fxg.append(g);
    MAP.fx.push(g); MAP.cellEls.push(cells); MAP.summary.push(summary); MAP.cellGroups.push(cg);
  }
  MAP.cellSpacing = spacing;
  MAP.cellsShown = null;
  fit();
}

function hull(points) {
  const p = points.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return p;
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lo = [], up = [];
  for (const q of p) { while (lo.length >= 2 && cross(lo[lo.length - 2], lo[lo.length - 1], q) <= 0) lo.pop(); lo.push(q); }
  for (let i = p.length - 1; i >= 0; i--) { const q = p[i]; while (up.length >= 2 && cross(up[up.length - 2], up[up.length - 1], q) <= 0) up.pop(); up.push(q); }
  return lo.slice(0, -1).concat(up.slice(0, -1));
}

// Zones are hulls of their fixtures, padded in screen pixels so a narrow
// group (a row of trees) stays clickable when zoomed out.
function drawZones() {
  const k = S.view.k, pad = Math.max(3, 12 / k);
  MAP.zones.replaceChildren();
  const zones = S.site.groups.map((g) => {
    const pts = [];
    for (const i of g.fixtures) {
      const f = S.site.fixtures[i];
      for (let a = 0; a < 8; a++) pts.push([f.position[0] + pad * Math.cos(a * Math.PI / 4), f.position[1] + pad * Math.sin(a * Math.PI / 4)]);
    }
    const h = hull(pts);
    let area = 0;
    for (let i = 0; i < h.length; i++) { const a = h[i], b = h[(i + 1) % h.length]; area += a[0] * b[1] - b[0] * a[1]; }
    return { g, h, area: Math.abs(area) / 2 };
  }).sort((a, b) => b.area - a.area);
  MAP.zoneShapes = zones;
  for (const z of zones) {
    const poly = el("svg:polygon", { class: "zone" + (S.selected === z.g.name ? " selected" : ""), points: z.h.map((q) => q[0] + "," + q[1]).join(" "), "data-group": z.g.name });
    poly.setAttribute("vector-effect", "non-scaling-stroke");
    MAP.zones.append(poly);
  }
}

function project(p) { return [S.view.x + p[0] * S.view.k, S.view.y - p[1] * S.view.k]; }
function unproject(x, y) { return [(x - S.view.x) / S.view.k, (S.view.y - y) / S.view.k]; }

function applyView() {
  const v = S.view;
  MAP.world.setAttribute("transform", "translate(" + v.x + "," + v.y + ") scale(" + v.k + "," + -v.k + ")");
  // Fixtures keep a visible size at any zoom: at least 3 px, growing to
  // their true size (a cell of a pixel bar is a few centimetres).
  const r = Math.max(3.2 / v.k, 0.5);
  const showCells = MAP.cellSpacing * v.k >= 4;
  const rc = showCells ? Math.max(Math.min(MAP.cellSpacing * 0.45, 6 / v.k), 1.2 / v.k) : 0;
  const sw = 1 / v.k;
  S.site.fixtures.forEach((f, i) => {
    if (MAP.summary[i]) {
      MAP.summary[i].setAttribute("r", r); MAP.summary[i].setAttribute("stroke-width", sw);
      if (showCells !== MAP.cellsShown) { MAP.cellGroups[i].setAttribute("display", showCells ? "inline" : "none"); MAP.summary[i].setAttribute("display", showCells ? "none" : "inline"); }
      if (showCells) for (const c of MAP.cellEls[i]) { c.setAttribute("r", rc); c.setAttribute("stroke-width", sw / 2); }
    } else { const c = MAP.cellEls[i][0]; c.setAttribute("r", r); c.setAttribute("stroke-width", sw); }
  });
  const repaint = showCells && MAP.cellsShown === false;
  MAP.cellsShown = showCells;
  if (repaint) paintMap();
  for (const s of MAP.svg.querySelectorAll(".street")) s.setAttribute("stroke-width", Math.max(14 / v.k, 6));
  drawZones();
  drawOverlay();
}

function drawOverlay() {
  const o = MAP.overlay; o.replaceChildren();
  const k = S.view.k;
  // Labels in screen space, nudged apart where zones share a centre.
  const placed = [];
  for (const z of MAP.zoneShapes.slice().reverse()) {
    let cx = 0, cy = 0;
    for (const q of z.h) { cx += q[0]; cy += q[1]; }
    cx /= z.h.length || 1; cy /= z.h.length || 1;
    let maxY = -Infinity; for (const q of z.h) maxY = Math.max(maxY, q[1]);
    let [x, y] = project([cx, cy]);
    for (let tries = 0; tries < 8 && placed.some((p) => Math.abs(p[0] - x) < 70 && Math.abs(p[1] - y) < 16); tries++) y += 17;
    placed.push([x, y]);
    if (x < -50 || y < -20 || x > MAP.w + 50 || y > MAP.h + 20) continue;
    const lbl = el("svg:text", { class: "zone-label" + (S.selected === z.g.name ? " selected" : ""), x: x + 8, y: y + 4, "data-group": z.g.name }, z.g.name);
    o.append(lbl);
  }
  // Scale bar: a round length near 110 px.
  const target = 110 / k, pow = Math.pow(10, Math.floor(Math.log10(target)));
  let len = pow; for (const m of [1, 2, 5, 10]) if (m * pow <= target) len = m * pow;
  const px = len * k, x0 = 14, y0 = MAP.h - 16;
  const sc = el("svg:g", { class: "scale" });
  sc.append(el("svg:line", { x1: x0, y1: y0, x2: x0 + px, y2: y0 }), el("svg:line", { x1: x0, y1: y0 - 5, x2: x0, y2: y0 + 1 }),
    el("svg:line", { x1: x0 + px, y1: y0 - 5, x2: x0 + px, y2: y0 + 1 }),
    el("svg:text", { x: x0 + px + 6, y: y0 + 4 }, len >= 1000 ? len / 1000 + " km" : len >= 1 ? len + " m" : Math.round(len * 100) + " cm"));
  o.append(sc);
  const n = el("svg:g", { class: "north", transform: "translate(" + (MAP.w - 24) + ",18)" });
  n.append(el("svg:path", { d: "M0,0 L7,20 L0,15 L-7,20 Z" }), el("svg:text", { x: -4, y: 34 }, "N"));
  o.append(n);
}

function fit() {
  const r = MAP.svg.getBoundingClientRect();
  MAP.w = r.width; MAP.h = r.height;
  if (!S.site || !MAP.w) return;
  const [x0, y0, x1, y1] = S.site.bounds, pad = 30;
  const k = Math.min((MAP.w - 2 * pad) / Math.max(x1 - x0, 1), (MAP.h - 2 * pad) / Math.max(y1 - y0, 1));
  S.view = { k, x: MAP.w / 2 - ((x0 + x1) / 2) * k, y: MAP.h / 2 + ((y0 + y1) / 2) * k };
  applyView();
}
function zoomAt(factor, sx, sy) {
  const v = S.view, k = Math.min(Math.max(v.k * factor, 0.05), 4000);
  const [wx, wy] = unproject(sx, sy);
  S.view = { k, x: sx - wx * k, y: sy + wy * k };
  applyView();
}

// Paint only what changed: the live stream sends ten frames a second.
function fill(e, hex) {
  if (e._hex === hex) return;
  e._hex = hex;
  const d = displayColor(hex);
  e.setAttribute("fill", d || "#10151d");
  e.setAttribute("data-color", hex || "");
  e.classList.toggle("dark", !d);
}
function meanHex(cells) {
  const sum = [0, 0, 0]; let n = 0;
  for (const h of cells) { const c = parseHex(h); if (c) { sum[0] += c[0]; sum[1] += c[1]; sum[2] += c[2]; n++; } }
  if (!n) return null;
  return "#" + sum.map((x) => Math.round(x / n).toString(16).padStart(2, "0")).join("");
}
let paintQueued = false;
function paintSoon() {
  if (paintQueued) return;
  paintQueued = true;
  requestAnimationFrame(() => { paintQueued = false; paintMap(); });
}
function paintMap() {
  if (!S.site || !MAP.cellEls.length) return;
  const pv = S.preview;
  S.site.fixtures.forEach((f, i) => {
    let cells, mean;
    if (pv) { cells = pv.fixtures[i] ? pv.fixtures[i].cells : []; mean = cells.length > 1 ? meanHex(cells) : cells[0]; }
    else { cells = S.liveCells[i] && S.liveCells[i].length ? S.liveCells[i] : [S.live[i]]; mean = S.live[i]; }
    if (MAP.summary[i]) {
      fill(MAP.summary[i], mean);
      if (!MAP.cellsShown) return;
    }
    const els = MAP.cellEls[i];
    for (let j = 0; j < els.length; j++) fill(els[j], cells.length === els.length ? cells[j] : mean);
  });
}

function fixtureInfo(i) {
  const f = S.fixtures[i] || {}, m = S.site.fixtures[i];
  let hex, level;
  if (S.preview && S.preview.fixtures[i]) { hex = S.preview.fixtures[i].cells[0]; level = S.preview.fixtures[i].level; }
  else { hex = S.live[i]; level = levelOf(hex); }
  return { name: m.name, profile: f.profile_name || f.profile || "", addr: f.universe != null ? f.universe + "." + f.address : "", hex: hex || "#000000", level };
}
function showTip(i, sx, sy) {
  const tip = $("tooltip"), info = fixtureInfo(i);
  tip.replaceChildren();
  tip.append(el("strong", null, info.name), el("br"), document.createTextNode(info.profile + " · " + info.addr), el("br"));
  const sw = el("span", { class: "sw" }); sw.style.background = info.hex;
  tip.append(sw, document.createTextNode(info.hex + " · " + Math.round(info.level * 100) + "%"));
  tip.hidden = false;
  const wrap = $("map-wrap").getBoundingClientRect();
  tip.style.left = Math.min(sx + 14, wrap.width - 220) + "px";
  tip.style.top = Math.max(sy - 10, 0) + "px";
}

function setupMapInput() {
  const svg = $("map");
  const pointers = new Map();
  let drag = null, pinch = null, moved = false;
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  svg.addEventListener("pointerdown", (ev) => {
    svg.setPointerCapture(ev.pointerId);
    pointers.set(ev.pointerId, [ev.clientX, ev.clientY]);
    moved = false;
    if (pointers.size === 1) drag = { x: ev.clientX, y: ev.clientY, vx: S.view.x, vy: S.view.y, target: ev.target };
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { d: Math.hypot(a[0] - b[0], a[1] - b[1]), k: S.view.k };
      drag = null;
    }
  });
  svg.addEventListener("pointermove", (ev) => {
    const r = svg.getBoundingClientRect();
    if (pointers.has(ev.pointerId)) pointers.set(ev.pointerId, [ev.clientX, ev.clientY]);
    if (pinch && pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a[0] - b[0], a[1] - b[1]);
      zoomAt((pinch.k * d / pinch.d) / S.view.k, (a[0] + b[0]) / 2 - r.left, (a[1] + b[1]) / 2 - r.top);
      moved = true;
      return;
    }
    if (drag) {
      const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) { moved = true; svg.classList.add("dragging"); }
      if (moved) { S.view.x = drag.vx + dx; S.view.y = drag.vy + dy; applyView(); }
      return;
    }
    const i = ev.target.getAttribute && ev.target.getAttribute("data-index");
    if (i != null && ev.pointerType === "mouse") showTip(+i, ev.clientX - r.left, ev.clientY - r.top);
    else if (ev.pointerType === "mouse") $("tooltip").hidden = true;
  });
  const end = (ev) => {
    pointers.delete(ev.pointerId);
    svg.classList.remove("dragging");
    if (pointers.size < 2) pinch = null;
    if (drag && !moved && ev.type === "pointerup") {
      const r = svg.getBoundingClientRect();
      const tgt = drag.target;
      const i = tgt.getAttribute && tgt.getAttribute("data-index");
      const g = tgt.getAttribute && tgt.getAttribute("data-group");
      if (i != null) showTip(+i, ev.clientX - r.left, ev.clientY - r.top);
      else { $("tooltip").hidden = true; if (g) selectGroup(g); }
    }
    drag = null;
  };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);
  svg.addEventListener("pointerleave", (ev) => { if (ev.pointerType === "mouse") $("tooltip").hidden = true; });
  $("zoom-in").onclick = () => zoomAt(1.6, MAP.w / 2, MAP.h / 2);
  $("zoom-out").onclick = () => zoomAt(1 / 1.6, MAP.w / 2, MAP.h / 2);
  $("zoom-fit").onclick = fit;
  window.addEventListener("resize", () => { const r = svg.getBoundingClientRect(); if (r.width !== MAP.w || r.height !== MAP.h) fit(); drawTimeline(); drawEnergyChart(); });
  // The map's box also changes without a window resize (the status strip
  // or a banner appears): the scale bar and north arrow move to stay
  // inside it; the zoom and the centre are kept (a "Done" banner must not
  // undo an operator's zoom).
  new ResizeObserver(() => {
    const r = svg.getBoundingClientRect();
    if (!r.width || (r.width === MAP.w && r.height === MAP.h)) return;
    if (!MAP.w || !MAP.world) { fit(); return; }
    S.view.x += (r.width - MAP.w) / 2; S.view.y += (r.height - MAP.h) / 2;
    MAP.w = r.width; MAP.h = r.height;
    applyView();
  }).observe($("map-wrap"));
}

function selectGroup(name) {
  S.selected = name;
  $("group").value = name;
  groupInfo();
  drawZones(); drawOverlay();
}
function groupMembers(name) {
  if (!name) return [];
  if (name === "*") return S.site.fixtures.map((f) => f.name);
  const g = S.site.groups.find((x) => x.name === name);
  return g ? g.fixtures.map((i) => S.site.fixtures[i].name) : [];
}
function groupInfo() {
  // Nothing acts on a zone until one is chosen: no control defaults to the whole site.
  const none = !S.selected;
  $("group-info").textContent = none ? "" : t("fixtures_n", { n: groupMembers(S.selected).length });
  for (const id of ["apply-level", "apply-color", "blackout", "emergency", "set-zone-master", "zone-master"]) $(id).disabled = none;
  zoneMaster();
  $("emergency").querySelector(".label").textContent = none ? t("choose_zone") : t("hold_emergency", { target: targetName(S.selected) });
}

// ------------------------------------------------------------------ live
async function startLive() {
  if (S.liveAbort) S.liveAbort.abort();
  const ctl = new AbortController();
  S.liveAbort = ctl;
  try {
    const h = token ? { Authorization: "Bearer " + token } : {};
    const r = await fetch("/api/live?cells=true", { headers: h, signal: ctl.signal });
    // Not allowed to read: a sign-in problem, not a lost connection.
    if (r.status === 401 || r.status === 403) { S.liveAbort = null; return; }
    if (!r.ok) throw new Error("live " + r.status);
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
        if (!data) continue;
        try {
          const ev = JSON.parse(data);
          S.live = ev.colors; S.liveCells = ev.cells || [];
          S.lastOk = Date.now();
          setConnected(true);
          if (!S.preview) paintSoon();
        } catch (e) { /* a partial event: the next one is complete */ }
      }
    }
  } catch (e) { if (ctl.signal.aborted && S.liveAbort !== ctl) return; }
  // The stream ended: the daemon went away (or restarts). Say so now, not
  // at the next poll.
  if (S.liveAbort === ctl) { setConnected(false); setTimeout(() => { if (S.liveAbort === ctl) startLive(); }, 1000); }
}

// Lost the daemon: say so, grey every live value and mark it with the
// time of the last update, and take the controls away (a disabled
// fieldset disables everything inside it without touching each control's
// own state). Back: every view loads again and stale errors go.
function setConnected(ok) {
  if (ok === S.connected) return;
  S.connected = ok;
  document.body.classList.toggle("offline", !ok);
  for (const f of document.querySelectorAll("fieldset.needs-daemon")) f.disabled = !ok;
  $("banner-conn").hidden = ok;
  if (!ok) { stopPlay(); renderOffline(); return; }
  for (const e of document.querySelectorAll(".live")) e.removeAttribute("data-stale");
  if ($("msg").classList.contains("err")) { clearTimeout(msgTimer); $("msg").hidden = true; }
  reloadAll();
}
function renderOffline() {
  if (S.connected) return;
  // The daemon's own clock at the last status (the header's clock, which
  // may be simulated); the browser's time when no status ever came.
  const at = S.status ? S.status.clock.local.slice(11, 19) : hms(S.lastOk);
  $("banner-conn").textContent = t("conn_lost", { at, ago: S.lastOk ? duration((Date.now() - S.lastOk) / 1000) : "–" });
  for (const e of document.querySelectorAll(".live")) e.setAttribute("data-stale", t("stale_since", { at }));
}
async function reloadAll() {
  await loadSite();
  refresh(); loadNow(); loadSkips().then(renderEntries);
  if (S.tab === "energy") loadEnergy();
}

// ------------------------------------------------------------------ status
async function refresh() {
  let s;
  try { s = await api("GET", "/api/status", undefined, { timeout: 1500 }); }
  catch (e) { if (!e.status) setConnected(false); return; }
  S.status = s; S.lastOk = Date.now();
  setConnected(true);
  renderStatus(s);
}
// Everything drawn from one /api/status (again on a language switch, also
// while the daemon is gone: the values stay stale, the words change).
function renderStatus(s) {
  $("site-name").textContent = s.site.name;
  $("clock").textContent = s.clock.local.replace("T", " ").slice(0, 19) + (s.clock.simulated ? " · " + t("simulated", { speed: s.clock.speed }) : "");
  const fps = s.frames.actual_fps == null ? "–" : s.frames.actual_fps.toFixed(1);
  $("fps-chip").textContent = t("fps", { fps, target: s.frames.target_fps, late: s.frames.late_frames });
  $("fps-chip").className = "chip live " + (s.frames.actual_fps != null && s.frames.actual_fps < s.frames.target_fps * 0.9 ? "warn" : "");
  renderEmergency(s);
  renderReload(s);
  renderOverrides(s);
  renderHealth(s);
  renderPower(s);
  renderSceneState(s);
  if (document.activeElement !== $("master")) {
    const gm = s.masters.find((m) => m.target === "*");
    $("master").value = Math.round((gm ? gm.level : 1) * 100);
    $("master-val").textContent = $("master").value + "%";
  }
  zoneMaster();
  renderStrip();
  renderNowNext();
}

// What is on top now, per group, and tonight's skips and curfew: the
// current night's /api/tonight, every few seconds.
async function loadNow() {
  try { S.current = await api("GET", "/api/tonight", undefined, { timeout: 3000 }); } catch (e) { return; }
  await loadMode();
  renderNowNext(); renderStrip();
}
// Tonight's mode, whether an operator forced it (and who), and the modes
// one may force: GET /api/tonight/mode.
async function loadMode() {
  try { S.mode = await api("GET", "/api/tonight/mode", undefined, { timeout: 3000 }); } catch (e) { return; }
  renderMode();
}
function forcedTonight() {
  const M = S.mode;
  return M && M.forced ? M.forced_nights.find((f) => f.night === M.tonight) || null : null;
}
// The mode line of the Tonight view: the mode, "forced … (by NAME)" with
// an Undo when forced, and for an operator a way to force another one.
// Both ask first, naming the night and the mode before and after.
let modeSig = "";
function renderMode() {
  const M = S.mode, box = $("tonight-mode");
  if (!M) return;
  const f = forcedTonight(), ctl = canControl();
  const sig = lang + JSON.stringify([M.tonight, M.mode, M.modes, f && [f.mode, f.author, f.rules_mode], ctl]);
  // Rebuilt only when it changes: a tap must not land on a replaced control.
  if (sig === modeSig) return;
  modeSig = sig;
  // Two rows: what the mode is (with its Undo), then forcing another one,
  // so Undo never reads as acting on the mode picked beside it.
  const parts = [], pick = [];
  if (f) parts.push(el("span", { class: "forced-mode", "data-forced": f.mode }, t("mode_forced", { mode: f.mode, by: f.author })));
  else parts.push(el("span", { class: "dim", "data-mode": M.mode }, t("mode") + ": " + M.mode));
  if (ctl && f) {
    const undo = el("button", { type: "button", class: "small-btn", id: "unforce-mode" }, t("undo_force"));
    undo.onclick = async () => {
      const ok = await confirmDialog(t("confirm_unforce_title"), t("confirm_unforce_text", { night: M.tonight, mode: f.rules_mode, forced: f.mode }), [], t("confirm_unforce_ok"));
      if (ok) { await act("DELETE", "/api/tonight/mode?night=" + M.tonight, undefined, tt("what_unforce", { mode: f.mode })); loadNow(); loadTonight(); }
    };
    parts.push(undo);
  }
  const others = M.modes.filter((m) => m !== M.mode);
  if (ctl && others.length) {
    const sel = el("select", { id: "force-mode-pick", "aria-label": t("force_mode") });
    sel.replaceChildren(...others.map((m) => el("option", { value: m }, m)));
    const go = el("button", { type: "button", class: "small-btn", id: "force-mode" }, t("force_mode"));
    go.onclick = async () => {
      const mode = sel.value, from = M.mode;
      if (!mode) return;
      const ok = await confirmDialog(t("confirm_force_title", { mode }), t("confirm_force_text", { night: M.tonight, mode, from }), [], t("confirm_force_ok", { mode }));
      if (ok) { await act("POST", "/api/tonight/mode", { mode, note: "console" }, tt("what_force", { mode })); loadNow(); loadTonight(); }
    };
    pick.push(sel, go);
  }
  const row1 = el("div", { class: "row" }), row2 = el("div", { class: "row" });
  row1.append(...parts); row2.append(...pick);
  box.replaceChildren(...(pick.length ? [row1, row2] : [row1]));
}

// The status strip: on every view and for every role, what holds the
// lights away from the plan. Each item leads, for a role that may change
// it, to the control that does.
function stripItems() {
  const s = S.status, C = S.current, ctl = canControl(), items = [];
  if (!s) return items;
  const toControl = (id, group) => () => {
    showTab("control");
    if (group != null) selectGroup(group);
    const e = $(id); e.scrollIntoView({ block: "center" }); e.focus();
  };
  const toTonight = (id) => () => { showTab("tonight"); $(id).scrollIntoView({ block: "center" }); };
  const gm = s.masters.find((m) => m.target === "*");
  if (gm && gm.level < 0.9995) items.push({ key: "master:*", cls: "alert big", text: t("strip_grand_master", { l: pct(gm.level) }), go: ctl && toControl("master") });
  for (const m of s.masters) if (m.target !== "*" && m.level < 0.9995)
    items.push({ key: "master:" + m.target, cls: "alert", text: t("strip_master", { target: m.target, l: pct(m.level) }), go: ctl && toControl("zone-master", m.target) });
  const live = s.overrides.filter((o) => o.state !== NAMES.override_state.releasing);
  const em = live.filter((o) => o.emergency);
  if (em.length) items.push({ key: "emergency", cls: "emergency", text: t("strip_emergency", { what: em.map((o) => targetName(o.target) + " " + describeOverride(o)).join(", ") }), go: ctl && toControl("overrides") });
  const others = Math.max(0, (s.overrides_in_force != null ? s.overrides_in_force : live.length) - em.length);
  if (others) items.push({ key: "overrides", cls: "warn", text: t("strip_overrides", { n: others }), go: ctl && toControl("overrides") });
  for (const x of s.scenes) if (x.state !== NAMES.override_state.releasing) items.push({ key: "scene:" + x.id, cls: "info", text: t("strip_scene", { show: x.show }), go: ctl && toControl("scenes") });
  // A fleet node whose clock is not synchronised holds the schedule.
  const cs = s.clock_sync;
  if (cs && cs.holding) items.push({ key: "clock-unsynced", cls: "alert", text: cs.plays === "last look" ? t("strip_clock_hold") : t("strip_clock_show", { show: cs.plays }) });
  const f = forcedTonight();
  if (f) items.push({ key: "forced", cls: "warn", text: t("mode_forced", { mode: f.mode, by: f.author }), go: toTonight("tonight-mode") });
  if (C && C.night === (s.schedule && s.schedule.night)) {
    const skipped = [...new Set(C.entries.filter((e) => e.skipped).map((e) => e.show))];
    if (skipped.length) items.push({ key: "skipped", cls: "warn", text: t("strip_skipped", { shows: skipped.join(", ") }), go: toTonight("entries") });
    const now = Date.parse(s.clock.now);
    if (C.curfew && ms(C.curfew.start) <= now && now < ms(C.curfew.end))
      items.push({ key: "curfew", cls: "info", text: t("strip_curfew", { l: pct(C.curfew.max_level), until: hhmm(C.curfew.end) }), go: toTonight("timeline") });
  }
  return items;
}
let stripSig = "";
function renderStrip() {
  const items = stripItems(), box = $("strip-items");
  const sig = lang + JSON.stringify(items.map((i) => [i.key, i.cls, i.text, !!i.go]));
  // Rebuilt only when it changes: a tap must not land on a replaced button.
  if (sig === stripSig) return;
  stripSig = sig;
  $("status-strip").classList.toggle("alert", items.some((i) => i.cls.includes("alert")));
  $("status-strip").classList.toggle("emergency", items.some((i) => i.cls === "emergency"));
  if (!items.length) { box.replaceChildren(el("span", { class: "item normal" }, t("strip_normal"))); return; }
  box.replaceChildren(...items.map((i) => {
    const e = i.go ? el("button", { type: "button", class: "item " + i.cls, "data-strip": i.key }, i.text) : el("span", { class: "item " + i.cls, "data-strip": i.key }, i.text);
    if (i.go) e.onclick = i.go;
    return e;
  }));
}
function zoneMaster() {
  const g = S.selected, m = S.status && S.status.masters.find((x) => x.target === g);
  if (document.activeElement === $("zone-master")) return;
  $("zone-master").value = Math.round((m ? m.level : 1) * 100);
  $("zone-master-val").textContent = $("zone-master").value + "%";
}

function describeOverride(o) {
  return o.kind === NAMES.override_kind.level ? t("level_of", { l: Math.round(o.level * 100) + "%" }) : o.kind === NAMES.override_kind.color ? t("colour_of", { c: o.color })
    : o.kind === NAMES.override_kind.show ? t("show_of", { s: o.show }) : t("blackout_of");
}
function renderEmergency(s) {
  const em = s.overrides.filter((o) => o.emergency && o.state !== NAMES.override_state.releasing);
  const b = $("banner-emergency");
  b.hidden = em.length === 0;
  b.textContent = t("emergency_banner", { what: em.map((o) => targetName(o.target) + " — " + describeOverride(o) + (o.note ? " (" + o.note + ")" : "")).join("; ") });
}
function renderReload(s) {
  const r = s.reload || {}, last = r.last_rejected, problems = last ? last.problems : [];
  $("banner-reload").hidden = !r.rejected_now;
  $("reload-problems").replaceChildren(...problems.map((p) => el("li", null, p)));
  const box = $("reload-state");
  box.replaceChildren();
  box.append(el("p", { class: r.rejected_now ? "warn" : "" }, r.rejected_now ? t("reload_rejected") : t("reload_ok", { applied: r.applied || 0, rejected: r.rejected || 0 })));
  if (last) {
    if (!r.rejected_now) box.append(el("p", { class: "dim" }, t("reload_last_rejected", { at: last.at.replace("T", " ").slice(0, 19) + " UTC" })));
    const ul = el("ul", { class: "mono" });
    for (const p of problems) ul.append(el("li", null, p));
    box.append(ul);
  }
}
function renderOverrides(s) {
  const ctl = canControl();
  $("overrides").replaceChildren(...s.overrides.map((o) => {
    const li = el("li", { class: o.emergency ? "emergency" : "", "data-override": o.id });
    const w = el("span", { class: "what" }, "#" + o.id + " " + targetName(o.target) + ": " + describeOverride(o));
    w.append(el("span", { class: "tag" }, stateName(o.state) + " · " + (o.remaining_s == null ? t("until_released") : duration(o.remaining_s) + " " + t("left")) + " · " + o.author + (o.note ? " · " + o.note : "")));
    // The fleet id names the same override on every node: shown, and used for the writes.
    if (o.fleet_id) w.append(el("span", { class: "tag", "data-fleet-id": o.fleet_id }, t("fleet_id_tag", { id: o.fleet_id })));
    const path = "/api/overrides/" + encodeURIComponent(o.fleet_id || String(o.id));
    li.append(w);
    if (ctl && o.state !== NAMES.override_state.releasing) {
      if (o.remaining_s != null) { const b = el("button", { type: "button", class: "small-btn", "data-control": "" }, t("extend")); b.onclick = () => act("POST", path + "/extend", { by: "15m" }, tt("what_extend", { id: o.id })); li.append(b); }
      const b = el("button", { type: "button", class: "small-btn", "data-control": "" }, t("release")); b.onclick = () => act("DELETE", path, undefined, tt("what_release", { id: o.id })); li.append(b);
    }
    return li;
  }));
  // The status lists the first 50 overrides; with thousands in force, say how many more.
  const more = (s.overrides_total || 0) - s.overrides.length;
  if (more > 0) $("overrides").append(el("li", { class: "dim" }, t("more_overrides", { n: more })));
  $("release-all").hidden = !ctl || (s.overrides_total || 0) === 0;
  $("stop-scenes").hidden = !ctl || !s.scenes.some((x) => x.state !== NAMES.override_state.releasing);
  $("scenes").replaceChildren(...s.scenes.map((x) => {
    const li = el("li", { "data-scene": x.id });
    const w = el("span", { class: "what" }, t("scene_on", { show: x.show }) + (x.target ? " → " + x.target : ""));
    w.append(el("span", { class: "tag" }, stateName(x.state) + " · " + duration(x.remaining_s) + " " + t("left") + " · " + x.author));
    li.append(w);
    if (ctl && x.state !== NAMES.override_state.releasing) { const b = el("button", { type: "button", class: "small-btn" }, t("stop")); b.onclick = () => act("DELETE", "/api/scenes/" + x.id, undefined, tt("what_stop_scene", { show: x.show })); li.append(b); }
    return li;
  }));
}
function renderSceneState(s) {
  const playing = new Set(s.scenes.filter((x) => x.state !== NAMES.override_state.releasing).map((x) => x.show));
  for (const b of $("scene-buttons").querySelectorAll("button")) b.classList.toggle("playing", playing.has(b.dataset.show));
}
function renderHealth(s) {
  $("health-frames").replaceChildren(el("p", null, t("frames", { frames: s.frames.frames, late: s.frames.late_frames, up: duration(s.uptime_s) })));
  $("outputs").replaceChildren(...s.outputs.map((o) => {
    const li = el("li", { "data-output": o.target });
    const w = el("span", { class: "what" }, o.kind + " → " + o.target);
    w.append(el("span", { class: "tag" }, t("output_counts", { u: ranges(o.universes), p: o.packets_sent, e: o.send_errors }) + (o.last_error ? " · " + o.last_error : "")));
    li.append(w, el("span", { class: "chip " + (o.state === NAMES.health.ok ? "ok" : o.state === NAMES.health.down ? "bad" : "warn") }, STRINGS.en["health_" + o.state] ? t("health_" + o.state) : o.state));
    return li;
  }));
}
// Universe numbers as runs: 0–14, 20, 22–23.
function ranges(list) {
  const out = [];
  for (let i = 0; i < list.length; i++) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j] + 1) j++;
    out.push(j > i ? list[i] + "–" + list[j] : String(list[i]));
    i = j;
  }
  return out.join(", ");
}
function watts(w) { return w >= 1000 ? (w / 1000).toFixed(2) + " kW" : Math.round(w) + " W"; }
function renderPower(s) {
  const bar = $("power-bar");
  if (s.power_w == null) { $("power-text").textContent = t("power_unknown"); bar.style.width = "0"; return; }
  if (s.max_w) {
    const f = s.power_w / s.max_w;
    bar.style.width = Math.min(100, f * 100).toFixed(1) + "%";
    bar.className = f > 0.98 ? "bad" : f > 0.85 ? "warn" : "";
    $("power-text").textContent = t("power", { w: watts(s.power_w), max: watts(s.max_w) });
  } else { bar.style.width = "0"; $("power-text").textContent = t("power_nobudget", { w: watts(s.power_w) }); }
}

// ------------------------------------------------------------------ tonight
async function loadTonight(date) {
  try { S.tonight = await api("GET", "/api/tonight" + (date ? "?date=" + date : "")); } catch (e) { return; }
  if (!$("preview-date").value) $("preview-date").value = S.tonight.night;
  if (S.previewAt == null) $("scrubber").value = Math.max(0, Math.min(1439, Math.floor((ms(S.tonight.now) - ms(S.tonight.start)) / 60000)));
  drawTimeline(); renderEntries(); renderNowNext();
}
function ms(iso) { return iso ? Date.parse(iso) : NaN; }
function drawTimeline() {
  const svg = $("timeline"), T = S.tonight;
  if (!T) return;
  const W = svg.getBoundingClientRect().width || 380, H = 150;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.replaceChildren();
  const t0 = ms(T.start), t1 = ms(T.end), X = (t) => ((t - t0) / (t1 - t0)) * W;
  if (T.sunset && T.sunrise) svg.append(el("svg:rect", { class: "night", x: X(ms(T.sunset)), y: 0, width: X(ms(T.sunrise)) - X(ms(T.sunset)), height: H - 16 }));
  if (T.curfew) {
    const cx = X(ms(T.curfew.start)), cw = X(ms(T.curfew.end)) - cx;
    svg.append(el("svg:rect", { class: "curfew", x: cx, y: 0, width: cw, height: H - 16 }));
    fitText(svg, el("svg:text", { x: cx + 3, y: H - 20 }, t("curfew") + " ≤" + pct(T.curfew.max_level)), Math.min(cw, W - cx) - 4);
  }
  // Sun times at the top, kept inside the chart and apart from each other.
  let sunRight = -Infinity;
  for (const [k, v] of [["sunset", T.sunset], ["sunrise", T.sunrise]]) if (v) {
    svg.append(el("svg:line", { class: "sun", x1: X(ms(v)), x2: X(ms(v)), y1: 0, y2: H - 16 }));
    const label = (k === "sunset" ? "☀↓ " : "☀↑ ") + hhmm(v), w = textWidth(svg, label, 11);
    const x = Math.max(Math.min(X(ms(v)) + 2, W - w - 1), sunRight + 6);
    if (x + w <= W) { svg.append(el("svg:text", { x, y: 10 }, label)); sunRight = x + w; }
  }
  // Hour labels every 1, 2, 3, 4 or 6 hours, as many as fit without touching.
  const hw = textWidth(svg, "00:00", 11) + 8, every = [1, 2, 3, 4, 6, 12].find((h) => (h / 24) * W >= hw) || 12;
  for (let h = every; h < 24; h += every) {
    const x = (h / 24) * W;
    svg.append(el("svg:text", { x, y: H - 3, "text-anchor": "middle", class: "hour" }, String((12 + h) % 24).padStart(2, "0") + ":00"));
  }
  const lanes = [...new Set(T.entries.map((e) => e.entry))];
  const laneH = Math.min(22, (H - 40) / Math.max(lanes.length, 1));
  const now = ms(T.now), active = new Set((S.status && S.status.active_shows) || []);
  for (const e of T.entries) {
    const y = 16 + lanes.indexOf(e.entry) * (laneH + 2), x = X(ms(e.start)), w = Math.max(X(ms(e.end)) - x, 2);
    const on = ms(e.start) <= now && now < ms(e.end) && active.has(e.show);
    svg.append(el("svg:rect", { class: "bar" + (e.skipped ? " skipped" : on ? " playing" : ""), x, y, width: w, height: laneH, rx: 3, "data-entry": e.entry }));
    if (w > 24) fitText(svg, el("svg:text", { class: "bar-label", x: x + 3, y: y + laneH / 2 + 4 }, e.show), Math.min(w, W - x) - 5);
  }
  if (now >= t0 && now <= t1) svg.append(el("svg:line", { class: "now", x1: X(now), x2: X(now), y1: 0, y2: H - 14 }));
  if (S.previewAt) svg.append(el("svg:line", { class: "cursor", x1: X(S.previewAt), x2: X(S.previewAt), y1: 0, y2: H - 14 }));
}
function renderEntries() {
  const T = S.tonight; if (!T) return;
  const ctl = canControl();
  const seen = new Set();
  $("entries").replaceChildren(...T.entries.filter((e) => { const k = e.entry; if (seen.has(k)) return false; seen.add(k); return true; }).map((e) => {
    const runs = T.entries.filter((x) => x.entry === e.entry);
    const li = el("li", { class: e.skipped ? "skipped" : "", "data-entry": e.entry });
    const w = el("span", { class: "what" }, e.show);
    w.append(el("span", { class: "tag" }, runs.map((r) => hhmm(r.start) + "–" + hhmm(r.end)).join(", ") + (e.skipped ? " · " + t("skipped") : "")));
    li.append(w);
    if (ctl && T.night === (S.status ? S.status.schedule && S.status.schedule.night : T.night)) {
      const skip = (S.skips || []).find((s) => s.night === T.night && s.entry === e.entry);
      const b = el("button", { type: "button", class: "small-btn", "data-control": "" }, skip ? t("undo") : t("skip"));
      b.onclick = async () => {
        const when = runs.map((r) => hhmm(r.start) + "–" + hhmm(r.end)).join(", ");
        const ok = skip
          ? await confirmDialog(t("confirm_unskip_title", { show: e.show }), t("confirm_unskip_text", { show: e.show, night: T.night, when }), [], t("confirm_unskip_ok"))
          : await confirmDialog(t("confirm_skip_title", { show: e.show }), t("confirm_skip_text", { show: e.show, night: T.night, when }), [], t("confirm_skip_ok"));
        if (!ok) return;
        if (skip) await act("DELETE", "/api/skips/" + skip.id, undefined, tt("what_unskip", { show: e.show }));
        else await act("POST", "/api/skips", { night: T.night, entry: e.entry }, tt("what_skip", { show: e.show }));
        await loadSkips(); loadTonight(T.night);
      };
      li.append(b);
    }
    return li;
  }));
}
async function loadSkips() { try { S.skips = await api("GET", "/api/skips"); } catch (e) { S.skips = []; } }
// "Now": which show is on top where (per group, by the engine's drawing
// order, from /api/tonight's visible_now), grouped by show; "Next": the
// next entry of tonight's schedule.
function renderNowNext() {
  const C = S.current, box = $("nownext");
  if (!C || !S.status) return;
  const now = Date.parse(S.status.clock.now);
  const shows = new Map(), dark = [];
  for (const g of C.visible_now) {
    let lit = 0;
    for (const v of g.shows) {
      lit += v.fixtures;
      const k = v.source + ":" + v.show;
      if (!shows.has(k)) shows.set(k, { v, groups: [], fixtures: 0 });
      const x = shows.get(k);
      x.fixtures += v.fixtures;
      x.opacity = v.opacity;
      x.groups.push(g.group + (v.fixtures < g.fixtures ? " (" + t("visible_part", { n: v.fixtures, m: g.fixtures }) + ")" : ""));
    }
    if (!lit) dark.push(g.group);
  }
  const list = (names) => names.length > 10 ? names.slice(0, 10).join(", ") + " " + t("and_more", { n: names.length - 10 }) : names.join(", ");
  const ul = el("ul", { class: "now-list" });
  for (const x of [...shows.values()].sort((a, b) => b.fixtures - a.fixtures)) {
    const li = el("li", { "data-show": x.v.show, "data-source": x.v.source });
    li.append(el("span", { class: "show" }, x.v.show), el("span", { class: "src " + x.v.source }, t("source_" + x.v.source)));
    if (x.opacity < 0.999) li.append(el("span", { class: "src" }, t("fading", { p: pct(x.opacity) })));
    li.append(el("span", { class: "where" }, list(x.groups)));
    ul.append(li);
  }
  if (dark.length) { const li = el("li", { class: "dark" }); li.append(el("span", { class: "show" }, t("dark")), el("span", { class: "where" }, list(dark))); ul.append(li); }
  if (!ul.children.length) ul.append(el("li", null, t("nothing")));
  const next = C.entries.filter((e) => !e.skipped && ms(e.start) > now).sort((a, b) => ms(a.start) - ms(b.start))[0];
  const nx = el("div", { class: "next" }, "");
  nx.append(el("strong", null, t("next") + ": "), document.createTextNode(next ? next.show + " " + hhmm(next.start) + " · " + t("in") + " " : t("nothing")));
  if (next) nx.append(el("span", { class: "count" }, duration((ms(next.start) - now) / 1000)));
  // The forced mode where there is one (/api/tonight gives the rules' mode).
  const M = S.mode, mode = M && M.tonight === C.night ? M.mode : C.mode;
  nx.append(el("span", { class: "dim" }, " · " + t("mode") + ": " + mode));
  box.replaceChildren(el("strong", null, t("now_playing") + ":"), ul, nx);
}

// ------------------------------------------------------------------ preview
let previewBusy = false, previewWanted = null;
async function previewAt(tms) {
  S.previewAt = tms;
  previewWanted = tms;
  drawTimeline();
  if (previewBusy) return;
  previewBusy = true;
  try {
    while (previewWanted != null) {
      const want = previewWanted; previewWanted = null;
      const iso = new Date(want).toISOString().replace(/\.\d+Z$/, "Z");
      try {
        const pv = await api("GET", "/api/preview?at=" + encodeURIComponent(iso));
        if (S.previewAt == null) break;
        S.preview = pv;
        $("preview-badge").textContent = t("preview_at", { at: pv.at.replace("T", " ").slice(0, 16) });
        $("preview-badge").hidden = false;
        $("preview-live").hidden = false;
        paintMap();
      } catch (e) { say(() => t("act_failed", { what: t("what_preview"), why: why(e) }), "err"); }
    }
  } finally { previewBusy = false; }
}
function scrubToMs() { const T = S.tonight; return ms(T.start) + (+$("scrubber").value) * 60000; }
function backToLive() {
  stopPlay();
  S.preview = null; S.previewAt = null; previewWanted = null;
  $("preview-badge").hidden = true; $("preview-live").hidden = true;
  paintMap(); drawTimeline();
  if (S.tonight && S.status && S.tonight.night !== S.status.schedule?.night) loadTonight();
}
function stopPlay() { if (S.playing) { clearInterval(S.playing); S.playing = null; $("preview-play").textContent = t("play60"); } }
function setupPreview() {
  $("scrubber").addEventListener("input", () => { if (S.tonight) previewAt(scrubToMs()); });
  $("preview-date").addEventListener("change", async () => { stopPlay(); await loadTonight($("preview-date").value); if (S.tonight) previewAt(scrubToMs()); });
  $("preview-live").onclick = backToLive;
  $("preview-play").onclick = () => {
    if (S.playing) { stopPlay(); return; }
    if (!S.tonight) return;
    if (S.previewAt == null) {
      // Start from now when tonight is shown, else from the night's start.
      const now = S.status ? Date.parse(S.status.clock.now) : ms(S.tonight.start);
      $("scrubber").value = Math.max(0, Math.min(1439, Math.floor((now - ms(S.tonight.start)) / 60000)));
    }
    $("preview-play").textContent = t("pause");
    // 60×: a minute of the night per real second, in half-second steps.
    S.playing = setInterval(() => {
      const v = +$("scrubber").value + 0.5;
      if (v > 1439) { stopPlay(); return; }
      $("scrubber").value = v;
      previewAt(ms(S.tonight.start) + v * 60000);
    }, 500);
  };
}

// ------------------------------------------------------------------ energy
async function loadEnergy() {
  const T = S.tonight; if (!T) return;
  const d = new Date(T.night + "T00:00:00Z"), from = new Date(d - 13 * 86400000).toISOString().slice(0, 10);
  try {
    const r = await api("GET", "/api/energy?from=" + from + "&to=" + T.night);
    S.energy = r;
    const tonight = r.nights.find((n) => n.night === T.night);
    const kwh = tonight ? tonight.kwh : 0;
    const box = $("tonight-kwh"); box.replaceChildren(el("div", { class: "big" }, t("tonight_kwh", { kwh: kwh.toFixed(1) })));
    if (S.forecast && S.forecast.night === T.night) box.append(el("div", { class: "dim" }, t("forecast", { kwh: S.forecast.kwh.toFixed(1) })));
    drawEnergyChart();
  } catch (e) { /* no energy record on this daemon */ }
}
async function loadForecast() {
  const T = S.tonight; if (!T) return;
  try { const f = await api("GET", "/api/energy/forecast?night=" + T.night, undefined, { timeout: 20000 }); S.forecast = { night: T.night, kwh: f.kwh }; loadEnergy(); } catch (e) { /* optional */ }
}
function drawEnergyChart() {
  const svg = $("energy-chart"), r = S.energy;
  if (!r) return;
  const W = svg.getBoundingClientRect().width || 380, H = 160;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.replaceChildren();
  const n = r.nights.length || 1, max = Math.max(1, ...r.nights.map((x) => x.kwh)), bw = W / n;
  // Date labels centred under their bars, every `step`-th night so that
  // none touches the next, the last one counted from the right (tonight).
  const lw = textWidth(svg, "12-31", 10) + 6, step = Math.max(1, Math.ceil(lw / bw));
  r.nights.forEach((x, i) => {
    const cx = Math.min(Math.max(i * bw + bw / 2, lw / 2), W - lw / 2);
    if ((n - 1 - i) % step === 0) svg.append(el("svg:text", { x: cx, y: H - 5, "text-anchor": "middle", class: "date" }, x.night.slice(5)));
    // A night the record does not hold is "no data", not a zero bar.
    if (x.has_data === false) {
      svg.append(el("svg:rect", { x: i * bw + 2, y: 12, width: Math.max(bw - 4, 1), height: H - 30, class: "nodata" }));
      return;
    }
    const h = (x.kwh / max) * (H - 34), v = x.kwh.toFixed(x.kwh < 10 ? 1 : 0);
    svg.append(el("svg:rect", { x: i * bw + 2, y: H - 18 - h, width: Math.max(bw - 4, 1), height: h, class: S.tonight && x.night === S.tonight.night ? "tonight" : "" }));
    if (x.kwh > 0 && textWidth(svg, v, 10) + 2 <= bw) svg.append(el("svg:text", { x: cx, y: H - 22 - h, "text-anchor": "middle" }, v));
  });
}
// The width of `text` at `px` in an SVG, measured once per string and size.
const widths = new Map();
function textWidth(svg, text, px) {
  const k = px + ":" + text;
  if (widths.has(k)) return widths.get(k);
  const e = el("svg:text", { x: -1000, y: -1000, style: "font-size:" + px + "px" }, text);
  svg.append(e);
  // Hidden (another tab): estimate, and measure again next time.
  const m = e.getComputedTextLength();
  e.remove();
  if (m > 0) widths.set(k, m);
  return m || text.length * px * 0.62;
}
// Shorten an SVG text with "…" until it fits `max` pixels (or drop it).
function fitText(svg, e, max) {
  svg.append(e);
  let s = e.textContent;
  while (s.length > 1 && e.getComputedTextLength() > max) { s = s.slice(0, -2); e.textContent = s + "…"; }
  if (e.getComputedTextLength() > max) e.remove();
}

// ------------------------------------------------------------------ control
function confirmDialog(title, text, list, okLabel) {
  return new Promise((resolve) => {
    const d = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    const items = list.slice(0, 8).map((x) => el("li", null, x));
    if (list.length > 8) items.push(el("li", { class: "dim" }, t("and_more", { n: list.length - 8 })));
    $("confirm-list").replaceChildren(...items);
    $("confirm-ok").textContent = okLabel;
    d.returnValue = "cancel";
    d.onclose = () => resolve(d.returnValue === "ok");
    d.showModal();
    $("confirm-cancel").focus();
  });
}
function ttlLabel() { const o = $("ttl").selectedOptions[0]; return o ? o.textContent : $("ttl").value; }
function setupControls() {
  $("group").onchange = () => selectGroup($("group").value);
  $("level").oninput = () => { $("level-val").textContent = $("level").value + "%"; };
  $("apply-level").onclick = () => act("POST", "/api/overrides", { target: S.selected, level: $("level").value + "%", ttl: $("ttl").value, note: "console" },
    tt("what_level", { l: $("level").value + " %", target: targetName(S.selected) }));
  $("apply-color").onclick = () => act("POST", "/api/overrides", { target: S.selected, color: $("color").value, ttl: $("ttl").value, note: "console" },
    tt("what_colour", { c: $("color").value, target: targetName(S.selected) }));
  $("blackout").onclick = async () => {
    const members = groupMembers(S.selected), name = targetName(S.selected);
    const ok = await confirmDialog(t("confirm_blackout_title", { target: name }), t("confirm_blackout_text", { n: members.length, ttl: ttlLabel() }), members, t("confirm_blackout_ok", { target: name }));
    if (ok) act("POST", "/api/overrides", { target: S.selected, blackout: true, ttl: $("ttl").value, note: "console blackout" }, tt("what_blackout", { target: name }));
  };
  // DELETE /api/overrides releases every override in force, emergencies
  // included, and no scene (audited as override.release_all): the dialog
  // says exactly that, and scenes have their own button.
  $("release-all").onclick = async () => {
    const s = S.status; if (!s) return;
    const live = s.overrides.filter((o) => o.state !== NAMES.override_state.releasing);
    const em = live.filter((o) => o.emergency).length;
    const scenes = s.scenes.filter((x) => x.state !== NAMES.override_state.releasing);
    const text = t("confirm_release_text", { emergencies: em ? t("confirm_release_emergencies", { e: em }) : "" }) + " " +
      (scenes.length ? t("confirm_release_scenes", { n: scenes.length }) : t("confirm_release_no_scenes"));
    const ok = await confirmDialog(t("confirm_release_title", { n: s.overrides_in_force }), text,
      live.map((o) => "#" + o.id + " " + targetName(o.target) + ": " + describeOverride(o) + (o.emergency ? " — " + t("source_emergency") : "")), t("confirm_release_ok"));
    if (ok) act("DELETE", "/api/overrides", undefined, tt("what_release_all"));
  };
  $("stop-scenes").onclick = async () => {
    const scenes = (S.status ? S.status.scenes : []).filter((x) => x.state !== NAMES.override_state.releasing);
    if (!scenes.length) return;
    const ok = await confirmDialog(t("confirm_stop_scenes_title", { n: scenes.length }), t("confirm_stop_scenes_text"),
      scenes.map((x) => t("scene_on", { show: x.show }) + (x.target ? " → " + x.target : "")), t("confirm_stop_scenes_ok"));
    // One request per scene: each is audited as the scene it stops.
    if (ok) for (const x of scenes) await act("DELETE", "/api/scenes/" + x.id, undefined, tt("what_stop_scene", { show: x.show }));
  };
  $("master").oninput = () => { $("master-val").textContent = $("master").value + "%"; };
  $("set-master").onclick = () => act("POST", "/api/master", { level: $("master").value + "%" }, tt("what_master", { l: $("master").value + " %" }));
  $("zone-master").oninput = () => { $("zone-master-val").textContent = $("zone-master").value + "%"; };
  $("set-zone-master").onclick = () => act("POST", "/api/master", { level: $("zone-master").value + "%", target: S.selected },
    tt("what_zone_master", { l: $("zone-master").value + " %", target: targetName(S.selected) }));
  // Emergency: hold for two seconds; letting go early does nothing.
  const btn = $("emergency"), fill = btn.querySelector(".fill");
  let hold = null;
  const start = (ev) => {
    if (ev.type === "keydown" && (ev.repeat || (ev.key !== " " && ev.key !== "Enter"))) return;
    ev.preventDefault();
    if (hold) return;
    if (!S.selected) return;
    const t0 = performance.now();
    hold = setInterval(() => {
      const f = (performance.now() - t0) / 2000;
      fill.style.width = Math.min(100, f * 100) + "%";
      if (f >= 1) {
        cancel();
        act("POST", "/api/overrides", { target: S.selected, blackout: true, priority: "emergency", note: "emergency from the console" }, tt("what_emergency", { target: targetName(S.selected) }));
      }
    }, 50);
  };
  const cancel = () => { clearInterval(hold); hold = null; fill.style.width = "0"; };
  btn.addEventListener("pointerdown", start);
  btn.addEventListener("keydown", start);
  for (const e of ["pointerup", "pointerleave", "pointercancel", "keyup", "blur"]) btn.addEventListener(e, cancel);
  btn.addEventListener("contextmenu", (e) => e.preventDefault());
}
function renderControls() {
  const ctl = canControl();
  // Tab panes are shown by showTab alone: one view at a time.
  for (const e of document.querySelectorAll("[data-control]:not(.tab)")) e.hidden = !ctl;
  showTab(!ctl && S.tab === "control" ? "tonight" : S.tab);
  const scenes = S.shows.filter((s) => s.scene);
  $("scene-buttons").replaceChildren(...(scenes.length ? scenes.map((s) => {
    const b = el("button", { type: "button", "data-show": s.name }, s.name);
    b.onclick = () => act("POST", "/api/scenes/" + encodeURIComponent(s.name) + "/trigger", { duration: $("scene-for").value }, tt("what_scene", { show: s.name }));
    return b;
  }) : [el("span", { class: "dim" }, t("no_scenes"))]));
  const opts = [["", t("choose_zone")], ["*", t("whole_site")]].concat(S.site.groups.map((g) => [g.name, g.name]));
  $("group").replaceChildren(...opts.map(([v, l]) => { const o = el("option", { value: v }, l); return o; }));
  $("group").value = S.selected;
  groupInfo();
  if (S.status) { renderOverrides(S.status); renderSceneState(S.status); }
  renderEntries();
  renderMode();
}
function showTab(name) {
  if (name === "control" && !canControl()) name = "tonight";
  S.tab = name;
  for (const b of document.querySelectorAll(".tabs button")) { b.classList.toggle("active", b.dataset.tab === name); b.setAttribute("aria-selected", b.dataset.tab === name); }
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== "tab-" + name;
  if (name === "energy") { loadEnergy(); if (!S.forecast) loadForecast(); drawEnergyChart(); }
  if (name === "tonight") drawTimeline();
}

// ------------------------------------------------------------------ sign-in
async function whoami() {
  try { const w = await api("GET", "/api/whoami"); S.who = w.name; S.role = w.role; }
  catch (e) {
    if (e.status === 401 && token) { token = ""; localStorage.removeItem("nightscape-token"); return whoami(); }
    S.who = null; S.role = null;
  }
  renderWho();
  $("sign-in").hidden = !!token;
  $("sign-out").hidden = !token;
}
function renderWho() {
  $("who").textContent = S.who == null ? "" : S.role ? t("signed_in_as", { name: S.who, role: t(S.role) }) : t("public");
}
function setupSignIn() {
  $("sign-in").onclick = () => { $("signin-error").textContent = ""; $("token").value = ""; $("signin").showModal(); };
  $("signin").addEventListener("close", async () => {
    if ($("signin").returnValue !== "ok") return;
    const candidate = $("token").value.trim();
    const prev = token; token = candidate;
    try { await api("GET", "/api/whoami"); }
    catch (e) { token = prev; $("signin-error").textContent = e.status === 401 ? t("bad_token") : t("act_failed", { what: t("what_sign_in"), why: why(e) }); $("signin").showModal(); return; }
    localStorage.setItem("nightscape-token", token);
    await afterAuth();
  });
  $("sign-out").onclick = async () => { token = ""; localStorage.removeItem("nightscape-token"); await afterAuth(); };
}
async function afterAuth() {
  await whoami();
  stripSig = "";
  if (S.site) { renderControls(); startLive(); refresh(); loadNow(); loadSkips().then(renderEntries); }
  else { await loadSite(); refresh(); loadNow(); loadSkips(); }
}

// ------------------------------------------------------------------ start
async function loadSite() {
  try {
    const [site, fixtures, shows] = await Promise.all([api("GET", "/api/site"), api("GET", "/api/fixtures"), api("GET", "/api/shows")]);
    const changed = !S.site || JSON.stringify(site) !== JSON.stringify(S.site);
    S.site = site; S.fixtures = fixtures; S.shows = shows;
    if (S.needToken) setNeedToken(false);
    if (changed) { buildMap(); }
    renderControls();
    paintMap();
    startLive();
    loadTonight(S.preview ? $("preview-date").value : undefined);
  } catch (e) {
    if (e.status === 401) { $("sign-in").hidden = false; setNeedToken(true); }
    else if (!e.status) setConnected(false);
  }
}
// Without a token on a daemon that lets nobody read without one, the page
// says how to get one instead of showing an empty map.
function setNeedToken(on) {
  S.needToken = on;
  document.body.classList.toggle("need-token", on);
  $("need-token").hidden = !on;
  if (!on) return;
  const example = '[api]\nlisten = "127.0.0.1:8080"\ntokens = [\n  { name = "control-room", role = "operator", env = "NIGHTSCAPE_OPERATOR_TOKEN" },\n  { name = "dashboard", role = "viewer", file = "/etc/nightscape/viewer.token" },\n]';
  const b = el("button", { type: "button", id: "need-token-sign-in" }, t("need_token_sign_in"));
  b.onclick = () => $("sign-in").click();
  $("need-token").replaceChildren(el("h2", null, t("need_token_title")), el("p", null, t("need_token_why")), el("p", null, t("need_token_where")),
    el("pre", { class: "mono" }, example), el("p", null, t("need_token_secret")), b);
}
function init() {
  applyLang();
  $("lang").onclick = () => {
    lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("nightscape-lang", lang); applyLang();
    resay(); renderOffline(); renderWho(); if (S.needToken) setNeedToken(true);
    if (S.status) renderStatus(S.status);
    if (S.site) { renderControls(); renderStrip(); renderNowNext(); refresh(); drawTimeline(); drawEnergyChart(); }
  };
  for (const b of document.querySelectorAll(".tabs button")) b.onclick = () => showTab(b.dataset.tab);
  setupMapInput(); setupControls(); setupSignIn(); setupPreview();
  // Legend: what 10/30/100 % warm white look like on the map.
  $("legend-swatches").replaceChildren(...[0.1, 0.3, 1].map((l) => {
    const s = el("span", null, Math.round(l * 100)); s.style.background = displayColor("#" + [255, 200, 128].map((c) => Math.round(c * l).toString(16).padStart(2, "0")).join("")); return s;
  }));
  whoami().then(() => { loadSite(); refresh(); loadNow(); loadSkips(); });
  setInterval(refresh, 1000);
  setInterval(() => { if (S.connected && !S.needToken) loadNow(); }, 3000);
  setInterval(() => { if (!S.preview) loadTonight(); }, 60000);
  // The live stream beats at least once a second: silence means trouble
  // even when the socket has not been closed (a frozen daemon, a cable).
  setInterval(() => { if (S.lastOk && Date.now() - S.lastOk > 2500) setConnected(false); renderOffline(); }, 500);
}
document.addEventListener("DOMContentLoaded", init);
