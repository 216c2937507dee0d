"""Benchmark: Dask versus pandas, scoring the same declarations end to end (issue 9).

``contraband score`` from a canonical CSV on disk to a scored CSV on disk (read, contract,
record in the history store, point-in-time features, predict, budget over the whole input,
reasons, write), run as a user runs it, in a child process, with ``--engine pandas``, then
``--engine dask --workers 1`` and ``--workers 2`` (a LocalCluster on 127.0.0.1 started by the
command, its start-up included). Every run starts from the same trained history store.

The world: 2,000,000 declarations over 36 months (seed 11), as ``bench/batch.py``: the detector
is trained on the last 1,000,000 declarations before 2026-05-01; the 1,000,000-row manifest is
the next 1,000,000 declarations without outcomes; a larger input is that manifest repeated
under new ids. Ratios are against pandas on the same input, measured in the same process.

    python bench/dask_scaling.py [--rows 1000000 5000000] [--keep] [--reuse FOLDER]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import pandas as pd

from batch_world import trained_world
from scratch import scratch_folder

BIN = Path(sys.executable).parent
ENGINES = (("pandas", []), ("dask, 1 worker", ["--engine", "dask", "--workers", "1"]),
           ("dask, 2 workers", ["--engine", "dask", "--workers", "2"]))


def _run(args: list[str], env: dict) -> tuple[float, str]:
    t = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return time.perf_counter() - t, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--reuse", metavar="FOLDER", help="the folder of an earlier --keep run (no new world)")
    args = parser.parse_args()

    base = 1_000_000
    with (nullcontext(Path(args.reuse)) if args.reuse else scratch_folder(args.keep, "contraband-dask-")) as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
        t = time.perf_counter()
        if args.reuse:  # a folder a --keep run left: its trained store, MLflow store and manifest
            manifest = pd.read_csv(tmp / f"manifest-{base}.csv", dtype=str, keep_default_na=False)
            print(f"reusing {tmp}", flush=True)
        else:
            manifest, outcome = trained_world(tmp, base)
            manifest.to_csv(tmp / f"manifest-{base}.csv", index=False)
            print(f"world and training ({outcome.detector.best_iteration_} trees) ready "
                  f"({time.perf_counter() - t:.0f} s)", flush=True)
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
        print(f"\n{'rows':>10}  {'engine':<16}{'seconds':>9}{'rows/s':>10}{'x pandas':>10}", flush=True)
        for rows in args.rows:
            path = tmp / f"manifest-{rows}.csv"
            with open(path, "w") if rows != base else nullcontext() as f:
                for k in range(-(-rows // len(manifest)) if rows != base else 0):
                    part = manifest.head(rows - k * len(manifest))
                    ids = part["declaration_id"].astype(str)
                    part.assign(declaration_id=ids if k == 0 else f"R{k}-" + ids).to_csv(f, index=False, header=k == 0)
            pandas_s = None
            for name, options in ENGINES:
                shutil.copy(tmp / "trained.db", tmp / "history.db")
                for extra in ("-wal", "-shm"):
                    Path(f"{tmp}/history.db{extra}").unlink(missing_ok=True)
                seconds, said = _run([str(BIN / "contraband"), "score", str(path), "-o", str(tmp / "scored.csv"),
                                      "--history", str(tmp / "history.db"), "--top", "0", "--progress", "none",
                                      *options], env)
                pandas_s = pandas_s or seconds
                steps = re.search(r"end to end; (.*?); [\d,]+ new in", said)
                steps = steps.group(1) if steps else ""
                print(f"{rows:>10,}  {name:<16}{seconds:>9.1f}{rows / seconds:>10,.0f}{pandas_s / seconds:>9.2f}x"
                      f"   ({steps})", flush=True)
            if rows != base:
                path.unlink()


if __name__ == "__main__":
    main()
