// The targeting desk on the worksheet: the case queue (the main view: sorted by risk within each
// lane; a case opens the drawer), outcomes from a file, the analysts' rules (every condition, a
// live preview of their hits, change and retire: a supervisor's), the supervisor's figures and
// the policy, and the pictures (SVG drawn here: nothing is fetched from elsewhere).
// Uses app.js's helpers ($, headers, jsonHeaders, cell, fmt, word, badge, failure, setStatus).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const LANE_COLOURS = { red: "#c62828", yellow: "#f2c200", green: "#2e7d32" };
const SOURCE_COLOURS = { model: "#2a6fdb", rule: "#8e24aa", control: "#00897b", override: "#6d4c41" };
const desk = { cases: [], queuePage: 0, rules: [], editing: null, view: "manifest" };
const QUEUE_COLUMNS = ["case_id", "lane", "state", "risk_score", "declaration_id", "goods_description", "hs_code",
  "route", "why"];

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

function sourceWord(source) { return (state.words && state.words.sources[source]) || source; }
function supervising() { return state.role === "supervisor" || state.role === "admin"; }

// --- the queue -------------------------------------------------------------------------------
function afterWords() {
  const head = $("queue-head");
  head.replaceChildren(...QUEUE_COLUMNS.map((k) => { const th = document.createElement("th"); th.textContent = word(k); return th; }));
  buildConditions();
}

async function loadQueue() {
  if (!key()) return;
  const t0 = performance.now();
  const params = new URLSearchParams();
  if ($("queue-state").value) params.set("state", $("queue-state").value);
  if ($("queue-lane").value) params.set("lane", $("queue-lane").value);
  const r = await fetch("/v1/cases?" + params.toString(), { headers: headers() });
  if (!r.ok) { setStatus($("queue-status"), await failure(r), true); return; }
  desk.cases = (await r.json()).cases;
  renderQueue();
  setStatus($("queue-status"), `${fmt(desk.cases.length, 0)} cases (${fmt(performance.now() - t0, 0)} ms)`);
}

// the queue a page at a time, as the list: red first by risk, then yellow (the service's order)
function renderQueue() {
  const pages = Math.max(1, Math.ceil(desk.cases.length / PAGE_ROWS));
  desk.queuePage = Math.max(0, Math.min(desk.queuePage, pages - 1));
  const start = desk.queuePage * PAGE_ROWS;
  const rows = desk.cases.slice(start, start + PAGE_ROWS).map((c) => {
    const tr = document.createElement("tr");
    tr.dataset.case = c.case_id;
    tr.dataset.id = c.declaration_id;
    tr.classList.add(`row-${c.lane}`);
    for (const k of QUEUE_COLUMNS) {
      const td = cell(tr, k === "lane" ? "" : k === "risk_score" ? fmt(c.risk_score, 3) : c[k], k === "why" ? "reason" : "",
        word(k));
      td.dataset.key = k;
      if (k === "lane") badge(td, c.lane, `lane-${c.lane}`);
    }
    tr.addEventListener("click", () => openCase(c));
    return tr;
  });
  $("queue").querySelector("tbody").replaceChildren(...rows);
  $("queue-shown").textContent = desk.cases.length ? `cases ${fmt(start + 1, 0)}\u2013` +
    `${fmt(Math.min(start + PAGE_ROWS, desk.cases.length), 0)} of ${fmt(desk.cases.length, 0)}` : "no case";
  $("queue-prev").disabled = desk.queuePage === 0;
  $("queue-next").disabled = desk.queuePage >= pages - 1;
}

function openCase(c) {
  const row = state.result && state.result.rows.find((r) => r.declaration_id === c.declaration_id);
  openDrawer(c.declaration_id, { ...(row || {}), risk_score: c.risk_score, lane: c.lane, lane_reason: c.why,
    case_id: c.case_id, case: c });
}

