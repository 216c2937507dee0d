"""Benchmark: train on a generated world of 1,000,000 declarations, then score a manifest of as many.

Targets (issue 4): full training (features, anomaly model, LightGBM, calibration, MLflow logging
and registration) under 3 minutes; scoring with reasons for the flagged rows at 100,000
rows/s or better. Since issue 7 the training data is first recorded in the history store and the
manifest is recorded before it is scored (its declarations are history for the next day's):
both recordings are timed separately. The manifest is 1,000,000 declarations from the months
after the training data (same traders, new shipments), with a 5 % budget. Baselines in the same
run: training and scoring a plain LightGBM on the raw columns.

    python bench/train_world.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    from contraband.data.contract import OUTCOME_FIELDS
    from contraband.data.history import open_history
    from contraband.data.world import WorldConfig, generate
    from contraband.models.baselines import PlainLightGBM
    from contraband.models.detector import labelled, labels
    from contraband.models.scoring import score
    from contraband.models.training import train

    t = time.perf_counter()
    world = generate(WorldConfig(rows=2 * args.rows, months=36, seed=11))
    history = world[world["declaration_date"] < "2026-05-01"]
    manifest = world[world["declaration_date"] >= "2026-05-01"]
    history = history.iloc[-args.rows:] if len(history) > args.rows else history
    manifest = manifest.head(args.rows).drop(columns=[c for c in OUTCOME_FIELDS if c in manifest])
    print(f"world generated ({time.perf_counter() - t:.1f} s): history {len(history):,} rows, "
          f"manifest {len(manifest):,} rows")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        import mlflow  # noqa: F401  (import cost is not training time)
        store = open_history(Path(tmp) / "history.db")
        t0 = time.perf_counter()
        outcome = train(history, store, experiment="bench", log=lambda m: print("   ", m))
        train_s = time.perf_counter() - t0
        print(f"full training on {len(history):,} declarations (recording them included): {train_s:.1f} s "
              f"(fit {outcome.timings['fit_s']:.1f} s, registered version {outcome.version})")

        t0 = time.perf_counter()
        lab = labelled(history)
        plain = PlainLightGBM().fit(history[lab], labels(history)[lab])
        plain_train_s = time.perf_counter() - t0

        detector = outcome.detector
        t0 = time.perf_counter()
        recorded = store.ingest(manifest, source="bench manifest")
        record_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        scored = score(detector, manifest, store, budget=0.05, exploration=0.1, flag_by="budget", record=False)
        score_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain.score(manifest)
        plain_score_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        features = detector.features(manifest, store)
        features_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        detector.margin(features)
        predict_s = time.perf_counter() - t0
        store.close()

    rate = len(manifest) / score_s
    truth = manifest["truth_contraband"].to_numpy()
    caught = int(truth[scored["flagged"].to_numpy()].sum())
    print(f"\n{'step':<48}{'seconds':>9}{'rows/s':>12}")
    print(f"{'plain LightGBM: train (baseline)':<48}{plain_train_s:>9.1f}")
    print(f"{'detector: record + full training + MLflow':<48}{train_s:>9.1f}   x{train_s / plain_train_s:.1f} the baseline")
    print(f"{'plain LightGBM: score (baseline)':<48}{plain_score_s:>9.1f}{len(manifest) / plain_score_s:>12,.0f}")
    print(f"{'history: record the manifest':<48}{record_s:>9.1f}{len(manifest) / record_s:>12,.0f}"
          f"   ({recorded.new:,} new declarations)")
    print(f"{'detector: features alone':<48}{features_s:>9.1f}{len(manifest) / features_s:>12,.0f}")
    print(f"{'detector: LightGBM predict alone':<48}{predict_s:>9.1f}{len(manifest) / predict_s:>12,.0f}")
    print(f"{'detector: score + reasons for flagged rows':<48}{score_s:>9.1f}{rate:>12,.0f}   "
          f"x{score_s / plain_score_s:.1f} the baseline")
    print(f"flagged {int(scored['flagged'].sum()):,} ({caught} of {int(truth.sum())} contraband shipments)")
    print(f"targets: training < 180 s: {'met' if train_s < 180 else 'MISSED'}; "
          f"scoring >= 100,000 rows/s: {'met' if rate >= 100_000 else 'MISSED'}")


if __name__ == "__main__":
    main()
