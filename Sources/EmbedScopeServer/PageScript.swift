/// The explorer page's JavaScript (plain ES2017, no library). `window.__es` exposes the page's
/// state for the browser test: what is loaded, where a point is drawn, and errors seen.
enum PageScript {
    static let source = #"""
"use strict";
const $ = (s) => document.querySelector(s);
// Text shown to the user with each bidirectional control (ALM, LRM, RLM, U+202A–U+202E, U+2066–U+2069)
// written as \u{202E}, as the report and the CLI show it: a class named "cat\u{202E}gpj.exe" would
// otherwise read "catexe.jpg". Only what is displayed: values, data-* and URLs keep the exact names.
const showText = (s) => typeof s === "string"
  ? s.replace(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g, (c) => `\\u{${c.charCodeAt(0).toString(16).toUpperCase()}}`) : s;
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = showText(v); else if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, k === "title" || k === "alt" ? showText(v) : v);
  }
  for (const c of kids) if (c != null) e.append(showText(c));
  return e;
};
const PALETTE = ["#1f77b4","#ff7f0e","#2ca02c","#d62728","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf",
  "#aec7e8","#ffbb78","#98df8a","#ff9896","#c5b0d5","#c49c94","#f7b6d2","#c7c7c7","#dbdb8d","#9edae5"];
/** Class i's colour: the 20 of the palette, then hues 137.5° apart at two lightnesses (60 classes
 *  shared 20 colours: classes 0, 20 and 40 were one). */
function classColour(i) {
  if (i < PALETTE.length) return PALETTE[i];
  const h = ((i - PALETTE.length) * 137.508) % 360, l = (i % 2 ? 0.38 : 0.58), s = 0.62;
  const f = (n) => { const k = (n + h / 30) % 12, a = s * Math.min(l, 1 - l); return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)))); };
  return "#" + [f(0), f(8), f(4)].map((v) => v.toString(16).padStart(2, "0")).join("");
}
const S = window.__es = { errors: [], indexes: [], index: null, space: null, method: "pca", proj: null, selectedRow: null,
  panel: null, scatterReady: false, selection: [], selectionIdx: [], lastCSV: null, perClass: null, uploadDone: 0, cellDone: 0, hidden: new Set(), compareSel: new Set(), sortKey: "silhouette", sortDir: -1 };
window.addEventListener("error", (e) => S.errors.push(String(e.message || e)));
window.addEventListener("unhandledrejection", (e) => S.errors.push(String(e.reason && e.reason.message || e.reason)));

// A notice (the index changed on disk and was reloaded) stays in the status line until another index is picked.
function status(text, isError) { const s = $("#status"); s.textContent = showText(text || S.notice || ""); s.className = isError ? "err" : ""; }
async function api(url, opts) {
  // The index this request is about, as the page showed it when asking: the answer is checked
  // against that index's generation, and only while it is still the one shown (picking `big` then
  // `two` compared big's answer with two's generation: a false "changed on disk: reloaded").
  const asked = S.index, mine = asked ? idxURL("") : null;
  const r = await fetch(url, opts);
  const body = await r.json().catch(() => ({ error: { kind: "http", message: r.statusText } }));
  const current = () => mine && url.startsWith(mine) && S.index === asked;
  if (!r.ok) {
    // An error about the shown index may mean it changed or is gone (a row past the new end, a
    // 404 for the index): ask the list, and reload it if so, rather than leave the page on it.
    if (current() && [404, 409, 500].includes(r.status)) await generationCheck();
    const m = body.error ? body.error.message : r.statusText; const e = new Error(m); e.status = r.status; throw e;
  }
  // Every answer about one index names its generation: one from another generation than the page
  // shows (the index was rebuilt while the page was open) is not mixed in; the index is reloaded.
  const gen = r.headers.get("X-EmbedScope-Generation");
  if (gen && current() && asked.generation && gen !== asked.generation) {
    const name = S.index.name;
    await indexChanged(name);
    throw new Error(`index '${name}' changed on disk (rebuilt?) while this page showed it: reloaded it, try again`);
  }
  return body;
}
/** Reloads the index list after an index changed on disk, and shows that index (or the first) anew. */
async function indexChanged(name) {
  if (S.reloading) return S.reloading;
  S.reloading = (async () => {
    const r = await (await fetch("/api/indexes", { cache: "no-store" })).json();
    S.indexes = r.indexes || [];
    $("#index").replaceChildren(...S.indexes.map((i) => el("option", { value: i.name, text: i.name })));
    renderOverview();
    const keep = S.indexes.some((i) => i.name === name) ? name : (S.indexes[0] || {}).name;
    if (keep) selectIndex(keep);
    S.notice = keep === name ? `index '${name}' changed on disk: reloaded` : `index '${name}' is gone`;
    status(S.notice, keep !== name);
    S.reloads = (S.reloads || 0) + 1;
  })().finally(() => { S.reloading = null; });
  return S.reloading;
}
/** Whether the shown index changed on disk or is gone; reloads it if so. */
async function generationCheck(throttled) {
  if (!S.index || S.reloading) return;
  // One check at a time; for a failed image at most one every 5 s: every missing image of an
  // imported index asks (24 tiles made 24 requests for the whole list, each 0.3–0.9 s on a big
  // server). An error answer from the API always checks.
  const now = Date.now();
  if (S.checking) return S.checking;
  if (throttled && S.lastCheck && now - S.lastCheck < 5000) return;
  S.lastCheck = now;
  S.checking = (async () => { try { await generationCheckNow(); } finally { S.checking = null; } })();
  return S.checking;
}
async function generationCheckNow() {
  try {
    const r = await (await fetch("/api/indexes", { cache: "no-store" })).json();
    const now = (r.indexes || []).find((i) => i.name === S.index.name);
    if (!now || now.generation !== S.index.generation) await indexChanged(S.index.name);
  } catch (e) { /* the server is gone: the error says enough */ }
}
// What a thumbnail whose file the server cannot give shows instead of the browser's broken-image
// icon (an index whose image files are not on this machine showed a wall of them), as the report
// does: drawn once on a canvas (a data: PNG; the page's CSP allows data: images).
let missingImage = null;
function missingImageURL() {
  if (missingImage) return missingImage;
  const c = document.createElement("canvas"); c.width = c.height = 96;
  const g = c.getContext("2d");
  g.fillStyle = "#eee"; g.fillRect(0, 0, 96, 96);
  g.fillStyle = "#5f6b7a"; g.font = "11px DejaVu Sans, sans-serif"; g.textAlign = "center";
  g.fillText("image file", 48, 44); g.fillText("not found", 48, 58);
  return (missingImage = c.toDataURL("image/png"));
}
/** An image of this page's generation failed: the index may have changed (409) or the file be missing. */
async function imageFailed(img) {
  img.classList.add("broken");
  if (!img.src.startsWith("data:")) { img.src = missingImageURL(); img.title = "the server has no readable image file for this row (missing, moved or unreadable)"; }
  await generationCheck(true);
}
const enc = encodeURIComponent;
const idxURL = (rest) => `/api/indexes/${enc(S.index.name)}/${rest}`;
const genParam = () => (S.index && S.index.generation ? `g=${enc(S.index.generation)}` : "");
const thumbURL = (row, size) => idxURL(`thumbs/${row}?size=${size || 96}&${genParam()}`);
const imageURL = (row) => idxURL(`images/${row}?${genParam()}`);
const fmt = (v, d = 4) => v == null ? "—" : (Math.abs(v) >= 1000 ? v.toFixed(1) : v.toFixed(d));