async function downloadQueue() {
  const params = new URLSearchParams({ format: "csv" });
  if ($("queue-state").value) params.set("state", $("queue-state").value);
  if ($("queue-lane").value) params.set("lane", $("queue-lane").value);
  const r = await fetch("/v1/cases?" + params.toString(), { headers: headers() });
  if (!r.ok) { setStatus($("queue-status"), await failure(r), true); return; }
  download(await r.blob(), "cases.csv");
}

async function uploadOutcomes() {
  const file = $("outcomes-file").files[0];
  if (!file) { setStatus($("outcomes-file-status"), "choose a file of outcomes first", true); return; }
  const form = new FormData();
  form.append("file", file, file.name);
  const r = await fetch("/v1/cases/outcomes", { method: "POST", headers: headers(), body: form });
  if (!r.ok) { setStatus($("outcomes-file-status"), await failure(r), true); return; }
  const done = await r.json();
  const refused = done.rejected.slice(0, 5).map((x) => `line ${x.line}, ${x.column}: ${x.reason}`).join("; ");
  setStatus($("outcomes-file-status"), `${fmt(done.recorded, 0)} outcomes recorded, ${fmt(done.rejected.length, 0)} rejected` +
    (refused ? `: ${refused}` : ""), done.rejected.length > 0);
  await afterOutcome();
}

// --- rules ------------------------------------------------------------------------------------
// the form's inputs come from the service's conditions: a list (comma-separated) or a range
function buildConditions() {
  const box = $("r-conditions");
  box.replaceChildren();
  for (const [name, words] of Object.entries(state.words.conditions)) {
    const ranged = state.words.ranged_conditions.includes(name);
    for (const part of ranged ? ["min", "max"] : [null]) {
      const l = document.createElement("label");
      l.textContent = ranged ? `${words}, ${part === "min" ? "at least" : "at most"} ` : `${words} `;
      const input = document.createElement("input");
      input.id = ranged ? `r-${name}-${part}` : `r-${name}`;
      input.dataset.condition = name;
      if (ranged) { input.type = "number"; input.step = "any"; input.dataset.part = part; } else { input.placeholder = "comma-separated"; }
      l.appendChild(input);
      box.appendChild(l);
    }
  }
}

function ruleBody() {
  const conditions = {};
  for (const input of $("r-conditions").querySelectorAll("input")) {
    const name = input.dataset.condition, v = input.value.trim();
    if (!v) continue;
    if (input.dataset.part) (conditions[name] = conditions[name] || {})[input.dataset.part] = Number(v);
    else conditions[name] = v.split(/[,;]/).map((x) => x.trim()).filter(Boolean);
  }
  return { name: $("r-name").value.trim(), lane: $("r-lane").value, conditions,
    rationale: $("r-rationale").value.trim(), instructions: $("r-instructions").value.trim(),
    valid_from: $("r-from").value || null, valid_to: $("r-to").value || null };
}

// what the page can say before the service does: the fields a rule needs
function ruleProblem(body) {
  if (!body.name) return "give the rule a name";
  if (!Object.keys(body.conditions).length) return "give the rule at least one condition";
  if (!body.rationale) return "say why the rule selects these declarations (its rationale)";
  return null;
}

async function previewRule() {
  const body = ruleBody();
  const problem = ruleProblem(body);
  if (problem) { setStatus($("rule-preview"), problem, true); return; }
  const r = await fetch("/v1/rules/preview", { method: "POST", headers: jsonHeaders(), body: JSON.stringify(body) });
  if (!r.ok) { setStatus($("rule-preview"), await failure(r), true); return; }
  const p = await r.json();
  const part = (x, what) => `${fmt(x.hits, 0)} of ${fmt(x.declarations, 0)} declarations ${what}` +
    (x.sample.length ? ` (${x.sample.slice(0, 5).join(", ")}${x.hits > 5 ? ", \u2026" : ""})` : "");
  setStatus($("rule-preview"), `It would hit ${part(p.manifest, "of your last manifest")}; ${part(p.last_30_days, "of the last 30 days")}.`);
}

