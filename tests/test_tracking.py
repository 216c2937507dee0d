"""MLflow: the champion/challenger gate, and the whole train -> register -> load cycle against a
real ``mlflow server`` on 127.0.0.1."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from contraband.data.world import WorldConfig, generate
from contraband.models import tracking
from contraband.models.scoring import score_declarations
from contraband.models.training import train


@pytest.fixture()
def sqlite_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    return MlflowClient()


def _versions(client, name, n, tmp_path):
    client.create_registered_model(name)
    out = []
    for i in range(n):
        run = client.create_run(client.create_experiment(f"e{i}-{name}")).info.run_id
        out.append((run, str(client.create_model_version(name, str(tmp_path / f"m{i}"), run_id=run).version)))
    return out


def test_gate_promotes_only_a_better_challenger_unless_forced(sqlite_store, tmp_path):
    client, name = sqlite_store, "gate-test"
    (r1, v1), (r2, v2), (r3, v3), (r4, v4), (r5, v5) = _versions(client, name, 5, tmp_path)
    champion_scores = {f"models:/{name}/{v1}": 0.30, f"models:/{name}/{v3}": 0.40}
    client.log_param(r1, "valid_to", "2026-05-31")

    def versus(challenger, rows=500):
        def compare(champion_uri, champion_data_end):
            compare.seen = champion_data_end
            return challenger, champion_scores.get(champion_uri, 0.0), rows
        return compare

    first = tracking.gate(client, r1, name, v1, 0.30, versus(0.30))
    assert first.promoted and tracking.champion_version(client, name) == v1
    worse_compare = versus(0.25)
    worse = tracking.gate(client, r2, name, v2, 0.25, worse_compare)
    assert not worse.promoted and worse.champion_score == 0.30 and tracking.champion_version(client, name) == v1
    assert worse_compare.seen == "2026-05-31"  # judged only on rows after the champion's data
    assert not tracking.gate(client, r2, name, v2, 0.30, versus(0.30)).promoted  # a tie keeps the champion
    unfair = tracking.gate(client, r2, name, v2, 0.90, versus(0.90, rows=0))
    assert not unfair.promoted and "no fair comparison" in unfair.reason
    better = tracking.gate(client, r3, name, v3, 0.40, versus(0.40))
    assert better.promoted and tracking.champion_version(client, name) == v3
    assert str(client.get_model_version_by_alias(name, tracking.PREVIOUS).version) == v1
    forced = tracking.gate(client, r4, name, v4, 0.10, versus(0.10), force=True)
    assert forced.promoted and forced.reason == "forced" and tracking.champion_version(client, name) == v4
    kept = tracking.gate(client, r5, name, v5, 0.99, versus(0.99), promote=False)
    assert not kept.promoted and tracking.champion_version(client, name) == v4
    tags = client.get_run(r5).data.tags
    assert tags["gate.decision"] == "kept champion" and tags["gate.champion_version"] == v4
    assert client.get_model_version(name, v3).tags["gate.decision"] == "promoted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start within 90 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def small_world():
    return generate(WorldConfig(rows=60_000, seed=5, prevalence=0.006))


@pytest.mark.slow
def test_train_register_promote_and_load_by_alias_from_a_real_server(mlflow_server, small_world, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    name = "contraband-detector"
    first = train(small_world, experiment="server-test", model_name=name, log=lambda m: None)
    assert first.decision.promoted and first.version == "1"
    client = MlflowClient(mlflow_server)
    run = client.get_run(first.run_id)
    assert {"model/precision_at_5pct", "rules/precision_at_5pct", "anomaly/precision_at_5pct",
            "plain_lightgbm/precision_at_5pct", "model_truth/recall_at_5pct"} <= set(run.data.metrics)
    assert run.data.params["train_rows"] == str(len(first.windows.train))
    plots = {Path(a.path).name for a in client.list_artifacts(first.run_id, "plots")}
    assert {"pr_curve.png", "precision_by_budget.png", "importance_by_family.png", "calibration.png"} <= plots

    # raw canonical records in (text, numbers, ISO dates), one of them broken
    records = small_world[small_world["declaration_date"] >= "2026-09-01"].head(200)
    from contraband.models.pyfunc import input_example
    request = input_example(records, n=200)
    request.loc[3, "hs_code"] = "12"
    champion = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    out = champion.predict(request, params={"budget": 1.0})
    assert list(out.columns[:4]) == ["risk_score", "rank", "flagged", "exploration"]
    assert np.isnan(out.loc[3, "risk_score"]) and out.loc[3, "reason_1"].startswith("rejected: hs_code '12'")
    valid = out.drop(index=3)
    assert valid["risk_score"].notna().all() and (valid["reason_1"] != "").all()
    # the request carries no outcomes, so neither may the local scoring (earlier rows' outcomes count)
    unlabelled = records.drop(index=records.index[3]).drop(columns=["inspected", "contraband", "seized_value_usd"])
    local = score_declarations(first.detector, unlabelled, budget=1.0, exploration=0.0)
    np.testing.assert_allclose(valid["risk_score"].to_numpy(), local["risk_score"].to_numpy(), rtol=1e-6)

    # a forced second version becomes champion; the previous one stays loadable
    second = train(small_world, experiment="server-test", model_name=name, force=True, log=lambda m: None)
    assert second.decision.promoted and second.decision.champion_version == "1"
    assert str(client.get_model_version_by_alias(name, "champion").version) == second.version
    previous = mlflow.pyfunc.load_model(f"models:/{name}@previous-champion")
    assert len(previous.predict(request.head(5))) == 5
