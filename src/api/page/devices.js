// The console's Devices tab (device care, RDM): the maintenance list of
// open faults, then every fixture RDM found or missed, in one filterable
// table; faulty fixtures get a red ring on the map. Admins can make a
// fixture identify (flash) or change its DMX address or label, each after
// a confirmation. In a fleet, a switch shows the whole city's list instead
// (every node's devices and faults as the fleet carries them, with the
// node's name, a node filter, and stale lists marked); writes stay with
// "this node". Served after app.js in the same script (t, el, $, api,
// act, confirmDialog, say, why, hms, S, MAP and lang are its).
"use strict";

const DEV = { view: null, faults: null, sig: "", marked: new Set(), filter: "", show: "all",
  // "node" or "fleet"; fleet: whether this controller is in one; me: its name.
  scope: localStorage.getItem("nightscape-devices-scope") || "fleet", fleet: false, fleetKnown: false, me: "", node: "", nodes: [] };

// The scope actually asked: the fleet only when this controller is in one.
function devScope() { return DEV.fleet && DEV.scope === "fleet" ? "fleet" : "node"; }
function devQuery() { return devScope() === "fleet" ? "?scope=fleet" : ""; }

// The maintenance list (small) on every tab for the map's rings; the
// devices (a city's worth) only while their tab is open.
async function loadDevices() {
  const full = S.tab === "devices";
  if (!DEV.fleetKnown) await knowFleet();
  const q = devQuery();
  try {
    const [m, v] = await Promise.all([
      api("GET", "/api/maintenance" + q, undefined, { timeout: 4000 }),
      full ? api("GET", "/api/devices" + q, undefined, { timeout: 8000 }) : Promise.resolve(DEV.view),
    ]);
    if (q !== devQuery()) return; // switched while asking: that answer is for the other scope
    DEV.view = v; DEV.faults = m.faults || []; DEV.nodes = m.nodes || [];
  } catch (e) { return; }
  markFaults();
  if (full) renderDevices();
}

// A red ring around each faulty fixture on the map (stroke in screen
// pixels, so it stays visible at any zoom); the map may have been rebuilt
// since, so every fixture is set each time.
function markFaults() {
  if (!MAP.fx || !DEV.faults) return;
  const now = new Set(DEV.faults.filter((f) => f.fixture).map((f) => f.fixture));
  for (const g of MAP.fx) {
    const on = now.has(g.dataset.fixture);
    if (!on && !g.classList.contains("faulty")) continue;
    for (const c of g.querySelectorAll("circle")) {
      c.style.stroke = on ? "#ff453a" : "";
      c.style.strokeWidth = on ? "3px" : "";
      c.style.vectorEffect = on ? "non-scaling-stroke" : "";
    }
    g.classList.toggle("faulty", on);
  }
}

// The tab's own styles (the page's stylesheet is shared; these belong to
// this view alone).
const DEV_CSS = `
table.devices { width: 100%; border-collapse: collapse; font-size: .85rem; }
table.devices th { text-align: left; color: var(--dim); font-weight: 500; border-bottom: 1px solid var(--line); padding: .25rem .3rem; }
table.devices td { border-bottom: 1px solid var(--line); padding: .3rem; vertical-align: top; }
table.devices tr.row-bad td:first-child { border-left: 3px solid #ff453a; }
table.devices tr.row-warn td:first-child { border-left: 3px solid #d9a400; }
table.devices tr:has(+ tr.actions-row) td { border-bottom: none; }
table.devices td.lamp { white-space: nowrap; text-align: right; font-variant-numeric: tabular-nums; }
table.devices td.state { min-width: 6em; }
table.devices td.actions { padding-top: 0; }
table.devices td.actions button { margin: 0 .3rem .2rem 0; }
.bad-text { color: #ff6b61; }
#maintenance li.fault .what { border-left: 3px solid #ff453a; padding-left: .4rem; }
#tab-devices .filters { display: flex; gap: .4rem; flex-wrap: wrap; align-items: center; }
#tab-devices .filters input { flex: 1; min-width: 8rem; }
@media (max-width: 600px) { table.devices td:nth-child(3), table.devices th:nth-child(3) { display: none; } }
#devices-scope { display: inline-flex; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
#devices-scope button { border: none; border-radius: 0; margin: 0; }
#devices-scope button[aria-pressed=true] { background: var(--accent, #0a84ff); color: #fff; }
#device-nodes { display: flex; flex-wrap: wrap; gap: .3rem .8rem; margin: .4rem 0; padding: 0; list-style: none; }
#device-nodes li.stale, table.devices tr.stale td, #maintenance li.stale { opacity: .6; }
#device-nodes li.stale { color: #d9a400; opacity: 1; }
.node-tag { font-weight: 600; margin-right: .3rem; }
table.devices.fleet th:first-child, table.devices.fleet td.node { white-space: nowrap; }
.stale-tag { color: #d9a400; font-size: .75rem; margin-left: .3rem; }
table.devices.fleet td:nth-child(4), table.devices.fleet th:nth-child(4) { display: none; }
@media (max-width: 600px) { table.devices.fleet td:nth-child(3), table.devices.fleet th:nth-child(3) { display: table-cell; } }
`;
document.head.append(el("style", null, DEV_CSS));

