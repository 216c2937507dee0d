"""What the service keeps, through a real ``contraband serve``: scoring keys cannot rewrite recorded
history (amendments are versions that count from the day they arrive; an inspected declaration
is refused alone), and a store the service cannot read stops it with one line and a non-zero
status, whatever the number of workers."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from contraband.data.contract import OUTCOME_FIELDS, is_truth_column
from history_helpers import counts

CONTRABAND = Path(sys.executable).parent / "contraband"


def _post(service, path: str, body: dict, key: str = "analyst") -> httpx.Response:
    return httpx.post(f"{service.url}{path}", json=body, headers={"X-API-Key": service.keys[key]}, timeout=60)


def _get(service, path: str, key: str = "analyst") -> httpx.Response:
    return httpx.get(f"{service.url}{path}", headers={"X-API-Key": service.keys[key]}, timeout=60)


def _as_sent(row: pd.Series) -> dict:
    """A declaration as a client sends it: contract fields only, ISO dates, null for missing."""
    out = {}
    for k, v in row.items():
        if k in OUTCOME_FIELDS or is_truth_column(k):
            continue
        if isinstance(v, pd.Timestamp):
            v = f"{v:%Y-%m-%d}"
        elif isinstance(v, (np.floating, float)) and np.isnan(v):
            v = None
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def _store(service):
    from contraband.data.history import open_history

    return open_history(service.root / "history.db", create=False)


def _days_from_today(n: int) -> str:
    return (datetime.now(timezone.utc).date() + timedelta(days=n)).isoformat()


def test_a_seized_declaration_re_sent_with_other_values_is_refused_alone_and_its_exporter_keeps_its_record(
        service, world):
    seized = world[(world["inspected"] == 1) & (world["contraband"] == 1)].iloc[0]
    exporter = seized["exporter_id"]
    store = _store(service)
    before = counts(store, "exporter", exporter, "2030-01-01")
    assert before[2] >= 1  # the exporter has at least this seizure on record
    cleared = {**_as_sent(seized), "goods_description": "wooden furniture", "origin_country": "VN",
               "exporter_id": "EXCLEAN01", "declaration_date": "2026-11-25"}
    fresh = {**_as_sent(world.iloc[-1]), "declaration_id": "AMEND-NEW-1"}
    answer = _post(service, "/v1/declarations/score", {"declarations": [cleared, fresh]})
    assert answer.status_code == 200
    rows = answer.json()["rows"]
    assert rows[0]["risk_score"] is None and rows[0]["declaration_id"] == seized["declaration_id"]
    assert rows[0]["problems"][0]["column"] == "declaration_id"
    assert "recorded inspection" in rows[0]["problems"][0]["reason"]
    assert rows[1]["risk_score"] is not None and rows[1]["problems"] == []  # the other row is scored
    assert answer.json()["summary"]["rejected"] == 1
    assert counts(store, "exporter", exporter, "2030-01-01") == before
    assert counts(store, "exporter", "EXCLEAN01", "2030-01-01") == (0, 0, 0)
    evidence = _get(service, f"/v1/declarations/{seized['declaration_id']}/evidence").json()
    assert evidence["declaration"]["exporter_id"] == exporter
    assert [v["version"] for v in store.declaration_versions(seized["declaration_id"])] == [1]
    # a manifest re-sending it is the same: that row rejected with the reason, the rest scored
    manifest = pd.DataFrame([cleared, fresh | {"declaration_id": "AMEND-NEW-2"}]).to_csv(index=False).encode()
    uploaded = httpx.post(f"{service.url}/v1/manifests", files={"file": ("resend.csv", manifest)},
                          headers={"X-API-Key": service.keys["analyst"]}, timeout=60).json()
    assert uploaded["summary"]["scored"] == 1 and uploaded["summary"]["rejected"] == 1
    assert uploaded["rejected"][0]["line"] == 2 and uploaded["rejected"][0]["declaration_id"] == seized["declaration_id"]
    assert "recorded inspection" in uploaded["rejected"][0]["problems"][0]["reason"]
    assert uploaded["rejected"][0]["cells"]["exporter_id"] == "EXCLEAN01"
    assert counts(store, "exporter", exporter, "2030-01-01") == before
    store.close()


def test_a_look_alike_of_a_recorded_id_is_the_same_declaration_or_refused_on_every_path(service, world):
    """Issue 40: an inspected declaration's id followed by a zero-width space is refused with the
    character named (JSON, manifest, outcomes, amendments), never recorded beside it; written with
    full-width letters it is the same declaration (NFKC), so its recorded inspection still holds."""
    seized = world[(world["inspected"] == 1) & (world["contraband"] == 1)].iloc[2]
    real = seized["declaration_id"]
    hidden, wide = real + "\u200b", "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in real)
    sent = _as_sent(seized)
    answer = _post(service, "/v1/declarations/score", {"declarations": [{**sent, "declaration_id": hidden},
                                                                         {**sent, "declaration_id": wide,
                                                                          "exporter_id": "EX-LOOKALIKE"}]}).json()
    assert [r["risk_score"] for r in answer["rows"]] == [None, None]
    assert "U+200B ZERO WIDTH SPACE" in answer["rows"][0]["problems"][0]["reason"]
    assert "recorded inspection" in answer["rows"][1]["problems"][0]["reason"]  # the same declaration, inspected
    manifest = pd.DataFrame([{**sent, "declaration_id": hidden}]).to_csv(index=False).encode()
    uploaded = httpx.post(f"{service.url}/v1/manifests", files={"file": ("lookalike.csv", manifest)},
                          headers={"X-API-Key": service.keys["analyst"]}, timeout=60).json()
    assert uploaded["summary"]["rejected"] == 1 and "U+200B" in uploaded["rejected"][0]["problems"][0]["reason"]
    outcome = _post(service, "/v1/outcomes", {"outcomes": [{"declaration_id": hidden, "inspected": True,
                                                             "contraband_found": False}]}).json()
    assert outcome["recorded"] == 0 and "U+200B" in outcome["rejected"][0]["reason"]
    amended = _post(service, "/v1/declarations/amend", {"declarations": [{**sent, "declaration_id": hidden}],
                                                        "reason": "a look-alike"}, key="admin").json()
    assert amended["amended"] == 0 and "U+200B" in amended["rows"][0]["problems"][0]["reason"]
    store = _store(service)
    assert store.declarations(ids=[hidden, wide]).empty and len(store.declaration_versions(real)) == 1
    assert int(store.outcomes(ids=[real])["contraband"].iloc[-1]) == 1  # the seizure stands
    store.close()


def test_an_amendment_of_an_uninspected_declaration_leaves_earlier_days_features_unchanged(service, world):
    """An amendment arriving today counts from tomorrow: the features of every declaration up to
    today are what they were; a declaration of tomorrow sees the amended version."""
    base = world.iloc[-2]
    exporter, moved_to = "EX-AMEND-PAST", "EX-AMEND-NEW"
    earlier = {**_as_sent(base), "declaration_id": "AMEND-EARLY", "exporter_id": exporter,
               "declaration_date": _days_from_today(-30)}
    later = {**_as_sent(base), "declaration_id": "AMEND-LATER", "exporter_id": exporter,
             "declaration_date": _days_from_today(-5)}
    tomorrow = {**_as_sent(base), "declaration_id": "AMEND-TOMORROW", "exporter_id": moved_to,
                "declaration_date": _days_from_today(1)}
    assert _post(service, "/v1/declarations/score", {"declarations": [earlier, later, tomorrow]}).status_code == 200

    def history(declaration_id):
        return _get(service, f"/v1/declarations/{declaration_id}/evidence").json()["history"]

    seen_later, seen_tomorrow = history("AMEND-LATER"), history("AMEND-TOMORROW")
    assert seen_later["exporter_prior_declarations"] == 1  # AMEND-EARLY, as first sent
    scored_later = _post(service, "/v1/declarations/score", {"declarations": [later]}).json()["rows"][0]["risk_score"]
    # the earlier declaration re-sent by its exporter's new name: an amendment, recorded today
    amended = _post(service, "/v1/declarations/score", {"declarations": [{**earlier, "exporter_id": moved_to}]})
    assert amended.json()["rows"][0]["problems"] == []
    assert history("AMEND-LATER") == seen_later  # 5 days ago: as it was
    again = _post(service, "/v1/declarations/score", {"declarations": [later]}).json()["rows"][0]["risk_score"]
    assert again == scored_later
    now_tomorrow = history("AMEND-TOMORROW")  # tomorrow: the amended version counts for its new exporter
    assert now_tomorrow["exporter_prior_declarations"] == seen_tomorrow["exporter_prior_declarations"] + 1
    store = _store(service)
    versions = store.declaration_versions("AMEND-EARLY")
    assert [(v["version"], v["declaration"]["exporter_id"]) for v in versions] == [(1, exporter), (2, moved_to)]
    assert versions[1]["sent_by"].startswith("api:") and versions[1]["counts_from"] == _days_from_today(0)
    store.close()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("damage", ["truncated", "corrupt", "empty", "foreign", "missing"])
def test_serve_on_a_store_it_cannot_read_exits_non_zero_with_one_line(service, tmp_path, damage, workers):
    import sqlite3

    good = (service.root / "history.db").read_bytes()
    path = tmp_path / "history.db"
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 3])
    elif damage == "corrupt":
        path.write_bytes(good[:4096] + b"\xff" * (len(good) - 4096))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "foreign":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE invoices (id INTEGER)")
        db.commit()
        db.close()
    env = {**service.env, "CONTRABAND_HISTORY": str(path)}
    run = subprocess.run([str(CONTRABAND), "serve", "--port", "0", "--workers", str(workers)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    said = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert len(said) == 1, said
    assert said[0].startswith("error: ") and str(path) in said[0] and "Traceback" not in said[0]
    if damage == "missing":
        assert not path.exists()


def test_the_service_reloads_and_restarts_after_a_manifest_with_extras(service, world, tmp_path):
    """Issue 40: once the last 30 days hold declarations with and without an ``x_`` column (the
    KCS mapping fills ``x_office_id``), the model's reload and every restart read them back."""
    from service_helpers import Service
    from test_api import fresh_manifest, upload

    manifest = fresh_manifest(world, 20, "EXTRAS")
    manifest["x_office_id"] = ["ICN" if i % 2 else None for i in range(len(manifest))]
    for part in (manifest, manifest.drop(columns="x_office_id").assign(
            declaration_id=lambda f: "PLAIN-" + f["declaration_id"])):
        sent = upload(service, part.to_csv(index=False).encode())
        assert sent.status_code == 200 and sent.json()["summary"]["scored"] == len(part), sent.text
    reloaded = _post(service, "/v1/model/reload", {}, key="admin")
    assert reloaded.status_code == 200, reloaded.text
    again = Service(tmp_path, service.env, "--workers", "2", keys=service.keys)  # a restart on the same store
    try:
        assert httpx.get(f"{again.url}/readyz", timeout=10).json()["status"] == "ready"
    finally:
        again.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_whose_worker_cannot_start_exits_non_zero_with_one_line(service, tmp_path, workers):
    """A failure nobody foresaw while a worker starts (here the model's load, broken in every
    process by a ``sitecustomize`` on the path) stops the service: exit 1, one line that says
    why, no traceback and no worker restarted for ever, whatever the number of workers."""
    import os

    (tmp_path / "sitecustomize.py").write_text(
        "import contraband.api.champion as champion\n\n"
        "def load(self, cache=True):\n"
        "    raise RuntimeError('injected: the registry answered nonsense')\n\n"
        "champion.Champion.load = load\n")
    env = {**os.environ, **service.env, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run([str(CONTRABAND), "serve", "--port", "0", "--workers", str(workers)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    said = (run.stdout + run.stderr).splitlines()
    errors = [line for line in said if line.startswith("error: ")]
    assert run.returncode != 0 and "Traceback" not in run.stdout + run.stderr, said
    assert len(errors) == 1 and errors[0].startswith(
        "error: the service cannot start: RuntimeError: injected: the registry answered nonsense (history ") and \
        str(service.root / "history.db") in errors[0], said


def test_an_admin_amends_an_inspected_declaration_with_a_reason_and_every_version_is_kept(service, world):
    seized = world[(world["inspected"] == 1) & (world["contraband"] == 1)].iloc[1]
    corrected = {**_as_sent(seized), "consignee_id": "CON-CORRECTED"}
    body = {"declarations": [corrected, {**corrected, "declaration_id": "NEVER-RECORDED"}],
            "reason": "consignee keyed wrongly at the border post"}
    refused = _post(service, "/v1/declarations/amend", body)  # an analyst key
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    for blank in ("", "    "):  # no reason, or only spaces: refused before anything is read
        assert _post(service, "/v1/declarations/amend", {**body, "reason": blank}, key="admin").status_code == 422
    answer = _post(service, "/v1/declarations/amend", body, key="admin")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["amended"], result["unchanged"], result["rejected"]) == (1, 0, 1)
    assert result["rows"][0] == {"row": 1, "declaration_id": seized["declaration_id"], "status": "amended",
                                 "version": 2, "problems": []}
    assert result["rows"][1]["status"] == "rejected" and "not in the history" in result["rows"][1]["problems"][0]["reason"]
    padded = {**body, "declarations": [{**corrected, "declaration_id": f"  {seized['declaration_id']} "}]}
    again = _post(service, "/v1/declarations/amend", padded, key="admin").json()
    assert (again["amended"], again["unchanged"]) == (0, 1)  # the same amendment sent again, its id padded
    assert again["rows"][0] == {"row": 1, "declaration_id": seized["declaration_id"], "status": "unchanged",
                                "version": 2, "problems": []}
    versions = _get(service, f"/v1/declarations/{seized['declaration_id']}/versions").json()["versions"]
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, True)]
    assert versions[0]["declaration"]["consignee_id"] == seized["consignee_id"]
    assert versions[1]["declaration"]["consignee_id"] == "CON-CORRECTED"
    assert versions[1]["note"] == "consignee keyed wrongly at the border post"
    assert versions[1]["sent_by"] == "amend:api:" + service.keys["admin"].split("_")[1]
    assert versions[1]["counts_from"] == _days_from_today(0)
    assert _get(service, "/v1/declarations/NOT-THERE/versions").status_code == 404
    # the amendment is an audit event (once: the same amendment sent again changed nothing)
    trail = _get(service, "/v1/audit?action=declaration.amend&limit=1000", key="admin").json()
    mine = [e for e in trail["events"] if e["target"] == f"declaration:{seized['declaration_id']}"]
    assert len(mine) == 1 and mine[0]["actor"] == "api:" + service.keys["admin"].split("_")[1]
    assert (mine[0]["before"], mine[0]["after"]) == ({"version": 1}, {"version": 2, "reason": body["reason"]})