// ---------- tabs, pickers ----------
for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.id === name);
  S.tab = name;
  writeHash();
  if (name === "explorer") loadProjection();
  if (name === "prototypes") loadPrototypes();
  if (name === "evaluation") loadEvaluation();
}
// The address names the tab and the index (#explorer/name): Back and Forward move between them,
// and a reload or a bookmark opens the same view (Back left the page).
function writeHash() {
  if (S.applyingHash || !S.index) return;
  const h = `#${S.tab || "overview"}/${enc(S.index.name)}`;
  if (location.hash !== h) history[location.hash ? "pushState" : "replaceState"](null, "", h);
}
function applyHash() {
  if (!location.hash || location.hash === "#") return false;
  // An address this page cannot show (a removed index, a mistyped bookmark) says so and is
  // dropped, so the view shown next replaces it instead of stacking a Back step on it.
  const refuse = (why) => {
    S.notice = why; status(why, true);
    history.replaceState(null, "", location.pathname + location.search);
    return false;
  };
  const m = /^#([a-z]+)\/(.*)$/.exec(location.hash);
  if (!m || !document.querySelector(`#tabs button[data-tab="${m[1]}"]`)) return refuse(`the address ${location.hash.slice(0, 80)} names no view of this page`);
  let name; try { name = decodeURIComponent(m[2]); } catch (e) { return refuse(`the address ${location.hash.slice(0, 80)} names no view of this page`); }
  if (!S.indexes.some((i) => i.name === name)) return refuse(`no index named "${name.slice(0, 80)}" is served here`);
  S.applyingHash = true;
  try {
    if (!S.index || S.index.name !== name) { S.notice = null; status(""); selectIndex(name); }
    if (S.tab !== m[1]) showTab(m[1]);
  } finally { S.applyingHash = false; }
  return true;
}
window.addEventListener("popstate", () => { if (S.indexes.length) applyHash(); });
$("#index").addEventListener("change", () => { S.notice = null; status(""); selectIndex($("#index").value); });
$("#space").addEventListener("change", () => { S.space = $("#space").value; S.proj = null; if (S.tab === "explorer") loadProjection(); if (S.selectedRow != null) openRow(S.selectedRow); });
$("#method").addEventListener("change", () => { S.method = $("#method").value; S.proj = null; loadProjection(); });
// Filters and hidden classes change what the predicted-class legend counts, so they recolour too.
const recolour = () => colourAndDraw().catch((e) => status(e.message, true));
$("#classFilter").addEventListener("change", recolour);
for (const id of ["#colorBy", "#colorSet"]) $(id).addEventListener("change", recolour);
$("#pathFilter").addEventListener("input", recolour);
$("#kInput").addEventListener("change", () => { kValue(); if (S.selectedRow != null) openRow(S.selectedRow); });
for (const [box, note] of [["#kInput", "#kNote"], ["#protoK", "#protoKNote"]]) $(box).addEventListener("input", () => { $(note).textContent = ""; });
/** The k actually used, written back into its box (0 and "abc" became 8 and 1000 became 100 while
 *  the box still showed what was typed); a note says when the typed value was replaced. */
function kValue(box = "#kInput", note = "#kNote", fallback = 8, max = 100) {
  const raw = $(box).value.trim(), v = parseInt(raw, 10);
  const k = Number.isFinite(v) ? Math.max(1, Math.min(max, v)) : fallback;
  // The note stays until the box is typed in again (the next use reads the k it wrote back).
  if (String(k) !== raw) { $(note).textContent = `k must be 1–${max}: using ${k}`; $(box).value = String(k); }
  return k;
}