async function saveRule(event) {
  event.preventDefault();
  const body = ruleBody();
  const problem = ruleProblem(body);
  if (problem) { setStatus($("rule-status"), problem, true); return; }
  const editing = desk.editing;
  const r = await fetch(editing ? `/v1/rules/${editing}` : "/v1/rules", { method: editing ? "PUT" : "POST",
    headers: jsonHeaders(), body: JSON.stringify(body) });
  if (!r.ok) { setStatus($("rule-status"), await failure(r), true); return; }
  const rule = await r.json();
  editRule(null);
  await loadRules();  // the table shows it before it is said
  setStatus($("rule-status"), `${rule.rule_id} saved (version ${rule.version}): ${rule.in_words}`);
}

function editRule(rule) {
  desk.editing = rule ? rule.rule_id : null;
  $("rule-form-title").textContent = rule ? `Change ${rule.rule_id}` : "Write a rule";
  $("r-cancel").hidden = !rule;
  $("r-retire-box").hidden = !rule;
  $("r-name").value = rule ? rule.name : "";
  $("r-lane").value = rule ? rule.lane : "red";
  $("r-rationale").value = rule ? rule.rationale : "";
  $("r-instructions").value = rule ? rule.instructions || "" : "";
  $("r-from").value = rule ? rule.valid_from || "" : "";
  $("r-to").value = rule ? rule.valid_to || "" : "";
  for (const input of $("r-conditions").querySelectorAll("input")) {
    const value = rule ? rule.conditions[input.dataset.condition] : undefined;
    input.value = value === undefined ? "" : input.dataset.part ? (value[input.dataset.part] ?? "") : value.join(", ");
  }
  setStatus($("rule-preview"), "");
  if (rule) $("rule-form").scrollIntoView({ block: "start" });
}

async function retireRule() {
  const reason = $("r-retire-reason").value.trim();
  if (!reason) { setStatus($("rule-status"), "say why the rule is retired", true); return; }
  const r = await fetch(`/v1/rules/${desk.editing}/retire`, { method: "POST", headers: jsonHeaders(), body: JSON.stringify({ reason }) });
  if (!r.ok) { setStatus($("rule-status"), await failure(r), true); return; }
  const retired = desk.editing;
  editRule(null);
  await loadRules();
  setStatus($("rule-status"), `${retired} retired`);
}

async function loadRules() {
  if (!key()) return;
  const r = await fetch("/v1/rules", { headers: headers() });
  if (!r.ok) { setStatus($("rule-status"), await failure(r), true); return; }
  desk.rules = (await r.json()).rules;
  const body = $("rules").querySelector("tbody");
  body.replaceChildren();
  for (const rule of desk.rules) {
    const tr = document.createElement("tr");
    tr.dataset.rule = rule.rule_id;
    const f = rule.figures;
    cell(tr, `${rule.rule_id} v${rule.version}`, "", "rule");
    cell(tr, rule.lane, "", "lane");
    cell(tr, `${rule.name}: ${rule.in_words}`, "", "name: conditions");
    cell(tr, fmt(f.hits, 0), "", "hits");
    cell(tr, fmt(f.decided ?? f.hits, 0), "", "decided by it");
    cell(tr, fmt(f.inspections, 0), "", "inspected");
    cell(tr, fmt(f.seizures, 0), "", "seizures");
    cell(tr, rate({ rate: f.seizure_rate, low: f.rate_low, high: f.rate_high }) +
      (f.review ? "; due for review: nothing found lately" : ""), "", "seizure rate");
    const actions = cell(tr, "");
    if (supervising()) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "change or retire";
      b.addEventListener("click", () => editRule(rule));
      actions.appendChild(b);
    }
    body.appendChild(tr);
  }
}

