"""The service through a real ``contraband serve`` on 127.0.0.1 (HTTP, uvicorn, the history
store on disk, the model from a real MLflow registry): every endpoint's answers and errors."""

from __future__ import annotations

import csv
import gzip
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from contraband.data.contract import OUTCOME_FIELDS, is_truth_column

REPO = Path(__file__).resolve().parent.parent


def fresh_manifest(world, n: int, prefix: str) -> pd.DataFrame:
    """The world's last ``n`` declarations under new ids, as a customs system exports them."""
    rows = world.sort_values("declaration_date").tail(n)
    rows = rows[[c for c in rows.columns if c not in OUTCOME_FIELDS and not is_truth_column(c)]].copy()
    rows = rows.astype(object)  # cells any text may replace, as in an export
    rows["declaration_id"] = [f"{prefix}-{i}" for i in range(len(rows))]
    rows["declaration_date"] = pd.to_datetime(rows["declaration_date"]).dt.strftime("%Y-%m-%d")
    return rows.reset_index(drop=True)


def as_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def upload(service, data: bytes, name: str = "manifest.csv", key: str = "analyst", **params) -> httpx.Response:
    headers = {"X-API-Key": service.keys[key]} if key else {}
    return httpx.post(f"{service.url}/v1/manifests", params=params, files={"file": (name, data)}, headers=headers,
                      timeout=120)


def post(service, path: str, body: dict, key: str = "analyst") -> httpx.Response:
    return httpx.post(f"{service.url}{path}", json=body, headers={"X-API-Key": service.keys[key]}, timeout=60)


def post_text(service, path: str, text: str, key: str = "analyst") -> httpx.Response:
    """A body sent as written (JSON's non-standard NaN and Infinity included)."""
    return httpx.post(f"{service.url}{path}", content=text.encode(), timeout=60,
                      headers={"X-API-Key": service.keys[key], "Content-Type": "application/json"})


def is_problem(r: httpx.Response, status: int, *kinds: str) -> bool:
    """An error answer in the documented model: status, JSON ``error`` and ``message``, no traceback."""
    body = r.json()
    return (r.status_code == status and r.headers["content-type"] == "application/json"
            and (body["error"] in kinds if kinds else True) and isinstance(body["message"], str)
            and {"error", "message"} <= set(body) and "Traceback" not in r.text and len(r.content) < 20_000)


def server_errors(service) -> int:
    """How many requests the session's server answered with its last-resort 500 so far."""
    return service.log.read_text(errors="replace").count("unforeseen failure")


def get(service, path: str, key: str = "analyst", **params) -> httpx.Response:
    return httpx.get(f"{service.url}{path}", params=params, headers={"X-API-Key": service.keys[key]}, timeout=60)


def single(declaration: dict) -> dict:
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in declaration.items()}


# --- service -------------------------------------------------------------------------------
def test_health_readiness_schema_and_page_need_no_key(service):
    assert httpx.get(f"{service.url}/healthz").json()["status"] == "ok"
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready["status"] == "ready" and "contraband-detector v1" in ready["model"]
    schema = httpx.get(f"{service.url}/openapi.json").json()
    assert {"/v1/manifests", "/v1/declarations/score", "/v1/outcomes", "/v1/model", "/v1/model/reload"} <= set(schema["paths"])
    page = httpx.get(f"{service.url}/")
    assert page.status_code == 200 and "targeting worksheet" in page.text
    assert httpx.get(f"{service.url}/page/app.js").status_code == 200
    # the page's words come from the service (no key needed): no copy of the vocabulary in the page
    words = httpx.get(f"{service.url}/v1/words").json()
    assert words["fields"]["exporter_id"] == "exporter" and words["sources"]["control"] == "the random control"
    assert set(words["ranged_conditions"]) <= set(words["conditions"])
    page_text = page.text + httpx.get(f"{service.url}/page/app.js").text + httpx.get(f"{service.url}/page/desk.js").text
    assert not [w for w in list(words["concealments"].values()) + list(words["sources"].values()) if w in page_text]


def test_model_description_names_version_windows_metrics_and_threshold(service, registry):
    info = get(service, "/v1/model").json()
    assert (info["name"], info["version"], info["alias"], info["source"]) == ("contraband-detector", "1", "champion",
                                                                             "registry")
    assert info["run_id"] == registry.run_id and info["note"] == ""
    assert set(info["windows"]) == {"train", "valid", "test"} and info["windows"]["train"]["from"]
    assert 0 <= info["metrics"]["recall_at_5pct"] <= 1
    assert 0 < info["budget_threshold"]["risk_score"] < 1 and info["budget_threshold"]["budget"] == 0.05
    # the booster runs as native code once the compile (another process) is done; LightGBM until then, said so
    from contraband.models.compiled import PENDING

    deadline = time.time() + 180
    while info["trees"].startswith(PENDING) and time.time() < deadline:
        time.sleep(0.5)
        info = get(service, "/v1/model").json()
    assert info["trees"].startswith("compiled trees (lleaves"), info["trees"]


