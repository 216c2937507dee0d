"""The unattended retraining job: exit statuses, one run per cut-off, and a kill midway.

Each test has its own MLflow tracking store (SQLite) and its own copy of the world's history;
the job reads the history and must leave it exactly as it found it."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner
from history_helpers import clone
from mlflow.tracking import MlflowClient

from contraband.cli import main
from contraband.data.history import day_of
from contraband.models.retrain import CUT_OFF_TAG, STATUS_TAG

MODEL = "contraband-detector"


@pytest.fixture()
def setting(world_history, tmp_path, monkeypatch):
    """A copy of the world's history and an empty tracking store, the working folder beside them."""
    store = clone(world_history, tmp_path / "history.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    yield store, MlflowClient(uri)
    store.close()


def _content(store) -> str:
    """A fingerprint of everything the history store holds."""
    path = store.url.removeprefix("sqlite:///")
    h = hashlib.sha256()
    with sqlite3.connect(path) as db:
        for table in ("declarations", "outcomes", "series", "ingests", "meta"):
            for row in db.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
                h.update(repr(row).encode())
    return h.hexdigest()


def _retrain(store, cut_off: str, *extra: str):
    return CliRunner().invoke(main, ["retrain", "--cut-off", cut_off, "--no-baselines", "--history", store.url,
                                     *extra])


def _runs(client, cut_off: str) -> pd.DataFrame:
    return mlflow.search_runs(experiment_names=["contraband"], filter_string=f"tags.`{CUT_OFF_TAG}` = '{cut_off}'")


def _versions(client, cut_off: str | None = None) -> list:
    try:
        found = client.search_model_versions(f"name = '{MODEL}'")
    except Exception:  # noqa: BLE001 - no registered model yet
        return []
    return [v for v in found if cut_off is None or v.tags.get(CUT_OFF_TAG) == cut_off]


@pytest.mark.slow
def test_the_job_promotes_keeps_or_fails_with_distinct_statuses_and_does_a_cut_off_once(setting):
    store, client = setting
    before = _content(store)

    first = _retrain(store, "2026-06-01")
    assert first.exit_code == 0, first.output
    assert "status: promoted (exit 0)" in first.output and "drift:" in first.output
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.tags[CUT_OFF_TAG] == "2026-06-01" and champion.tags["gate.decision"] == "promoted"
    run = client.get_run(champion.run_id)
    assert run.data.tags[STATUS_TAG] == "promoted" and run.data.params["cut_off"] == "2026-06-01"
    # the drift report is on the run: a figure per feature, the score and the flag rate, and the plot
    assert {"drift/psi_score", "drift/psi_flag_rate", "drift/flag_rate"} <= set(run.data.metrics)
    assert sum(k.startswith("drift/psi/") for k in run.data.metrics) > 20
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)} | \
        {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"drift.json", "plots/drift.png"} <= artifacts
    # the model saw no declaration from the cut-off on
    assert run.data.params["test_to"] < "2026-06-01"

    again = _retrain(store, "2026-06-01")
    assert again.exit_code == 0 and "nothing redone" in again.output
    assert len(_runs(client, "2026-06-01")) == 1 and len(_versions(client)) == 1

    # a week later the challenger is all but the champion: the gate keeps the champion, and a
    # challenger that is not promoted is not registered
    kept = _retrain(store, "2026-06-08")
    assert kept.exit_code == 3, kept.output
    assert "status: kept (exit 3)" in kept.output
    assert client.get_model_version_by_alias(MODEL, "champion").version == champion.version
    assert len(_versions(client)) == 1
    assert _runs(client, "2026-06-08")["tags.retrain.status"].tolist() == ["kept"]
    assert _retrain(store, "2026-06-08").exit_code == 3  # the same answer for the same cut-off

    failed = _retrain(store, "2024-06-01")
    assert failed.exit_code == 1 and "status: failed (exit 1)" in failed.output
    assert "no declaration dated before 2024-06-01" in failed.output
    assert _runs(client, "2024-06-01")["tags.retrain.status"].tolist() == ["failed"]

    assert _content(store) == before  # the job reads the history (declarations, outcomes, series), never writes it
    # it keeps each run's verdict and drift beside the desk's figures (the latest is shown there)
    from contraband.desk.retrains import latest

    shown = latest(store.engine)
    assert (shown["cut_off"], shown["status"]) == ("2026-06-08", "kept")
    assert shown["run_id"] == _runs(client, "2026-06-08")["run_id"].iloc[0]
    assert set(shown["drift"]) >= {"score_psi", "flag_rate", "shifted"}