function faultName(kind) { return t("fault_" + kind); }
// A fault's reading in the console's language, from its structured
// `detail` (the daemon's `reading` is English; older daemons and fleet
// peers without `detail` show that).
function readingText(f) {
  const d = f.detail;
  if (!d || !d.kind) return f.reading || "";
  const bound = (v) => (v == null ? "" : String(v));
  switch (d.kind) {
    case "not_in_table": return t("reading_not_in_table");
    case "answers_at": return t("reading_answers_at", { at: addr(d.universe, d.address) });
    case "no_address": return t("reading_no_address");
    case "lamp": {
      const names = { 17: "lamp_doused", 18: "lamp_strike", 68: "dim_failure" };
      const parts = [];
      if (d.state) parts.push(t("reading_lamp_state", { state: t("reading_lamp_" + d.state) }));
      for (const id of d.status || []) {
        parts.push(t("reading_status", { id: "0x" + id.toString(16).padStart(4, "0"), name: t("reading_status_" + (names[id] || "other")) }));
      }
      return parts.join(lang === "zh" ? "，" : ", ");
    }
    case "sensor":
      return t(d.bound === "site_limit" ? "reading_sensor_site" : "reading_sensor_normal",
        { sensor: d.sensor, value: d.value, unit: d.unit, min: bound(d.min), max: bound(d.max) });
    default: return f.reading || "";
  }
}
function patchName(state) { return t("patch_" + state); }
function addr(u, a) { return a == null ? String(u) : u + "." + a; }

// One row per device found and per patched fixture that did not answer,
// with its faults.
function deviceRows() {
  const v = DEV.view;
  if (!v) return [];
  if (v.scope === "fleet") {
    // Every node's devices and missing fixtures; writes only from "this node".
    const faultsOf = (d) => (DEV.faults || []).filter((f) => f.node === d.node && ((d.fixture && f.fixture === d.fixture) || (d.uid && f.uid === d.uid)));
    return v.devices.map((d) => ({
      node: d.node, stale: d.stale, fixture: d.fixture || "", uid: d.uid || "", at: addr(d.universe, d.address),
      model: [d.manufacturer, d.model].filter(Boolean).join(" "), label: d.label || "", lamp: d.lamp_hours ?? null,
      patch: d.patch, fix: d.fix || "", faults: faultsOf(d), device: null,
    }));
  }
  const faultsOf = (fixture, uid) => (DEV.faults || []).filter((f) => (fixture && f.fixture === fixture) || (uid && f.uid === uid));
  const rows = v.devices.map((d) => ({
    fixture: d.fixture || "", uid: d.uid, at: addr(d.site_universe, d.dmx_address), model: [d.manufacturer, d.model].filter(Boolean).join(" "),
    label: d.label || "", lamp: d.lamp_hours, patch: d.patch, fix: d.fix || "", faults: faultsOf(d.fixture, d.uid), device: d,
  }));
  for (const m of v.missing || []) {
    rows.push({ fixture: m.fixture || "", uid: "", at: addr(m.universe, m.address), model: "", label: "", lamp: null, patch: NAMES.patch.missing, fix: m.fix || "", faults: faultsOf(m.fixture, null), device: null });
  }
  return rows;
}

