// The analyst's page: upload a manifest, read the ranked list with each declaration's lane, open a
// declaration's evidence, record an inspection outcome, download the scored CSV (the queue, rules
// and figures of the targeting desk: desk.js). Plain JavaScript, no build step.
// Every value from a manifest is shown with textContent (never parsed as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const SHOWN_ROWS = 500;
const state = { file: null, result: null, descending: true, current: null };

function key() { return $("api-key").value.trim(); }
function headers() { return { "X-API-Key": key() }; }

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

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fmt(x, digits) {
  if (x === null || x === undefined) return "";
  const n = Number(x);
  return Number.isFinite(n) ? n.toLocaleString(undefined, { maximumFractionDigits: digits ?? 2 }) : String(x);
}

function route(d) {
  const parts = [d.origin_country, d.export_country !== d.origin_country ? d.export_country : null, d.destination_country];
  return parts.filter(Boolean).join(" \u2192 ");
}

async function loadModel() {
  if (!key()) return;
  const r = await fetch("/v1/model", { headers: headers() });
  if (!r.ok) { setStatus($("model"), await failure(r), true); return; }
  const m = await r.json();
  setStatus($("model"), `model ${m.name} v${m.version} (${m.source}${m.note ? ": " + m.note : ""})`);
}

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
  localStorage.setItem("contraband-key", key());
  setStatus($("status"), `scoring ${state.file.name}\u2026`);
  $("upload").disabled = true;
  try {
    const r = await send("json");
    if (!r.ok) { setStatus($("status"), await failure(r), true); return; }
    state.result = await r.json();
    const s = state.result.summary;
    setStatus($("status"), `scored in ${fmt(s.seconds, 2)} s`);
    $("summary").textContent = `${s.source}: ${fmt(s.rows, 0)} rows, ${fmt(s.scored, 0)} scored, ${fmt(s.rejected, 0)} rejected; ` +
      `${fmt(s.flagged, 0)} flagged at a ${fmt(s.budget * 100, 1)} % budget (${fmt(s.exploration, 0)} exploration picks); ` +
      `model ${s.model.name} v${s.model.version}`;
    $("results-panel").hidden = false;
    $("download").disabled = false;
    render();
    renderRejected();
    loadModel();
    if (typeof afterUpload === "function") afterUpload(state.result);
  } catch (e) {
    setStatus($("status"), "the service did not answer: " + e, true);
  } finally {
    $("upload").disabled = false;
  }
}

function matches(row) {
  const d = row.declaration;
  const hs = $("filter-hs").value.trim();
  const country = $("filter-country").value.trim().toUpperCase();
  const exporter = $("filter-exporter").value.trim().toLowerCase();
  const flag = $("filter-flag").value;
  if (hs && !String(d.hs_code || "").startsWith(hs.replace(/\./g, ""))) return false;
  if (country && ![d.origin_country, d.export_country, d.destination_country, d.transit_countries]
    .some((c) => String(c || "").toUpperCase().split(/[;, ]/).includes(country))) return false;
  if (exporter && !String(d.exporter_id || "").toLowerCase().includes(exporter)) return false;
  if (flag === "flagged" && !row.flagged) return false;
  if (flag === "unflagged" && row.flagged) return false;
  return true;
}

function render() {
  const rows = state.result.rows.filter(matches);
  rows.sort((a, b) => state.descending ? b.risk_score - a.risk_score || a.rank - b.rank
                                       : a.risk_score - b.risk_score || b.rank - a.rank);
  const body = $("results").querySelector("tbody");
  body.replaceChildren();
  for (const row of rows.slice(0, SHOWN_ROWS)) {
    const d = row.declaration;
    const tr = document.createElement("tr");
    tr.dataset.id = row.declaration_id;
    if (row.flagged) tr.classList.add("flagged");
    cell(tr, row.rank);
    cell(tr, fmt(row.risk_score, 3));
    const flag = cell(tr, "");
    if (row.flagged) {
      const b = document.createElement("span");
      b.className = row.exploration ? "badge explore" : "badge flag";
      b.textContent = row.exploration ? "explore" : "inspect";
      flag.appendChild(b);
    }
    const lane = cell(tr, "");
    if (row.lane) {
      const b = document.createElement("span");
      b.className = `badge lane-${row.lane}`;
      b.textContent = row.lane;
      b.title = row.lane_reason || "";
      lane.appendChild(b);
    }
    cell(tr, row.declaration_id);
    cell(tr, d.declaration_date);
    cell(tr, d.hs_code);
    cell(tr, d.goods_description);
    cell(tr, route(d));
    cell(tr, d.exporter_id);
    cell(tr, shownReasons(row).join(" \u00b7 "), "reason");
    tr.addEventListener("click", () => openDetail(row));
    body.appendChild(tr);
  }
  $("shown").textContent = `showing ${fmt(Math.min(rows.length, SHOWN_ROWS), 0)} of ${fmt(rows.length, 0)} matching rows`;
  $("sort-risk").innerHTML = state.descending ? "Risk &#9660;" : "Risk &#9650;";
}

function renderRejected() {
  const rejected = state.result.rejected;
  $("rejected-panel").hidden = rejected.length === 0;
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

function keyValueRows(table, pairs, labels) {
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const [k, v] of pairs) {
    const tr = document.createElement("tr");
    cell(tr, (labels && labels[k]) || k.replace(/_/g, " "));
    cell(tr, typeof v === "number" ? fmt(v, 3) : v);
    body.appendChild(tr);
  }
}

