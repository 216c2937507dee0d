"""``contraband train``, ``evaluate``, ``score`` and ``history`` end to end, on the default stores."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from contraband.cli import main
from contraband.data.history import open_history
from contraband.data.world import WorldConfig, generate, write


@pytest.mark.slow
def test_train_evaluate_score_on_the_default_stores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("CONTRABAND_HISTORY", raising=False)
    world = generate(WorldConfig(rows=60_000, seed=9, prevalence=0.006))
    write(world[world["declaration_date"] < "2026-09-01"], tmp_path / "history.parquet")
    later = world[world["declaration_date"] >= "2026-09-01"]
    write(later, tmp_path / "later.parquet")  # labelled declarations the model never saw
    manifest = later.drop(columns=["inspected", "contraband", "seized_value_usd"]).head(400).copy()
    manifest["hs_code"] = manifest["hs_code"].astype(str)
    manifest.iloc[5, manifest.columns.get_loc("hs_code")] = "38"  # a broken row
    write(manifest, tmp_path / "manifest.csv")
    runner = CliRunner()

    trained = runner.invoke(main, ["train", "--data", "history.parquet"])
    assert trained.exit_code == 0, trained.output
    assert "MLflow run id:" in trained.output and "registered: contraband-detector version 1" in trained.output
    assert "promoted to @champion" in trained.output and "plain_lightgbm" in trained.output
    assert "history: 53,733 declarations received (53,733 new" in trained.output
    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "history.db").exists()

    evaluated = runner.invoke(main, ["evaluate", "--data", "later.parquet", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "blind: outcomes recorded from 2026-09-01 on do not count" in evaluated.stderr
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    for key in ("roc_auc", "pr_auc", "precision_at_1pct", "precision_at_5pct", "precision_at_10pct",
                "recall_at_5pct", "value_recall_at_5pct", "rows", "positives"):
        assert key in result
    assert open_history(tmp_path / "history.db").outcomes(all_versions=True)["declaration_id"].isin(
        later["declaration_id"]).sum() == 0  # evaluation recorded the declarations, never their outcomes
    truth = json.loads(runner.invoke(main, ["evaluate", "--data", "later.parquet", "--truth", "--json"]).stdout
                       .strip().splitlines()[-1])
    assert truth["rows"] > result["rows"]  # every row against the truth, not only the inspected

    scored_path = tmp_path / "scored.csv"
    scored = runner.invoke(main, ["score", "manifest.csv", "-o", str(scored_path), "--budget", "0.05"])
    assert scored.exit_code == 0, scored.output
    assert "1 rejected" in scored.output and "flagged for inspection at a 5% budget" in scored.output
    out = pd.read_csv(scored_path)
    assert len(out) == 400  # nothing lost
    for col in ("risk_score", "rank", "flagged", "exploration", "reason_1", "reason_2", "reason_3"):
        assert col in out
    broken = out[out["rejected_because"].notna()]
    assert len(broken) == 1 and "hs_code" in broken["rejected_because"].iloc[0] and broken["line"].iloc[0] == 7
    assert broken["reason_1"].isna().all()  # the reason columns hold reasons for a risk score only
    assert broken["declaration_id"].notna().all() and broken["hs_code"].notna().all()  # cells as received
    assert out["line"].notna().all() and out["line"].nunique() == 400  # every row keeps its source line
    assert out["rank"].dropna().is_monotonic_increasing  # highest risk first, rejected rows last

    info = runner.invoke(main, ["history", "info"])
    assert info.exit_code == 0 and "declarations: 60,000" in info.output

    # retraining from the history store: its declarations, the latest recorded results as labels
    store = open_history(tmp_path / "history.db")
    known = world[world["declaration_date"] < "2026-09-01"]
    results = int(((known["inspected"] == 1) & known["contraband"].notna()).sum())
    store.record_outcomes(pd.DataFrame({"declaration_id": [manifest["declaration_id"].iloc[0]], "inspected": [1],
                                        "contraband": [1]}))
    retrained = runner.invoke(main, ["train", "--no-promote"])
    assert retrained.exit_code == 0, retrained.output
    assert f"training on the history store: 60,000 declarations, {results + 1:,} with a recorded result" in retrained.output
    assert "registered: contraband-detector version 2" in retrained.output and "history: " not in retrained.output
    elsewhere = runner.invoke(main, ["history", "info", "--history", str(tmp_path / "other.db")])
    assert elsewhere.exit_code == 1 and "other.db does not exist" in elsewhere.output  # a reader creates nothing
    assert not (tmp_path / "other.db").exists()


def test_history_ingest_is_idempotent_and_reports_what_it_did(tmp_path):
    world = generate(WorldConfig(rows=3000, seed=2))
    write(world, tmp_path / "w.parquet")
    runner = CliRunner()
    store = str(tmp_path / "h.db")
    first = runner.invoke(main, ["history", "ingest", str(tmp_path / "w.parquet"), "--history", store])
    assert first.exit_code == 0, first.output
    assert "3,000 new" in first.output
    again = runner.invoke(main, ["history", "ingest", str(tmp_path / "w.parquet"), "--history", store])
    assert "3,000 unchanged" in again.output and "0 outcome versions" in again.output
    rebuilt = runner.invoke(main, ["history", "rebuild", "--history", store])
    assert rebuilt.exit_code == 0 and "rebuilt" in rebuilt.output


@pytest.mark.slow
def test_demo_without_serving_does_the_whole_job_and_hands_out_a_key(tmp_path, monkeypatch):
    from contraband.api.access import KeyRing

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("CONTRABAND_HISTORY", raising=False)
    result = CliRunner().invoke(main, ["demo", "--rows", "30000", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "[4/5] hidden truth of the November manifest" in result.output
    assert (tmp_path / "outputs" / "manifest_scored.csv").exists()
    line = next(x for x in result.output.splitlines() if x.startswith("[5/5] not serving"))
    key = line.rsplit(" ", 1)[1]
    assert KeyRing(open_history(tmp_path / "history.db")).identify(key)[1] == "analyst"
