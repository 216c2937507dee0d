// The analyst's worksheet: the views (Manifest, Queue, Rules, Performance, Policy), the key and its
// role, the scored manifest as a list (every row, paged; sorted and filtered by any column; the
// filtered view exported), and the declaration drawer (evidence, the one outcome form, a lane
// override). The queue, rules, figures and policy: desk.js. Plain JavaScript, no build step.
// The analyst's words come from the service (GET /v1/words); every value from a manifest is
// shown with textContent (never parsed as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE_ROWS = 100;
const state = {
  file: null, result: null, words: null, role: null, current: null,
  sort: { key: "risk_score", descending: true }, filters: {}, page: 0,
};

function key() { return $("api-key").value.trim(); }
function headers() { return { "X-API-Key": key() }; }
function jsonHeaders() { return { ...headers(), "Content-Type": "application/json" }; }
function word(name) { return (state.words && state.words.fields[name]) || name; }

function setStatus(el, text, error) {
  el.textContent = text;
  el.classList.toggle("error", Boolean(error));
}

async function failure(response) {
  try {
    const body = await response.json();
    return body.message || (body.detail && JSON.stringify(body.detail)) || response.statusText;
  } catch (e) { return `${response.status} ${response.statusText}`; }
}

function cell(tr, text, cls, label) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  if (label) td.dataset.label = label;
  tr.appendChild(td);
  return td;
}

function fmt(x, digits) {
  if (x === null || x === undefined || x === "") return "";
  const n = Number(x);
  return Number.isFinite(n) ? n.toLocaleString(undefined, { maximumFractionDigits: digits ?? 2 }) : String(x);
}

function badge(parent, text, cls, title) {
  const b = document.createElement("span");
  b.className = `badge ${cls}`;
  b.textContent = text;
  if (title) b.title = title;
  parent.appendChild(b);
  return b;
}

function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

// --- views, the key's role, the service's words ------------------------------------------
function show(view) {
  for (const v of document.querySelectorAll("section.view")) v.hidden = v.dataset.view !== view;
  for (const b of $("nav").querySelectorAll("button")) b.classList.toggle("active", b.dataset.view === view);
  if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);
  if (typeof onView === "function") onView(view);
}

async function loadWords() {
  const r = await fetch("/v1/words");
  if (!r.ok) return;
  state.words = await r.json();
  for (const el of document.querySelectorAll("[data-field]")) el.textContent = word(el.dataset.field);
  const concealment = $("o-concealment");
  for (const [value, text] of Object.entries(state.words.concealments)) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    concealment.appendChild(o);
  }
  buildListHead();
  if (typeof afterWords === "function") afterWords(state.words);
}

async function loadRole() {
  if (!key()) return;
  const r = await fetch("/v1/me", { headers: headers() });
  if (!r.ok) { setStatus($("model"), await failure(r), true); return; }
  state.role = (await r.json()).role;
  $("role").hidden = false;
  $("role").textContent = state.role;
  document.body.classList.toggle("supervising", state.role === "supervisor" || state.role === "admin");
}

async function loadModel() {
  const r = await fetch("/v1/model", { headers: headers() });
  if (!r.ok) { setStatus($("model"), await failure(r), true); return; }
  const m = await r.json();
  setStatus($("model"), `model ${m.name} v${m.version}`);
}

// the last manifest this key scored, kept by the service: a reload does not lose it
async function loadLastManifest() {
  const r = await fetch("/v1/manifests/last", { headers: headers() });
  if (r.ok) showResult(await r.json());
}

async function signIn() {
  if (!key()) return;
  localStorage.setItem("contraband-key", key());
  await Promise.all([loadRole(), loadModel(), loadLastManifest()]);
  if (typeof afterSignIn === "function") afterSignIn();
}

// --- the manifest ---------------------------------------------------------------------------
function uploadUrl(format) {
  const budget = Number($("budget").value) / 100;
  const params = new URLSearchParams({ budget: String(budget), format });
  if ($("mapping").value) params.set("mapping", $("mapping").value);
  return "/v1/manifests?" + params.toString();
}

async function send(format) {
  const form = new FormData();
  form.append("file", state.file, state.file.name);
  return fetch(uploadUrl(format), { method: "POST", headers: headers(), body: form });
}