# --- access --------------------------------------------------------------------------------
def test_keys_missing_wrong_revoked_and_wrong_role(service):
    from contraband.api.access import CACHE_SECONDS, KeyRing
    from contraband.data.history import open_history

    for headers in ({}, {"X-API-Key": "cb_000000000000_nope"}, {"X-API-Key": service.keys["analyst"] + "x"}):
        r = httpx.get(f"{service.url}/v1/model", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert service.keys["analyst"] not in r.text
    r = httpx.post(f"{service.url}/v1/model/reload", headers={"X-API-Key": service.keys["analyst"]})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    store = open_history(service.env["CONTRABAND_HISTORY"])
    ring = KeyRing(store)
    temporary = ring.create("analyst", "to revoke")
    assert httpx.get(f"{service.url}/v1/model", headers={"X-API-Key": temporary}).status_code == 200
    assert ring.revoke(temporary.split("_")[1])
    time.sleep(CACHE_SECONDS + 0.1)  # a worker remembers a key's verdict this long
    assert httpx.get(f"{service.url}/v1/model", headers={"X-API-Key": temporary}).status_code == 401
    listed = {k["key_id"]: k for k in ring.list()}
    assert listed[temporary.split("_")[1]]["revoked_at"] and all("digest" not in k for k in listed.values())
    store.close()
    assert temporary not in service.output() and service.keys["analyst"] not in service.output()


# --- manifests -----------------------------------------------------------------------------
def test_manifest_ranks_every_row_with_reasons_lines_and_summary(service, world):
    manifest = fresh_manifest(world, 400, "UP")
    # under a policy the random control is the one random draw: exploration picks only without one
    queued = upload(service, as_csv(fresh_manifest(world, 400, "UPQ")), budget=0.05, exploration=0.1).json()
    assert queued["summary"]["exploration"] == 0 and not any(row["exploration"] for row in queued["rows"])
    r = upload(service, as_csv(manifest), budget=0.05, exploration=0.1, queue="false")
    assert r.status_code == 200, r.text
    out = r.json()
    s = out["summary"]
    assert (s["rows"], s["scored"], s["rejected"]) == (400, 400, 0)
    assert s["model"] == {"name": "contraband-detector", "version": "1", "source": "registry"}
    assert s["flagged"] == 20 and s["exploration"] == 2 and s["flag_rule"] == "budget"
    rows = out["rows"]
    assert [row["rank"] for row in rows] == list(range(1, 401))
    assert all(a["risk_score"] >= b["risk_score"] for a, b in zip(rows, rows[1:]) if not (a["exploration"] or b["exploration"]))
    flagged = [row for row in rows if row["flagged"]]
    assert len(flagged) == 20 and all(row["reasons"] for row in flagged)
    by_id = {row["declaration_id"]: row for row in rows}
    for i in (0, 123, 399):  # the CSV has one line per record after the header
        row = by_id[manifest.at[i, "declaration_id"]]
        assert row["line"] == i + 2 and row["declaration"]["hs_code"] == str(manifest.at[i, "hs_code"])


def test_manifest_as_csv_neutralises_formulas_and_keeps_rejected_rows_last(service, world):
    manifest = fresh_manifest(world, 50, "CSV")
    manifest.loc[3, "goods_description"] = '=HYPERLINK("http://x","solder paste")'
    manifest.loc[7, "net_weight_kg"] = "heavy"
    r = upload(service, as_csv(manifest), name="export.csv", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="export_scored.csv"' in r.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert len(table) == 50
    assert table[-1]["declaration_id"] == "CSV-7" and "net_weight_kg" in table[-1]["rejected_because"]
    assert table[-1]["reason_1"] == "" and all(t["rejected_because"] == "" for t in table[:-1])
    formula = next(t for t in table if t["declaration_id"] == "CSV-3")
    assert formula["goods_description"].startswith("'=")
    named = upload(service, as_csv(manifest.head(3)), name='申报 "11".csv', format="csv")
    assert named.status_code == 200 and 'filename="' in named.headers["content-disposition"]


def test_ragged_and_bad_rows_are_rejected_alone_with_line_id_and_cells(service, world):
    manifest = fresh_manifest(world, 30, "MIX")
    text = as_csv(manifest).decode().splitlines()
    text[5] = text[5] + ",extra,cells"  # record 5 (line 6): too many fields
    text[9] = text[9].replace(text[9].split(",")[2], "12AB", 1)  # an HS code that is not digits
    r = upload(service, ("\n".join(text) + "\n").encode())
    assert r.status_code == 200
    out = r.json()
    assert out["summary"]["scored"] == 28 and out["summary"]["rejected"] == 2
    rejected = {row["line"]: row for row in out["rejected"]}
    assert set(rejected) == {6, 10}
    assert rejected[6]["declaration_id"] == "MIX-4" and "field" in rejected[6]["problems"][0]["reason"]
    assert rejected[10]["declaration_id"] == "MIX-8" and rejected[10]["cells"]["hs_code"] == "12AB"
    assert {row["declaration_id"] for row in out["rows"]} == set(manifest["declaration_id"]) - {"MIX-4", "MIX-8"}


def test_legacy_encoding_semicolons_gzip_and_xlsx_are_read(service, world):
    manifest = fresh_manifest(world, 20, "ENC")
    manifest.loc[0, "goods_description"] = "pâte à braser (solder paste)"
    data = manifest.to_csv(index=False, sep=";").encode("cp1252")
    out = upload(service, data, name="export.csv").json()
    assert out["summary"]["scored"] == 20 and "encoding cp1252" in out["summary"]["notes"]
    assert next(r for r in out["rows"] if r["declaration_id"] == "ENC-0")["declaration"]["goods_description"] == \
        "pâte à braser (solder paste)"
    assert upload(service, gzip.compress(as_csv(manifest)), name="export.csv.gz").json()["summary"]["scored"] == 20
    book = io.BytesIO()
    manifest.to_excel(book, index=False, sheet_name="Manifest")
    out = upload(service, book.getvalue(), name="export.xlsx").json()
    assert out["summary"]["scored"] == 20 and out["rows"][0]["line"] >= 2


@pytest.mark.parametrize("case", ["empty", "image", "oversize", "mapping", "encoding", "columns"])
def test_unreadable_uploads_get_one_clear_error(service, case):
    data, params, name = b"declaration_id\n", {}, "m.csv"
    if case == "empty":
        data = b""
    elif case == "image":
        data, name = b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "m.csv"
    elif case == "oversize":
        data = b"declaration_id,hs_code\n" + b"X,381010\n" * (9 * 2**20 // 9)
    elif case == "mapping":
        params = {"mapping": "nosuch"}
    elif case == "encoding":
        params = {"encoding": "klingon-8"}
    r = upload(service, data, name=name, **params)
    expected = {"empty": 400, "image": 415, "oversize": 413, "mapping": 400, "encoding": 400, "columns": 400}[case]
    assert r.status_code == expected, r.text
    body = r.json()
    assert set(body) == {"error", "message"} and len(body["message"]) > 20 and "Traceback" not in body["message"]
    if case == "mapping":
        assert "kcs" in body["message"]
    if case == "columns":
        assert "required columns missing" in body["message"]


def test_kcs_mapping_by_name(service, kcs_path):
    data = kcs_path("valid").read_bytes()[:200_000]
    data = data[:data.rfind(b"\n") + 1]
    out = upload(service, data, name="kcs.csv", mapping="kcs").json()
    assert out["summary"]["scored"] > 100 and out["summary"]["scored"] + out["summary"]["rejected"] == out["summary"]["rows"]


# --- declarations --------------------------------------------------------------------------
def test_json_declarations_one_bad_row_alone_order_kept_and_scores_independent_of_the_batch(service, world):
    manifest = fresh_manifest(world, 6, "JS")
    records = [single(r) for r in manifest.to_dict("records")]
    records[2]["declared_value_usd"] = "a lot"
    r = post(service, "/v1/declarations/score", {"declarations": records})
    assert r.status_code == 200
    rows = r.json()["rows"]
    assert [row["declaration_id"] for row in rows] == list(manifest["declaration_id"])
    assert rows[2]["risk_score"] is None and rows[2]["problems"][0]["column"] == "declared_value_usd"
    alone = post(service, "/v1/declarations/score", {"declarations": [records[4]]}).json()
    assert alone["summary"]["flag_rule"] == "threshold"
    assert alone["rows"][0]["risk_score"] == pytest.approx(rows[4]["risk_score"], abs=1e-12)
    assert post(service, "/v1/declarations/score", {"declarations": "nope"}).status_code == 422


def test_a_single_declaration_is_flagged_by_the_models_budget_threshold(service, world):
    threshold = get(service, "/v1/model").json()["budget_threshold"]["risk_score"]
    manifest = fresh_manifest(world, 40, "ONE")
    for record in manifest.to_dict("records"):
        row = post(service, "/v1/declarations/score", {"declarations": [single(record)], "exploration": 0}).json()["rows"][0]
        assert row["flagged"] == (row["risk_score"] >= threshold - 1e-9)


# --- outcomes ------------------------------------------------------------------------------
def _today_declaration(world, prefix: str, exporter: str, day_offset: int = 0) -> dict:
    record = single(fresh_manifest(world, 1, prefix).to_dict("records")[0])
    day = datetime.now(timezone.utc).date() + timedelta(days=day_offset)
    record.update(declaration_date=day.isoformat(), exporter_id=exporter)
    return record


def test_outcomes_idempotent_corrections_kept_and_listed(service, world):
    record = _today_declaration(world, "OUT", "EX-OUTCOMES")
    post(service, "/v1/declarations/score", {"declarations": [record]})
    outcome = {"declaration_id": record["declaration_id"], "inspected": True, "contraband_found": False}
    assert post(service, "/v1/outcomes", {"outcomes": [outcome]}).json() == {"recorded": 1, "unchanged": 0, "rejected": []}
    assert post(service, "/v1/outcomes", {"outcomes": [outcome]}).json() == {"recorded": 0, "unchanged": 1, "rejected": []}
    correction = {**outcome, "contraband_found": True, "material": "Dy2O3", "seized_value_usd": 52000, "note": "lab"}
    bad = {"declaration_id": "NEVER-SEEN", "inspected": True}
    # an analyst's different result for a recorded one is refused, and says why; nothing changes
    silent = post(service, "/v1/outcomes", {"outcomes": [correction, bad]}).json()
    assert silent["recorded"] == 0 and [r["kind"] for r in silent["rejected"]] == ["forbidden", "invalid"]
    assert "a correction needs a supervisor's key and a reason" in silent["rejected"][0]["reason"]
    unexplained = post(service, "/v1/outcomes", {"outcomes": [correction]}, key="supervisor").json()
    assert unexplained["recorded"] == 0 and "needs a reason" in unexplained["rejected"][0]["reason"]
    assert get(service, "/v1/outcomes", declaration_id=record["declaration_id"], versions=True).json()["total"] == 1
    answer = post(service, "/v1/outcomes", {"outcomes": [correction, bad], "correction_reason": "the lab's assay"},
                  key="supervisor").json()
    assert answer["recorded"] == 1 and answer["rejected"] == [{"row": 2, "declaration_id": "NEVER-SEEN", "kind": "invalid",
                                                               "reason": "unknown declaration: not in the history"}]
    # the first outcome and the correction are audit events, the correction with its reason
    trail = get(service, "/v1/audit", key="admin", limit=1000).json()["events"]
    mine = [e for e in trail if e["target"] == f"declaration:{record['declaration_id']}"]
    assert [e["action"] for e in mine] == ["outcome", "outcome.correct"]
    assert mine[1]["before"]["contraband"] == 0 and mine[1]["after"]["contraband"] == 1
    assert mine[1]["after"]["reason"] == "the lab's assay" and mine[1]["actor"].startswith("api:")
    versions = get(service, "/v1/outcomes", declaration_id=record["declaration_id"], versions=True).json()
    assert versions["total"] == 2
    latest, first = versions["outcomes"]
    assert latest["current"] and latest["contraband_found"] and latest["material"] == "Dy2O3"
    assert not first["current"] and first["contraband_found"] is False
    assert latest["recorded_by"].startswith("api:") and service.keys["analyst"] not in latest["recorded_by"]
    current = get(service, "/v1/outcomes", declaration_id=record["declaration_id"]).json()
    assert current["total"] == 1 and current["outcomes"][0]["contraband_found"] is True
    assert post(service, "/v1/outcomes", {"outcomes": []}).status_code == 422


def test_an_outcome_recorded_today_counts_from_tomorrow(service, world):
    exporter = "EX-TOMORROW"
    today = _today_declaration(world, "TOD", exporter)
    later_today = _today_declaration(world, "TOD2", exporter)
    tomorrow = _today_declaration(world, "TOM", exporter, day_offset=1)
    post(service, "/v1/declarations/score", {"declarations": [today, later_today, tomorrow]})

    def seizures(declaration_id):
        return get(service, f"/v1/declarations/{declaration_id}/evidence").json()["history"]["exporter_prior_seizures"]

    before = (seizures(later_today["declaration_id"]), seizures(tomorrow["declaration_id"]))
    post(service, "/v1/outcomes", {"outcomes": [{"declaration_id": today["declaration_id"], "inspected": True,
                                                 "contraband_found": True}]})
    assert seizures(later_today["declaration_id"]) == before[0]
    assert seizures(tomorrow["declaration_id"]) == before[1] + 1
    assert get(service, "/v1/declarations/NOT-THERE/evidence").status_code == 404


def test_evidence_sets_the_declaration_beside_its_hs_norm(service, world):
    record = fresh_manifest(world, 1, "EVI").to_dict("records")[0]
    post(service, "/v1/declarations/score", {"declarations": [single(record)]})
    ev = get(service, f"/v1/declarations/{record['declaration_id']}/evidence").json()
    norm = next(n for n in ev["norms"] if n["measure"] == "usd_per_kg")
    assert norm["declared"] == pytest.approx(record["declared_value_usd"] / record["net_weight_kg"], rel=1e-9)
    assert norm["declared"] / norm["hs_norm"] == pytest.approx(norm["ratio"], rel=1e-9)
    assert ev["declaration"]["hs_code"] == str(record["hs_code"])
    # every field, figure and measure shown has a label in the analyst's words (no machine name)
    shown = [*ev["declaration"], *ev["history"], *(n["measure"] for n in ev["norms"])]
    assert set(shown) <= set(ev["labels"]) and not any("_" in ev["labels"][k] for k in shown)
    assert norm["label"] == "declared value per kg"
    assert ev["labels"]["exporter_prior_declarations"] == "earlier declarations of this exporter"
    # a rate is said as its counts, never as a smoothed figure
    assert not any(k.endswith("_seizure_rate") for k in ev["history"])
    exporter = next(t for t in ev["history_in_words"] if t.startswith("this exporter: "))
    n, k = ev["history"]["exporter_prior_inspections"], ev["history"]["exporter_prior_seizures"]
    assert ("never inspected" in exporter) if n == 0 else (f"{k:,} seizure" in exporter and f"in {n:,} earlier" in exporter)


# --- the model: reload, cache ----------------------------------------------------------------
def test_reload_under_concurrent_requests_swaps_without_a_failure(service, registry, world):
    from mlflow.tracking import MlflowClient

    import mlflow

    mlflow.set_tracking_uri(registry.uri)
    new = mlflow.register_model(registry.model_uri, "contraband-detector")  # the same pipeline as version 2
    MlflowClient(registry.uri).set_registered_model_alias("contraband-detector", "champion", new.version)
    record = single(fresh_manifest(world, 1, "RL").to_dict("records")[0])
    stop, answers, failures = threading.Event(), [], []

    def hammer():
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                r = http.post(f"{service.url}/v1/declarations/score", json={"declarations": [record]},
                              headers={"X-API-Key": service.keys["analyst"]})
                (answers if r.status_code == 200 else failures).append(r)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        reloaded = httpx.post(f"{service.url}/v1/model/reload", headers={"X-API-Key": service.keys["admin"]}, timeout=120)
        after = len(answers)
        while len(answers) < after + 10:
            pass
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert reloaded.status_code == 200, reloaded.text
    assert (reloaded.json()["version"], reloaded.json()["source"]) == (str(new.version), "registry")
    assert not failures, [f.text for f in failures[:3]]
    versions = [a.json()["summary"]["model"]["version"] for a in answers]
    assert set(versions) == {"1", str(new.version)} and versions[-1] == str(new.version)
    scores = [a.json()["rows"][0]["risk_score"] for a in answers]
    # the same fitted pipeline under both versions: the same score (compiled trees or LightGBM's, to 1e-12)
    assert max(scores) - min(scores) <= 1e-9
    assert get(service, "/v1/model").json()["version"] == str(new.version)


def test_starts_from_its_cache_when_the_tracking_server_is_unreachable(service, tmp_path):
    from service_helpers import Service, free_port

    get(service, "/v1/model")  # the session's service has cached its model
    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cached = Service(tmp_path, {**service.env, "MLFLOW_TRACKING_URI": gone}, keys=service.keys)
    try:
        info = get(cached, "/v1/model").json()
        assert info["source"] == "cache" and "unreachable" in info["note"] and info["version"]
        assert httpx.get(f"{cached.url}/readyz").json()["model"].endswith("(cache)")
    finally:
        cached.stop()
    empty = Service(tmp_path, {**service.env, "MLFLOW_TRACKING_URI": gone,
                               "CONTRABAND_MODEL_CACHE": str(tmp_path / "no-cache")}, ready=False)
    try:
        r = httpx.get(f"{empty.url}/readyz")
        assert r.status_code == 503 and "no cached copy" in r.json()["message"]
        r = httpx.post(f"{empty.url}/v1/declarations/score", json={"declarations": []},
                       headers={"X-API-Key": service.keys["analyst"]})
        assert r.status_code == 503 and r.json()["error"] == "not_ready"
    finally:
        empty.stop()


def test_two_workers_record_outcomes_at_once_and_follow_a_reload(service, world, tmp_path):
    from service_helpers import Service

    two = Service(tmp_path, {**service.env, "CONTRABAND_FOLLOW_SECONDS": "0.5"}, "--workers", "2", keys=service.keys)
    try:
        pids = set()
        for _ in range(40):
            with httpx.Client() as http:  # a new connection each time: the kernel spreads them
                pids.add(http.get(f"{two.url}/healthz").json()["worker"])
        assert len(pids) == 2
        records = [_today_declaration(world, f"W{i}", f"EX-W{i % 5}") for i in range(60)]
        post(two, "/v1/declarations/score", {"declarations": records})

        def record(i):
            with httpx.Client() as http:
                r = http.post(f"{two.url}/v1/outcomes", headers={"X-API-Key": service.keys["analyst"]},
                              json={"outcomes": [{"declaration_id": records[i]["declaration_id"], "inspected": True,
                                                  "contraband_found": bool(i % 2)}]}, timeout=60)
                return r.json()["recorded"]

        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(record, range(60))) == 60
        listed = get(two, "/v1/outcomes", versions=True, limit=10_000).json()["outcomes"]
        assert {o["declaration_id"] for o in listed} >= {r["declaration_id"] for r in records}
        reloaded = httpx.post(f"{two.url}/v1/model/reload", headers={"X-API-Key": service.keys["admin"]}, timeout=120)
        assert reloaded.status_code == 200
        deadline = time.time() + 60  # the other worker notices within follow_seconds and loads in the background
        while time.time() < deadline:
            seen = set()
            for _ in range(10):
                with httpx.Client() as http:
                    seen.add(http.get(f"{two.url}/v1/model", headers={"X-API-Key": service.keys["analyst"]}).json()["loaded_at"])
            if all(s >= reloaded.json()["loaded_at"] for s in seen):
                break
            time.sleep(0.5)
        assert all(s >= reloaded.json()["loaded_at"] for s in seen), seen
    finally:
        two.stop()


@pytest.mark.slow
def test_the_service_on_a_postgresql_history(service, server_world_history, world, tmp_path):
    """Two workers over a history on a real PostgreSQL server: keys kept there, declarations
    scored and recorded, outcomes recorded at once through both workers and counting from the
    next day, a reload that the other worker follows; the password never printed."""
    from contraband.api.access import CACHE_SECONDS, KeyRing
    from history_helpers import clone, location
    from postgres import PASSWORD
    from service_helpers import Service

    store = clone(server_world_history, tmp_path / "service")
    ring = KeyRing(store)
    keys = {"analyst": ring.create("analyst", "tests"), "admin": ring.create("admin", "tests")}
    env = {**service.env, "CONTRABAND_HISTORY": location(store), "CONTRABAND_FOLLOW_SECONDS": "0.5"}
    two = Service(tmp_path, env, "--workers", "2", keys=keys)
    try:
        exporter = "EX-PG"
        records = [_today_declaration(world, f"PG{i}", exporter) for i in range(30)]
        tomorrow = _today_declaration(world, "PG-TOM", exporter, day_offset=1)
        scored = post(two, "/v1/declarations/score", {"declarations": [*records, tomorrow]})
        assert scored.status_code == 200 and len(scored.json()["rows"]) == 31

        def seizures():
            return get(two, f"/v1/declarations/{tomorrow['declaration_id']}/evidence").json()["history"][
                "exporter_prior_seizures"]

        before = seizures()

        def record(i):
            with httpx.Client() as http:
                r = http.post(f"{two.url}/v1/outcomes", headers={"X-API-Key": keys["analyst"]},
                              json={"outcomes": [{"declaration_id": records[i]["declaration_id"], "inspected": True,
                                                  "contraband_found": bool(i % 2)}]}, timeout=60)
                return r.json()["recorded"]

        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(record, range(30))) == 30
        assert seizures() == before + 15  # recorded today: history for tomorrow's declaration
        assert store.outcomes(ids=[r["declaration_id"] for r in records])["contraband"].sum() == 15
        reloaded = httpx.post(f"{two.url}/v1/model/reload", headers={"X-API-Key": keys["admin"]}, timeout=120)
        assert reloaded.status_code == 200
        deadline, seen = time.time() + 60, set()
        while time.time() < deadline:
            seen = set()
            for _ in range(10):
                with httpx.Client() as http:
                    seen.add(http.get(f"{two.url}/v1/model", headers={"X-API-Key": keys["analyst"]}).json()["loaded_at"])
            if all(s >= reloaded.json()["loaded_at"] for s in seen):
                break
            time.sleep(0.5)
        assert all(s >= reloaded.json()["loaded_at"] for s in seen), seen
        assert ring.revoke(keys["analyst"])
        time.sleep(CACHE_SECONDS + 0.1)
        assert httpx.get(f"{two.url}/v1/model", headers={"X-API-Key": keys["analyst"]}).status_code == 401
        said = two.log.read_text(errors="replace")
        assert "history postgresql://contraband:***@127.0.0.1:" in said and PASSWORD not in said
    finally:
        two.stop()
        store.close()


# --- hostile requests: mappings, numbers, the schema's edges, headers -------------------------
@pytest.mark.parametrize("name", ["../mappings/kcs", "../../pyproject", "/etc/hostname", "kcs.toml", "KCS", "nosuch",
                                  "x" * 300])
def test_a_mapping_is_named_from_the_list_and_an_unknown_name_reveals_nothing(service, name):
    r = upload(service, b"declaration_id,hs_code\nX,381010\n", mapping=name)
    assert is_problem(r, 400, "bad_request"), r.text
    message = r.json()["message"]
    assert message.endswith("the mappings of this service are: kcs")
    told = message.replace(repr(name if len(name) <= 64 else name[:64] + "..."), "'NAME'")  # all but the name sent
    assert told == "unknown mapping 'NAME'; the mappings of this service are: kcs"
    assert str(REPO) not in r.text and "build-system" not in r.text and ".toml" not in told


def test_the_schema_lists_the_mappings_and_encodings_an_upload_may_name(service):
    operation = httpx.get(f"{service.url}/openapi.json").json()["paths"]["/v1/manifests"]["post"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert parameters["mapping"]["enum"] == ["kcs"]
    assert {"utf-8", "utf-16", "cp1252", "cp949", "latin-1"} <= set(parameters["encoding"]["enum"])
    assert "400" in operation["responses"] and "mapping" in operation["responses"]["400"]["description"]
    assert is_problem(upload(service, b"declaration_id\nX\n", encoding="utf_8\x00"), 400, "bad_request")


NOT_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


@pytest.mark.parametrize("number", NOT_FINITE)
def test_numbers_that_are_not_finite_are_refused_in_the_documented_model_never_a_500(service, world, number):
    before = server_errors(service)
    record = single(fresh_manifest(world, 1, f"NF{NOT_FINITE.index(number)}").to_dict("records")[0])
    batch = json.dumps({"declarations": [record]})
    for field in ("budget", "exploration"):
        r = post_text(service, "/v1/declarations/score", batch[:-1] + f', "{field}": {number}}}')
        assert is_problem(r, 422, "invalid") and r.json()["problems"] == [
            {"where": f"body.{field}", "reason": "Input should be a finite number"}], r.text
    r = post_text(service, "/v1/outcomes", '{"outcomes": [{"declaration_id": "X", "inspected": true, '
                                          f'"contraband_found": true, "seized_value_usd": {number}}}]}}')
    assert is_problem(r, 422, "invalid") and r.json()["problems"][0]["where"] == "body.outcomes.0.seized_value_usd"
    three = as_csv(fresh_manifest(world, 3, f"NFQ{NOT_FINITE.index(number)}"))
    for params in ({"budget": number}, {"exploration": number}):
        r = upload(service, three, **params)
        assert is_problem(r, 422, "invalid") and r.json()["problems"][0]["where"] == f"query.{next(iter(params))}"
    for params in ({"limit": number}, {"offset": number}, {"offset": "9" * 400}):
        assert is_problem(get(service, "/v1/outcomes", **params), 422, "invalid")
    # inside a declaration, it is a cell the contract rejects: that row alone, with the reason
    for field in ("declared_value_usd", "net_weight_kg", "quantity"):
        text = json.dumps({"declarations": [{**record, field: "HERE"}, {**record, "declaration_id": "NF-other"}]})
        r = post_text(service, "/v1/declarations/score", text.replace('"HERE"', number, 1))
        assert r.status_code == 200, r.text
        bad, good = r.json()["rows"]
        assert bad["risk_score"] is None and [(p["column"], p["reason"]) for p in bad["problems"]] == [
            (field, "not a finite number")], bad
        assert good["risk_score"] is not None and not good["problems"]
    assert server_errors(service) == before


def test_flags_are_true_or_false_and_numbers_are_numbers(service, world):
    record = single(fresh_manifest(world, 1, "STRICT").to_dict("records")[0])
    for extra in ({"exploration": False}, {"budget": True}, {"budget": "0.05"}, {"exploration": None}):
        r = post(service, "/v1/declarations/score", {"declarations": [record], **extra})
        assert is_problem(r, 422, "invalid") and r.json()["problems"][0]["where"] == f"body.{next(iter(extra))}", extra
    for wrong in ({"contraband_found": 0.0}, {"contraband_found": 1}, {"inspected": "yes"}, {"declaration_id": 7},
                  {"seized_value_usd": True}):
        r = post(service, "/v1/outcomes", {"outcomes": [{"declaration_id": "X", "inspected": True, **wrong}]})
        assert is_problem(r, 422, "invalid") and r.json()["problems"][0]["where"] == \
            f"body.outcomes.0.{next(iter(wrong))}", wrong


def test_an_empty_batch_gets_an_empty_answer_and_a_declaration_without_its_fields_is_rejected_alone(service, world):
    r = post(service, "/v1/declarations/score", {"declarations": []})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [] and (r.json()["summary"]["rows"], r.json()["summary"]["scored"]) == (0, 0)
    record = single(fresh_manifest(world, 1, "FIELDS").to_dict("records")[0])
    r = post(service, "/v1/declarations/score", {"declarations": [{}, record, {"hs_code": "381010", "colour": "red"}]})
    assert r.status_code == 200, r.text
    empty, good, partial = r.json()["rows"]
    assert good["risk_score"] is not None and empty["risk_score"] is None and partial["risk_score"] is None
    assert {p["column"] for p in empty["problems"]} == {"declaration_id", "declaration_date", "hs_code",
                                                        "goods_description", "origin_country", "export_country",
                                                        "destination_country", "net_weight_kg", "declared_value_usd"}
    assert "hs_code" not in {p["column"] for p in partial["problems"]}
    assert {p["reason"] for p in empty["problems"] + partial["problems"]} == {"missing value"}


def test_an_undeclared_method_is_405_with_every_method_of_its_path(service):
    for method, path, allowed in (("OPTIONS", "/v1/outcomes", {"GET", "POST"}), ("PUT", "/v1/outcomes", {"GET", "POST"}),
                                  ("DELETE", "/v1/declarations/X/evidence", {"GET"}), ("GET", "/v1/model/reload", {"POST"})):
        r = httpx.request(method, f"{service.url}{path}", headers={"X-API-Key": service.keys["analyst"]})
        assert is_problem(r, 405, "method_not_allowed") and set(r.headers["allow"].split(", ")) == allowed, \
            (method, path, r.headers.get("allow"))


def test_every_answer_carries_the_security_headers_and_nothing_comes_from_a_cdn(service, world):
    answers = {  # what was asked: (the expected status, the answer)
        "page": (200, httpx.get(f"{service.url}/")), "script": (200, httpx.get(f"{service.url}/page/app.js")),
        "style": (200, httpx.get(f"{service.url}/page/style.css")), "health": (200, httpx.get(f"{service.url}/healthz")),
        "schema": (200, httpx.get(f"{service.url}/openapi.json")), "model": (200, get(service, "/v1/model")),
        "scored csv": (200, upload(service, as_csv(fresh_manifest(world, 3, "HDR")), format="csv")),
        "no key": (401, httpx.get(f"{service.url}/v1/model")),
        "no such path": (404, httpx.get(f"{service.url}/nothing/here")),
        "no such page file": (404, httpx.get(f"{service.url}/page/nothing.js")),
        "undeclared method": (405, httpx.request("OPTIONS", f"{service.url}/v1/outcomes")),
        "too large": (413, upload(service, b"declaration_id\n" + b"X\n" * (9 * 2**20 // 2))),
        "invalid": (422, post(service, "/v1/declarations/score", {"declarations": "nope"})),
        "unreadable": (400, upload(service, b"", name="empty.csv")),
    }
    assert {name: r.status_code for name, (_, r) in answers.items()} == {name: s for name, (s, _) in answers.items()}
    answers = {name: r for name, (_, r) in answers.items()}
    for name, r in answers.items():
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("cache-control") == "no-store", name
        assert r.headers.get("x-frame-options") == "DENY" and r.headers.get("referrer-policy") == "no-referrer", name
        policy = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "unsafe" not in policy, name
    page = answers["page"].text
    assert "<script src=" in page and "<script>" not in page and "<style" not in page and " style=" not in page
    assert "http://" not in page and "https://" not in page  # nothing from another origin
    for viewer in ("/docs", "/redoc"):  # Swagger UI and ReDoc come from a CDN: switched off
        assert httpx.get(f"{service.url}{viewer}").status_code == 404
    assert "cdn" not in httpx.get(f"{service.url}/openapi.json").text.lower()


def test_an_oversize_field_is_rejected_on_its_column_with_its_declaration_id(service, world):
    manifest = fresh_manifest(world, 5, "LONG")
    manifest["goods_description"] = manifest["goods_description"].astype(object)
    manifest.loc[2, "goods_description"] = "x" * 5_000_121  # beyond Python csv's own field limit
    r = upload(service, as_csv(manifest))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["summary"]["scored"] == 4 and len(r.content) < 200_000
    (rejected,) = out["rejected"]
    assert (rejected["declaration_id"], rejected["line"]) == ("LONG-2", 4)
    assert rejected["problems"] == [{"column": "goods_description", "value": "x" * 120 + "...",
                                     "reason": "field of 5,000,121 characters (the limit is 10,000)"}]
    assert rejected["cells"]["hs_code"] == str(manifest.at[2, "hs_code"])


def test_a_large_batch_is_scored_without_holding_up_the_worker(service, world):
    """The service's one worker answers /healthz while it scores 3,000 JSON declarations."""
    records = [single(r) for r in fresh_manifest(world, 3000, "BIG").to_dict("records")]
    answer = {}

    def score():
        t0 = time.perf_counter()
        answer["response"] = post(service, "/v1/declarations/score", {"declarations": records})
        answer["seconds"] = time.perf_counter() - t0

    thread = threading.Thread(target=score)
    waits = []
    with httpx.Client(timeout=60) as http:
        http.get(f"{service.url}/healthz")  # connected before the batch starts
        thread.start()
        while thread.is_alive():
            t0 = time.perf_counter()
            assert http.get(f"{service.url}/healthz").status_code == 200
            waits.append(time.perf_counter() - t0)
            time.sleep(0.02)
    thread.join()
    assert answer["response"].status_code == 200 and len(answer["response"].json()["rows"]) == 3000
    print(f"batch {answer['seconds']:.2f} s; /healthz waits: {len(waits)}, longest {max(waits) * 1e3:.0f} ms")
    # long enough to watch: several health checks were answered while it ran
    assert answer["seconds"] > 0.2 and len(waits) > 5
    assert max(waits) < min(0.4, answer["seconds"] / 3)


def test_a_failure_nobody_foresaw_is_a_500_problem_and_its_traceback_goes_to_the_log(service, tmp_path):
    """A history store that lost a table under the running service: the answer is the
    documented 500, with the security headers and no traceback; the log has the traceback."""
    import sqlite3

    from service_helpers import Service

    copy = tmp_path / "history.db"
    source, target = sqlite3.connect(service.env["CONTRABAND_HISTORY"]), sqlite3.connect(copy)
    source.backup(target)
    source.close()
    own = Service(tmp_path, {**service.env, "CONTRABAND_HISTORY": str(copy)}, keys=service.keys)
    try:
        assert get(own, "/v1/outcomes").status_code == 200
        target.execute("DROP TABLE outcomes")
        target.commit()
        r = get(own, "/v1/outcomes")
        assert is_problem(r, 500, "server_error"), r.text
        assert "outcomes" not in r.json()["message"] and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in r.headers["content-security-policy"]
        time.sleep(0.5)
        log = own.log.read_text(errors="replace")
        assert "unforeseen failure answering GET /v1/outcomes" in log and "Traceback" in log and "no such table" in log
    finally:
        target.close()
        own.stop()