// --- the supervisor's figures -------------------------------------------------------------------
async function loadPerformance() {
  if (!key()) return;
  const r = await fetch("/v1/performance", { headers: headers() });
  if (!r.ok) return;
  const p = await r.json();
  const c = p.control;
  $("control-figures").textContent = `${c.in_words} (prevalence ${rate(c.prevalence)}; the model's recall ${rate(c.model_recall)})`;
  const s = p.summary;
  $("summary-title").textContent = s.week ? `The week of ${s.week} against the week of ${s.last_week}` : "No decision yet";
  const rows = [...s.by_lane.map((x) => [x.lane, x]), ...s.by_source.map((x) => [sourceWord(x.source), x])];
  const both = (now, then, f) => `${f(now)} (${f(then)})`;
  $("week-summary").querySelector("tbody").replaceChildren(...rows.map(([name, x]) => {
    const tr = document.createElement("tr");
    tr.dataset.name = name;
    cell(tr, name, "", "lane or source");
    cell(tr, both(x.this_week.inspections, x.last_week.inspections, (v) => fmt(v, 0)), "", "inspected (last week)");
    cell(tr, both(x.this_week.seizures, x.last_week.seizures, (v) => fmt(v, 0)), "", "seizures (last week)");
    cell(tr, both(x.this_week.seized_kg, x.last_week.seized_kg, (v) => fmt(v, 0)), "", "seized kg (last week)");
    cell(tr, both(x.this_week.seized_usd, x.last_week.seized_usd, (v) => fmt(v, 0)), "", "seized USD (last week)");
    cell(tr, rate(x.this_week.hit_rate), "", "hit rate this week");
    return tr;
  }));
  $("model-rules").querySelector("tbody").replaceChildren(...p.model_against_rules.slice(-8).map((w) => {
    const tr = document.createElement("tr");
    cell(tr, w.week, "", "week of");
    for (const source of ["model", "rule"]) {
      cell(tr, fmt(w[source].inspections, 0), "", `${source}: inspected`);
      cell(tr, fmt(w[source].seizures, 0), "", `${source}: seizures`);
      cell(tr, rate(w[source]), "", `${source}: hit rate`);
    }
    return tr;
  }));
  const rt = p.latest_retrain;
  $("retrain-figures").textContent = rt
    ? `Latest retraining (cut-off ${rt.cut_off}): ${rt.status}. ${rt.reason || ""}` + (rt.drift
      ? ` Drift: score PSI ${fmt(rt.drift.score_psi, 3)}, flag rate ${fmt(rt.drift.flag_rate * 100, 1)} %` +
        (rt.drift.shifted.length ? `; shifted: ${rt.drift.shifted.join(", ")}` : "; no feature shifted") : "")
    : "No retraining run recorded yet.";
  $("weekly").querySelector("tbody").replaceChildren(...p.weekly.filter((w) => w.lane !== "green").slice(-60).map((w) => {
    const tr = document.createElement("tr");
    tr.dataset.week = w.week;
    tr.dataset.source = w.source;
    tr.dataset.lane = w.lane;
    for (const [v, l] of [[w.week, "week of"], [w.lane, "lane"], [sourceWord(w.source), "selected by"],
      [fmt(w.declarations, 0), "declarations"], [fmt(w.inspections, 0), "inspected"], [fmt(w.seizures, 0), "seizures"],
      [rate(w.hit_rate), "hit rate"]]) cell(tr, v, "", l);
    return tr;
  }));
  drawWeekly($("weekly-chart"), p.weekly);
}

// --- the policy -------------------------------------------------------------------------------
async function loadPolicy() {
  if (!key()) return;
  const r = await fetch("/v1/policy", { headers: headers() });
  if (!r.ok) { setStatus($("policy-status"), await failure(r), true); return; }
  const p = await r.json();
  $("policy-shown").textContent = `Policy version ${p.version}` + (p.version ? `, set by ${p.author} on ${p.created_at}` : " (the product's default)") +
    (p.note ? `: ${p.note}` : "");
  listItems($("policy-lanes"), Object.values(p.lanes));
  $("p-red-share").value = p.red.share !== undefined ? p.red.share * 100 : "";
  $("p-red-count").value = p.red.count ?? "";
  $("p-yellow-share").value = p.yellow.share !== undefined ? p.yellow.share * 100 : "";
  $("p-yellow-count").value = p.yellow.count ?? "";
  $("p-control").value = p.control_share * 100;
}

