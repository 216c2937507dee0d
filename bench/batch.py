"""Benchmark: streaming batch scoring of 1,000,000 declarations against the model's own predict.

Targets (issue 9): (b) the full path from a canonical CSV on disk to a scored CSV on disk with
reasons for the flagged rows (``contraband score``, as a user runs it: read, contract, record in
the history store, point-in-time features, predict, budget over the whole input, reasons,
write) at 150,000 rows/s or better and no worse than 3 times (a), the model's margin alone
(compiled trees, issue 23) on the precomputed features of the same declarations, printed beside
LightGBM's own ``predict`` on them; peak memory under 1.5 GB for a
10,000,000-row input (``--large 10000000``: the manifest repeated under new ids). Issue 40's
targets, for ``--rows 300000 --large 3000000``: the large input at 20,000 rows/s or better, at
no more than 1.5 GB of peak memory, printed with where its time went.

The world: 2,000,000 declarations over 36 months (seed 11); the detector is trained on the
last 1,000,000 declarations before 2026-05-01 (recorded in the store, registered in a SQLite
MLflow store), the manifest is the next ``--rows`` declarations, without outcomes.

    python bench/batch.py [--rows 1000000] [--large 0] [--keep] [--processes N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from batch_world import trained_world
from peak import run_measured
from scratch import scratch_folder

BIN = Path(sys.executable).parent


def _run(args: list[str], env: dict) -> tuple[float, int, str]:
    """Wall seconds, the command's own peak resident MB (see ``peak.py``) and its output."""
    seconds, peak, said, status = run_measured(args, env)
    if status:
        raise SystemExit(f"{' '.join(args)} failed:\n{said[-4000:]}")
    return seconds, peak, said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=0, help="also score an input of this many rows (peak memory)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--processes", type=int, default=None,
                        help="CONTRABAND_BATCH_PROCESSES for the scoring commands (default: the product's, one)")
    args = parser.parse_args()

    from contraband.data.history import open_history
    from contraband.models.tracking import load_detector

    with scratch_folder(args.keep, "contraband-bench-batch-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db", "CONTRABAND_MODEL_CACHE": str(tmp / "cache")}
        if args.processes is not None:
            env["CONTRABAND_BATCH_PROCESSES"] = str(args.processes)
        os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
        t = time.perf_counter()
        manifest, outcome = trained_world(tmp, args.rows)
        manifest.to_csv(tmp / "manifest.csv", index=False)
        print(f"world, training ({outcome.detector.best_iteration_} trees) and manifest "
              f"({len(manifest):,} rows, {(tmp / 'manifest.csv').stat().st_size / 2**20:,.0f} MB CSV) ready "
              f"({time.perf_counter() - t:.0f} s)")

        # (b) the full path, as a user runs it
        score = [str(BIN / "contraband"), "score", str(tmp / "manifest.csv"), "-o", str(tmp / "scored.csv"),
                 "--history", str(tmp / "history.db"), "--top", "0", "--progress", "none"]
        full_s, full_mb, said = _run(score, env)
        steps = [line for line in said.splitlines() if line.startswith("scored ")]

        # (a) LightGBM predict alone, on the precomputed features of the same declarations
        from contraband.data.load import load_declarations

        detector = load_detector("models:/contraband-detector@champion")
        store = open_history(tmp / "history.db")
        declarations = load_declarations(tmp / "manifest.csv").columns
        t = time.perf_counter()
        features = detector.features_.matrix(declarations, store)
        features_s = time.perf_counter() - t
        values = np.asarray(features, dtype="float64")
        t = time.perf_counter()
        detector.model_.booster_.predict(values, raw_score=True, num_threads=detector.n_jobs)
        lightgbm_s = time.perf_counter() - t
        t = time.perf_counter()
        trees = detector.compile_trees(tmp / "compiled")
        compile_s = time.perf_counter() - t
        t = time.perf_counter()
        detector.margin(features)  # the compiled booster and the evidence model, as scoring runs it
        predict_s = time.perf_counter() - t
        store.close()
        del features, declarations

        n = len(manifest)
        print(f"\n{'what':<62}{'seconds':>9}{'rows/s':>12}")
        print(f"{'(a) the margin alone (compiled trees), precomputed features':<62}{predict_s:>9.2f}{n / predict_s:>12,.0f}"
              f"   {trees}, compiled in {compile_s:.1f} s")
        print(f"{'    LightGBM predict alone, the same features':<62}{lightgbm_s:>9.2f}{n / lightgbm_s:>12,.0f}"
              f"   compiled / LightGBM = x{lightgbm_s / predict_s:.2f} faster")
        print(f"{'    (point-in-time features alone, for reference)':<62}{features_s:>9.2f}{n / features_s:>12,.0f}")
        print(f"{'(b) contraband score: CSV -> scored CSV, recorded, reasons':<62}{full_s:>9.2f}{n / full_s:>12,.0f}"
              f"   x{full_s / predict_s:.1f} (a), peak {full_mb:,} MB")
        for line in steps:
            print("   ", line)
        print(f"targets: (b) >= 150,000 rows/s: {'met' if n / full_s >= 150_000 else 'MISSED'}; "
              f"(b) <= 3 x (a): {'met' if full_s <= 3 * predict_s else 'MISSED'}")

        if args.large:
            shutil.copy(tmp / "trained.db", tmp / "history.db")
            big = tmp / "large.csv"
            with open(big, "w") as f:
                for k in range(-(-args.large // n)):
                    part = manifest.head(args.large - k * n)
                    part.assign(declaration_id=f"L{k}-" + part["declaration_id"].astype(str)).to_csv(
                        f, index=False, header=k == 0)
            large_s, large_mb, said = _run([*score[:2], str(big), *score[3:]], env)
            rate = args.large / large_s
            print(f"(b) on {args.large:,} rows ({big.stat().st_size / 2**30:.1f} GB CSV): {large_s:,.0f} s "
                  f"({rate:,.0f} rows/s, x{large_s / (predict_s * args.large / n):.1f} (a) per row), peak {large_mb:,} MB")
            for line in said.splitlines():
                if line.startswith("scored "):
                    print("   ", line)
            print(f"targets (issue 40): >= 20,000 rows/s: {'met' if rate >= 20_000 else 'MISSED'}; "
                  f"peak <= 1,536 MB: {'met' if large_mb <= 1536 else 'MISSED'}")


if __name__ == "__main__":
    main()
