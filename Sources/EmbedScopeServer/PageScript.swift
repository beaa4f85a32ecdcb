/// The explorer page's JavaScript (plain ES2017, no library). `window.__es` exposes the page's
/// state for the browser test: what is loaded, where a point is drawn, and errors seen.
enum PageScript {
    static let source = #"""
"use strict";
const $ = (s) => document.querySelector(s);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of kids) if (c != null) e.append(c);
  return e;
};
const PALETTE = ["#1f77b4","#ff7f0e","#2ca02c","#d62728","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf",
  "#aec7e8","#ffbb78","#98df8a","#ff9896","#c5b0d5","#c49c94","#f7b6d2","#c7c7c7","#dbdb8d","#9edae5"];
const S = window.__es = { errors: [], indexes: [], index: null, space: null, method: "pca", proj: null, selectedRow: null,
  panel: null, scatterReady: false, uploadDone: 0, cellDone: 0, hidden: new Set(), compareSel: new Set(), sortKey: "silhouette", sortDir: -1 };
window.addEventListener("error", (e) => S.errors.push(String(e.message || e)));
window.addEventListener("unhandledrejection", (e) => S.errors.push(String(e.reason && e.reason.message || e.reason)));

function status(text, isError) { const s = $("#status"); s.textContent = text || ""; s.className = isError ? "err" : ""; }
async function api(url, opts) {
  const r = await fetch(url, opts);
  const body = await r.json().catch(() => ({ error: { kind: "http", message: r.statusText } }));
  if (!r.ok) { const m = body.error ? body.error.message : r.statusText; const e = new Error(m); e.status = r.status; throw e; }
  return body;
}
const enc = encodeURIComponent;
const idxURL = (rest) => `/api/indexes/${enc(S.index.name)}/${rest}`;
const thumbURL = (row, size) => idxURL(`thumbs/${row}?size=${size || 96}`);
const fmt = (v, d = 4) => v == null ? "—" : (Math.abs(v) >= 1000 ? v.toFixed(1) : v.toFixed(d));

// ---------- tabs, pickers ----------
for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.id === name);
  S.tab = name;
  if (name === "explorer") loadProjection();
  if (name === "prototypes") loadPrototypes();
  if (name === "evaluation") loadEvaluation();
}
$("#index").addEventListener("change", () => selectIndex($("#index").value));
$("#space").addEventListener("change", () => { S.space = $("#space").value; S.proj = null; if (S.tab === "explorer") loadProjection(); if (S.selectedRow != null) openRow(S.selectedRow); });
$("#method").addEventListener("change", () => { S.method = $("#method").value; S.proj = null; loadProjection(); });
$("#classFilter").addEventListener("change", draw);
$("#pathFilter").addEventListener("input", draw);

async function init() {
  try {
    const r = await api("/api/indexes");
    S.indexes = r.indexes;
    if (!S.indexes.length) { status("no indexes found: build one (embedscope demo) into the served folder", true); return; }
    $("#index").replaceChildren(...S.indexes.map((i) => el("option", { value: i.name, text: i.name })));
    renderOverview();
    selectIndex(S.indexes[0].name);
  } catch (e) { status(e.message, true); }
}

function selectIndex(name) {
  S.index = S.indexes.find((i) => i.name === name);
  $("#index").value = name;
  const spaces = S.index.spaces.map((s) => s.name);
  S.space = spaces.includes("embedding") ? "embedding" : spaces[0];
  $("#space").replaceChildren(...spaces.map((s) => el("option", { value: s, text: `${s} (${S.index.spaces.find((x) => x.name === s).dim})` })));
  $("#space").value = S.space;
  $("#classFilter").replaceChildren(el("option", { value: "", text: "all classes" }), ...S.index.classes.map((c) => el("option", { value: c.name, text: `${c.name} (${c.count})` })));
  const sets = S.index.prototypeSets.map((p) => p.name);
  for (const id of ["#protoSet", "#evalSet"]) $(id).replaceChildren(...sets.map((s) => el("option", { value: s, text: s })));
  S.proj = null; S.selectedRow = null; S.rowInfo = null; S.hidden.clear();
  $("#panel").replaceChildren(el("p", { class: "hint", text: "Hover a point to see its image; click it for its neighbours." }));
  for (const c of document.querySelectorAll(".card")) c.classList.toggle("selected", c.dataset.name === name);
  if (S.tab && S.tab !== "overview") showTab(S.tab);
}