async function upload() {
  if (!state.file) { setStatus($("status"), "choose a manifest file first", true); return; }
  if (!key()) { setStatus($("status"), "enter your API key first", true); return; }
  setStatus($("status"), `scoring ${state.file.name}\u2026`);
  $("upload").disabled = true;
  try {
    const r = await send("json");
    if (!r.ok) { setStatus($("status"), await failure(r), true); return; }
    const result = await r.json();
    setStatus($("status"), `scored in ${fmt(result.summary.seconds, 2)} s`);
    $("download").disabled = false;
    state.page = 0;
    showResult(result);
    if (typeof afterUpload === "function") afterUpload(result);
  } catch (e) {
    setStatus($("status"), "the service did not answer: " + e, true);
  } finally {
    $("upload").disabled = false;
  }
}

function showResult(result) {
  state.result = result;
  const s = result.summary;
  const lanes = s.lanes ? `; lanes: ${s.lanes.red} red, ${s.lanes.yellow} yellow, ${s.lanes.green} green` +
    (s.lanes.kept ? ` (${s.lanes.kept} kept their lane)` : "") : "";
  const skipped = (s.rules_skipped || []).length ? `; rules skipped: ${s.rules_skipped.map((r) => r.rule_id).join(", ")}` : "";
  $("summary").textContent = `${s.source}: ${fmt(s.rows, 0)} rows, ${fmt(s.scored, 0)} scored, ${fmt(s.rejected, 0)} ` +
    `rejected; ${fmt(s.flagged, 0)} flagged at a ${fmt(s.budget * 100, 1)} % budget${lanes}${skipped}`;
  $("export").disabled = false;
  renderList();
  renderRejected();
  if (typeof drawScores === "function") drawScores($("score-chart"), result.rows);
}

// the list's columns: the service's words for each, a value to sort and filter by, a cell
const COLUMNS = [
  { key: "rank", num: true, value: (r) => r.rank },
  { key: "risk_score", num: true, value: (r) => r.risk_score, text: (r) => fmt(r.risk_score, 3) },
  { key: "lane", value: (r) => r.lane || "", render: (td, r) => r.lane && badge(td, r.lane, `lane-${r.lane}`) },
  { key: "declaration_id", value: (r) => r.declaration_id },
  { key: "declaration_date", value: (r) => r.declaration.declaration_date },
  { key: "hs_code", value: (r) => r.declaration.hs_code },
  { key: "goods_description", value: (r) => r.declaration.goods_description },
  { key: "route", value: (r) => r.route || "" },
  { key: "exporter_id", value: (r) => r.declaration.exporter_id },
  { key: "lane_reason", value: (r) => r.lane_reason || "", cls: "reason" },
  { key: "reasons", value: (r) => shownReasons(r).join(" \u00b7 "), cls: "reason" },
];

function buildListHead() {
  const head = $("results-head"), filters = $("results-filters");
  head.replaceChildren();
  filters.replaceChildren();
  for (const c of COLUMNS) {
    const th = document.createElement("th");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link sort";
    b.id = `sort-${c.key}`;
    b.dataset.key = c.key;
    b.textContent = word(c.key);
    b.addEventListener("click", () => sortBy(c.key));
    th.appendChild(b);
    head.appendChild(th);
    const f = document.createElement("th");
    const input = document.createElement("input");
    input.id = `filter-${c.key}`;
    input.placeholder = c.num ? "> 0.5" : "contains";
    input.setAttribute("aria-label", `filter ${word(c.key)}`);
    input.value = state.filters[c.key] || "";
    input.addEventListener("input", () => { state.filters[c.key] = input.value; state.page = 0; renderList(); });
    f.appendChild(input);
    filters.appendChild(f);
  }
  markSort();
}

function markSort() {
  for (const b of document.querySelectorAll("#results-head button.sort")) {
    const on = b.dataset.key === state.sort.key;
    b.classList.toggle("sorted", on);
    b.textContent = word(b.dataset.key) + (on ? (state.sort.descending ? " \u25bc" : " \u25b2") : "");
  }
}

function sortBy(columnKey) {
  state.sort = { key: columnKey, descending: state.sort.key === columnKey ? !state.sort.descending : columnKey === "risk_score" };
  state.page = 0;
  markSort();
  renderList();
}

// a filter: text that the cell contains (any case), or for numbers "> x", "< x", "= x"
function passes(column, row, wanted) {
  const value = column.value(row);
  const m = column.num && wanted.match(/^\s*([<>=])\s*(-?[\d.]+)\s*$/);
  if (m) {
    const x = Number(value), y = Number(m[2]);
    return m[1] === ">" ? x > y : m[1] === "<" ? x < y : x === y;
  }
  return String(value ?? "").toLowerCase().includes(wanted.toLowerCase());
}