def test_a_worker_answers_while_its_requests_wait_for_the_store_s_writers(service, world):
    """Issue 40: nothing that waits on the store runs on the event loop. While another process
    holds the writers' turn (a batch's transaction, drawn out here), a declaration sent for
    scoring and an outcome wait for it, and the worker (one: the service runs one) answers
    ``/healthz`` meanwhile; once the turn is free, both are recorded."""
    import threading

    row = world[world["declaration_date"] >= "2026-10-01"].iloc[0]
    declaration = {**_as_sent(row), "declaration_id": "WAITS-FOR-THE-WRITERS"}
    answers = {}
    store = _store(service)
    _post(service, "/v1/declarations/score", {"declarations": [{**declaration, "declaration_id": "WARM-UP"}]})
    try:
        with store._write():  # the writers' turn, held by this process
            sent = [threading.Thread(target=lambda: answers.update(score=_post(
                        service, "/v1/declarations/score", {"declarations": [declaration]}))),
                    threading.Thread(target=lambda: answers.update(outcome=_post(
                        service, "/v1/outcomes", {"outcomes": [{"declaration_id": "WARM-UP", "inspected": True,
                                                                "contraband_found": False}]})))]
            for thread in sent:
                thread.start()
            for _ in range(20):  # both requests reach the worker and wait
                health = httpx.get(f"{service.url}/healthz", timeout=10)
                assert health.status_code == 200
            assert all(thread.is_alive() for thread in sent) and not answers  # still waiting for the turn
    finally:
        store.close()
    for thread in sent:
        thread.join(timeout=60)
    assert answers["score"].status_code == 200, answers["score"].text
    assert answers["score"].json()["rows"][0]["risk_score"] is not None
    assert answers["outcome"].status_code == 200, answers["outcome"].text