// ---------- overview ----------
const COLS = [["index", "index"], ["space", "space"], ["model", "model"], ["weights", "weights"], ["epoch", "epoch"], ["globalStep", "step"], ["samples", "rows"], ["classes", "classes"], ["dim", "dim"],
  ["silhouette", "silhouette"], ["daviesBouldin", "Davies–Bouldin"], ["calinskiHarabasz", "Calinski–Harabasz"], ["precisionAtK", "precision@k"], ["knnAccuracy", "k-NN acc."], ["probeAccuracy", "probe acc."]];
function renderOverview() {
  $("#cards").replaceChildren(...S.indexes.map((i) => {
    const dl = el("dl");
    const add = (k, v) => dl.append(el("dt", { text: k }), el("dd", { text: v }));
    add("rows", String(i.rows)); add("classes", String(i.classes.length));
    add("spaces", i.spaces.map((s) => `${s.name} ${s.dim}`).join(", "));
    add("model", i.model || i.spaces.map((s) => s.model).join(", ")); if (i.weights) add("weights", i.weights);
    add("prototype sets", i.prototypeSets.map((p) => p.name).join(", ") || "—");
    for (const m of i.metrics) add(`${m.space}`, `sil ${fmt(m.silhouette, 3)} · DB ${fmt(m.daviesBouldin, 2)} · CH ${fmt(m.calinskiHarabasz, 0)}` +
      (m.precisionAtK != null ? ` · P@${m.k} ${fmt(m.precisionAtK, 3)}` : "") + (m.probeAccuracy != null ? ` · probe ${fmt(m.probeAccuracy, 3)}` : ""));
    return el("div", { class: "card", "data-name": i.name, onclick: () => { selectIndex(i.name); showTab("explorer"); } }, el("h3", { text: i.name }), dl);
  }));
  renderCompare();
}
function renderCompare() {
  const rows = S.indexes.flatMap((i) => i.metrics);
  const k = S.sortKey, dir = S.sortDir;
  rows.sort((a, b) => {
    const x = a[k], y = b[k];
    if (x == null && y == null) return 0; if (x == null) return 1; if (y == null) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
  $("#compare thead").replaceChildren(el("tr", {}, el("th", { text: "" }), ...COLS.map(([key, label]) =>
    el("th", { text: label + (key === k ? (dir < 0 ? " ▼" : " ▲") : ""), onclick: () => { S.sortDir = S.sortKey === key ? -S.sortDir : (key === "daviesBouldin" ? 1 : -1); S.sortKey = key; renderCompare(); } }))));
  $("#compare tbody").replaceChildren(...rows.map((r) => {
    const id = `${r.index}\u0000${r.space}`;
    const box = el("input", { type: "checkbox" }); box.checked = S.compareSel.has(id);
    box.addEventListener("change", () => { box.checked ? S.compareSel.add(id) : S.compareSel.delete(id); renderCompare(); perClass(); });
    const tr = el("tr", { class: S.compareSel.has(id) ? "selected" : "" }, el("td", {}, box), ...COLS.map(([key]) => {
      const v = r[key]; return el("td", { text: typeof v === "number" ? (Number.isInteger(v) ? String(v) : fmt(v, key === "calinskiHarabasz" ? 1 : 4)) : (v == null ? "—" : String(v)) });
    }));
    return tr;
  }));
}
async function perClass() {
  const out = $("#perclass");
  const sel = [...S.compareSel].map((s) => s.split("\u0000"));
  if (sel.length < 2) { out.replaceChildren(sel.length ? el("p", { class: "hint", text: "Tick one more row to compare per class." }) : ""); return; }
  out.replaceChildren(el("p", { class: "hint", text: "computing per-class silhouettes…" }));
  try {
    const reps = await Promise.all(sel.map(([i, s]) => api(`/api/indexes/${enc(i)}/metrics?space=${enc(s)}`)));
    const names = [...new Set(reps.flatMap((r) => r.perClass.map((c) => c.name)))];
    const head = el("tr", {}, el("th", { text: "class" }), ...sel.map(([i, s]) => el("th", { text: `${i} · ${s}` })), ...sel.slice(1).map(([i, s]) => el("th", { text: `Δ ${i} · ${s}` })));
    const body = names.map((n) => {
      const v = reps.map((r) => { const c = r.perClass.find((c) => c.name === n); return c ? c.silhouette : null; });
      return el("tr", {}, el("td", { text: n }), ...v.map((x) => el("td", { text: fmt(x, 3) })), ...v.slice(1).map((x) => {
        const d = x != null && v[0] != null ? x - v[0] : null;
        return el("td", { class: "delta " + (d > 0 ? "up" : d < 0 ? "down" : ""), text: d == null ? "—" : (d > 0 ? "+" : "") + d.toFixed(3) });
      }));
    });
    out.replaceChildren(el("h2", {}, "Per-class silhouette ", el("small", { text: "Δ against the first ticked row: green = that class separates better" })),
      el("table", { class: "table bars" }, el("thead", {}, head), el("tbody", {}, ...body)));
  } catch (e) { out.replaceChildren(el("p", { class: "err", text: e.message })); }
}

// ---------- explorer ----------
const canvas = $("#scatter"), ctx = canvas.getContext("2d");
let view = null, grid = null;
async function loadProjection() {
  if (!S.index) return;
  const key = `${S.index.name}|${S.space}|${S.method}`;
  if (S.proj && S.proj.key === key) { draw(); return; }
  S.scatterReady = false;
  status(`projecting ${S.space} (${S.method.toUpperCase()})…`);
  try {
    const p = await api(idxURL(`projection?space=${enc(S.space)}&method=${S.method}`));
    if (key !== `${S.index.name}|${S.space}|${S.method}`) return;
    p.key = key; p.classIndex = new Map(S.index.classes.map((c, i) => [c.name, i]));
    S.rowInfo = new Map(p.points.map((q) => [q.row, q]));
    S.proj = p; status("");
    $("#axes").textContent = p.axisLabels.join(" · ");
    $("#legend").replaceChildren(...S.index.classes.map((c, i) => {
      const s = el("span", { class: S.hidden.has(c.name) ? "off" : "", onclick: () => { S.hidden.has(c.name) ? S.hidden.delete(c.name) : S.hidden.add(c.name); s.classList.toggle("off"); draw(); } },
        el("i", { style: `background:${PALETTE[i % 20]}` }), c.name);
      return s;
    }));
    draw();
  } catch (e) { status(e.message, true); }
}
function visible(pt) {
  const cf = $("#classFilter").value, pf = $("#pathFilter").value.trim().toLowerCase();
  return !S.hidden.has(pt.class) && (!cf || pt.class === cf) && (!pf || (pt.path || "").toLowerCase().includes(pf));
}
function draw() {
  const p = S.proj; if (!p) return;
  const dpr = window.devicePixelRatio || 1, W = 760, H = 560;
  canvas.width = W * dpr; canvas.height = H * dpr; canvas.style.width = W + "px"; canvas.style.height = H + "px";
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const pt of p.points) { if (pt.x < x0) x0 = pt.x; if (pt.x > x1) x1 = pt.x; if (pt.y < y0) y0 = pt.y; if (pt.y > y1) y1 = pt.y; }
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; } if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  const m = 28;
  view = { sx: (W - 2 * m) / (x1 - x0), sy: (H - 2 * m) / (y1 - y0), x0, y1, m, W, H };
  ctx.strokeStyle = "#e3e7ec"; ctx.lineWidth = 1;
  if (x0 < 0 && x1 > 0) { const zx = px(0); ctx.beginPath(); ctx.moveTo(zx, m); ctx.lineTo(zx, H - m); ctx.stroke(); }
  if (y0 < 0 && y1 > 0) { const zy = py(0); ctx.beginPath(); ctx.moveTo(m, zy); ctx.lineTo(W - m, zy); ctx.stroke(); }
  ctx.fillStyle = "#5f6b7a"; ctx.font = "11px DejaVu Sans, sans-serif";
  ctx.fillText(p.axisLabels[0] || "", m, H - 8);
  if (p.axisLabels[1]) { ctx.save(); ctx.translate(12, H - m); ctx.rotate(-Math.PI / 2); ctx.fillText(p.axisLabels[1], 0, 0); ctx.restore(); }
  const r = p.points.length > 20000 ? 1 : p.points.length > 2000 ? 1.5 : 3;
  const cell = 12; grid = new Map();
  for (const pt of p.points) {
    if (!visible(pt)) continue;
    const X = px(pt.x), Y = py(pt.y);
    ctx.fillStyle = PALETTE[(p.classIndex.get(pt.class) || 0) % 20];
    if (r <= 1.5) ctx.fillRect(X - r, Y - r, 2 * r, 2 * r); else { ctx.beginPath(); ctx.arc(X, Y, r, 0, 6.2832); ctx.fill(); }
    const g = `${Math.floor(X / cell)},${Math.floor(Y / cell)}`; (grid.get(g) || grid.set(g, []).get(g)).push(pt);
  }
  if (S.selectedRow != null) {
    const pt = p.points.find((q) => q.row === S.selectedRow);
    if (pt) { ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(px(pt.x), py(pt.y), 7, 0, 6.2832); ctx.stroke(); }
  }
  S.scatterReady = true;
}
const px = (x) => view.m + (x - view.x0) * view.sx;
const py = (y) => view.m + (view.y1 - y) * view.sy;
/// Where a row is drawn, in CSS pixels from the canvas's top-left corner (for the browser test).
S.pointPosition = (row) => { const pt = S.proj && S.proj.points.find((q) => q.row === row); return pt ? { x: px(pt.x), y: py(pt.y) } : null; };
function pick(ev) {
  if (!grid) return null;
  const b = canvas.getBoundingClientRect(), X = ev.clientX - b.left, Y = ev.clientY - b.top, cell = 12;
  let best = null, bd = 100;
  for (let i = -1; i <= 1; i++) for (let j = -1; j <= 1; j++) {
    for (const pt of grid.get(`${Math.floor(X / cell) + i},${Math.floor(Y / cell) + j}`) || []) {
      const d = (px(pt.x) - X) ** 2 + (py(pt.y) - Y) ** 2; if (d < bd) { bd = d; best = pt; }
    }
  }
  return best ? { pt: best, X, Y } : null;
}
let hoverRow = null;
canvas.addEventListener("mousemove", (ev) => {
  const h = pick(ev), box = $("#hover");
  if (!h) { box.classList.add("hidden"); hoverRow = null; return; }
  if (hoverRow !== h.pt.row) {
    hoverRow = h.pt.row;
    box.querySelector("img").src = thumbURL(h.pt.row, 96);
    box.querySelector(".cap").textContent = `#${h.pt.row} ${h.pt.class} — ${h.pt.path || ""}`;
  }
  box.style.left = Math.min(h.X + 14, 760 - 190) + "px"; box.style.top = Math.min(h.Y + 14, 560 - 150) + "px";
  box.classList.remove("hidden");
});
canvas.addEventListener("mouseleave", () => $("#hover").classList.add("hidden"));
canvas.addEventListener("click", (ev) => { const h = pick(ev); if (h) openRow(h.pt.row); });

