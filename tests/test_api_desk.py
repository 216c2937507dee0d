"""The targeting desk through the real service (``contraband serve`` on 127.0.0.1): lanes on an
uploaded manifest within the policy's capacity, the case queue from upload to closed, outcomes
one by one and from a file (bad rows rejected alone), overrides, roles and the audit trail."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pandas as pd
import pytest
from test_api import as_csv, fresh_manifest, is_problem, upload


def call(service, method: str, path: str, key: str | None = "analyst", **kwargs) -> httpx.Response:
    headers = {"X-API-Key": service.keys[key]} if key else {}
    return httpx.request(method, f"{service.url}{path}", headers=headers, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def queued(service, world):
    """A manifest uploaded under a policy of shares (independent of what other tests selected)."""
    policy = {"red": {"share": 0.04}, "yellow": {"share": 0.06}, "control_share": 0.01, "note": "tests"}
    r = call(service, "PUT", "/v1/policy", "supervisor", json=policy)
    assert r.status_code == 200, r.text
    manifest = fresh_manifest(world, 1500, "DESK")
    r = upload(service, as_csv(manifest), name="desk.csv")
    assert r.status_code == 200, r.text
    return manifest, r.json()


def test_roles_allow_and_refuse_each_action(service):
    policy = {"red": {"count": 30}, "yellow": {"share": 0.05}}
    expected = [  # (method, path, json, role, status)
        ("GET", "/v1/policy", None, None, 401),
        ("GET", "/v1/policy", None, "analyst", 200),
        ("PUT", "/v1/policy", policy, "analyst", 403),
        ("GET", "/v1/policy/versions", None, "analyst", 403),
        ("GET", "/v1/policy/versions", None, "supervisor", 200),
        ("GET", "/v1/cases", None, None, 401),
        ("GET", "/v1/cases", None, "analyst", 200),
        ("GET", "/v1/overrides", None, "analyst", 403),
        ("GET", "/v1/overrides", None, "supervisor", 200),
        ("GET", "/v1/audit", None, "analyst", 403),
        ("GET", "/v1/audit", None, "supervisor", 403),
        ("GET", "/v1/audit", None, "admin", 200),
        ("POST", "/v1/model/reload", None, "supervisor", 403),
    ]
    for method, path, body, role, status in expected:
        r = call(service, method, path, role, json=body)
        assert r.status_code == status, (method, path, role, r.status_code, r.text)
        if status >= 400:
            assert is_problem(r, status, "unauthorized" if status == 401 else "forbidden")
    r = call(service, "GET", "/v1/policy", "analyst")
    assert set(r.json()["lanes"]) == {"red", "yellow", "control"}


def test_a_bad_policy_is_refused_with_its_reason(service):
    r = call(service, "PUT", "/v1/policy", "supervisor",
             json={"red": {"count": 5, "share": 0.1}, "yellow": {"share": 0.1}})
    assert is_problem(r, 400, "bad_request") and "count or a share" in r.json()["message"]
    # the control is inspected beside the red lane's places: it may exceed the red lane's share
    r = call(service, "PUT", "/v1/policy", "supervisor",
             json={"red": {"share": 0.01}, "yellow": {"share": 0.1}, "control_share": 0.05})
    assert r.status_code == 200 and "beside" in r.json()["lanes"]["control"]
    r = call(service, "PUT", "/v1/policy", "supervisor", json={"red": {"share": 2}, "yellow": {"share": 0.1}})
    assert is_problem(r, 422, "invalid")


def test_an_uploaded_manifest_gets_lanes_within_capacity_and_its_cases(service, queued, world):
    manifest, body = queued
    rows = pd.DataFrame(body["rows"])
    assert body["summary"]["policy_version"] >= 1 and body["summary"]["lanes"]["kept"] == 0
    assert set(rows["lane"]) == {"red", "yellow", "green"} and rows["lane_reason"].str.len().gt(0).all()
    dates = manifest.set_index("declaration_id").loc[rows["declaration_id"], "declaration_date"].to_numpy()
    for _, day in rows.assign(date=dates).groupby("date"):
        n = len(day)
        # the model's places are the capacity; the control's exact count comes beside them, raising only
        assert (day["model_lane"] == "red").sum() == int(np.floor(0.04 * n + 0.5))
        assert (day["model_lane"] == "yellow").sum() == int(np.floor(0.06 * n + 0.5))
        assert (day["lane_source"] == "control").sum() == int(np.floor(0.01 * n + 0.5))
        level = {"green": 0, "yellow": 1, "red": 2}
        assert (day["lane"].map(level) >= day["model_lane"].map(level)).all()
    assert rows["case_id"].notna().eq(rows["lane"].isin(["red", "yellow"])).all()
    assert {"control", "model"} <= set(rows["lane_source"])
    # the same manifest again: every declaration keeps its lane and no case is opened twice
    again = upload(service, as_csv(manifest), name="desk-again.csv").json()
    assert again["summary"]["lanes"]["kept"] == len(manifest)
    lanes = dict(zip(rows["declaration_id"], rows["lane"]))
    assert all(lanes[r["declaration_id"]] == r["lane"] for r in again["rows"])
    # the CSV answer carries the same lanes
    r = upload(service, as_csv(manifest), name="desk-csv.csv", format="csv")
    table = pd.read_csv(io.BytesIO(r.content), dtype=str, keep_default_na=False)
    assert dict(zip(table["declaration_id"], table["lane"])) == lanes
    # queue=false scores without deciding anything
    other = fresh_manifest(world, 20, "NOQUEUE")
    r = upload(service, as_csv(other), name="what-if.csv", queue="false")
    assert r.status_code == 200 and all(row.get("lane") is None for row in r.json()["rows"])


def test_a_case_from_upload_to_closed_with_an_outcome(service, queued):
    _, body = queued
    red = [r for r in body["rows"] if r["lane"] == "red"][0]
    case_id = red["case_id"]
    case = call(service, "GET", f"/v1/cases/{case_id}").json()
    assert case["state"] == "open" and case["declaration_id"] == red["declaration_id"]
    r = call(service, "POST", f"/v1/cases/{case_id}/close", json={})
    assert is_problem(r, 409, "conflict")
    outcome = {"contraband_found": True, "material": "terbium oxide", "concealment": "in_packaging", "hs_code_found": "284690",
               "seized_quantity_kg": 40.0, "seized_value_usd": 90_000.0, "note": "in the pallets"}
    r = call(service, "POST", f"/v1/cases/{case_id}/outcome", json=outcome)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "inspected" and r.json()["contraband_found"] is True
    recorded = call(service, "GET", "/v1/outcomes", params={"declaration_id": red["declaration_id"]}).json()
    assert recorded["outcomes"][0]["contraband_found"] is True
    r = call(service, "POST", f"/v1/cases/{case_id}/close", json={"note": "report filed"})
    assert r.status_code == 200 and r.json()["state"] == "closed"
    assert is_problem(call(service, "POST", f"/v1/cases/{case_id}/outcome", json={"contraband_found": False}), 409, "conflict")
    assert is_problem(call(service, "GET", "/v1/cases/999999999"), 404, "not_found")
    closed = call(service, "GET", "/v1/cases", params={"state": "closed"}).json()["cases"]
    assert case_id in {c["case_id"] for c in closed}
    csv = call(service, "GET", "/v1/cases", params={"format": "csv", "state": "closed"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert str(case_id) in set(pd.read_csv(io.BytesIO(csv.content), dtype=str)["case_id"])


def test_outcomes_from_a_file_reject_bad_rows_alone(service, queued):
    _, body = queued
    open_cases = [r["case_id"] for r in body["rows"] if r["lane"] == "yellow"][:3]
    text = ("case_id;found;concealment;seized_value_usd;note\n"
            f"{open_cases[0]};yes;false description;1200;declared as ceramic tiles\n"
            f"{open_cases[1]};no;;;nothing found\n"
            f"{open_cases[2]};maybe;;;\n"
            "999999999;no;;;\n"
            f"{open_cases[2]};yes;under the floor;;\n"
            "abc;no;;;\n"
            f"{open_cases[2]};yes;;-5;\n")
    r = call(service, "POST", "/v1/cases/outcomes", files={"file": ("results.csv", text.encode("latin-1"))})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["recorded"] == 2
    rejected = {(x["line"], x["column"]) for x in answer["rejected"]}
    assert rejected == {(4, "contraband_found"), (5, "case_id"), (6, "concealment"), (7, "case_id"), (8, "seized_value_usd")}
    states = {c: call(service, "GET", f"/v1/cases/{c}").json() for c in open_cases}
    assert states[open_cases[0]]["concealment"] == "false_description" and states[open_cases[0]]["contraband_found"] is True
    assert states[open_cases[1]]["state"] == "inspected" and states[open_cases[2]]["state"] == "open"
    r = call(service, "POST", "/v1/cases/outcomes", files={"file": ("x.csv", b"found\nyes\n")})
    assert is_problem(r, 400, "unreadable") and "case_id" in r.json()["message"]


def test_an_override_needs_a_reason_and_the_audit_keeps_it(service, queued):
    _, body = queued
    green = [r for r in body["rows"] if r["lane"] == "green"][0]["declaration_id"]
    path = f"/v1/declarations/{green}/lane"
    assert is_problem(call(service, "POST", path, json={"lane": "red", "reason": ""}), 422, "invalid")
    # a reason of spaces only: refused by the schema, which says the reason needs a visible character
    blank = call(service, "POST", path, json={"lane": "red", "reason": "   "})
    assert is_problem(blank, 422, "invalid") and blank.json()["problems"][0]["where"] == "body.reason"
    r = call(service, "POST", path, json={"lane": "red", "reason": "intelligence from the port"})
    assert r.status_code == 200 and r.json()["source"] == "override"
    assert is_problem(call(service, "POST", path, json={"lane": "red", "reason": "again"}), 409, "conflict")
    assert is_problem(call(service, "POST", "/v1/declarations/NO-SUCH/lane", json={"lane": "red", "reason": "x"}),
                      404, "not_found")
    overrides = call(service, "GET", "/v1/overrides", "supervisor").json()["overrides"]
    assert green in {o["declaration_id"] for o in overrides}
    events = call(service, "GET", "/v1/audit", "admin", params={"action": "override"}).json()["events"]
    mine = [e for e in events if e["target"] == f"declaration:{green}"]
    assert len(mine) == 1 and mine[0]["before"]["lane"] == "green" and mine[0]["after"]["lane"] == "red"
    assert mine[0]["actor"].startswith("api:")
    # the trail has no way to change it, and exports whole
    assert call(service, "DELETE", "/v1/audit", "admin").status_code == 405
    export = call(service, "GET", "/v1/audit", "admin", params={"format": "csv"})
    trail = pd.read_csv(io.BytesIO(export.content))
    assert {"select", "policy.set", "override", "case.outcome", "key.create"} <= set(trail["action"])
    assert trail["event"].is_monotonic_increasing


def test_a_supervisors_rule_selects_with_its_reason_and_shows_its_figures(service, world):
    manifest = fresh_manifest(world, 600, "RULES")
    prefix = manifest["hs_code"].astype(str).str[:4].value_counts().index[0]
    rule = {"name": "the day's commonest heading", "lane": "yellow", "rationale": "a test of the rules",
            "instructions": "check the invoice against the packing list", "conditions": {"hs_prefixes": [prefix]}}
    assert is_problem(call(service, "POST", "/v1/rules", "analyst", json=rule), 403, "forbidden")
    bad = {**rule, "conditions": {"value_usd": {"min": 10, "max": 1}}}
    assert is_problem(call(service, "POST", "/v1/rules", "supervisor", json=bad), 400, "bad_request")
    assert is_problem(call(service, "POST", "/v1/rules", "supervisor", json={**rule, "conditions": {"weight": {}}}),
                      422, "invalid")
    made = call(service, "POST", "/v1/rules", "supervisor", json=rule)
    assert made.status_code == 200, made.text
    rule_id = made.json()["rule_id"]
    assert made.json()["in_words"] == f"HS code starts with {prefix}"
    rows = upload(service, as_csv(manifest), name="rules.csv").json()["rows"]
    by_rule = [r for r in rows if r["lane_source"] == "rule"]
    hit = {r["declaration_id"] for r in rows if str(r["declaration"]["hs_code"]).startswith(prefix)}
    assert by_rule and {r["declaration_id"] for r in by_rule} <= hit
    assert all(f"rule {rule_id}: the day's commonest heading" in r["lane_reason"] for r in by_rule)
    # within the yellow lane's capacity the rule's hits are yellow; beyond it they are released, and say so
    assert all(r["lane"] == "yellow" or (r["lane"] == "green" and "was full" in r["lane_reason"]) for r in by_rule)
    inspected = [r for r in by_rule if r["lane"] == "yellow"]
    assert inspected
    case = call(service, "GET", f"/v1/cases/{inspected[0]['case_id']}").json()
    assert case["instructions"] == "check the invoice against the packing list"
    listed = {r["rule_id"]: r for r in call(service, "GET", "/v1/rules").json()["rules"]}
    assert listed[rule_id]["figures"]["hits"] == len(hit) and listed[rule_id]["figures"]["inspections"] == 0
    changed = call(service, "PUT", f"/v1/rules/{rule_id}", "supervisor", json={**rule, "lane": "red"})
    assert changed.json()["version"] == 2
    retired = call(service, "POST", f"/v1/rules/{rule_id}/retire", "supervisor", json={"reason": "test over"})
    assert retired.json()["retired"] is True and retired.json()["version"] == 3
    assert is_problem(call(service, "PUT", f"/v1/rules/{rule_id}", "supervisor", json=rule), 409, "conflict")
    assert rule_id not in {r["rule_id"] for r in call(service, "GET", "/v1/rules").json()["rules"]}
    versions = call(service, "GET", f"/v1/rules/{rule_id}").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert is_problem(call(service, "GET", "/v1/rules/R-999999"), 404, "not_found")


def test_live_performance_counts_what_the_queue_recorded(service, queued):
    figures = call(service, "GET", "/v1/performance").json()
    _, body = queued
    assert figures["declarations"] >= len(body["rows"])
    weekly = pd.DataFrame(figures["weekly"])
    assert set(weekly["lane"]) >= {"red", "yellow", "green"}
    assert weekly["declarations"].sum() == figures["declarations"]
    assert weekly["seizures"].sum() == sum(s["seizures"] for s in figures["by_source"].values())
    for w in figures["weekly"]:
        rate = w["hit_rate"]
        assert w["inspections"] == 0 and rate["rate"] is None or rate["low"] <= rate["rate"] <= rate["high"]
    assert is_problem(call(service, "GET", "/v1/performance", None), 401, "unauthorized")


def test_every_outcome_path_reaches_the_case_and_the_audit_and_only_a_supervisor_corrects(service, queued):
    """An outcome sent to ``/v1/outcomes`` for a declaration with a case moves the case and the
    figures; an analyst's silent flip of a recorded seizure is refused, a supervisor's correction
    with a reason is recorded and audited; a closed case's outcome changes only through the case."""
    _, body = queued
    yellow = [r for r in body["rows"] if r["lane"] == "yellow" and r["case_id"] is not None]
    first, second = yellow[-1], yellow[-2]
    before = call(service, "GET", "/v1/performance").json()["by_lane"]["yellow"]
    seizure = {"declaration_id": first["declaration_id"], "inspected": True, "contraband_found": True,
               "material": "dysprosium oxide", "seized_value_usd": 435_223.0}
    r = call(service, "POST", "/v1/outcomes", json={"outcomes": [seizure]})
    assert r.status_code == 200 and r.json()["recorded"] == 1, r.text
    case = call(service, "GET", f"/v1/cases/{first['case_id']}").json()
    assert case["state"] == "inspected" and case["contraband_found"] is True and case["seized_value_usd"] == 435_223.0
    after = call(service, "GET", "/v1/performance").json()["by_lane"]["yellow"]
    assert (after["inspections"], after["seizures"]) == (before["inspections"] + 1, before["seizures"] + 1)
    # an analyst turns the seizure into "nothing found": refused, the history and the case unchanged
    flip = {"declaration_id": first["declaration_id"], "inspected": True, "contraband_found": False}
    r = call(service, "POST", "/v1/outcomes", json={"outcomes": [flip]})
    assert r.json()["recorded"] == 0 and r.json()["rejected"][0]["kind"] == "forbidden"
    assert is_problem(call(service, "POST", f"/v1/cases/{first['case_id']}/outcome",
                           json={"contraband_found": False, "correction_reason": "I say so"}), 403, "forbidden")
    current = call(service, "GET", "/v1/outcomes", params={"declaration_id": first["declaration_id"]}).json()
    assert current["outcomes"][0]["contraband_found"] is True
    # a supervisor corrects it through the case, with a reason: recorded, audited
    r = call(service, "POST", f"/v1/cases/{first['case_id']}/outcome", "supervisor",
             json={"contraband_found": False, "correction_reason": "the lab found plain ferrite"})
    assert r.status_code == 200 and r.json()["contraband_found"] is False, r.text
    trail = call(service, "GET", "/v1/audit", "admin", params={"limit": 1000}).json()["events"]
    mine = [e for e in trail if e["target"] == f"case:{first['case_id']}"]
    assert [e["action"] for e in mine][-2:] == ["case.outcome", "case.correct"]
    assert mine[-1]["after"]["reason"] == "the lab found plain ferrite" and mine[-1]["before"]["contraband_found"] == 1
    # a closed case: /v1/outcomes is refused (409 kind), only the case's path may correct it
    call(service, "POST", f"/v1/cases/{second['case_id']}/outcome", json={"contraband_found": False})
    assert call(service, "POST", f"/v1/cases/{second['case_id']}/close", json={}).status_code == 200
    late = {"declaration_id": second["declaration_id"], "inspected": True, "contraband_found": True}
    r = call(service, "POST", "/v1/outcomes", "supervisor", json={"outcomes": [late], "correction_reason": "late news"})
    assert r.json()["recorded"] == 0 and r.json()["rejected"][0]["kind"] == "conflict"
    assert "changes only through the case" in r.json()["rejected"][0]["reason"]
    r = call(service, "POST", f"/v1/cases/{second['case_id']}/outcome", "supervisor",
             json={"contraband_found": True, "correction_reason": "late news"})
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["contraband_found"] is True