async function init() {
  try {
    const r = await api("/api/indexes");
    S.indexes = r.indexes;
    if (!S.indexes.length) { status("no indexes found: build one (embedscope demo) into the served folder", true); return; }
    $("#index").replaceChildren(...S.indexes.map((i) => el("option", { value: i.name, text: i.name })));
    renderOverview();
    if (!applyHash()) selectIndex(S.indexes[0].name);
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
  for (const id of ["#protoSet", "#evalSet", "#colorSet"]) $(id).replaceChildren(...sets.map((s) => el("option", { value: s, text: s })));
  // Evaluation: the set whose prototypes are most of this index's classes (a probe, a head trained on
  // them) rather than the first (ImageNet's 1,000, which evaluate nothing here).
  const classNames = new Set(S.index.classes.map((c) => c.name));
  const overlap = (p) => (p.sample || []).filter((n) => classNames.has(n)).length;
  const best = [...S.index.prototypeSets].sort((a, b) => overlap(b) - overlap(a))[0];
  if (best && overlap(best) > 0) $("#evalSet").value = best.name;
  // Nothing of the previous index stays on screen (a clicked cell, its lowest margins).
  for (const id of ["#cell", "#lowest", "#confusion", "#protoMost", "#protoLeast", "#uploadResults", "#protoNames"]) $(id).replaceChildren();
  $("#protoName").value = ""; $("#protoCount").textContent = "";
  hoverKey = null; $("#hover").classList.add("hidden");
  $("#evalSummary").textContent = ""; $("#confusionNote").textContent = "";
  protoNames = {};
  S.proj = null; S.pred = null; S.selectedRow = null; S.rowInfo = null; S.hidden.clear();
  $("#panel").replaceChildren(el("p", { class: "hint", text: "Hover a point to see its image; click it for its neighbours." }));
  for (const c of document.querySelectorAll(".card")) c.classList.toggle("selected", c.dataset.name === name);
  if (S.tab && S.tab !== "overview") showTab(S.tab); else writeHash();
}

// ---------- overview ----------
const COLS = [["index", "index"], ["space", "space"], ["model", "model"], ["weights", "weights"], ["epoch", "epoch"], ["globalStep", "step"], ["samples", "rows"], ["classCount", "classes"], ["dim", "dim"],
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
    box.dataset.index = r.index; box.dataset.space = r.space;
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
  S.perClass = null;
  if (sel.length < 2) { out.replaceChildren(sel.length ? el("p", { class: "hint", text: "Tick one more row to compare per class." }) : ""); return; }
  out.replaceChildren(el("p", { class: "hint", text: "computing per-class silhouette and precision@10…" }));
  try {
    const names = [...new Set(sel.map(([i]) => i))];
    const spaces = [...new Set(sel.map(([, s]) => s))];
    const r = await api(`/api/compare?perClass=true&k=10&${names.map((n) => "index=" + enc(n)).join("&")}${spaces.length === 1 ? "&space=" + enc(spaces[0]) : ""}`);
    const rows = sel.map(([i, s]) => r.entries.find((x) => x.index === i && x.space === s));
    if (rows.some((x) => !x)) throw new Error("a ticked row is no longer served: reload the page");
    const bad = rows.find((x) => x.perClassError != null);
    if (bad) throw new Error(`no per-class figures for ${bad.index} · ${bad.space}: ${bad.perClassError}`);
    const classes = [...new Set(rows.flatMap((x) => x.perClass.map((c) => c.name)))];
    const metrics = [["silhouette", "silhouette"], ["precisionAtK", `precision@${rows[0].perClassK}`]];
    const value = (row, cls, m) => { const c = row.perClass.find((c) => c.name === cls); return c && c[m] != null ? c[m] : null; };
    const label = ([i, s]) => `${i} · ${s}`;
    const head = el("tr", {}, el("th", { text: "class" }), ...metrics.flatMap(([, title]) => [
      ...sel.map((x) => el("th", { text: `${title} ${label(x)}` })), ...sel.slice(1).map((x) => el("th", { text: `Δ ${title} ${label(x)}` }))]));
    const deltas = {};
    const body = classes.map((n) => el("tr", {}, el("td", { text: n }), ...metrics.flatMap(([m]) => {
      const v = rows.map((row) => value(row, n, m));
      return [...v.map((x) => el("td", { text: fmt(x, 3) })), ...v.slice(1).map((x, j) => {
        const d = x != null && v[0] != null ? x - v[0] : null;
        (deltas[m] = deltas[m] || {})[n] = (deltas[m][n] || []).concat([d]);
        return el("td", { class: "delta " + (d > 0 ? "up" : d < 0 ? "down" : ""), "data-class": n, "data-metric": m, "data-col": String(j + 1),
          "data-value": d == null ? "" : String(d), text: d == null ? "—" : (d > 0 ? "+" : "") + d.toFixed(3) });
      })];
    })));
    const sampled = rows.find((x) => x.perClassSample != null);
    out.replaceChildren(el("h2", {}, "Per class ", el("small", { text: `Δ against the first ticked row (${label(sel[0])}): green = that class got better` +
        (sampled ? ` · precision@k from ${sampled.perClassSample} sampled rows` : "") })),
      el("table", { id: "perclassTable", class: "table bars" }, el("thead", {}, head), el("tbody", {}, ...body)));
    S.perClass = { selected: sel, classes, deltas };
    // Cluster metrics computed for this comparison fill the table's empty cells.
    let filled = false;
    for (const row of r.entries) {
      const m = (S.indexes.find((i) => i.name === row.index) || { metrics: [] }).metrics.find((x) => x.space === row.space);
      if (m && m.silhouette == null && row.silhouette != null) { Object.assign(m, { silhouette: row.silhouette, daviesBouldin: row.daviesBouldin, calinskiHarabasz: row.calinskiHarabasz }); filled = true; }
      if (m && m.precisionAtK == null && row.precisionAtK != null) { Object.assign(m, { precisionAtK: row.precisionAtK, k: row.k }); filled = true; }
    }
    if (filled) renderOverview();
  } catch (e) { out.replaceChildren(el("p", { class: "err", text: e.message })); }
}

// ---------- explorer ----------
// The scatter is drawn into an ImageData buffer (a few ms for 100k points); a second canvas on
// top holds what changes with the mouse (hover ring, the selection being dragged, selected rows).
const canvas = $("#scatter"), ctx = canvas.getContext("2d"), overlay = $("#overlay"), octx = overlay.getContext("2d");
let PW = 760, PH = 560;
const CELL = 8;
/** The plot's size: 760 × 560 where the window has the room, else the window's width at the same
 *  shape — on a phone the fixed 760-pixel plot made the tab scroll sideways, with half the points
 *  and the legend off the screen. Returns whether it changed (then the caller draws again). */
function fitPlot() {
  const w = Math.max(240, Math.min(760, document.documentElement.clientWidth - 34));  // main's padding, the frame
  if (w === PW) return false;
  PW = w; PH = Math.round(w * 560 / 760);
  const stack = $("#explorer .stack"); stack.style.width = PW + 2 + "px"; stack.style.height = PH + 2 + "px";
  return true;
}
fitPlot();
window.addEventListener("resize", () => { if (fitPlot() && S.proj) draw(); });
let view = null;
const P = { n: 0, sx: null, sy: null, col: null, vis: null, gridStart: null, gridRows: null };
async function loadProjection() {
  if (!S.index) return;
  const key = `${S.index.name}|${S.space}|${S.method}`;
  if (S.proj && S.proj.key === key) { await colourAndDraw(); return; }
  S.scatterReady = false;
  // Until the new projection is here, no other one stays on screen (another index's 200k points
  // stayed, under the new index's name, and hovering them read a projection that was gone).
  // (Picking an index or a space drops S.proj first, so the test is on what is drawn.)
  if (!S.proj || S.proj.key !== key) { S.proj = null; clearPlot(); }
  status(`projecting ${S.space} (${S.method.toUpperCase()})…`);
  const stillWanted = () => S.index && key === `${S.index.name}|${S.space}|${S.method}`;
  try {
    const p = await api(idxURL(`projection?space=${enc(S.space)}&method=${S.method}`));
    if (!stillWanted()) return;
    p.key = key; p.classIndex = new Map(S.index.classes.map((c, i) => [c.name, i]));
    S.rowInfo = new Map(p.points.map((q) => [q.row, q]));
    S.proj = p; status("");
    $("#axes").textContent = showText(p.axisLabels.join(" · "));
    setSelection([]);
    await colourAndDraw();
  } catch (e) {
    if (!stillWanted()) return;
    S.proj = null; clearPlot();
    // Said where the plot would be, in this page's terms: a failed LDA left a blank plot and a line
    // in the header naming a CLI flag. The server's hint (in parentheses) names an API parameter.
    const reason = showText(e.message).replace(/ \([^()]*\)$/, "");
    if (S.method === "lda" && e.status === 400) {
      plotMessage("LDA cannot project this index", `${reason}.`, "Choose PCA in the Projection menu: it projects every index.",
        ["Switch to PCA", () => { $("#method").value = "pca"; $("#method").dispatchEvent(new Event("change")); }]);
      status("LDA cannot project this index: see the plot", true);
    } else {
      plotMessage(`The ${S.method.toUpperCase()} projection of ${S.space} failed`, `${reason}.`);
      status(e.message, true);
    }
  }
}
/** A message over the plot area (null: none): a title, lines of text and an optional [label, action] button. */
function plotMessage(title, ...rest) {
  const box = $("#plotMsg");
  if (title == null) { box.classList.add("hidden"); box.replaceChildren(); return; }
  const button = Array.isArray(rest[rest.length - 1]) ? rest.pop() : null;
  box.replaceChildren(el("b", { text: title }), ...rest.map((t) => el("div", { text: t })),
    button ? el("button", { onclick: button[1] }, button[0]) : null);
  box.classList.remove("hidden");
}
function clearFilters() {
  $("#classFilter").value = ""; $("#pathFilter").value = ""; S.hidden.clear(); recolour();
}
/// An empty plot: no points, legend, axes or hover grid (what a failed projection leaves).
function clearPlot() {
  P.n = 0; P.sx = P.sy = P.col = P.vis = P.gridStart = P.gridRows = null;
  S.scatterReady = false;
  ctx.setTransform(1, 0, 0, 1, 0, 0); ctx.clearRect(0, 0, canvas.width, canvas.height);
  octx.setTransform(1, 0, 0, 1, 0, 0); octx.clearRect(0, 0, overlay.width, overlay.height);
  $("#legend").replaceChildren(); $("#axes").textContent = ""; $("#shown").replaceChildren();
  $("#hover").classList.add("hidden"); plotMessage(null);
  setSelection([]);
}
/// The visibility test of the current filters, read from the page once per draw (read per point,
/// the two form fields were 400k DOM queries a redraw of 200k points).
function visibility() {
  const cf = $("#classFilter").value, pf = $("#pathFilter").value.trim().toLowerCase(), hidden = S.hidden;
  return (pt) => !hidden.has(pt.class) && (!cf || pt.class === cf) && (!pf || (pt.path || "").toLowerCase().includes(pf));
}
const hex = (h) => { const v = parseInt(h.slice(1), 16); return 0xff000000 | ((v & 0xff) << 16) | (v & 0xff00) | (v >> 16); };  // ABGR (little-endian RGBA)
const LEGEND_MAX = 24, OTHERS_GREY = "#b4b4b4";
const RAMP = ["#d0433a", "#f08a3c", "#f2cf4a", "#8ccf6a", "#2e9d8f", "#2f6fdb"];
function ramp(t) { const i = Math.max(0, Math.min(RAMP.length - 1, Math.round(t * (RAMP.length - 1)))); return RAMP[i]; }
/// Colours for the current mode: class, predicted class (top prototype of a set) or margin (top1 − top2 logit).
async function colourAndDraw() {
  const p = S.proj; if (!p) return;
  const mode = $("#colorBy").value, set = $("#colorSet").value;
  $("#colorSetLabel").classList.toggle("hidden", mode === "class");
  const n = p.points.length, col = new Uint32Array(n);
  const legend = [];
  if (mode === "class" || !set) {
    if (mode !== "class") status("this index has no prototype set: colouring by class", true);
    for (let i = 0; i < n; i++) col[i] = hex(classColour(p.classIndex.get(p.points[i].class) || 0));
    S.index.classes.forEach((c, i) => {
      const s = el("span", { class: S.hidden.has(c.name) ? "off" : "", title: "click to hide or show",
        onclick: () => { S.hidden.has(c.name) ? S.hidden.delete(c.name) : S.hidden.add(c.name); s.classList.toggle("off"); draw(); shownNote(); } },
        el("i", { style: `background:${classColour(i)}` }), c.name);
      legend.push(s);
    });
  } else {
    const key = `${S.index.name}|${S.index.generation}|${set}`;
    if (!S.pred || S.pred.key !== key) {
      status(`predicting with ${set}…`);
      const r = await api(idxURL(`predictions?set=${enc(set)}`));
      r.key = key; S.pred = r; status("");
    }
    const pr = S.pred;
    if ($("#colorBy").value !== mode || !S.proj || S.proj !== p) return;
    if (mode === "predicted") {
      // A predicted name that is a class keeps that class's colour; others by frequency. Counted
      // over the points shown (filters and hidden classes leave the others out); the names past the
      // legend's 24 are drawn grey, as it says (they were drawn in colours it did not list).
      const counts = new Map(), visible = visibility();
      for (const q of p.points) { if (!visible(q)) continue; const nm = pr.names[pr.predicted[q.row]]; counts.set(nm, (counts.get(nm) || 0) + 1); }
      const order = [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a) || (a < b ? -1 : 1));
      // (The palette's two greys are skipped for names that are not classes: grey means "the rest".)
      const colour = new Map(); let next = S.index.classes.length;
      const nextColour = () => { while (next === 7 || next === 17) next++; return classColour(next++); };
      order.forEach((nm, i) => colour.set(nm, i >= LEGEND_MAX ? OTHERS_GREY : p.classIndex.has(nm) ? classColour(p.classIndex.get(nm)) : nextColour()));
      for (let i = 0; i < n; i++) col[i] = hex(colour.get(pr.names[pr.predicted[p.points[i].row]]) || OTHERS_GREY);
      for (const nm of order.slice(0, LEGEND_MAX)) legend.push(el("span", {}, el("i", { style: `background:${colour.get(nm)}` }), `${nm} (${counts.get(nm)})`));
      if (order.length > LEGEND_MAX) {
        const rest = order.slice(LEGEND_MAX).reduce((a, nm) => a + counts.get(nm), 0);
        legend.push(el("span", { class: "more" }, el("i", { style: `background:${OTHERS_GREY}` }), `${order.length - LEGEND_MAX} more names (${rest} points, grey)`));
      }
    } else {
      const m = p.points.map((q) => pr.margin[q.row]).sort((a, b) => a - b);
      const hi = m[Math.floor(0.95 * (m.length - 1))] || 1;
      for (let i = 0; i < n; i++) col[i] = hex(ramp(Math.min(1, pr.margin[p.points[i].row] / hi)));
      legend.push(el("span", { text: "margin (top1 − top2 logit of " + set + "): " }),
        ...RAMP.map((c, i) => el("span", {}, el("i", { style: `background:${c}` }), (i === 0 ? "0" : i === RAMP.length - 1 ? `≥ ${hi.toFixed(2)}` : (hi * i / (RAMP.length - 1)).toFixed(2)))));
    }
  }
  P.col = col;
  $("#legend").replaceChildren(...legend);
  S.colorMode = mode;
  draw();
  shownNote();
}
/** "N of M shown" whenever filters or hidden classes leave points out (with what does, and a way
 *  back); when they leave none, the same over the empty plot (it went blank without a word). */