// a declaration an analysts' rule selected leads with that rule, then the model's reasons
function shownReasons(row) {
  return row.lane_source === "rule" && row.lane_reason ? [row.lane_reason, ...row.reasons] : row.reasons;
}

async function openDetail(row) {
  state.current = row;
  $("detail").hidden = false;
  $("detail-title").textContent = `${row.declaration_id}: risk ${fmt(row.risk_score, 3)}, rank ${row.rank}`;
  const reasons = $("detail-reasons");
  reasons.replaceChildren();
  for (const r of shownReasons(row)) { const li = document.createElement("li"); li.textContent = r; reasons.appendChild(li); }
  keyValueRows($("declaration"), Object.entries(row.declaration));
  setStatus($("outcome-status"), "");
  $("norms").querySelector("tbody").replaceChildren();
  $("history").replaceChildren();
  const r = await fetch(`/v1/declarations/${encodeURIComponent(row.declaration_id)}/evidence`, { headers: headers() });
  if (!r.ok) { setStatus($("outcome-status"), await failure(r), true); return; }
  const ev = await r.json();
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
  $("history").replaceChildren(...(ev.history_in_words || []).map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  const seized = $("seizures").querySelector("tbody");
  seized.replaceChildren();
  for (const s of ev.earlier_seizures || []) {
    const tr = document.createElement("tr");
    tr.dataset.id = s.declaration_id;
    for (const v of [s.declaration_id, s.declaration_date, ev.labels[s.linked_by] || s.linked_by.replace(/_id$/, ""),
                     s.hs_code || "", s.material || "", fmt(s.seized_value_usd, 0)]) cell(tr, v);
    seized.appendChild(tr);
  }
  if (!(ev.earlier_seizures || []).length) {
    const tr = document.createElement("tr");
    cell(tr, "none recorded before its day");
    seized.appendChild(tr);
  }
  keyValueRows($("declaration"), Object.entries(row.declaration), ev.labels);
  if (typeof drawNorms === "function") drawNorms($("norm-chart"), ev.norms);
  showOutcomes(ev.outcomes);
}

function showOutcomes(outcomes) {
  const list = $("outcomes");
  list.replaceChildren();
  for (const o of outcomes) {
    const li = document.createElement("li");
    const result = o.contraband_found === null || o.contraband_found === undefined ? "pending" : (o.contraband_found ? "contraband found" : "nothing found");
    li.textContent = `${o.recorded_at}: ${o.inspected ? "inspected" : "not inspected"}, ${result}` +
      (o.material ? `, ${o.material}` : "") + (o.seized_value_usd ? `, seized ${fmt(o.seized_value_usd, 0)} USD` : "") +
      (o.note ? ` (${o.note})` : "");
    list.appendChild(li);
  }
}

async function recordOutcome(event) {
  event.preventDefault();
  const row = state.current;
  if (!row) return;
  const found = $("o-found").value;
  const seized = $("o-seized").value;
  const outcome = {
    declaration_id: row.declaration_id,
    inspected: $("o-inspected").checked,
    contraband_found: found === "" ? null : found === "true",
    material: $("o-material").value || null,
    seized_value_usd: seized === "" ? null : Number(seized),
    note: $("o-note").value || null,
  };
  const r = await fetch("/v1/outcomes", {
    method: "POST", headers: { ...headers(), "Content-Type": "application/json" },
    body: JSON.stringify({ outcomes: [outcome] }),
  });
  if (!r.ok) { setStatus($("outcome-status"), await failure(r), true); return; }
  const res = await r.json();
  if (res.rejected.length) { setStatus($("outcome-status"), res.rejected[0].reason, true); return; }
  setStatus($("outcome-status"), res.recorded ? `outcome recorded for ${row.declaration_id}` : "same as the recorded outcome: nothing changed");
  const again = await fetch(`/v1/outcomes?declaration_id=${encodeURIComponent(row.declaration_id)}&versions=true`, { headers: headers() });
  if (again.ok) {
    const data = await again.json();
    showOutcomes(data.outcomes.slice().reverse());  // oldest first, as the evidence lists them
  }
}

async function download() {
  if (!state.file) return;
  setStatus($("status"), "preparing the scored CSV\u2026");
  const r = await send("csv");
  if (!r.ok) { setStatus($("status"), await failure(r), true); return; }
  const blob = await r.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = state.file.name.replace(/\.[^.]*$/, "") + "_scored.csv";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setStatus($("status"), `downloaded ${a.download}`);
}

function chooseFile(file) {
  state.file = file || null;
  $("download").disabled = true;
  setStatus($("status"), file ? `${file.name} (${fmt(file.size / 1024, 0)} KB) ready` : "");
}

$("api-key").value = localStorage.getItem("contraband-key") || "";
$("api-key").addEventListener("change", loadModel);
$("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); chooseFile(e.dataTransfer.files[0]); });
$("upload").addEventListener("click", upload);
$("download").addEventListener("click", download);
for (const id of ["filter-hs", "filter-country", "filter-exporter", "filter-flag"]) {
  $(id).addEventListener("input", () => state.result && render());
}
$("sort-risk").addEventListener("click", () => { state.descending = !state.descending; if (state.result) render(); });
$("close-detail").addEventListener("click", () => { $("detail").hidden = true; });
$("outcome-form").addEventListener("submit", recordOutcome);
loadModel();