def test_no_surface_shows_a_feature_s_machine_name(service, queued, world):
    """The list (every row's reasons and lane reason), the evidence and the queue, scanned for
    every feature's machine name and for the fallback "name: value" of a feature without words
    of its own; every red and yellow row says why."""
    from contraband.features import DeclarationFeatures
    from contraband.models.vocabulary import described

    sample = world.head(3_000)
    names = DeclarationFeatures().fit(sample[[c for c in sample.columns if not c.startswith("truth_")]]) \
        .get_feature_names_out()
    machine = [n for n in names if "_" in n] + [f"{n.replace('_', ' ')}:" for n in names if not described(n)]
    _, body = queued
    texts = [t for r in body["rows"] for t in [*r["reasons"], r["lane_reason"] or ""]]
    inspected = [r for r in body["rows"] if r["lane"] in ("red", "yellow")]
    assert inspected and all(r["reasons"] for r in inspected)  # every declaration sent to inspection says why
    for r in inspected[:15]:
        ev = call(service, "GET", f"/v1/declarations/{r['declaration_id']}/evidence").json()
        texts += ev["history_in_words"] + list(ev["labels"].values())
    queue = call(service, "GET", "/v1/cases", params={"format": "csv", "state": "open"})
    texts += list(pd.read_csv(io.BytesIO(queue.content), dtype=str)["why"].dropna())
    said = "\n".join(texts)
    assert len(said) > 10_000
    assert not [m for m in machine if m in said], [m for m in machine if m in said][:10]