function shownNote() {
  const p = S.proj, box = $("#shown");
  if (!p || !P.vis) { box.replaceChildren(); return; }
  const n = p.points.length, shown = P.vis.reduce((a, v) => a + v, 0);
  const cf = $("#classFilter").value, pf = $("#pathFilter").value.trim();
  const why = [cf ? `class filter "${cf}"` : null, pf ? `path filter "${pf}"` : null,
    S.hidden.size ? `${S.hidden.size} class${S.hidden.size > 1 ? "es" : ""} hidden${S.colorMode !== "class" ? " in the class legend" : ""}` : null].filter(Boolean);
  box.dataset.shown = String(shown); box.dataset.total = String(n);
  if (!why.length) { box.replaceChildren(); plotMessage(null); return; }
  box.replaceChildren(`${shown} of ${n} shown (${why.join(", ")})`, el("a", { onclick: clearFilters, text: "show all" }));
  if (shown === 0) plotMessage(`No point of ${S.index.name} is shown`, `0 of ${n} rows pass: ${why.join(", ")}.`, ["Clear the filters", clearFilters]);
  else plotMessage(null);
}
function layout(points) {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const pt of points) { if (pt.x < x0) x0 = pt.x; if (pt.x > x1) x1 = pt.x; if (pt.y < y0) y0 = pt.y; if (pt.y > y1) y1 = pt.y; }
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; } if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  const m = 28;
  view = S.view = { sx: (PW - 2 * m) / (x1 - x0), sy: (PH - 2 * m) / (y1 - y0), x0, y1, m, W: PW, H: PH };
}
/// Draws every visible point of S.proj with the colours in P.col.
function draw() {
  const p = S.proj; if (!p || !P.col || P.col.length !== p.points.length) return;
  const t0 = performance.now();
  const n = p.points.length;
  fitPlot();
  layout(p.points);
  P.n = n; P.sx = new Float64Array(n); P.sy = new Float64Array(n); P.vis = new Uint8Array(n);
  const visible = visibility();
  for (let i = 0; i < n; i++) { const q = p.points[i]; P.sx[i] = px(q.x); P.sy[i] = py(q.y); P.vis[i] = visible(q) ? 1 : 0; }
  render(p.axisLabels);
  // Hover grid: the visible points by 8-pixel cell (counting sort into one array).
  const gw = Math.ceil(PW / CELL), gh = Math.ceil(PH / CELL), start = new Int32Array(gw * gh + 1), rows = new Int32Array(n);
  const cellOf = (i) => Math.min(gh - 1, Math.max(0, Math.floor(P.sy[i] / CELL))) * gw + Math.min(gw - 1, Math.max(0, Math.floor(P.sx[i] / CELL)));
  for (let i = 0; i < n; i++) if (P.vis[i]) start[cellOf(i) + 1]++;
  for (let c = 0; c < gw * gh; c++) start[c + 1] += start[c];
  const fill = start.slice(0, gw * gh);
  for (let i = 0; i < n; i++) if (P.vis[i]) rows[fill[cellOf(i)]++] = i;
  P.gridStart = start; P.gridRows = rows; P.gw = gw; P.gh = gh;
  drawOverlay();
  S.lastDrawMs = performance.now() - t0;
  S.scatterReady = true;
}
/// The point layer: P.sx / P.sy / P.col / P.vis into an ImageData, then axes and labels.
function render(axisLabels) {
  const dpr = window.devicePixelRatio || 1, cw = Math.round(PW * dpr), ch = Math.round(PH * dpr);
  if (canvas.width !== cw || canvas.height !== ch) {
    for (const c of [canvas, overlay]) { c.width = cw; c.height = ch; c.style.width = PW + "px"; c.style.height = PH + "px"; }
  }
  if (!P.img || P.img.width !== cw || P.img.height !== ch) { P.img = ctx.createImageData(cw, ch); P.buf = new Uint32Array(P.img.data.buffer); }
  const buf = P.buf, n = P.n, visCount = P.vis.reduce((a, v) => a + v, 0);
  buf.fill(0xffffffff);
  const r = Math.max(1, Math.round((visCount > 20000 ? 1 : visCount > 2000 ? 1.5 : 3.5) * dpr)), r2 = r * r + r;
  for (let i = 0; i < n; i++) {
    if (!P.vis[i]) continue;
    const cx = Math.round(P.sx[i] * dpr), cy = Math.round(P.sy[i] * dpr), c = P.col[i];
    for (let dy = -r; dy < r; dy++) {
      const y = cy + dy; if (y < 0 || y >= ch) continue;
      const o = y * cw;
      for (let dx = -r; dx < r; dx++) {
        const x = cx + dx; if (x < 0 || x >= cw) continue;
        if (r > 1 && (dx + 0.5) * (dx + 0.5) + (dy + 0.5) * (dy + 0.5) > r2) continue;
        buf[o + x] = c;
      }
    }
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.putImageData(P.img, 0, 0);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const { m, x0, y1, sx, sy } = view, x1 = x0 + (PW - 2 * m) / sx, y0 = y1 - (PH - 2 * m) / sy;
  ctx.strokeStyle = "#d5dae1"; ctx.lineWidth = 1;
  if (x0 < 0 && x1 > 0) { const zx = px(0); ctx.beginPath(); ctx.moveTo(zx, m); ctx.lineTo(zx, PH - m); ctx.stroke(); }
  if (y0 < 0 && y1 > 0) { const zy = py(0); ctx.beginPath(); ctx.moveTo(m, zy); ctx.lineTo(PW - m, zy); ctx.stroke(); }
  ctx.fillStyle = "#5f6b7a"; ctx.font = "11px DejaVu Sans, sans-serif";
  ctx.fillText(showText(axisLabels[0] || ""), m, PH - 8);
  if (axisLabels[1]) { ctx.save(); ctx.translate(12, PH - m); ctx.rotate(-Math.PI / 2); ctx.fillText(showText(axisLabels[1]), 0, 0); ctx.restore(); }
}
/// Selected rows (dark rings), the clicked row, and a selection being dragged.
function drawOverlay(shape) {
  const dpr = window.devicePixelRatio || 1;
  octx.setTransform(1, 0, 0, 1, 0, 0); octx.clearRect(0, 0, overlay.width, overlay.height); octx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (S.selection.length && S.selection.length <= 5000) {
    octx.strokeStyle = "#1d2330"; octx.lineWidth = 1; octx.beginPath();
    for (const i of S.selectionIdx) { octx.moveTo(P.sx[i] + 3.5, P.sy[i]); octx.arc(P.sx[i], P.sy[i], 3.5, 0, 6.2832); }
    octx.stroke();
  }
  if (S.selectedRow != null && S.proj) {
    const i = S.proj.points.findIndex((q) => q.row === S.selectedRow);
    if (i >= 0) { octx.strokeStyle = "#000"; octx.lineWidth = 2; octx.beginPath(); octx.arc(P.sx[i], P.sy[i], 7, 0, 6.2832); octx.stroke(); }
  }
  if (shape && shape.length > 1) {
    octx.strokeStyle = "#2f6fdb"; octx.fillStyle = "#2f6fdb22"; octx.lineWidth = 1.5; octx.setLineDash([5, 3]);
    octx.beginPath(); octx.moveTo(shape[0][0], shape[0][1]); for (const [x, y] of shape.slice(1)) octx.lineTo(x, y); octx.closePath(); octx.fill(); octx.stroke();
    octx.setLineDash([]);
  }
}
const px = (x) => view.m + (x - view.x0) * view.sx;
const py = (y) => view.m + (view.y1 - y) * view.sy;
/// Where a row is drawn, in CSS pixels from the canvas's top-left corner (for the browser test).
S.pointPosition = (row) => { const pt = S.proj && S.proj.points.find((q) => q.row === row); return pt ? { x: px(pt.x), y: py(pt.y) } : null; };
/// The colour drawn at a row's position on the point layer, as [r, g, b] (for the browser test).
S.pixelAt = (row) => { const q = S.pointPosition(row), dpr = window.devicePixelRatio || 1; if (!q) return null;
  const d = ctx.getImageData(Math.round(q.x * dpr), Math.round(q.y * dpr), 1, 1).data; return [d[0], d[1], d[2]]; };
const canvasXY = (ev) => { const b = overlay.getBoundingClientRect(); return [ev.clientX - b.left, ev.clientY - b.top]; };
function pick(ev) {
  if (!P.gridStart || !S.proj) return null;
  const [X, Y] = canvasXY(ev);
  let best = -1, bd = 100;
  const gx = Math.floor(X / CELL), gy = Math.floor(Y / CELL);
  for (let j = gy - 1; j <= gy + 1; j++) for (let i = gx - 1; i <= gx + 1; i++) {
    if (i < 0 || j < 0 || i >= P.gw || j >= P.gh) continue;
    const c = j * P.gw + i;
    for (let t = P.gridStart[c]; t < P.gridStart[c + 1]; t++) {
      const k = P.gridRows[t], d = (P.sx[k] - X) ** 2 + (P.sy[k] - Y) ** 2; if (d < bd) { bd = d; best = k; }
    }
  }
  return best >= 0 ? { pt: S.proj.points[best], X, Y } : null;
}
// ---------- selection: drag = box (or lasso, by the mode); shift-drag = box, alt-drag = lasso ----------
let drag = null, hoverKey = null;
overlay.addEventListener("mousedown", (ev) => {
  if (ev.button !== 0 || !S.proj) return;
  const mode = ev.shiftKey ? "box" : ev.altKey ? "lasso" : $("#selectMode").value;
  drag = { mode, start: canvasXY(ev), path: [canvasXY(ev)] };
  ev.preventDefault();
});
window.addEventListener("mousemove", (ev) => {
  if (!drag) return;
  const p = canvasXY(ev);
  drag.path.push(p);
  drawOverlay(dragShape());
});
function dragShape() {
  if (drag.mode === "lasso") return drag.path;
  const [a, b] = drag.start, [c, d] = drag.path[drag.path.length - 1];
  return [[a, b], [c, b], [c, d], [a, d]];
}
window.addEventListener("mouseup", (ev) => {
  if (!drag) return;
  const d = drag; drag = null;
  // A click unless the pointer went somewhere (a lasso may end where it started).
  const [x, y] = canvasXY(ev), moved = Math.max(Math.hypot(x - d.start[0], y - d.start[1]), ...d.path.map(([a, b]) => Math.hypot(a - d.start[0], b - d.start[1])));
  if (moved < 4) { drawOverlay(); const h = pick(ev); if (h) openRow(h.pt.row); return; }
  d.path.push([x, y]);
  const shape = d.mode === "lasso" ? d.path : null;
  const x0 = Math.min(d.start[0], x), x1 = Math.max(d.start[0], x), y0 = Math.min(d.start[1], y), y1 = Math.max(d.start[1], y);
  S.lastBox = shape ? null : { x0, y0, x1, y1 };
  const idx = [];
  for (let i = 0; i < P.n; i++) {
    if (!P.vis[i]) continue;
    const X = P.sx[i], Y = P.sy[i];
    if (shape ? inside(shape, X, Y) : X >= x0 && X <= x1 && Y >= y0 && Y <= y1) idx.push(i);
  }
  setSelection(idx);
});
function inside(poly, x, y) {
  let c = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) c = !c;
  }
  return c;
}
// A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first; not a number) gets a
// leading ' (as CSV.textField does for the CLI's CSVs); then RFC 4180 quoting.
const csvField = (v) => {
  if (/^[=+\-@\t\r]/.test(v) && !(v.trim() !== "" && Number.isFinite(Number(v)))) v = "'" + v;
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
};
function selectionCSV() {
  return "row,path,class\n" + S.selection.map((r) => { const q = S.rowInfo.get(r); return `${r},${csvField(q.path || "")},${csvField(q.class)}`; }).join("\n") + "\n";
}
function setSelection(idx) {
  S.selectionIdx = idx;
  S.selection = idx.map((i) => S.proj.points[i].row).sort((a, b) => a - b);
  const box = $("#selection"), shown = 300;
  if (!S.selection.length) {
    box.replaceChildren(el("span", { class: "hint", text: "Drag on the plot to select rows (shift-drag: box, alt-drag: lasso); click a point for its neighbours." }));
  } else {
    const list = el("table", { class: "table sel" }, el("thead", {}, el("tr", {}, el("th", { text: "row" }), el("th", { text: "class" }), el("th", { text: "path" }))),
      el("tbody", {}, ...S.selection.slice(0, shown).map((r) => { const q = S.rowInfo.get(r);
        return el("tr", { "data-row": String(r), onclick: () => openRow(r) }, el("td", { text: String(r) }), el("td", { text: q.class }), el("td", { text: q.path || "" })); })));
    box.replaceChildren(el("div", { class: "selbar" }, el("b", { text: `${S.selection.length} selected` }),
        el("button", { id: "exportCSV", onclick: exportCSV }, "Export CSV"), el("button", { onclick: () => { setSelection([]); drawOverlay(); } }, "Clear"),
        S.selection.length > shown ? el("span", { class: "hint", text: `first ${shown} listed; the CSV has all` }) : null),
      el("div", { class: "sellist" }, list));
  }
  box.dataset.count = String(S.selection.length);
  if (P.sx) drawOverlay();
}
function exportCSV() {
  const text = selectionCSV();
  S.lastCSV = text;
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: `${S.index.name}-${S.space}-selection.csv` });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
overlay.addEventListener("mousemove", (ev) => {
  if (drag) return;
  const h = pick(ev), box = $("#hover");
  if (!h) { box.classList.add("hidden"); hoverKey = null; return; }
  // The index (and its generation) is part of the key: row 7 of another index kept the previous
  // index's thumbnail and caption when it was the first point hovered after a switch.
  const key = `${S.index.name}\u0000${S.index.generation}\u0000${h.pt.row}`;
  if (hoverKey !== key) {
    hoverKey = key;
    box.querySelector("img").src = thumbURL(h.pt.row, 96);
    box.querySelector(".cap").textContent = showText(`#${h.pt.row} ${h.pt.class} — ${h.pt.path || ""}`);
  }
  box.classList.remove("hidden");
  // Inside the plot whatever the caption's height (a long name wraps over several lines).
  box.style.left = Math.min(h.X + 14, PW - 190) + "px"; box.style.top = Math.max(0, Math.min(h.Y + 14, PH - box.offsetHeight - 4)) + "px";
});
overlay.addEventListener("mouseleave", () => $("#hover").classList.add("hidden"));
$("#hover img").addEventListener("error", (ev) => imageFailed(ev.currentTarget));
/// Frame time of the point layer for n synthetic points (seeded), median of `frames` redraws,
/// without touching the page's data (the browser test reports it).
S.benchScatter = (n, frames) => {
  const save = { ...P }, saveView = view;
  let s = 12345; const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 4294967296;
  P.n = n; P.sx = new Float64Array(n); P.sy = new Float64Array(n); P.vis = new Uint8Array(n).fill(1); P.col = new Uint32Array(n);
  for (let i = 0; i < n; i++) { const c = i % 10; P.sx[i] = 28 + (0.1 + 0.08 * c + 0.05 * (rnd() + rnd() - 1)) * 700; P.sy[i] = 28 + rnd() * 500; P.col[i] = hex(PALETTE[c]); }
  view = { sx: 1, sy: 1, x0: 0, y1: 0, m: 28 };
  const times = [];
  for (let f = 0; f < frames; f++) { const t0 = performance.now(); render(["synthetic", "frame-time test"]); times.push(performance.now() - t0); }
  Object.assign(P, save); view = saveView;
  if (S.proj) render(S.proj.axisLabels);
  times.sort((a, b) => a - b);
  return { n, frames, medianMs: times[Math.floor(frames / 2)], maxMs: times[frames - 1] };
};