function tile(r, queryClass, onclick) {
  const same = queryClass != null && r.class === queryClass;
  return el("div", { class: "tile " + (queryClass == null ? "" : same ? "same" : "other"), "data-row": String(r.row), title: `${r.path}\n${r.class}\nrow ${r.row}`,
    onclick: onclick || (() => openRow(r.row)) },
    el("img", { src: thumbURL(r.row, 96), alt: r.class, loading: "lazy" }),
    el("div", { class: "c", text: r.class }), el("div", { text: r.score != null ? r.score.toFixed(4) : "" }));
}
async function openRow(row) {
  S.selectedRow = row; S.panel = null; draw();
  const k = Math.max(1, Math.min(100, parseInt($("#kInput").value, 10) || 8));
  const spaces = S.index.spaces.map((s) => s.name), other = spaces.find((s) => s !== S.space);
  const panel = $("#panel"); panel.dataset.state = "loading"; panel.dataset.row = String(row);
  try {
    const q = (space, far) => api(idxURL(`query?row=${row}&k=${k}&space=${enc(space)}${far ? "&farthest=true" : ""}`));
    const jobs = [q(S.space, false), q(S.space, true)];
    if (other) jobs.push(q(other, false), q(other, true));
    jobs.push(S.index.prototypeSets.length ? api(idxURL(`prototypes?row=${row}&k=5`)) : Promise.resolve({ sets: [] }));
    const [near, far, onear, ofar, protos] = await Promise.all(other ? jobs : [jobs[0], jobs[1], null, null, jobs[2]]);
    if (S.selectedRow !== row) return;
    const pt = S.rowInfo && S.rowInfo.get(row);
    const cls = pt ? pt.class : (near.results[0] || {}).class;
    const block = (title, res, space) => el("div", { class: "block", "data-space": space, "data-kind": title.startsWith("nearest") ? "nearest" : "farthest" },
      el("h3", { text: `${title} · ${space}` }), el("div", { class: "grid" }, ...res.results.map((r) => tile(r, cls))));
    const protoList = protos.sets.map((s) => el("div", {}, el("b", { text: `${s.set}: ` }), s.top.map((t) => `${t.name} ${t.logit.toFixed(2)}`).join(" · ")));
    panel.replaceChildren(
      el("div", { class: "query" }, el("img", { src: thumbURL(row, 160), alt: cls || "" }),
        el("div", {}, el("div", {}, el("b", { text: `row ${row}` })), el("div", { text: cls || "" }), el("div", { class: "hint", text: pt && pt.path || "" }),
          el("a", { href: idxURL(`images/${row}`), target: "_blank", text: "original" }), ...protoList)),
      el("p", { class: "hint", text: "Frames: green = same class as the query, red = another class; the number is the cosine." }),
      el("div", { class: other ? "cols" : "" }, el("div", {}, block(`nearest ${k}`, near, S.space), block(`farthest ${k}`, far, S.space)),
        other ? el("div", {}, block(`nearest ${k}`, onear, other), block(`farthest ${k}`, ofar, other)) : null));
    S.panel = { row, space: S.space, nearest: near.results.map((r) => r.row), farthest: far.results.map((r) => r.row) };
    panel.dataset.state = "ready";
  } catch (e) { panel.replaceChildren(el("p", { class: "err", text: e.message })); panel.dataset.state = "error"; }
}