function rowShown(r) {
  if (r.node !== undefined && DEV.node && r.node !== DEV.node) return false;
  if (DEV.show === "faults" && !r.faults.length) return false;
  if (DEV.show === "problems" && r.patch === NAMES.patch.matched && !r.faults.length) return false;
  const q = DEV.filter.trim().toLowerCase();
  if (!q) return true;
  return [r.fixture, r.uid, r.at, r.model, r.label, r.node || ""].some((x) => x.toLowerCase().includes(q));
}

function renderDevices() {
  const box = $("devices-body");
  if (!box) return;
  const sig = lang + S.role + DEV.filter + DEV.show + DEV.node + JSON.stringify(DEV.view) + JSON.stringify(DEV.faults);
  if (sig === DEV.sig) return;
  DEV.sig = sig;
  const v = DEV.view;
  if (!v) { box.replaceChildren(el("p", { class: "dim" }, t("devices_loading"))); return; }
  const fleet = v.scope === "fleet";
  if (!fleet && !v.enabled) { box.replaceChildren(el("p", { class: "dim" }, t("devices_off"))); $("devices-summary").textContent = ""; return; }
  const rows = deviceRows();
  const bad = rows.filter((r) => r.faults.length).length;
  if (fleet) {
    const stale = (v.nodes || []).filter((n) => n.stale).length;
    $("devices-summary").textContent = t("devices_fleet_summary", {
      n: rows.filter((r) => r.patch !== NAMES.patch.missing).length, nodes: (v.nodes || []).length,
      missing: rows.filter((r) => r.patch === NAMES.patch.missing).length, faults: (DEV.faults || []).length,
    }) + (stale ? " · " + t("devices_fleet_stale", { stale }) : "");
  } else {
    $("devices-summary").textContent = t("devices_summary", {
      n: v.devices.length, missing: (v.missing || []).length, faults: (DEV.faults || []).length,
      when: v.last_pass ? hms(Date.parse(v.last_pass)) : t("never"),
    }) + (v.discovering ? " · " + t("devices_discovering") : "");
  }
  fillNodeFilter(fleet ? v.nodes || [] : []);
  // The maintenance list first: what a crew must do.
  const list = el("ul", { class: "list", id: "maintenance" });
  if (!(DEV.faults || []).length) list.append(el("li", { class: "dim" }, t("no_faults")));
  for (const f of DEV.faults || []) {
    const li = el("li", { class: "fault" + (f.stale ? " stale" : ""), "data-fault": f.kind });
    if (fleet) { if (DEV.node && f.node !== DEV.node) continue; li.dataset.node = f.node; li.append(nodeTag(f.node, f.stale)); }
    const w = el("span", { class: "what" }, faultName(f.kind) + ": " + (f.fixture || f.uid || "") + " @ " + addr(f.universe, f.address));
    w.append(el("span", { class: "tag" }, t("since", { at: hms(Date.parse(f.since)) }) + " · " + readingText(f)));
    // The daemon's fix names addresses exactly, in English; other languages
    // get the kind's advice in their own words.
    w.append(el("span", { class: "tag" }, lang === "en" ? f.fix : t("fix_" + f.kind, { who: f.fixture || f.uid || "" })));
    li.append(w);
    list.append(li);
  }
  const table = el("table", { class: fleet ? "devices fleet" : "devices" });
  const head = el("tr");
  for (const k of [...(fleet ? ["col_node"] : []), "col_fixture", "col_address", "col_model", "col_lamp", "col_state"]) head.append(el("th", null, t(k)));
  table.append(el("thead")); table.firstChild.append(head);
  const body = el("tbody");
  let shown = 0;
  for (const r of rows) {
    if (!rowShown(r)) continue;
    shown++;
    const cls = r.faults.length ? "row-bad" : r.patch === NAMES.patch.matched ? "" : "row-warn";
    const tr = el("tr", { class: cls + (r.stale ? " stale" : ""), "data-uid": r.uid, "data-fixture": r.fixture });
    if (fleet) { tr.dataset.node = r.node; const nd = el("td", { class: "node" }); nd.append(nodeTag(r.node, r.stale)); tr.append(nd); }
    const name = el("td", null, r.fixture || t("not_in_site"));
    if (r.uid) name.append(el("div", { class: "dim small mono" }, r.uid + (r.label && r.label !== r.fixture ? " · " + r.label : "")));
    if (fleet && r.model) name.append(el("div", { class: "dim small" }, r.model)); // its column is left out to make room for the node's
    tr.append(name, el("td", { class: "mono" }, r.at), el("td", null, r.model || "–"), el("td", { class: "lamp" }, r.lamp == null ? "–" : r.lamp + " h"));
    const st = el("td", { class: "state" }, patchName(r.patch));
    for (const f of r.faults) st.append(el("div", { class: "small bad-text" }, faultName(f.kind)));
    if (r.fix && r.patch !== NAMES.patch.matched) st.title = r.fix;
    tr.append(st);
    body.append(tr);
    // An admin's writes on a line of their own under the device, so the
    // table keeps its width on a phone.
    if (S.role === NAMES.role.admin && r.device) {
      const td = el("td", { class: "actions", colspan: "5" });
      {
        const id = el("button", { type: "button", class: "small-btn" }, t("identify"));
        id.onclick = () => deviceWrite(r, { what: "identify", on: true }, t("confirm_identify", { who: r.fixture || r.uid }));
        const stop = el("button", { type: "button", class: "small-btn" }, t("identify_off"));
        stop.onclick = () => deviceWrite(r, { what: "identify", on: false }, t("confirm_identify_off", { who: r.fixture || r.uid }));
        const ad = el("button", { type: "button", class: "small-btn" }, t("set_address"));
        ad.onclick = () => {
          const a = prompt(t("prompt_address", { who: r.fixture || r.uid }), r.device.dmx_address || "");
          if (a == null || a.trim() === "") return;
          deviceWrite(r, { what: "address", address: Number(a) }, t("confirm_address", { who: r.fixture || r.uid, address: a }));
        };
        const lb = el("button", { type: "button", class: "small-btn" }, t("set_label"));
        lb.onclick = () => {
          const l = prompt(t("prompt_label", { who: r.fixture || r.uid }), r.device.label || r.fixture || "");
          if (l == null) return;
          deviceWrite(r, { what: "label", label: l }, t("confirm_label", { who: r.fixture || r.uid, label: l }));
        };
        td.append(id, stop, ad, lb);
      }
      const act = el("tr", { class: "actions-row " + cls, "data-actions": r.uid, "data-fixture": r.fixture });
      act.append(td);
      body.append(act);
    }
  }
  table.append(body);
  const parts = [el("h3", null, t("maintenance")), list, el("h3", null, t("devices_table", { n: shown, bad }))];
  if (fleet) parts.unshift(nodeStrip(v.nodes || []));
  parts.push(shown ? table : el("p", { class: "dim" }, t("devices_none_shown")));
  box.replaceChildren(...parts);
}