/** "nearest 8", or "nearest 2 (of k = 8: no more rows)" when fewer than k were found. */
const found = (kind, n, k) => n === k ? `${kind} ${k}` : `${kind} ${n} (of k = ${k}: ${n ? "no more rows" : "none found"})`;
function tile(r, queryClass, onclick) {
  const same = queryClass != null && r.class === queryClass;
  return el("div", { class: "tile " + (queryClass == null ? "" : same ? "same" : "other"), "data-row": String(r.row), title: `${r.path}\n${r.class}\nrow ${r.row}`,
    onclick: onclick || (() => { if (S.tab !== "explorer") showTab("explorer"); openRow(r.row); }) },
    el("img", { src: thumbURL(r.row, 96), alt: "", loading: "lazy", onerror: (ev) => imageFailed(ev.currentTarget) }),
    el("div", { class: "c", text: r.class }), el("div", { text: r.score != null ? r.score.toFixed(4) : "" }));
}
async function openRow(row) {
  S.selectedRow = row; S.panel = null; if (P.sx) drawOverlay();
  const k = kValue();
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
    // The heading says how many were found: "nearest 8" stood above 2 tiles on a 3-image index.
    const block = (kind, res, space) => el("div", { class: "block", "data-space": space, "data-kind": kind },
      el("h3", { text: `${found(kind, res.results.length, k)} · ${space}` }), el("div", { class: "grid" }, ...res.results.map((r) => tile(r, cls))));
    const protoList = protos.sets.map((s) => el("div", {}, el("b", { text: `${s.set}: ` }), s.top.map((t) => `${t.name} ${t.logit.toFixed(2)}`).join(" · ")));
    panel.replaceChildren(
      el("div", { class: "query" }, el("img", { src: thumbURL(row, 160), alt: "", onerror: (ev) => imageFailed(ev.currentTarget) }),
        el("div", {}, el("div", {}, el("b", { text: `row ${row}` })), el("div", { text: cls || "", title: cls || "" }), el("div", { class: "hint", text: pt && pt.path || "", title: pt && pt.path || "" }),
          el("a", { href: imageURL(row), target: "_blank", text: "original" }), ...protoList)),
      el("p", { class: "hint", text: "Frames: green = same class as the query, red = another class; the number is the cosine." }),
      el("div", { class: other ? "cols" : "" }, el("div", {}, block("nearest", near, S.space), block("farthest", far, S.space)),
        other ? el("div", {}, block("nearest", onear, other), block("farthest", ofar, other)) : null));
    S.panel = { row, space: S.space, nearest: near.results.map((r) => r.row), farthest: far.results.map((r) => r.row) };
    panel.dataset.state = "ready";
  } catch (e) { panel.replaceChildren(el("p", { class: "err", text: e.message })); panel.dataset.state = "error"; }
}