// ---------- prototypes ----------
$("#protoSet").addEventListener("change", loadPrototypes);
$("#protoName").addEventListener("change", loadPrototypeGrids);
$("#protoK").addEventListener("change", loadPrototypeGrids);
let protoNames = {};
async function loadPrototypes() {
  const set = $("#protoSet").value;
  if (!set) { $("#protoMost").replaceChildren(el("p", { class: "hint", text: "This index has no prototype sets (import a classifier head, or run embedscope probe)." })); $("#protoLeast").replaceChildren(); return; }
  const info = S.index.prototypeSets.find((p) => p.name === set);
  // Class names first (they exist as prototypes in heads trained on these classes), then the set's sample.
  const names = [...new Set([...S.index.classes.map((c) => c.name).filter((n) => !info || info.count > 0), ...(info ? info.sample : [])])];
  if (protoNames.set !== set) {
    $("#protoName").replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
    protoNames = { set };
  }
  loadPrototypeGrids();
}
async function loadPrototypeGrids() {
  const set = $("#protoSet").value, name = $("#protoName").value, k = Math.max(1, Math.min(200, parseInt($("#protoK").value, 10) || 24));
  if (!set || !name) return;
  try {
    const [most, least] = await Promise.all([false, true].map((l) => api(idxURL(`rank?set=${enc(set)}&prototype=${enc(name)}&k=${k}${l ? "&least=true" : ""}`))));
    $("#protoMost").replaceChildren(...most.results.map((r) => tile(r, name)));
    $("#protoLeast").replaceChildren(...least.results.map((r) => tile(r, name)));
  } catch (e) { $("#protoMost").replaceChildren(el("p", { class: "err", text: e.message })); $("#protoLeast").replaceChildren(); }
}

