// The console's Facades tab: each surface of the site (a facade, a plaza
// floor) drawn as an elevation — u to the right, v up, as the building is
// seen — with every pixel coloured from the live stream, so a media layer
// reads as the picture it plays, not as a line of dots in plan. Served
// after app.js in the same script (t, el, $, api, S and lang are its).
"use strict";

const FACADE = { view: null, cells: [], drawn: false };

async function loadFacades() {
  try {
    FACADE.view = await api("GET", "/api/surfaces", undefined, { timeout: 4000 });
  } catch (e) { return; }
  drawFacades();
}

// The spacing of cells along one axis (a grid's pitch; 1 m when alone).
function facadePitch(values) {
  const v = [...new Set(values.map((x) => Math.round(x * 100)))].sort((a, b) => a - b);
  if (v.length < 2) return 1;
  return (v[v.length - 1] - v[0]) / 100 / (v.length - 1);
}

function drawFacades() {
  const body = $("facades-body");
  if (!body || !FACADE.view) return;
  body.textContent = "";
  FACADE.cells = [];
  const list = FACADE.view.surfaces || [];
  if (!list.length) { body.append(el("p", { class: "small" }, t("facades_none"))); return; }
  for (const s of list) {
    const all = s.fixtures.flatMap((f) => f.cells);
    const pu = facadePitch(all.map((c) => c[0])), pv = facadePitch(all.map((c) => c[1]));
    const fig = el("figure", { class: "facade" });
    fig.append(el("figcaption", { class: "small" }, t("facade_caption", { name: s.name, w: s.width, h: s.height, n: s.fixtures.length })));
    // SVG y grows downwards: v is drawn as height − v so up is up.
    const svg = el("svg:svg", { viewBox: `0 0 ${s.width} ${s.height}`, class: "facade-elevation", role: "img", "aria-label": s.name, preserveAspectRatio: "xMidYMid meet" });
    svg.append(el("svg:rect", { x: 0, y: 0, width: s.width, height: s.height, fill: "#05070a", stroke: "#2a3340", "stroke-width": Math.max(s.width, s.height) / 400 }));
    for (const f of s.fixtures) {
      const rects = [];
      for (const c of f.cells) {
        const r = el("svg:rect", { x: c[0] - pu / 2, y: s.height - c[1] - pv / 2, width: pu * 0.92, height: pv * 0.92, fill: "#10151d" });
        svg.append(r); rects.push(r);
      }
      FACADE.cells.push({ index: f.index, rects });
    }
    fig.append(svg);
    body.append(fig);
  }
  FACADE.drawn = true;
  paintFacades();
}

// Colours from the live stream: a pixel fixture's cells, else its one colour.
function paintFacades() {
  if (!FACADE.drawn || S.tab !== "facades") return;
  for (const f of FACADE.cells) {
    const cells = S.liveCells[f.index] && S.liveCells[f.index].length ? S.liveCells[f.index] : null;
    for (let k = 0; k < f.rects.length; k++) {
      const hex = cells ? cells[k] : S.live[f.index];
      f.rects[k].setAttribute("fill", hex || "#10151d");
    }
  }
}

const FACADE_CSS = `
figure.facade { margin: 0 0 .8rem 0; }
svg.facade-elevation { width: 100%; max-height: 60vh; background: #05070a; display: block; }
`;

document.addEventListener("DOMContentLoaded", () => {
  const style = document.createElement("style");
  style.textContent = FACADE_CSS;
  document.head.append(style);
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => { if (b.dataset.tab === "facades") { if (FACADE.view) drawFacades(); else loadFacades(); } });
  $("lang").addEventListener("click", () => { if (FACADE.view) drawFacades(); });
  setTimeout(loadFacades, 1200);
  // The live stream updates S ten times a second; the elevation follows.
  setInterval(paintFacades, 100);
});