// ---------- prototypes ----------
$("#protoSet").addEventListener("change", loadPrototypes);
$("#protoName").addEventListener("change", loadPrototypeGrids);
$("#protoK").addEventListener("change", loadPrototypeGrids);
$("#protoName").addEventListener("focus", (e) => e.target.select());
var protoNames = {};
async function loadPrototypes() {
  const set = $("#protoSet").value;
  if (!set) { $("#protoMost").replaceChildren(el("p", { class: "hint", text: "This index has no prototype sets (import a classifier head, or run embedscope probe)." })); $("#protoLeast").replaceChildren(); return; }
  // Every name of the chosen set, from the server, in a searchable list (the index list carries a
  // sample of 5: ImageNet's other 995 could not be picked, and the index's class names offered in
  // their place were 404s when the set does not hold them). The first name that is also a class
  // of the index is picked, else the set's first.
  const indexName = S.index.name;
  if (protoNames.set !== set || protoNames.index !== indexName) {
    try {
      const r = await api(idxURL(`prototypes/names?set=${enc(set)}`));
      if (S.index.name !== indexName || $("#protoSet").value !== set) return;
      protoNames = { set, index: indexName, names: r.names, has: new Set(r.names) };
    } catch (e) { $("#protoMost").replaceChildren(el("p", { class: "err", text: e.message })); $("#protoLeast").replaceChildren(); return; }
    $("#protoNames").replaceChildren(...protoNames.names.map((n) => el("option", { value: n })));
    $("#protoCount").textContent = `${protoNames.names.length} prototype${protoNames.names.length === 1 ? "" : "s"} in ${set}`;
    const classNames = new Set(S.index.classes.map((c) => c.name));
    if (!protoNames.has.has($("#protoName").value)) $("#protoName").value = protoNames.names.find((n) => classNames.has(n)) || protoNames.names[0] || "";
  }
  loadPrototypeGrids();
}
async function loadPrototypeGrids() {
  const set = $("#protoSet").value, name = $("#protoName").value, k = kValue("#protoK", "#protoKNote", 24, 200);
  if (!set || !name) return;
  if (protoNames.has && !protoNames.has.has(name)) {
    $("#protoMost").replaceChildren(el("p", { class: "err", text: `set ${set} has no prototype named "${name}": pick one of its ${protoNames.names.length} names from the list` }));
    $("#protoLeast").replaceChildren(); return;
  }
  try {
    const [most, least] = await Promise.all([false, true].map((l) => api(idxURL(`rank?set=${enc(set)}&prototype=${enc(name)}&k=${k}${l ? "&least=true" : ""}`))));
    // Frames (same class / other class) only where the prototype names one of the index's classes (a
    // probe, a head trained on them): against another label set (ImageNet's "sandal" on Fashion-MNIST's
    // "Sandal") every tile was framed as wrong.
    const own = S.index.classes.some((c) => c.name === name) ? name : null;
    $("#protoMost").replaceChildren(...most.results.map((r) => tile(r, own)));
    $("#protoLeast").replaceChildren(...least.results.map((r) => tile(r, own)));
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
    // Above CONFUSION_MAX classes (1,000 made a million cells): the classes with the most errors,
    // in their order, as the report's heat map picks them.
    const shown = confusionClasses(M, CONFUSION_MAX);
    $("#confusionNote").textContent = shown.length < L.length
      ? `${shown.length} of ${L.length} classes: those with the most errors (row + column, off the diagonal); the others are left out of the table.` : "";
    const max = Math.max(1, ...shown.map((i) => Math.max(...shown.map((j) => i === j ? 0 : M[i][j]))));
    const diag = Math.max(1, ...shown.map((i) => M[i][i]));
    table.replaceChildren(el("tr", {}, el("th", { text: "" }), ...shown.map((j) => el("th", { class: "colh", text: L[j], title: L[j] }))),
      ...shown.map((i) => el("tr", {}, el("th", { class: "rowh", text: L[i], title: L[i] }), ...shown.map((j) => {
        const v = M[i][j];
        const a = i === j ? v / diag : v / max;
        const bg = i === j ? `rgba(46,157,79,${0.1 + 0.8 * a})` : `rgba(208,67,58,${v ? 0.08 + 0.8 * a : 0})`;
        return el("td", { "data-true": L[i], "data-pred": L[j], style: `background:${bg}`, text: String(v), onclick: (ev) => openCell(set, L[i], L[j], ev.currentTarget) });
      }))));
    $("#lowest").replaceChildren(...e.lowestMargins.map((m) => {
      const t = tile({ row: m.row, path: m.path, class: `${m.class} → ${m.predicted}`, score: m.margin }, null);
      t.classList.add(m.class === m.predicted ? "same" : "other"); return t;
    }));
    table.dataset.state = "ready";
  } catch (err) { table.replaceChildren(); $("#evalSummary").textContent = showText(err.message); table.dataset.state = "error"; }
}
const CONFUSION_MAX = 40;
/** Indexes of the classes to show: all, or the `limit` with the most off-diagonal counts, in order. */
function confusionClasses(M, limit) {
  const n = M.length, all = [...Array(n).keys()];
  if (n <= limit) return all;
  const errors = new Array(n).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) { errors[i] += M[i][j]; errors[j] += M[i][j]; }
  return all.sort((a, b) => errors[b] - errors[a] || a - b).slice(0, limit).sort((a, b) => a - b);
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
// The input is emptied after each upload: choosing the same file again (after switching index) fired no change.
$("#file").addEventListener("change", (e) => { const f = e.target.files[0]; e.target.value = ""; if (f) upload(f); });
async function upload(file) {
  const out = $("#uploadResults"); out.dataset.state = "loading";
  out.replaceChildren(el("p", { class: "hint", text: `searching with ${file.name}…` }));
  // A new image can be put in the pixel space, and in the embedding space when the index has a native model.
  const spaces = S.index.spaces.map((s) => s.name).filter((s) => s === "pixel" || (s === "embedding" && S.index.model));
  if (!spaces.length) { out.replaceChildren(el("p", { class: "err", text: "This index has no pixel space and no native model: a new image cannot be placed in it." })); out.dataset.state = "error"; return; }
  const k = kValue();
  try {
    const blocks = [el("div", { class: "query" }, el("img", { src: URL.createObjectURL(file), alt: file.name }), el("div", { text: file.name }))];
    for (const s of spaces) {
      const [near, far] = await Promise.all([false, true].map((f) => api(idxURL(`query?space=${enc(s)}&k=${k}${f ? "&farthest=true" : ""}`), { method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } })));
      blocks.push(el("div", { class: "block", "data-space": s }, el("h3", { text: `${found("nearest", near.results.length, k)} · ${s}` }), el("div", { class: "grid" }, ...near.results.map((r) => tile(r, null))),
        el("h3", { text: `${found("farthest", far.results.length, k)} · ${s}` }), el("div", { class: "grid" }, ...far.results.map((r) => tile(r, null)))));
      out.dataset[`rows_${s}`] = near.results.map((r) => r.row).join(",");
    }
    out.replaceChildren(...blocks); out.dataset.state = "ready"; S.uploadDone++;
  } catch (e) { out.replaceChildren(el("p", { class: "err", text: e.message })); out.dataset.state = "error"; }
}

init();
"""#
}
