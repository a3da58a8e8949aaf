// gpurec serve: the page. Every figure comes from the JSON API (same queries as the CLI); the state lives
// in the URL's query string, so a link reproduces the view. No third-party code, no outside requests.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const COLORS = ["#2458c6", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#5c940d", "#e67700",
                "#364fc7", "#a61e4d", "#087f5b", "#495057"];
const state = { query: null, data: null, table: null, curves: null, selected: 0, defaults: {} };
window.gpurecTimings = {};

function formQuery() {
  const params = new URLSearchParams();
  for (const el of $("form").elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") { if (el.checked) params.set(el.name, "1"); continue; }
    const value = el.value.trim();
    if (value !== "" && value !== String(state.defaults[el.name] ?? "")) {  // the API's defaults stay out of the URL
      params.set(el.name, value);
    }
  }
  return params;
}

function fillForm(params) {
  for (const el of $("form").elements) {
    if (!el.name || !params.has(el.name)) continue;
    if (el.type === "checkbox") el.checked = ["1", "true", "on", "yes"].includes(params.get(el.name));
    else {
      if (el.tagName === "SELECT" && ![...el.options].some((o) => o.value === params.get(el.name))) {
        el.add(new Option(params.get(el.name), params.get(el.name)));
      }
      el.value = params.get(el.name);
    }
  }
}

async function getJSON(path, params) {
  const response = await fetch(`${path}?${params.toString()}`, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function run(pushHistory) {
  const params = formQuery();
  if (!params.get("model")) { showError("Enter a model: a catalog id, a Hugging Face id or a local path."); return; }
  if (pushHistory) history.pushState(null, "", `?${params.toString()}`);
  state.query = params;
  window.gpurecTimings = { submitted: performance.now() };
  $("status").textContent = "searching…";
  $("submit").disabled = true;
  showError("");
  try {
    const [table, data] = await Promise.all([getJSON("/api/table", params), getJSON("/api/recommend", params)]);
    if (state.query !== params) return;
    state.table = table; state.data = data; state.selected = 0;
    renderTable();
    window.gpurecTimings.table = performance.now();
    $("results").hidden = false;
    $("status").textContent = `${data.recommendations.length} candidates in ${Math.round(window.gpurecTimings.table - window.gpurecTimings.submitted)} ms`;
    selectRow(firstFitting());
    const curves = await getJSON("/api/curves", params);
    if (state.query !== params) return;
    state.curves = curves;
    renderPlot();
    window.gpurecTimings.plot = performance.now();
  } catch (err) {
    $("results").hidden = true;
    $("status").textContent = "";
    showError(err.message);
  } finally {
    $("submit").disabled = false;
  }
}

function firstFitting() {
  const i = state.data.recommendations.findIndex((r) => r.model_fits);
  return i < 0 ? 0 : i;
}

function renderTable() {
  const t = state.table;
  $("verdict").textContent = t.verdict;
  $("workload").textContent = t.workload;
  $("notes").replaceChildren(...t.notes.map((n) => Object.assign(document.createElement("li"), { textContent: n })));
  const head = document.createElement("tr");
  t.headers.concat(["why not"]).forEach((h, i) => {
    const th = document.createElement("th");
    th.textContent = h;
    if (t.numeric[i]) th.className = "num";
    head.append(th);
  });
  $("table").tHead.replaceChildren(head);
  const body = t.rows.map((cells, r) => {
    const tr = document.createElement("tr");
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (t.numeric[i]) td.className = "num";
      tr.append(td);
    });
    const why = document.createElement("td");
    why.className = "why";
    why.textContent = t.why_not[r];
    tr.append(why);
    if (!state.data.recommendations[r].model_fits) tr.classList.add("nofit");
    tr.addEventListener("click", () => selectRow(r));
    return tr;
  });
  $("table").tBodies[0].replaceChildren(...body);
}

