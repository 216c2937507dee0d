// The targeting desk on the analyst's page: the case queue (record an outcome, close a case,
// download the queue), the analysts' rules with their figures (a supervisor writes them), the
// live performance, and the pictures (drawn here as SVG: nothing is fetched from elsewhere).
// Uses app.js's helpers ($, headers, cell, fmt, failure, setStatus). Text goes in with textContent.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const LANE_COLOURS = { red: "#c62828", yellow: "#f2c200", green: "#2e7d32" };
const SOURCE_COLOURS = { model: "#2a6fdb", rule: "#8e24aa", control: "#00897b", override: "#6d4c41" };
const SOURCE_WORDS = { model: "model", rule: "rule", control: "random control", override: "override" };
const desk = { cases: [], current: null };

function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

function label(parent, x, y, text, anchor) {
  const t = svg("text", { x, y, "text-anchor": anchor || "start" }, parent);
  t.textContent = text;
  return t;
}

function rate(r) {
  if (!r || r.rate === null || r.rate === undefined) return "-";
  return `${fmt(r.rate * 100, 1)} % (${fmt(r.low * 100, 1)}\u2013${fmt(r.high * 100, 1)})`;
}

// --- the queue -------------------------------------------------------------------------
async function loadQueue() {
  if (!key()) return;
  const params = new URLSearchParams();
  if ($("queue-state").value) params.set("state", $("queue-state").value);
  if ($("queue-lane").value) params.set("lane", $("queue-lane").value);
  const r = await fetch("/v1/cases?" + params.toString(), { headers: headers() });
  if (!r.ok) { setStatus($("queue-status"), await failure(r), true); return; }
  desk.cases = (await r.json()).cases;
  const body = $("queue").querySelector("tbody");
  body.replaceChildren();
  for (const c of desk.cases) {
    const tr = document.createElement("tr");
    tr.dataset.case = c.case_id;
    cell(tr, c.case_id);
    cell(tr, c.state);
    const lane = cell(tr, "");
    const b = document.createElement("span");
    b.className = `badge lane-${c.lane}`;
    b.textContent = c.lane;
    lane.appendChild(b);
    cell(tr, SOURCE_WORDS[c.source] + (c.rule_id ? ` ${c.rule_id}` : ""));
    cell(tr, c.declaration_id);
    cell(tr, c.day);
    cell(tr, c.why, "reason");
    tr.addEventListener("click", () => openCase(c));
    body.appendChild(tr);
  }
  setStatus($("queue-status"), `${fmt(desk.cases.length, 0)} cases`);
}

function openCase(c) {
  desk.current = c;
  $("case-form").hidden = false;
  $("case-title").textContent = `Case ${c.case_id}: declaration ${c.declaration_id} (${c.lane}, ${c.state})`;
  $("case-why").textContent = c.why;
  $("case-instructions").textContent = c.instructions ? `Instructions: ${c.instructions}` : "";
  $("c-found").value = c.contraband_found === null || c.contraband_found === undefined ? "" : String(c.contraband_found);
  $("c-material").value = c.material || "";
  $("c-concealment").value = c.concealment || "";
  $("c-hs").value = c.hs_code_found || "";
  $("c-quantity").value = c.seized_quantity_kg ?? "";
  $("c-value").value = c.seized_value_usd ?? "";
  $("c-note").value = c.note || "";
  setStatus($("case-status"), "");
  fetch(`/v1/cases/${c.case_id}`, { headers: headers() }).then((r) => r.ok ? r.json() : null).then((full) => {
    if (full && full.instructions) $("case-instructions").textContent = `Instructions: ${full.instructions}`;
  });
}

function number(id) { const v = $(id).value; return v === "" ? null : Number(v); }
function text(id) { const v = $(id).value.trim(); return v === "" ? null : v; }