function viewRows() {
  if (!state.result) return [];
  const active = COLUMNS.filter((c) => (state.filters[c.key] || "").trim());
  const rows = state.result.rows.filter((r) => active.every((c) => passes(c, r, state.filters[c.key].trim())));
  const column = COLUMNS.find((c) => c.key === state.sort.key) || COLUMNS[1];
  const sign = state.sort.descending ? -1 : 1;
  const compare = column.num ? (a, b) => (Number(column.value(a)) - Number(column.value(b)))
    : (a, b) => String(column.value(a) ?? "").localeCompare(String(column.value(b) ?? ""));
  return rows.sort((a, b) => sign * compare(a, b) || a.rank - b.rank);
}

function renderList() {
  const rows = viewRows();
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
  state.page = Math.min(state.page, pages - 1);
  const start = state.page * PAGE_ROWS;
  const body = $("results").querySelector("tbody");
  body.replaceChildren();
  for (const row of rows.slice(start, start + PAGE_ROWS)) {
    const tr = document.createElement("tr");
    tr.dataset.id = row.declaration_id;
    if (row.lane) tr.classList.add(`row-${row.lane}`);
    for (const c of COLUMNS) {
      const td = cell(tr, c.render ? "" : (c.text ? c.text(row) : c.value(row)), c.cls, word(c.key));
      td.dataset.key = c.key;
      if (c.render) c.render(td, row);
    }
    tr.addEventListener("click", () => openDrawer(row.declaration_id, row));
    body.appendChild(tr);
  }
  const total = state.result ? state.result.rows.length : 0;
  $("shown").textContent = rows.length ? `rows ${fmt(start + 1, 0)}\u2013${fmt(Math.min(start + PAGE_ROWS, rows.length), 0)} ` +
    `of ${fmt(rows.length, 0)} matching (${fmt(total, 0)} scored)` : `no row of ${fmt(total, 0)} matches`;
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page >= pages - 1;
}

function renderRejected() {
  const rejected = state.result.rejected;
  const total = state.result.summary.rejected;
  $("rejected-panel").hidden = total === 0;
  // the answer echoes the first rejected rows; the scored CSV holds every one
  $("rejected-title").textContent = rejected.length < total
    ? `Rejected rows (${fmt(total, 0)}; the first ${fmt(rejected.length, 0)} shown, every one in the scored CSV)`
    : `Rejected rows (${fmt(total, 0)})`;
  const body = $("rejected").querySelector("tbody");
  body.replaceChildren();
  for (const r of rejected) {
    const tr = document.createElement("tr");
    cell(tr, r.line);
    cell(tr, r.declaration_id);
    cell(tr, r.problems.map((p) => `${p.column}: ${p.reason}` + (p.value ? ` (${p.value})` : "")).join("; "));
    body.appendChild(tr);
  }
}

// the filtered, sorted view as CSV: the columns shown, a cell that a spreadsheet would read as a
// formula neutralised with a leading apostrophe
function csvCell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = "'" + text;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function exportView() {
  const rows = viewRows();
  const lines = [COLUMNS.map((c) => csvCell(word(c.key))).join(",")];
  for (const r of rows) lines.push(COLUMNS.map((c) => csvCell(c.value(r))).join(","));
  const stem = (state.result.summary.source || "manifest").replace(/\.[^.]*$/, "");
  download(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }), `${stem}_view.csv`);
}

async function downloadScored() {
  if (!state.file) return;
  setStatus($("status"), "preparing the scored CSV\u2026");
  const r = await send("csv");
  if (!r.ok) { setStatus($("status"), await failure(r), true); return; }
  const name = state.file.name.replace(/\.[^.]*$/, "") + "_scored.csv";
  download(await r.blob(), name);
  setStatus($("status"), `downloaded ${name}`);
}

function chooseFile(file) {
  state.file = file || null;
  $("download").disabled = true;
  setStatus($("status"), file ? `${file.name} (${fmt(file.size / 1024, 0)} KB) ready` : "");
}

// --- the drawer: one declaration, its evidence, its one outcome form ----------------------
// a declaration an analysts' rule selected leads with that rule, then the model's reasons
function shownReasons(row) {
  return row.lane_source === "rule" && row.lane_reason ? [row.lane_reason, ...row.reasons] : row.reasons;
}

function keyValueRows(table, pairs, labels) {
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const [k, v] of pairs) {
    const tr = document.createElement("tr");
    cell(tr, (labels && labels[k]) || word(k));
    cell(tr, typeof v === "number" ? fmt(v, 3) : v);
    body.appendChild(tr);
  }
}

function listItems(el, texts) {
  el.replaceChildren(...texts.map((t) => { const li = document.createElement("li"); li.textContent = t; return li; }));
}