function capacity(share, count) {
  const s = $(share).value, c = $(count).value;
  return c !== "" ? { count: Number(c) } : { share: Number(s) / 100 };
}

async function savePolicy(event) {
  event.preventDefault();
  const body = { red: capacity("p-red-share", "p-red-count"), yellow: capacity("p-yellow-share", "p-yellow-count"),
    control_share: Number($("p-control").value) / 100, note: $("p-note").value.trim() || null };
  const r = await fetch("/v1/policy", { method: "PUT", headers: jsonHeaders(), body: JSON.stringify(body) });
  if (!r.ok) { setStatus($("policy-status"), await failure(r), true); return; }
  setStatus($("policy-status"), `policy version ${(await r.json()).version} set`);
  await loadPolicy();
}

// --- pictures ---------------------------------------------------------------------------------
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
      svg("title", {}, r).textContent = `${week}, ${sourceWord(source)}: ${found} of ${inspected} inspections found contraband`;
      if (mine.length === 1 && mine[0].hit_rate.low !== null) {
        svg("line", { x1: x + bar * 0.4, x2: x + bar * 0.4, y1: y(mine[0].hit_rate.low), y2: y(mine[0].hit_rate.high),
          stroke: "#1d2329" }, el);
      }
    });
  });
  sources.forEach((source, j) => {
    svg("rect", { x: left + j * 145, y: top + height + 22, width: 10, height: 10, fill: SOURCE_COLOURS[source] }, el);
    label(el, left + j * 145 + 14, top + height + 31, sourceWord(source));
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
  const left = 230, width = 380, mid = left + width / 2;
  svg("line", { x1: mid, y1: 0, x2: mid, y2: 20 * shown.length + 10, stroke: "#1d2329" }, el);
  label(el, mid, 20 * shown.length + 22, "HS norm (x1); each side x10", "middle");
  shown.forEach((n, i) => {
    const scale = Math.max(-1, Math.min(1, Math.log10(n.ratio))) * (width / 2);
    svg("rect", { x: Math.min(mid, mid + scale), y: 4 + 20 * i, width: Math.abs(scale) || 1, height: 14,
      fill: n.ratio < 0.5 || n.ratio > 2 ? "#c62828" : "#2a6fdb" }, el);
    label(el, left - 6, 15 + 20 * i, `${n.label || n.measure}: x${fmt(n.ratio, 2)}`, "end");
  });
}

// --- wiring -----------------------------------------------------------------------------------
function onView(view) {
  desk.view = view;
  if (!key()) return;
  if (view === "queue") loadQueue();
  else if (view === "rules") loadRules();
  else if (view === "performance") loadPerformance();
  else if (view === "policy") loadPolicy();
}

function afterSignIn() { onView(desk.view); }
function afterUpload() { onView(desk.view); }
async function afterOutcome() { await Promise.all([loadQueue(), loadPerformance(), loadRules()]); }

$("queue-refresh").addEventListener("click", loadQueue);
$("queue-state").addEventListener("change", () => { desk.queuePage = 0; loadQueue(); });
$("queue-lane").addEventListener("change", () => { desk.queuePage = 0; loadQueue(); });
$("queue-prev").addEventListener("click", () => { desk.queuePage -= 1; renderQueue(); });
$("queue-next").addEventListener("click", () => { desk.queuePage += 1; renderQueue(); });
$("queue-download").addEventListener("click", downloadQueue);
$("outcomes-upload").addEventListener("click", uploadOutcomes);
$("rule-form").addEventListener("submit", saveRule);
$("r-preview").addEventListener("click", previewRule);
$("r-cancel").addEventListener("click", () => editRule(null));
$("r-retire").addEventListener("click", retireRule);
$("policy-form").addEventListener("submit", savePolicy);

(async () => {
  await loadWords();
  const wanted = location.hash.slice(1);
  show(["manifest", "queue", "rules", "performance", "policy"].includes(wanted) ? wanted : key() ? "queue" : "manifest");
  await signIn();
})();