async function recordCaseOutcome(event) {
  event.preventDefault();
  const c = desk.current;
  if (!c) return;
  if ($("c-found").value === "") { setStatus($("case-status"), "say whether contraband was found", true); return; }
  const found = $("c-found").value === "true";
  const body = { contraband_found: found, note: text("c-note") };
  if (found) {
    Object.assign(body, { material: text("c-material"), concealment: text("c-concealment"),
      hs_code_found: text("c-hs"), seized_quantity_kg: number("c-quantity"), seized_value_usd: number("c-value") });
  }
  const r = await fetch(`/v1/cases/${c.case_id}/outcome`, {
    method: "POST", headers: { ...headers(), "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!r.ok) { setStatus($("case-status"), await failure(r), true); return; }
  const done = await r.json();
  desk.current = done;
  await Promise.all([loadQueue(), loadPerformance(), loadRules()]);  // the figures count it before it is said
  setStatus($("case-status"), `outcome recorded for case ${done.case_id}: ${found ? "contraband found" : "nothing found"}`);
}

async function closeCase() {
  const c = desk.current;
  if (!c) return;
  const r = await fetch(`/v1/cases/${c.case_id}/close`, {
    method: "POST", headers: { ...headers(), "Content-Type": "application/json" }, body: JSON.stringify({ note: text("c-note") }),
  });
  if (!r.ok) { setStatus($("case-status"), await failure(r), true); return; }
  setStatus($("case-status"), `case ${c.case_id} closed`);
  await loadQueue();
}

async function downloadQueue() {
  const params = new URLSearchParams({ format: "csv" });
  if ($("queue-state").value) params.set("state", $("queue-state").value);
  if ($("queue-lane").value) params.set("lane", $("queue-lane").value);
  const r = await fetch("/v1/cases?" + params.toString(), { headers: headers() });
  if (!r.ok) { setStatus($("queue-status"), await failure(r), true); return; }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = "cases.csv";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

// --- rules ------------------------------------------------------------------------------
async function loadRules() {
  if (!key()) return;
  const r = await fetch("/v1/rules", { headers: headers() });
  if (!r.ok) { setStatus($("rule-status"), await failure(r), true); return; }
  const body = $("rules").querySelector("tbody");
  body.replaceChildren();
  for (const rule of (await r.json()).rules) {
    const tr = document.createElement("tr");
    tr.dataset.rule = rule.rule_id;
    const f = rule.figures;
    cell(tr, `${rule.rule_id} v${rule.version}`);
    cell(tr, rule.lane);
    cell(tr, `${rule.name}: ${rule.in_words}`);
    cell(tr, fmt(f.hits, 0));
    cell(tr, fmt(f.inspections, 0));
    cell(tr, fmt(f.seizures, 0));
    cell(tr, rate({ rate: f.seizure_rate, low: f.rate_low, high: f.rate_high }));
    cell(tr, f.review ? "due for review: nothing found lately" : "");
    body.appendChild(tr);
  }
}

function list(id) {
  return $(id).value.split(/[,;]/).map((v) => v.trim()).filter(Boolean);
}

async function saveRule(event) {
  event.preventDefault();
  const conditions = {};
  const pairs = [["hs_prefixes", "r-hs"], ["origin_countries", "r-origin"], ["transit_countries", "r-transit"],
    ["description_words", "r-words"]];
  for (const [name, id] of pairs) { const v = list(id); if (v.length) conditions[name] = v; }
  const body = { name: $("r-name").value.trim(), lane: $("r-lane").value, conditions,
    rationale: $("r-rationale").value.trim(), instructions: $("r-instructions").value.trim() };
  const r = await fetch("/v1/rules", {
    method: "POST", headers: { ...headers(), "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!r.ok) { setStatus($("rule-status"), await failure(r), true); return; }
  const rule = await r.json();
  setStatus($("rule-status"), `${rule.rule_id} saved: ${rule.in_words}`);
  await loadRules();
}

// --- performance and pictures -----------------------------------------------------------
async function loadPerformance() {
  if (!key()) return;
  const r = await fetch("/v1/performance", { headers: headers() });
  if (!r.ok) return;
  const p = await r.json();
  const c = p.control;
  $("control-figures").textContent = `Random control: ${fmt(c.inspections, 0)} inspected, ${fmt(c.seizures, 0)} seizures; ` +
    `estimated prevalence ${rate(c.prevalence)}; the model's estimated recall ${rate(c.model_recall)}.`;
  const rt = p.latest_retrain;
  $("retrain-figures").textContent = rt
    ? `Latest retraining (cut-off ${rt.cut_off}): ${rt.status}. ${rt.reason || ""}` + (rt.drift
      ? ` Drift: score PSI ${fmt(rt.drift.score_psi, 3)}, flag rate ${fmt(rt.drift.flag_rate * 100, 1)} %` +
        (rt.drift.shifted.length ? `; shifted: ${rt.drift.shifted.join(", ")}` : "; no feature shifted") : "")
    : "No retraining run recorded yet.";
  const bySource = $("by-source").querySelector("tbody");
  bySource.replaceChildren();
  for (const [source, s] of Object.entries(p.by_source)) {
    const tr = document.createElement("tr");
    cell(tr, SOURCE_WORDS[source] || source);
    cell(tr, fmt(s.declarations, 0));
    cell(tr, fmt(s.inspections, 0));
    cell(tr, fmt(s.seizures, 0));
    cell(tr, rate(s.hit_rate));
    bySource.appendChild(tr);
  }
  const weekly = $("weekly").querySelector("tbody");
  weekly.replaceChildren();
  for (const w of p.weekly.filter((w) => w.lane !== "green").slice(-40)) {
    const tr = document.createElement("tr");
    tr.dataset.week = w.week;
    tr.dataset.source = w.source;
    cell(tr, w.week);
    cell(tr, w.lane);
    cell(tr, SOURCE_WORDS[w.source] || w.source);
    cell(tr, fmt(w.declarations, 0));
    cell(tr, fmt(w.inspections, 0));
    cell(tr, fmt(w.seizures, 0));
    cell(tr, rate(w.hit_rate));
    weekly.appendChild(tr);
  }
  drawWeekly($("weekly-chart"), p.weekly);
}

// the weekly hit rate of each source, with its 95 % interval as a whisker
function drawWeekly(el, weekly) {
  el.replaceChildren();
  const rows = weekly.filter((w) => w.inspections > 0);
  const weeks = [...new Set(rows.map((w) => w.week))].sort().slice(-12);
  const left = 40, width = 580, top = 10, height = 150;
  svg("line", { x1: left, y1: top + height, x2: left + width, y2: top + height, stroke: "#99a3ad" }, el);
  label(el, left - 4, top + 4, "100 %", "end");
  label(el, left - 4, top + height, "0 %", "end");
  if (!weeks.length) { label(el, left + 10, top + height / 2, "no inspection recorded yet"); return; }
  const sources = Object.keys(SOURCE_COLOURS);
  const slot = width / weeks.length;
  const bar = Math.max(3, slot / (sources.length + 1));
  weeks.forEach((week, i) => {
    label(el, left + i * slot + slot / 2, top + height + 14, week.slice(5), "middle");
    sources.forEach((source, j) => {
      const mine = rows.filter((w) => w.week === week && w.source === source);
      const inspected = mine.reduce((n, w) => n + w.inspections, 0);
      if (!inspected) return;
      const found = mine.reduce((n, w) => n + w.seizures, 0);
      const x = left + i * slot + (j + 0.5) * bar;
      const y = (v) => top + height * (1 - v);
      const share = found / inspected;
      const r = svg("rect", { x, y: y(share), width: bar * 0.8, height: height * share, fill: SOURCE_COLOURS[source] }, el);
      const t = svg("title", {}, r);
      t.textContent = `${week}, ${SOURCE_WORDS[source]}: ${found} of ${inspected} inspections found contraband`;
      if (mine.length === 1 && mine[0].hit_rate.low !== null) {
        svg("line", { x1: x + bar * 0.4, x2: x + bar * 0.4, y1: y(mine[0].hit_rate.low), y2: y(mine[0].hit_rate.high),
          stroke: "#1d2329" }, el);
      }
    });
  });
  sources.forEach((source, j) => {
    svg("rect", { x: left + j * 120, y: top + height + 22, width: 10, height: 10, fill: SOURCE_COLOURS[source] }, el);
    label(el, left + j * 120 + 14, top + height + 31, SOURCE_WORDS[source]);
  });
}

// the manifest's risk scores as a histogram, stacked by lane
function drawScores(el, rows) {
  el.replaceChildren();
  const bins = 20, left = 40, width = 580, top = 10, height = 130;
  const counts = Array.from({ length: bins }, () => ({ red: 0, yellow: 0, green: 0, none: 0 }));
  for (const r of rows) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(Number(r.risk_score) * bins)));
    counts[b][r.lane || "none"] += 1;
  }
  const most = Math.max(1, ...counts.map((c) => c.red + c.yellow + c.green + c.none));
  // a logarithmic height: the few risky declarations stay visible beside the many others
  const h = (n) => (n ? height * Math.log1p(n) / Math.log1p(most) : 0);
  counts.forEach((c, i) => {
    let y = top + height;
    for (const lane of ["green", "yellow", "red", "none"]) {
      const total = c.red + c.yellow + c.green + c.none;
      const part = total ? h(total) * c[lane] / total : 0;
      if (!part) continue;
      y -= part;
      const rect = svg("rect", { x: left + i * (width / bins), y, width: width / bins - 2, height: part,
        fill: LANE_COLOURS[lane] || "#b8c2cc" }, el);
      svg("title", {}, rect).textContent = `risk ${i / bins}\u2013${(i + 1) / bins}: ${c[lane]} ${lane}`;
    }
  });
  svg("line", { x1: left, y1: top + height, x2: left + width, y2: top + height, stroke: "#99a3ad" }, el);
  label(el, left, top + height + 14, "risk 0");
  label(el, left + width, top + height + 14, "risk 1", "end");
  label(el, left - 4, top + 8, fmt(most, 0), "end");
}

// a declaration's measures against its HS code's norm (ratio on a log scale: 1 = the norm)
function drawNorms(el, norms) {
  el.replaceChildren();
  const shown = (norms || []).filter((n) => n.ratio !== null && n.ratio > 0).slice(0, 4);
  const left = 150, width = 380, mid = left + width / 2;
  svg("line", { x1: mid, y1: 0, x2: mid, y2: 20 * shown.length + 10, stroke: "#1d2329" }, el);
  label(el, mid, 20 * shown.length + 22, "HS norm (x1); each side x10", "middle");
  shown.forEach((n, i) => {
    const scale = Math.max(-1, Math.min(1, Math.log10(n.ratio))) * (width / 2);
    svg("rect", { x: Math.min(mid, mid + scale), y: 4 + 20 * i, width: Math.abs(scale) || 1, height: 14,
      fill: n.ratio < 0.5 || n.ratio > 2 ? "#c62828" : "#2a6fdb" }, el);
    label(el, left - 6, 15 + 20 * i, `${n.label || n.measure}: x${fmt(n.ratio, 2)}`, "end");
  });
}

function afterUpload(result) {
  $("scores-panel").hidden = false;
  drawScores($("score-chart"), result.rows);
  loadQueue();
  loadRules();
  loadPerformance();
}

$("queue-refresh").addEventListener("click", loadQueue);
$("queue-state").addEventListener("change", loadQueue);
$("queue-lane").addEventListener("change", loadQueue);
$("queue-download").addEventListener("click", downloadQueue);
$("case-form").addEventListener("submit", recordCaseOutcome);
$("c-close").addEventListener("click", closeCase);
$("rule-form").addEventListener("submit", saveRule);
$("api-key").addEventListener("change", () => { loadQueue(); loadRules(); loadPerformance(); });
if (key()) { loadQueue(); loadRules(); loadPerformance(); }