function selectRow(index) {
  state.selected = index;
  [...$("table").tBodies[0].rows].forEach((tr, i) => tr.classList.toggle("selected", i === index));
  const rec = state.data.recommendations[index];
  if (!rec) return;
  $("detail-title").textContent = `#${index + 1} ${rec.gpu} ${rec.layout} — ${rec.total_gpus} GPU${rec.total_gpus > 1 ? "s" : ""}`;
  renderMemory(rec);
  renderBands(rec);
  const engine = state.data.workload.engine;
  $("launch").textContent = rec.model_fits ? (rec.launch[engine] || Object.values(rec.launch)[0] || "(no launcher for this engine)")
                                           : "(the model does not fit this layout)";
  $("explain").textContent = "…";
  const params = new URLSearchParams(state.query);
  params.set("rank", String(index + 1));
  getJSON("/api/explain", params).then((e) => {
    if (state.selected === index) { $("explain").textContent = e.text; $("legend").textContent = e.legend; }
  }).catch((err) => { $("explain").textContent = err.message; });
  if (state.curves) renderPlot();
}

function renderMemory(rec) {
  const m = rec.memory;
  if (!m) { $("memory").replaceChildren(); return; }
  const parts = [["weights", m.weights_gib, "#2458c6"], ["activation peak", m.activation_gib, "#e67700"],
                 ["non-torch", m.non_torch_gib, "#868e96"], ["KV cache", Math.max(0, m.kv_cache_gib), "#2b8a3e"],
                 ["reserved (1 − utilisation)", Math.max(0, m.total_gib - m.budget_gib), "#dee2e6"]];
  const used = parts.reduce((s, p) => s + p[1], 0);
  const scale = Math.max(m.total_gib, used);
  const bar = document.createElement("div");
  bar.className = "bar";
  const legend = document.createElement("div");
  legend.className = "bar-legend";
  for (const [name, gib, color] of parts) {
    const seg = document.createElement("div");
    seg.style.width = `${(100 * gib) / scale}%`;
    seg.style.background = color;
    seg.title = `${name}: ${gib.toFixed(2)} GiB`;
    bar.append(seg);
    const key = document.createElement("span");
    key.style.setProperty("--c", color);
    key.textContent = `${name} ${gib.toFixed(2)} GiB`;
    legend.append(key);
  }
  const title = document.createElement("p");
  title.className = "hint";
  title.textContent = `Memory per GPU (${m.engine}): ${m.total_gib.toFixed(2)} GiB visible, budget ${m.budget_gib.toFixed(2)} GiB; ` +
    `KV ${Math.round(m.kv_bytes_per_token).toLocaleString()} B/token → ${m.kv_cache_tokens.toLocaleString()} tokens` +
    (m.fits ? "" : ` — does not fit: ${m.reason}`);
  $("memory").replaceChildren(title, bar, legend);
}

function renderBands(rec) {
  const p = rec.performance;
  if (!p || p.error) { $("bands").textContent = p && p.error ? `No estimate: ${p.error}` : ""; return; }
  const b = p.bands;
  const f = (x, d = 1) => Number(x).toLocaleString(undefined, { maximumFractionDigits: d });
  let text = `At ${p.concurrency} concurrent: TTFT ${f(p.time_to_first_token_ms)} ms, ITL ${f(p.inter_token_latency_ms, 2)} ms, ` +
             `${f(p.throughput_tokens_per_sec, 0)} output tok/s (${p.bottleneck}-bound).`;
  if (b) {
    text += ` p10–p90: TTFT ${f(b.time_to_first_token_ms[0])}–${f(b.time_to_first_token_ms[1])} ms, ` +
            `ITL ${f(b.inter_token_latency_ms[0], 2)}–${f(b.inter_token_latency_ms[1], 2)} ms, ` +
            `${f(b.throughput_tokens_per_sec[0], 0)}–${f(b.throughput_tokens_per_sec[1], 0)} tok/s; from ${b.source}.`;
  }
  $("bands").textContent = text;
}

