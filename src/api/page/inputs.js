// The console's view of the site's inputs (the Health tab): each input
// with where it listens and what it received or dropped, each universe a
// console may take over (show, console, releasing, held off by an
// emergency) with its sources, and each timecode source with its last code
// and where a show following it stands. Served after app.js in the same
// script (t, el, $, api, S, lang are its).
"use strict";

const INP = { view: null, sig: "" };

async function loadInputs() {
  try { INP.view = await api("GET", "/api/inputs", undefined, { timeout: 3000 }); } catch (e) { return; }
  renderInputs();
}

function inputChip(state) {
  const cls = state === NAMES.input_state.listening ? "ok" : state === NAMES.input_state.down ? "bad" : "warn";
  return el("span", { class: "chip " + cls }, t("input_" + state));
}

function renderInputs() {
  const ul = $("inputs");
  if (!ul || !INP.view) return;
  const sig = lang + JSON.stringify(INP.view);
  if (sig === INP.sig) return;
  INP.sig = sig;
  const v = INP.view;
  if (!v.inputs.length) { ul.replaceChildren(el("li", { class: "dim" }, t("no_inputs"))); }
  else ul.replaceChildren(...v.inputs.map((i) => {
    const li = el("li", { "data-input": i.name });
    const w = el("span", { class: "what" }, i.name + " · " + i.kind + " · " + i.at);
    const dropped = i.malformed + i.not_allowed + i.refused;
    let tag = t("input_counts", { p: i.packets, ok: i.accepted, bad: dropped });
    if (i.not_allowed) tag += " · " + t("input_not_allowed", { n: i.not_allowed });
    if (i.last_sender) tag += " · " + t("input_last", { from: i.last_sender, s: Math.round(i.last_seen_s || 0) });
    if (i.error) tag += " · " + i.error;
    w.append(el("span", { class: "tag" }, tag));
    li.append(w, inputChip(i.state));
    return li;
  }));
  const uni = $("takeover");
  uni.replaceChildren(...v.universes.map((u) => {
    const li = el("li", { "data-universe": String(u.universe) });
    const w = el("span", { class: "what" }, t("takeover_universe", { u: u.universe, input: u.input, mode: t("merge_" + u.mode) }));
    const src = u.sources.map((s) => (s.winning ? "★ " : "") + (s.name || s.id) + " (" + s.priority + ")").join(", ");
    if (src) w.append(el("span", { class: "tag" }, src));
    const cls = u.state === NAMES.universe_state.show ? "ok" : u.state === NAMES.universe_state.suppressed ? "bad" : "warn";
    li.append(w, el("span", { class: "chip " + cls }, t("takeover_" + u.state)));
    return li;
  }));
  const tc = $("timecode");
  tc.replaceChildren(...v.timecode.map((c) => {
    const li = el("li", { "data-timecode": c.source });
    const w = el("span", { class: "what" }, c.source + " · " + (c.last || "—") + (c.rate ? " @ " + c.rate : ""));
    w.append(el("span", { class: "tag" }, t("timecode_counts", { n: c.codes, j: c.jumps })));
    const st = c.position.state;
    li.append(w, el("span", { class: "chip " + (st === NAMES.timecode_state.locked ? "ok" : st === NAMES.timecode_state.stopped ? "bad" : "warn") }, t("tc_" + st)));
    return li;
  }));
}

document.addEventListener("DOMContentLoaded", () => {
  loadInputs();
  setInterval(() => { if (S.tab === "health" && S.connected && !S.needToken) loadInputs(); }, 1000);
  $("lang").addEventListener("click", () => { INP.sig = ""; renderInputs(); });
});