// ``context``: what the list or the queue knows of it (risk, lane, reasons, case)
async function openDrawer(declarationId, context) {
  const row = context || {};
  state.current = { declaration_id: declarationId, case_id: row.case_id ?? null, case: row.case || null, row };
  $("detail").hidden = false;
  $("detail").scrollTop = 0;
  document.body.classList.add("drawer-open");
  $("detail-title").textContent = `${declarationId}` + (row.risk_score !== undefined && row.risk_score !== null
    ? `: risk ${fmt(row.risk_score, 3)}` : "");
  const lane = row.lane ? `${(state.words && state.words.lanes[row.lane]) || row.lane}. ${row.lane_reason || ""}` : "";
  $("detail-lane").textContent = lane;
  listItems($("detail-reasons"), row.reasons ? shownReasons(row) : []);
  for (const id of ["outcome-status", "override-status"]) setStatus($(id), "");
  $("outcome-title").textContent = state.current.case_id ? `Inspection outcome: case ${state.current.case_id}` : "Inspection outcome";
  $("o-close").hidden = !state.current.case_id;
  fillOutcomeForm(state.current.case);
  $("case-instructions").textContent = "";
  $("norms").querySelector("tbody").replaceChildren();
  $("history").replaceChildren();
  const [evidence, kase] = await Promise.all([
    fetch(`/v1/declarations/${encodeURIComponent(declarationId)}/evidence`, { headers: headers() }),
    state.current.case_id ? fetch(`/v1/cases/${state.current.case_id}`, { headers: headers() }) : null,
  ]);
  if (kase && kase.ok) {
    const c = await kase.json();
    state.current.case = c;
    fillOutcomeForm(c);
    $("case-instructions").textContent = c.instructions ? `Instructions: ${c.instructions}` : "";
  }
  if (!evidence.ok) { setStatus($("outcome-status"), await failure(evidence), true); return; }
  showEvidence(await evidence.json());
}

function fillOutcomeForm(c) {
  c = c || {};
  $("o-found").value = c.contraband_found === null || c.contraband_found === undefined ? "" : String(Boolean(c.contraband_found));
  $("o-material").value = c.material || "";
  $("o-concealment").value = c.concealment || "";
  $("o-hs").value = c.hs_code_found || "";
  $("o-quantity").value = c.seized_quantity_kg ?? "";
  $("o-seized").value = c.seized_value_usd ?? "";
  $("o-note").value = c.note || "";
  $("o-correction").value = "";
}

function showEvidence(ev) {
  const body = $("norms").querySelector("tbody");
  for (const n of ev.norms) {
    const tr = document.createElement("tr");
    cell(tr, `${n.label || n.measure} (${n.unit})`);
    cell(tr, fmt(n.declared, 2));
    cell(tr, fmt(n.hs_norm, 2));
    cell(tr, n.ratio === null ? "" : `\u00d7${fmt(n.ratio, 2)}`);
    body.appendChild(tr);
  }
  const ref = ev.reference;
  $("reference").textContent = ref
    ? `Reference for HS ${ev.declaration.hs_code}: ${ref.usd_per_kg_low}\u2013${ref.usd_per_kg_high} USD/kg (${ref.role}); ${String(ref.goods_descriptions || "").split("|").slice(0, 3).join(", ")}`
    : `HS ${ev.declaration.hs_code} is not in the reference table.`;
  listItems($("history"), ev.history_in_words || []);
  const seized = $("seizures").querySelector("tbody");
  seized.replaceChildren();
  for (const s of ev.earlier_seizures || []) {
    const tr = document.createElement("tr");
    tr.dataset.id = s.declaration_id;
    for (const v of [s.declaration_id, s.declaration_date, word(s.linked_by), s.hs_code || "", s.material || "",
      fmt(s.seized_value_usd, 0)]) cell(tr, v);
    seized.appendChild(tr);
  }
  if (!(ev.earlier_seizures || []).length) cell(seized.appendChild(document.createElement("tr")), "none recorded before its day");
  keyValueRows($("declaration"), Object.entries(ev.declaration), ev.labels);
  if (typeof drawNorms === "function") drawNorms($("norm-chart"), ev.norms);
  showOutcomes(ev.outcomes);
}

function showOutcomes(outcomes) {
  listItems($("outcomes"), outcomes.map((o) => {
    const result = o.contraband_found === null || o.contraband_found === undefined ? "pending"
      : (o.contraband_found ? "contraband found" : "nothing found");
    return `${o.recorded_at}: ${o.inspected ? "inspected" : "not inspected"}, ${result}` +
      (o.material ? `, ${o.material}` : "") + (o.seized_value_usd ? `, seized ${fmt(o.seized_value_usd, 0)} USD` : "") +
      (o.note ? ` (${o.note})` : "") + (o.recorded_by ? `, by ${o.recorded_by}` : "");
  }));
}

