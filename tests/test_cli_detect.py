"""``contraband train``, ``evaluate`` and ``score`` end to end, on the default sqlite store."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from contraband.cli import main
from contraband.data.world import WorldConfig, generate, write


@pytest.mark.slow
def test_train_evaluate_score_on_the_default_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    world = generate(WorldConfig(rows=60_000, seed=9, prevalence=0.006))
    write(world[world["declaration_date"] < "2026-09-01"], tmp_path / "history.parquet")
    manifest = world[world["declaration_date"] >= "2026-09-01"].drop(
        columns=["inspected", "contraband", "seized_value_usd"]).head(400).copy()
    manifest["hs_code"] = manifest["hs_code"].astype(str)
    manifest.iloc[5, manifest.columns.get_loc("hs_code")] = "38"  # a broken row
    write(manifest, tmp_path / "manifest.csv")
    runner = CliRunner()

    trained = runner.invoke(main, ["train", "--data", "history.parquet"])
    assert trained.exit_code == 0, trained.output
    assert "MLflow run id:" in trained.output and "registered: contraband-detector version 1" in trained.output
    assert "promoted to @champion" in trained.output and "plain_lightgbm" in trained.output
    assert (tmp_path / "mlflow.db").exists()

    evaluated = runner.invoke(main, ["evaluate", "--data", "history.parquet", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    for key in ("roc_auc", "pr_auc", "precision_at_1pct", "precision_at_5pct", "precision_at_10pct",
                "recall_at_5pct", "value_recall_at_5pct", "rows", "positives"):
        assert key in result
    truth = json.loads(runner.invoke(main, ["evaluate", "--data", "history.parquet", "--truth", "--json"]).stdout
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
    broken = out[out["declaration_id"].isna() | out["reason_1"].fillna("").str.startswith("rejected")]
    assert len(broken) == 1 and "hs_code" in broken["reason_1"].iloc[0]
    assert out["flagged"].fillna(False).astype(bool).sum() == 20 and not any("truth_" in c for c in out)

    missing = runner.invoke(main, ["score", "manifest.csv", "-o", "x.csv", "--model", "models:/nope@champion"])
    assert missing.exit_code == 1 and "cannot load model models:/nope@champion" in missing.output