// Whether this controller is in a fleet (asked once it answers): the
// scope switch is shown only then.
async function knowFleet() {
  try {
    const f = await api("GET", "/api/fleet", undefined, { timeout: 4000 });
    DEV.fleet = !!f.broker; DEV.me = f.node || ""; DEV.fleetKnown = true;
  } catch (e) { return; }
  const seg = $("devices-scope");
  if (!seg) return;
  seg.hidden = !DEV.fleet;
  for (const b of seg.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.scope === devScope()));
}

// A node's name in the fleet view, with "stale" when its list is.
function nodeTag(node, stale) {
  const s = el("span", { class: "node-tag" }, node + (node === DEV.me ? " (" + t("node_this") + ")" : ""));
  if (stale) s.append(el("span", { class: "stale-tag" }, t("stale_tag")));
  return s;
}

// Each node's list: how old, how big, or stale (its node offline or silent).
function nodeStrip(nodes) {
  const ul = el("ul", { id: "device-nodes", class: "small" });
  for (const n of nodes) {
    const age = duration(n.age_s);
    const text = !n.enabled ? t("node_rdm_off", { node: n.node })
      : n.stale ? t("node_stale", { node: n.node, age })
      : t("node_fresh", { node: n.node, n: n.devices_total, faults: n.faults_total, age });
    ul.append(el("li", { class: n.stale ? "stale" : "", "data-node": n.node }, text));
  }
  return ul;
}