function el(name, attrs, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTicks(lo, hi, count) {
  const span = hi - lo || 1;
  const step = Math.pow(10, Math.floor(Math.log10(span / count)));
  const mult = [1, 2, 5, 10].find((m) => span / (step * m) <= count) || 10;
  const s = step * mult;
  const ticks = [];
  for (let v = Math.ceil(lo / s) * s; v <= hi + 1e-9; v += s) ticks.push(v);
  return ticks;
}

function renderPlot() {
  const svg = $("plot");
  const W = 640, H = 400, L = 64, R = 16, T = 16, B = 44;
  const curves = state.curves.curves;
  const perUser = (itl) => 1000 / itl;
  const rec = state.data.recommendations[state.selected];
  let chosen = null;
  if (rec && rec.model_fits && rec.performance && !rec.performance.error && rec.performance.inter_token_latency_ms) {
    chosen = [perUser(rec.performance.inter_token_latency_ms), rec.performance.throughput_tokens_per_sec / rec.total_gpus];
  }
  const xs = [], ys = [];
  curves.forEach((c) => c.points.forEach((p) => { xs.push(perUser(p.itl_ms)); ys.push(p.tok_s_per_gpu); }));
  if (chosen) { xs.push(chosen[0]); ys.push(chosen[1]); }
  const slo = state.curves.itl_slo_ms;
  if (slo) xs.push(perUser(slo));
  const nodes = [];
  if (!xs.length) {
    nodes.push(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no candidate with a speed estimate to draw"));
    svg.replaceChildren(...nodes);
    return;
  }
  const x0 = 0, x1 = Math.max(...xs) * 1.05, y0 = 0, y1 = Math.max(...ys) * 1.08;
  const X = (v) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => H - B - ((v - y0) / (y1 - y0)) * (H - T - B);
  for (const t of niceTicks(x0, x1, 6)) {
    nodes.push(el("line", { x1: X(t), x2: X(t), y1: T, y2: H - B, class: "grid" }));
    nodes.push(el("text", { x: X(t), y: H - B + 14, "text-anchor": "middle" }, t.toLocaleString()));
  }
  for (const t of niceTicks(y0, y1, 6)) {
    nodes.push(el("line", { x1: L, x2: W - R, y1: Y(t), y2: Y(t), class: "grid" }));
    nodes.push(el("text", { x: L - 6, y: Y(t) + 4, "text-anchor": "end" }, t.toLocaleString()));
  }
  nodes.push(el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  nodes.push(el("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
  nodes.push(el("text", { x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle" }, "output tokens/s per user (1000 / ITL ms)"));
  nodes.push(el("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${(T + H - B) / 2})` },
                "output tokens/s per GPU"));
  if (slo) {
    nodes.push(el("line", { x1: X(perUser(slo)), x2: X(perUser(slo)), y1: T, y2: H - B, class: "slo" }));
    nodes.push(el("text", { x: X(perUser(slo)) + 4, y: T + 12 }, `ITL SLO ${slo} ms`));
  }
  curves.forEach((c, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = c.points.map((p) => `${X(perUser(p.itl_ms)).toFixed(1)},${Y(p.tok_s_per_gpu).toFixed(1)}`).join(" ");
    const line = el("polyline", { points: pts, class: "curve", stroke: color, "data-rank": c.rank });
    line.append(el("title", {}, `#${c.rank} ${c.label} (click to select)`));
    line.addEventListener("click", () => selectRow(c.rank - 1));
    nodes.push(line);
    c.points.forEach((p) => {
      const dot = el("circle", { cx: X(perUser(p.itl_ms)), cy: Y(p.tok_s_per_gpu), r: 2.6, fill: color, class: "point" });
      dot.append(el("title", {}, `#${c.rank} ${c.label}: ${p.concurrency} users, ITL ${p.itl_ms.toFixed(1)} ms, ${Math.round(p.tok_s_per_gpu)} tok/s/GPU`));
      dot.addEventListener("click", () => selectRow(c.rank - 1));
      nodes.push(dot);
    });
  });
  const front = state.curves.pareto_front;
  if (front.length > 1) {
    nodes.push(el("polyline", { points: front.map((p) => `${X(perUser(p.itl_ms))},${Y(p.tok_s_per_gpu)}`).join(" "), class: "front" }));
  }
  if (chosen) {
    nodes.push(el("circle", { cx: X(chosen[0]), cy: Y(chosen[1]), r: 7, class: "chosen", id: "chosen-point" }));
  }
  const legendX = W - R - 170;
  curves.slice(0, 8).forEach((c, i) => {
    nodes.push(el("rect", { x: legendX, y: T + 4 + i * 14, width: 10, height: 3, fill: COLORS[i % COLORS.length] }));
    nodes.push(el("text", { x: legendX + 14, y: T + 9 + i * 14 }, `#${c.rank} ${c.label}`));
  });
  svg.replaceChildren(...nodes);
}

async function copy(text, button) {
  try { await navigator.clipboard.writeText(text); button.textContent = "Copied"; }
  catch { window.prompt("Copy:", text); }
  setTimeout(() => { button.textContent = button.dataset.label; }, 1200);
}

async function loadOptions() {
  try {
    const options = await getJSON("/api/options", new URLSearchParams());
    const fill = (select, values) => { select.replaceChildren(...values.map((v) => new Option(v.label || v, v.value ?? v))); };
    fill($("engine"), options.engines);
    fill($("estimator"), options.estimators.map((e) => ({ value: e.name, label: e.usable ? e.name : `${e.name} (unavailable)` })));
    $("precision").replaceChildren(new Option("checkpoint's", ""), ...options.precisions.map((p) => new Option(p, p)));
    state.defaults = options.defaults;
    $("engine").value = options.defaults.engine;
    $("estimator").value = options.defaults.estimator;
  } catch (err) { showError(err.message); }
  getJSON("/api/gpus", new URLSearchParams()).then((gpus) => {
    $("gpu-list").replaceChildren(...gpus.map((g) => new Option(g.name, g.name)));
  }).catch(() => {});
}

let modelTimer = null;
function suggestModels() {
  clearTimeout(modelTimer);
  modelTimer = setTimeout(async () => {
    const q = $("model").value.trim();
    const params = new URLSearchParams(q ? { q } : {});
    try {
      const models = await getJSON("/api/models", params);
      $("model-list").replaceChildren(...models.slice(0, 50).map((m) => new Option(m.id, m.id)));
      const exact = models.find((m) => m.id.toLowerCase() === q.toLowerCase());
      $("model-facts").textContent = exact ? `${exact.family}, ${(exact.parameters / 1e9).toFixed(2)}B parameters, ${exact.kind}, context ${exact.context_length.toLocaleString()}` : "";
    } catch { /* suggestions are optional */ }
  }, 150);
}

async function start() {
  for (const b of [$("share"), $("copy-launch")]) b.dataset.label = b.textContent;
  await loadOptions();
  const params = new URLSearchParams(location.search);
  fillForm(params);
  $("form").addEventListener("submit", (e) => { e.preventDefault(); run(true); });
  $("model").addEventListener("input", suggestModels);
  $("share").addEventListener("click", () => copy(location.href, $("share")));
  $("copy-launch").addEventListener("click", () => copy($("launch").textContent, $("copy-launch")));
  window.addEventListener("popstate", () => {
    $("form").reset();
    fillForm(new URLSearchParams(location.search));
    if (location.search) run(false);
  });
  suggestModels();
  if (params.get("model")) run(false);
}

document.addEventListener("DOMContentLoaded", start);