def test_the_job_learns_from_outcomes_recorded_before_the_cut_off_only(setting):
    store, _ = setting
    labelled = store.labelled_declarations()
    seized = labelled[labelled["contraband"] == 1].iloc[0]
    day = pd.Timestamp(seized["declaration_date"])
    # recorded a month after the declaration: a correction that the seizure was a false alarm
    store.record_outcomes(pd.DataFrame({"declaration_id": [seized["declaration_id"]], "inspected": [1],
                                        "contraband": [0], "recorded_at": [day + pd.Timedelta(days=30)]}))
    cut_before = day_of(day + pd.Timedelta(days=20))
    cut_after = day_of(day + pd.Timedelta(days=40))
    then = store.labelled_declarations(before_day=cut_before).set_index("declaration_id")
    later = store.labelled_declarations(before_day=cut_after).set_index("declaration_id")
    assert then.loc[seized["declaration_id"], "contraband"] == 1
    assert later.loc[seized["declaration_id"], "contraband"] == 0
    assert pd.to_datetime(then["declaration_date"]).max() < day + pd.Timedelta(days=20)
    # what was recorded after a cut-off never changes that cut-off's data
    assert len(then) == len(store.labelled_declarations(before_day=cut_before))


def _kill_after(line_part: str, store, cut_off: str, env: dict) -> list[str]:
    """Run the job in a process and kill it (SIGKILL) as soon as it prints ``line_part``."""
    job = subprocess.Popen([str(Path(sys.executable).parent / "contraband"), "retrain", "--cut-off", cut_off,
                            "--no-baselines", "--history", store.url], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env)
    seen = []
    for line in job.stdout:
        seen.append(line)
        if line_part in line:
            job.send_signal(signal.SIGKILL)
            break
    job.wait(timeout=120)
    assert any(line_part in s for s in seen), "".join(seen)
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", ["features:", "registered"])
def test_a_job_killed_midway_leaves_registry_and_store_consistent_and_a_re_run_finishes(setting, kill_after):
    store, client = setting
    before = _content(store)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    _kill_after(kill_after, store, "2026-06-01", env)

    # wherever it died: the store as it was, and a champion (if any) that is one complete version
    assert _content(store) == before
    try:
        champion = client.get_model_version_by_alias(MODEL, "champion")
    except Exception:  # noqa: BLE001 - no champion yet
        champion = None
    if champion is not None:
        assert champion.tags["gate.decision"] == "promoted" and champion.tags[CUT_OFF_TAG] == "2026-06-01"
    assert not any(r == "promoted" for r in _runs(client, "2026-06-01").get("tags.retrain.status", []))

    done = _retrain(store, "2026-06-01")
    assert done.exit_code == 0, done.output
    versions = _versions(client, "2026-06-01")
    assert len(versions) == 1  # a version the killed job registered but never promoted is gone
    assert client.get_model_version_by_alias(MODEL, "champion").version == versions[0].version
    statuses = _runs(client, "2026-06-01")["tags.retrain.status"].tolist()
    assert statuses.count("promoted") == 1
    assert set(statuses) <= {"promoted", "interrupted"}
    assert _content(store) == before


@pytest.mark.slow
def test_the_job_trains_on_a_dask_cluster_given_its_scheduler(setting):
    pytest.importorskip("distributed", reason="the scale extra (Dask) is not installed")
    from contraband.engines import open_engine

    store, client = setting
    with open_engine("dask", workers=2) as engine:
        address = engine.client.scheduler.address
        assert address.startswith("tcp://127.0.0.1:")
        done = _retrain(store, "2026-06-01", "--engine", "dask", "--scheduler", address)
    assert done.exit_code == 0, done.output
    champion = client.get_model_version_by_alias(MODEL, "champion")
    run = client.get_run(champion.run_id)
    assert run.data.params["engine"] == "dask" and run.data.tags[STATUS_TAG] == "promoted"
    # what is served is a plain LightGBM model, loadable without a cluster
    from contraband.models.tracking import load_detector

    detector = load_detector(f"models:/{MODEL}@champion")
    assert type(detector.model_).__name__ == "LGBMClassifier"