def test_me_names_each_key_s_role(service):
    for role in ("analyst", "supervisor", "admin"):
        r = call(service, "GET", "/v1/me", role)
        assert r.status_code == 200, r.text
        assert r.json() == {"key_id": service.keys[role].split("_")[1], "role": role}
    assert is_problem(call(service, "GET", "/v1/me", None), 401, "unauthorized")


def test_the_last_manifest_a_key_scored_comes_back_as_it_was_sent(service, queued):
    manifest, body = queued
    # other tests upload with the analyst key too: the queued manifest again (each keeps its lane)
    again = upload(service, as_csv(manifest), name="desk.csv")
    assert again.status_code == 200, again.text
    r = call(service, "GET", "/v1/manifests/last")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    last = r.json()
    assert last == again.json()  # the very answer, byte for byte
    assert last["summary"]["source"] == body["summary"]["source"] == "desk.csv"
    assert [(x["declaration_id"], x["lane"]) for x in last["rows"]] == \
           [(x["declaration_id"], x["lane"]) for x in again.json()["rows"]]
    # the queued declarations (ranked again against a history that grew since; each kept its decision)
    assert {x["declaration_id"] for x in last["rows"]} == {x["declaration_id"] for x in body["rows"]}
    # a CSV answer is not kept: the JSON one stays
    upload(service, as_csv(manifest.head(5)), name="small.csv", format="csv")
    assert call(service, "GET", "/v1/manifests/last").json()["summary"]["source"] == "desk.csv"
    missing = call(service, "GET", "/v1/manifests/last", "admin")
    assert is_problem(missing, 404, "not_found") and missing.json()["message"] == "no manifest scored with this key yet"
    assert is_problem(call(service, "GET", "/v1/manifests/last", None), 401, "unauthorized")