// ---------- evaluation ----------
$("#evalSet").addEventListener("change", loadEvaluation);
async function loadEvaluation() {
  const set = $("#evalSet").value;
  const table = $("#confusion");
  table.dataset.state = "loading";
  if (!set) { table.replaceChildren(); $("#evalSummary").textContent = "This index has no prototype sets."; return; }
  try {
    const e = await api(idxURL(`evaluate?set=${enc(set)}&lowest=24`));
    const c = e.classification, L = c.labels, M = c.confusion;
    $("#evalSummary").textContent = `${e.evaluatedRows} of ${e.rows} rows · accuracy ${(100 * c.accuracy).toFixed(1)}% · mean margin ${e.meanMargin.toFixed(3)}`;
    const max = Math.max(1, ...M.map((r, i) => Math.max(...r.map((v, j) => i === j ? 0 : v))));
    const diag = Math.max(1, ...M.map((r, i) => r[i]));
    table.replaceChildren(el("tr", {}, el("th", { text: "" }), ...L.map((n) => el("th", { class: "colh", text: n }))),
      ...M.map((r, i) => el("tr", {}, el("th", { class: "rowh", text: L[i] }), ...r.map((v, j) => {
        const a = i === j ? v / diag : v / max;
        const bg = i === j ? `rgba(46,157,79,${0.1 + 0.8 * a})` : `rgba(208,67,58,${v ? 0.08 + 0.8 * a : 0})`;
        return el("td", { "data-true": L[i], "data-pred": L[j], style: `background:${bg}`, text: String(v), onclick: (ev) => openCell(set, L[i], L[j], ev.currentTarget) });
      }))));
    $("#lowest").replaceChildren(...e.lowestMargins.map((m) => {
      const t = tile({ row: m.row, path: m.path, class: `${m.class} → ${m.predicted}`, score: m.margin }, null);
      t.classList.add(m.class === m.predicted ? "same" : "other"); return t;
    }));
    table.dataset.state = "ready";
  } catch (err) { table.replaceChildren(); $("#evalSummary").textContent = err.message; table.dataset.state = "error"; }
}
async function openCell(set, t, p, td) {
  for (const x of document.querySelectorAll(".confusion td.sel")) x.classList.remove("sel");
  td.classList.add("sel");
  const box = $("#cell"); box.dataset.state = "loading";
  try {
    const r = await api(idxURL(`evaluate/cell?set=${enc(set)}&true=${enc(t)}&predicted=${enc(p)}&k=60`));
    box.replaceChildren(el("h3", { text: `true ${t} · predicted ${p}: ${r.count} images` }),
      el("p", { class: "hint", text: "score: predicted logit − own-class logit (0 when correct); most confident first" }),
      el("div", { class: "grid" }, ...r.results.map((x) => tile(x, t))));
    box.dataset.state = "ready"; box.dataset.count = String(r.results.length); S.cellDone++;
  } catch (e) { box.replaceChildren(el("p", { class: "err", text: e.message })); box.dataset.state = "error"; }
}

