// The console's list of triggers (the Health tab): each [[triggers]] rule
// of the site with what sets it off, its actions and when it last fired;
// an HTTP trigger has a Fire button for operators. Times are the site's
// wall clock, as the header's. Served after app.js in the same script (t,
// el, $, api, act, canControl and S are its).
"use strict";

const TRIG = { list: null, sig: "" };

async function loadTriggers() {
  try { TRIG.list = await api("GET", "/api/triggers", undefined, { timeout: 3000 }); }
  catch (e) { if (e.status === 503) TRIG.list = []; return; }
  renderTriggers();
}

function triggerOn(tr) {
  const kind = t("trigger_on_" + tr.on);
  return tr.detail ? kind + " " + tr.detail : kind;
}

function renderTriggers() {
  const ul = $("triggers");
  if (!ul || !TRIG.list) return;
  // Redraw only on change: a button under the pointer must stay put.
  const sig = lang + canControl() + JSON.stringify(TRIG.list);
  if (sig === TRIG.sig) return;
  TRIG.sig = sig;
  if (!TRIG.list.length) { ul.replaceChildren(el("li", { class: "dim" }, t("no_triggers"))); return; }
  ul.replaceChildren(...TRIG.list.map((tr) => {
    const li = el("li", { "data-trigger": tr.name });
    const w = el("span", { class: "what" }, tr.name);
    w.append(el("span", { class: "tag" }, triggerOn(tr) + " → " + tr.actions.join(", ")));
    const last = tr.last_fired ? t("trigger_last", { at: tr.last_fired_local, n: tr.fired }) : t("trigger_never");
    const refused = tr.limited + tr.not_now;
    w.append(el("span", { class: "tag" }, last + (refused ? " · " + t("trigger_refused", { n: refused, why: tr.last_refusal || "" }) : "")));
    li.append(w);
    if (tr.on === NAMES.trigger_on.http && canControl()) {
      const b = el("button", { type: "button", class: "small-btn" }, t("trigger_fire"));
      b.onclick = async () => {
        await act("POST", "/api/triggers/" + encodeURIComponent(tr.name), undefined, tt("trigger_what", { name: tr.name }));
        loadTriggers();
      };
      li.append(b);
    }
    return li;
  }));
}

document.addEventListener("DOMContentLoaded", () => {
  loadTriggers();
  setInterval(() => { if (S.tab === "health" && S.connected && !S.needToken) loadTriggers(); }, 2000);
  $("lang").addEventListener("click", () => { TRIG.sig = ""; renderTriggers(); });
});