def test_a_rule_preview_counts_its_hits_and_saves_nothing(service, queued):
    manifest, body = queued
    assert upload(service, as_csv(manifest), name="desk.csv", key="supervisor").status_code == 200
    codes = {r["declaration_id"]: str(r["declaration"]["hs_code"]) for r in body["rows"]}
    prefix = pd.Series([c[:4] for c in codes.values()]).value_counts().index[0]
    expected = {d for d, code in codes.items() if code.startswith(prefix)}
    rule = {"name": "preview of the commonest heading", "lane": "red", "rationale": "a test of the preview",
            "conditions": {"hs_prefixes": [prefix]}}
    before = call(service, "GET", "/v1/rules", params={"retired": "true"}).json()
    r = call(service, "POST", "/v1/rules/preview", "supervisor", json=rule)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["manifest"]["declarations"] == len(body["rows"])
    assert preview["manifest"]["hits"] == len(expected) > 0
    assert set(preview["manifest"]["sample"]) <= expected and len(preview["manifest"]["sample"]) == min(20, len(expected))
    recent = preview["last_30_days"]
    # the last 30 days of the history (other tests record later days into the same store): each
    # declaration sampled is one the rule would hit
    assert 0 <= recent["hits"] <= recent["declarations"] and recent["declarations"] > 0
    assert len(recent["sample"]) == min(20, recent["hits"])
    for declaration_id in recent["sample"][:5]:
        versions = call(service, "GET", f"/v1/declarations/{declaration_id}/versions").json()["versions"]
        assert str(versions[-1]["declaration"]["hs_code"]).startswith(prefix)
    assert call(service, "GET", "/v1/rules", params={"retired": "true"}).json() == before  # nothing saved
    # the same checks as POST /v1/rules, and the same roles
    bad = {**rule, "conditions": {"value_usd": {"min": 10, "max": 1}}}
    saved = call(service, "POST", "/v1/rules", "supervisor", json=bad)
    previewed = call(service, "POST", "/v1/rules/preview", "supervisor", json=bad)
    assert is_problem(previewed, 400, "bad_request") and previewed.json() == saved.json()
    assert is_problem(call(service, "POST", "/v1/rules/preview", "analyst", json=rule), 403, "forbidden")
    # a key that scored no manifest sees its history figures alone
    alone = call(service, "POST", "/v1/rules/preview", "admin", json=rule).json()
    assert alone["manifest"] == {"declarations": 0, "hits": 0, "sample": []} and alone["last_30_days"] == recent