// The node filter's choices follow the nodes the fleet answer names.
function fillNodeFilter(nodes) {
  const sel = $("devices-node");
  if (!sel) return;
  sel.hidden = !nodes.length;
  const want = ["", ...nodes.map((n) => n.node)];
  const have = [...sel.options].map((o) => o.value);
  if (want.join("\n") !== have.join("\n") || sel.dataset.lang !== lang) {
    sel.replaceChildren(...want.map((n) => el("option", { value: n }, n || t("devices_all_nodes"))));
    sel.dataset.lang = lang;
  }
  if (!want.includes(DEV.node)) DEV.node = "";
  sel.value = DEV.node;
}

// "This node" / "Whole fleet": shown only on a controller in a fleet.
function setScope(scope) {
  DEV.scope = scope;
  localStorage.setItem("nightscape-devices-scope", scope);
  for (const b of document.querySelectorAll("#devices-scope button")) b.setAttribute("aria-pressed", String(b.dataset.scope === devScope()));
  DEV.view = null; DEV.faults = null; DEV.nodes = []; DEV.sig = "";
  renderDevices();
  loadDevices();
}

async function deviceWrite(r, body, text) {
  const ok = await confirmDialog(t("confirm_device_title"), text, [r.uid + " @ " + r.at], t("confirm_device_ok"));
  if (!ok) return;
  await act("POST", "/api/devices/" + encodeURIComponent(r.uid), Object.assign({ confirm: true }, body), text);
  loadDevices();
}

// CSV for a spreadsheet or the city's platform: fetched with the token,
// handed to the browser as a download.
async function downloadCsv(path, name) {
  try {
    const h = {};
    if (token) h.Authorization = "Bearer " + token;
    const r = await fetch(path, { headers: h });
    if (!r.ok) { const e = new Error(r.statusText); e.status = r.status; throw e; }
    const url = URL.createObjectURL(await r.blob());
    const a = el("a", { href: url, download: name });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { say(() => t("act_failed", { what: name, why: why(e) }), "err"); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("devices-filter").placeholder = t("devices_filter");
  $("lang").addEventListener("click", () => { $("devices-filter").placeholder = t("devices_filter"); });
  $("devices-filter").addEventListener("input", () => { DEV.filter = $("devices-filter").value; renderDevices(); });
  $("devices-show").addEventListener("change", () => { DEV.show = $("devices-show").value; renderDevices(); });
  $("devices-csv").onclick = () => downloadCsv("/api/devices?format=csv" + devQuery().replace("?", "&"), devScope() === "fleet" ? "fleet-devices.csv" : "devices.csv");
  $("maintenance-csv").onclick = () => downloadCsv("/api/maintenance?format=csv" + devQuery().replace("?", "&"), devScope() === "fleet" ? "fleet-maintenance.csv" : "maintenance.csv");
  // The scope switch and the node filter (hidden until the fleet answers).
  const seg = el("div", { id: "devices-scope", role: "group", "data-i18n-label": "devices_scope", "aria-label": t("devices_scope"), hidden: "" });
  for (const sc of ["node", "fleet"]) {
    const b = el("button", { type: "button", class: "small-btn", "data-scope": sc, "data-i18n": "devices_scope_" + sc }, t("devices_scope_" + sc));
    b.onclick = () => setScope(sc);
    seg.append(b);
  }
  $("devices-filter").before(seg);
  const nodeSel = el("select", { id: "devices-node", "data-i18n-label": "devices_node_filter", "aria-label": t("devices_node_filter"), hidden: "" });
  nodeSel.addEventListener("change", () => { DEV.node = nodeSel.value; renderDevices(); });
  $("devices-show").after(nodeSel);
  $("lang").addEventListener("click", () => fillNodeFilter(DEV.view && DEV.view.scope === "fleet" ? DEV.view.nodes || [] : []));

  $("lang").addEventListener("click", () => { DEV.sig = ""; renderDevices(); });
  // After app.js's own handler has switched S.tab.
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => { if (b.dataset.tab === "devices") setTimeout(loadDevices, 0); });
  // The map's rings follow the faults on every tab; the table only when shown.
  setTimeout(loadDevices, 1500);
  setInterval(() => { if (S.connected && !S.needToken && document.visibilityState === "visible") loadDevices(); }, 5000);
});
