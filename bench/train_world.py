"""Benchmark: train on a generated world of 1,000,000 declarations, then score with reasons.

Targets (issue 4): full training (features, anomaly model, LightGBM, calibration, MLflow
logging and registration) under 3 minutes; scoring with reasons for the flagged rows at
100,000 rows/s or better. The scoring run is a fresh manifest of 1,000,000 declarations from
the months after the training data (same traders, new shipments), with a 5 % budget.
Baselines in the same run: training and scoring a plain LightGBM on the raw columns.

    python bench/train_world.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    from contraband.data.contract import OUTCOME_FIELDS
    from contraband.data.world import WorldConfig, generate
    from contraband.models.baselines import PlainLightGBM
    from contraband.models.detector import labelled, labels
    from contraband.models.scoring import score_declarations
    from contraband.models.training import train

    t = time.perf_counter()
    world = generate(WorldConfig(rows=2 * args.rows, months=36, seed=11))
    history = world[world["declaration_date"] < "2026-05-01"]
    manifest = world[world["declaration_date"] >= "2026-05-01"]
    history = history.iloc[-args.rows:] if len(history) > args.rows else history
    manifest = manifest.head(args.rows).drop(columns=list(OUTCOME_FIELDS))
    print(f"world generated ({time.perf_counter() - t:.1f} s): history {len(history):,} rows, "
          f"manifest {len(manifest):,} rows")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        import mlflow  # noqa: F401  (import cost is not training time)
        t0 = time.perf_counter()
        outcome = train(history, experiment="bench", log=lambda m: print("   ", m))
        train_s = time.perf_counter() - t0
    print(f"full training on {len(history):,} declarations: {train_s:.1f} s "
          f"(fit {outcome.timings['fit_s']:.1f} s, registered version {outcome.version})")

    t0 = time.perf_counter()
    lab = labelled(history)
    plain = PlainLightGBM().fit(history[lab], labels(history)[lab])
    plain_train_s = time.perf_counter() - t0

    detector = outcome.detector
    t0 = time.perf_counter()
    scored = score_declarations(detector, manifest, budget=0.05, exploration=0.1)
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain.score(manifest)
    plain_score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    features = detector.features(manifest)
    features_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    detector.margin(manifest, features)
    predict_s = time.perf_counter() - t0

    rate = len(manifest) / score_s
    truth = manifest["truth_contraband"].to_numpy()
    caught = int(truth[scored["flagged"].to_numpy()].sum())
    print(f"\n{'step':<44}{'seconds':>9}{'rows/s':>12}")
    print(f"{'plain LightGBM: train (baseline)':<44}{plain_train_s:>9.1f}")
    print(f"{'detector: full training + MLflow':<44}{train_s:>9.1f}   x{train_s / plain_train_s:.1f} the baseline")
    print(f"{'plain LightGBM: score (baseline)':<44}{plain_score_s:>9.1f}{len(manifest) / plain_score_s:>12,.0f}")
    print(f"{'detector: features alone':<44}{features_s:>9.1f}{len(manifest) / features_s:>12,.0f}")
    print(f"{'detector: LightGBM predict alone':<44}{predict_s:>9.1f}{len(manifest) / predict_s:>12,.0f}")
    print(f"{'detector: score + reasons for flagged rows':<44}{score_s:>9.1f}{rate:>12,.0f}   "
          f"x{score_s / plain_score_s:.1f} the baseline")
    print(f"flagged {int(scored['flagged'].sum()):,} ({caught} of {int(truth.sum())} contraband shipments)")
    print(f"targets: training < 180 s: {'met' if train_s < 180 else 'MISSED'}; "
          f"scoring >= 100,000 rows/s: {'met' if rate >= 100_000 else 'MISSED'}")


if __name__ == "__main__":
    main()