def test_the_queue_shows_each_case_s_goods_and_route_worst_first_within_a_lane(service, queued):
    _, body = queued
    cases = {r["case_id"]: r["declaration"] for r in body["rows"] if r["case_id"] is not None}
    first = min(cases)
    r = call(service, "GET", "/v1/cases", params={"after": first - 1, "limit": 100})
    assert r.status_code == 200, r.text
    page = r.json()["cases"]
    assert len(page) == 100 and r.json()["next_after"] == max(c["case_id"] for c in page)
    level = {"red": 0, "yellow": 1, "green": 2}
    keys = [(level[c["lane"]], -c["risk_score"], c["case_id"]) for c in page]
    assert keys == sorted(keys)
    assert [c["lane"] for c in page][0] == "red" and "yellow" in {c["lane"] for c in page}

    def route(d):
        stops = [d["origin_country"], d["export_country"] if d["export_country"] != d["origin_country"] else None,
                 *(d.get("transit_countries") or "").split(";"), d["destination_country"]]
        return " → ".join(s.strip() for s in stops if s and s.strip())

    mine = [c for c in page if c["case_id"] in cases]
    assert len(mine) >= 5 and any(" → " in c["route"] for c in mine)
    for c in mine[:10]:
        d = cases[c["case_id"]]
        assert (c["hs_code"], c["goods_description"], c["route"]) == (str(d["hs_code"]), d["goods_description"], route(d))
    # the next page starts after this one's last case number: every case once
    rest = call(service, "GET", "/v1/cases", params={"after": r.json()["next_after"], "limit": 1000}).json()["cases"]
    assert not {c["case_id"] for c in rest} & {c["case_id"] for c in page}
    csv = call(service, "GET", "/v1/cases", params={"format": "csv", "after": first - 1})
    table = pd.read_csv(io.BytesIO(csv.content), dtype={"hs_code": str})
    assert {"hs_code", "goods_description", "route"} <= set(table.columns)
    mapped = table.set_index("case_id")
    for c in mine[:10]:
        assert mapped.loc[c["case_id"], "route"] == c["route"] and mapped.loc[c["case_id"], "hs_code"] == c["hs_code"]
    assert list(table["lane"].map(level)) == sorted(table["lane"].map(level))