// ---------- query by image ----------
const drop = $("#drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]); });
$("#file").addEventListener("change", (e) => { if (e.target.files[0]) upload(e.target.files[0]); });
async function upload(file) {
  const out = $("#uploadResults"); out.dataset.state = "loading";
  out.replaceChildren(el("p", { class: "hint", text: `searching with ${file.name}…` }));
  // A new image can be put in the pixel space, and in the embedding space when the index has a native model.
  const spaces = S.index.spaces.map((s) => s.name).filter((s) => s === "pixel" || (s === "embedding" && S.index.model));
  if (!spaces.length) { out.replaceChildren(el("p", { class: "err", text: "This index has no pixel space and no native model: a new image cannot be placed in it." })); out.dataset.state = "error"; return; }
  const k = Math.max(1, Math.min(100, parseInt($("#kInput").value, 10) || 8));
  try {
    const blocks = [el("div", { class: "query" }, el("img", { src: URL.createObjectURL(file), alt: file.name }), el("div", { text: file.name }))];
    for (const s of spaces) {
      const [near, far] = await Promise.all([false, true].map((f) => api(idxURL(`query?space=${enc(s)}&k=${k}${f ? "&farthest=true" : ""}`), { method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } })));
      blocks.push(el("div", { class: "block", "data-space": s }, el("h3", { text: `nearest ${k} · ${s}` }), el("div", { class: "grid" }, ...near.results.map((r) => tile(r, null))),
        el("h3", { text: `farthest ${k} · ${s}` }), el("div", { class: "grid" }, ...far.results.map((r) => tile(r, null)))));
      out.dataset[`rows_${s}`] = near.results.map((r) => r.row).join(",");
    }
    out.replaceChildren(...blocks); out.dataset.state = "ready"; S.uploadDone++;
  } catch (e) { out.replaceChildren(el("p", { class: "err", text: e.message })); out.dataset.state = "error"; }
}

init();
"""#
}
