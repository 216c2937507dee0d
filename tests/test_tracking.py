"""MLflow: the champion/challenger gate, and the whole train -> register -> load cycle against a
real ``mlflow server`` on 127.0.0.1."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import pandas as pd

from contraband.data.history import open_history
from contraband.data.world import WorldConfig, generate
from contraband.models import tracking
from contraband.models.gate import Comparison
from contraband.models.scoring import score
from contraband.models.training import train
from service_helpers import free_port


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


def _outcomes(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.08).astype(int)
    return y, rng


def test_gate_promotes_only_a_clearly_better_challenger_unless_forced(sqlite_store, tmp_path):
    client, name = sqlite_store, "gate-test"
    (r1, v1), (r2, v2), (r3, v3), (r4, v4), (r5, v5) = _versions(client, name, 5, tmp_path)
    y, rng = _outcomes()
    weak = y * 1.0 + rng.normal(size=len(y))  # the first champion: precision at 5 % about 0.6
    strong = y * 3.0 + rng.normal(size=len(y))  # clearly better
    client.log_param(r1, "valid_to", "2026-05-31")
    seen = {}

    def versus(challenger, champion=weak, rows=True):
        def compare(champion_uri, champion_data_end):
            seen["data_end"] = champion_data_end
            return Comparison(challenger, champion, y) if rows else None
        return compare

    first = tracking.gate(client, r1, name, v1, 0.6, versus(weak))
    assert first.promoted and tracking.champion_version(client, name) == v1
    worse = tracking.gate(client, r2, name, v2, 0.1, versus(rng.normal(size=len(y))))
    assert not worse.promoted and worse.champion_score > worse.challenger_score
    assert seen["data_end"] == "2026-05-31"  # judged only on rows after the champion's data
    assert not tracking.gate(client, r2, name, v2, 0.6, versus(weak.copy())).promoted  # a tie keeps the champion
    nudged = weak + 0.02 * rng.normal(size=len(y))  # a different model, no better: noise decides nothing
    noisy = tracking.gate(client, r2, name, v2, 0.6, versus(nudged))
    assert not noisy.promoted and "does not clearly beat" in noisy.reason
    unfair = tracking.gate(client, r2, name, v2, 0.9, versus(strong, rows=False))
    assert not unfair.promoted and "no fair comparison" in unfair.reason
    better = tracking.gate(client, r3, name, v3, 0.9, versus(strong))
    assert better.promoted and tracking.champion_version(client, name) == v3 and better.p_not_better < 0.05
    assert str(client.get_model_version_by_alias(name, tracking.PREVIOUS).version) == v1
    forced = tracking.gate(client, r4, name, v4, 0.1, versus(rng.normal(size=len(y)), strong), force=True)
    assert forced.promoted and forced.reason == "forced" and tracking.champion_version(client, name) == v4
    kept = tracking.gate(client, r5, name, v5, 0.99, versus(strong), promote=False)
    assert not kept.promoted and tracking.champion_version(client, name) == v4
    tags = client.get_run(r5).data.tags
    assert tags["gate.decision"] == "kept champion" and tags["gate.champion_version"] == v4
    assert client.get_model_version(name, v3).tags["gate.decision"] == "promoted"


def test_the_version_an_alias_names_is_read_from_sqlite_as_mlflow_answers(sqlite_store, tmp_path):
    """A command reads the champion's version from the SQLite tracking store without importing
    MLflow: it must give MLflow's answer as the alias moves and versions go, and give up
    (None: ask MLflow) on anything it cannot read."""
    from contraband.models.registry import registered_version

    client, name = sqlite_store, "fast-path"
    (_, v1), (_, v2), (_, v3) = _versions(client, name, 3, tmp_path)
    client.set_registered_model_alias(name, "champion", v1)
    for target in (v2, v3, v1):
        client.set_registered_model_alias(name, "champion", target)
        assert registered_version(name, "champion", None) == str(client.get_model_version_by_alias(name, "champion")
                                                                   .version) == target
    assert registered_version(name, None, v2) == v2
    assert registered_version(name, "nobody", None) is None and registered_version("no-such-model", "champion", None) \
        is None
    client.delete_model_version(name, v3)
    assert registered_version(name, None, v3) is None
    assert registered_version(name, "champion", None, uri="http://127.0.0.1:5000") is None
    assert registered_version(name, "champion", None, uri=f"sqlite:///{tmp_path / 'missing.db'}") is None
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    assert registered_version(name, "champion", None, uri=f"sqlite:///{tmp_path / 'junk.db'}") is None


def test_a_champion_that_no_longer_loads_is_reported_and_kept_unless_forced(sqlite_store, tmp_path, monkeypatch):
    """A champion pickled by older code (here: a feature class from a module that is gone) makes
    the gate say so and not promote; --force promotes, and nothing crashes on the way."""
    import importlib
    import sys

    import joblib

    from contraband.models.pyfunc import ContrabandModel

    client, name = sqlite_store, "old-champion"
    module = tmp_path / "retired_family.py"
    module.write_text("class RetiredFamily:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    retired = importlib.import_module("retired_family")
    joblib.dump(retired.RetiredFamily(), tmp_path / "detector.joblib")
    del sys.modules["retired_family"]
    module.unlink()  # the code that pickled it is gone
    mlflow.set_experiment("old")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=ContrabandModel(),
                                       artifacts={"detector": str(tmp_path / "detector.joblib")})
    old = tracking.register(info.model_uri, name)
    client.set_registered_model_alias(name, tracking.CHAMPION, old)
    (r2, v2), = [(client.create_run(client.create_experiment("new")).info.run_id, None)]
    v2 = str(client.create_model_version(name, str(tmp_path / "m2"), run_id=r2).version)

    def compare(champion_uri, champion_data_end):
        tracking.load_detector(champion_uri)  # the real load: unpickling fails
        raise AssertionError("unreachable")

    kept = tracking.gate(client, r2, name, v2, 0.9, compare)
    assert not kept.promoted and tracking.champion_version(client, name) == old
    assert f"champion v{old} cannot be loaded or scored by this code" in kept.reason
    assert "ModuleNotFoundError" in kept.reason and "--force" in kept.reason
    assert "cannot be loaded" in client.get_run(r2).data.tags["gate.reason"]
    forced = tracking.gate(client, r2, name, v2, 0.9, compare, force=True)
    assert forced.promoted and tracking.champion_version(client, name) == v2 and "cannot be loaded" in forced.reason
    del run


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
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
def test_train_register_promote_and_load_by_alias_from_a_real_server(mlflow_server, small_world, monkeypatch,
                                                                      tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    name = "contraband-detector"
    store = open_history(tmp_path / "history.db")
    first = train(small_world, store, experiment="server-test", model_name=name, log=lambda m: None)
    assert first.decision.promoted and first.version == "1"
    client = MlflowClient(mlflow_server)
    run = client.get_run(first.run_id)
    assert {"model/precision_at_5pct", "rules/precision_at_5pct", "anomaly/precision_at_5pct",
            "plain_lightgbm/precision_at_5pct", "model_truth/recall_at_5pct"} <= set(run.data.metrics)
    assert run.data.params["train_rows"] == str(len(first.windows.train))
    plots = {Path(a.path).name for a in client.list_artifacts(first.run_id, "plots")}
    assert {"pr_curve.png", "precision_by_budget.png", "importance_by_family.png", "calibration.png"} <= plots

    # raw canonical records in, as a client reads a manifest (plain read_csv: integers stay
    # integers), one of them broken; the model reads the same history store
    records = small_world[small_world["declaration_date"] >= "2026-09-01"].head(200)
    from contraband.models.pyfunc import input_example
    input_example(records, n=200).to_csv(tmp_path / "manifest.csv", index=False)
    request = pd.read_csv(tmp_path / "manifest.csv")
    request["packages"] = request["packages"].round().astype("int64")
    request["hs_code"] = request["hs_code"].astype(str)
    request.loc[3, "hs_code"] = "12"
    champion = mlflow.pyfunc.load_model(f"models:/{name}@champion", model_config={"history": str(tmp_path / "history.db")})
    out = champion.predict(request, params={"budget": 1.0, "flag_by": "budget"})
    assert list(out.columns[:4]) == ["risk_score", "rank", "flagged", "exploration"]
    assert np.isnan(out.loc[3, "risk_score"]) and out.loc[3, "rejected_because"].startswith("hs_code '12'")
    assert out.loc[3, "reason_1"] == "" and (out.drop(index=3)["rejected_because"] == "").all()
    valid = out.drop(index=3)
    assert valid["risk_score"].notna().all() and (valid["reason_1"] != "").all()
    # the registered model and the local one score against the same store: the same scores
    unlabelled = records.drop(index=records.index[3]).drop(columns=["inspected", "contraband", "seized_value_usd"])
    local = score(first.detector, unlabelled, store, budget=1.0, exploration=0.0, record=False)
    np.testing.assert_allclose(valid["risk_score"].to_numpy(), local["risk_score"].to_numpy(), rtol=1e-9)
    # a single declaration is flagged by the model's budget threshold, not always
    singles = pd.concat([champion.predict(request.iloc[[i]], params={"budget": 0.05}) for i in (0, 1, 2, 4, 5, 6)])
    assert not singles["flagged"].all()

    # a forced second version becomes champion; the previous one stays loadable
    second = train(small_world, store, experiment="server-test", model_name=name, force=True, log=lambda m: None)
    assert second.decision.promoted and second.decision.champion_version == "1"
    assert str(client.get_model_version_by_alias(name, "champion").version) == second.version
    previous = mlflow.pyfunc.load_model(f"models:/{name}@previous-champion",
                                        model_config={"history": str(tmp_path / "history.db")})
    assert len(previous.predict(request.head(5))) == 5