function number(id) { const v = $(id).value; return v === "" ? null : Number(v); }
function text(id) { const v = $(id).value.trim(); return v === "" ? null : v; }

// the one outcome form: through the case where the declaration has one, else into the history
async function recordOutcome(event) {
  event.preventDefault();
  const current = state.current;
  if (!current) return;
  if ($("o-found").value === "") { setStatus($("outcome-status"), "say whether contraband was found", true); return; }
  const found = $("o-found").value === "true";
  const fields = { contraband_found: found, note: text("o-note") };
  if (found) {
    Object.assign(fields, { material: text("o-material"), concealment: text("o-concealment"), hs_code_found: text("o-hs"),
      seized_quantity_kg: number("o-quantity"), seized_value_usd: number("o-seized") });
  }
  const correction = text("o-correction");
  let r;
  if (current.case_id) {
    r = await fetch(`/v1/cases/${current.case_id}/outcome`, { method: "POST", headers: jsonHeaders(),
      body: JSON.stringify({ ...fields, correction_reason: correction }) });
  } else {
    const outcome = { declaration_id: current.declaration_id, inspected: true, contraband_found: found,
      material: fields.material ?? null, seized_value_usd: fields.seized_value_usd ?? null, note: fields.note };
    r = await fetch("/v1/outcomes", { method: "POST", headers: jsonHeaders(),
      body: JSON.stringify({ outcomes: [outcome], correction_reason: correction }) });
  }
  if (!r.ok) { setStatus($("outcome-status"), await failure(r), true); return; }
  const answer = await r.json();
  if (answer.rejected && answer.rejected.length) { setStatus($("outcome-status"), answer.rejected[0].reason, true); return; }
  if (current.case_id) current.case = answer;
  if (typeof afterOutcome === "function") await afterOutcome();  // the figures count it before it is said
  setStatus($("outcome-status"), answer.unchanged ? "same as the recorded outcome: nothing changed"
    : `outcome recorded${current.case_id ? ` for case ${current.case_id}` : ""}: ${found ? "contraband found" : "nothing found"}`);
  const again = await fetch(`/v1/outcomes?declaration_id=${encodeURIComponent(current.declaration_id)}&versions=true`,
    { headers: headers() });
  if (again.ok) showOutcomes((await again.json()).outcomes.slice().reverse());
}

async function closeCase() {
  const current = state.current;
  if (!current || !current.case_id) return;
  const r = await fetch(`/v1/cases/${current.case_id}/close`, { method: "POST", headers: jsonHeaders(),
    body: JSON.stringify({ note: text("o-note") }) });
  if (!r.ok) { setStatus($("outcome-status"), await failure(r), true); return; }
  setStatus($("outcome-status"), `case ${current.case_id} closed`);
  if (typeof afterOutcome === "function") await afterOutcome();
}

async function overrideLane(event) {
  event.preventDefault();
  const current = state.current;
  if (!current) return;
  const reason = text("v-reason");
  if (!reason) { setStatus($("override-status"), "say why the lane changes", true); return; }
  const r = await fetch(`/v1/declarations/${encodeURIComponent(current.declaration_id)}/lane`, {
    method: "POST", headers: jsonHeaders(), body: JSON.stringify({ lane: $("v-lane").value, reason }) });
  if (!r.ok) { setStatus($("override-status"), await failure(r), true); return; }
  const d = await r.json();
  setStatus($("override-status"), `now in the ${d.lane} lane`);
  if (typeof afterOutcome === "function") await afterOutcome();
}

function closeDrawer() {
  $("detail").hidden = true;
  document.body.classList.remove("drawer-open");
}

$("api-key").value = localStorage.getItem("contraband-key") || "";
$("api-key").addEventListener("change", signIn);
for (const b of $("nav").querySelectorAll("button")) b.addEventListener("click", () => show(b.dataset.view));
$("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); chooseFile(e.dataTransfer.files[0]); });
$("upload").addEventListener("click", upload);
$("download").addEventListener("click", downloadScored);
$("export").addEventListener("click", exportView);
$("prev").addEventListener("click", () => { state.page -= 1; renderList(); });
$("next").addEventListener("click", () => { state.page += 1; renderList(); });
$("clear-filters").addEventListener("click", () => { state.filters = {}; buildListHead(); renderList(); });
$("close-detail").addEventListener("click", closeDrawer);
document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDrawer(); });
$("outcome-form").addEventListener("submit", recordOutcome);
$("o-close").addEventListener("click", closeCase);
$("override-form").addEventListener("submit", overrideLane);
