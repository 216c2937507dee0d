"""Memory profile of one chunk of batch scoring: peak resident memory after each step.

Runs, in a fresh process per chunk size, the steps ``contraband score`` takes for its first
chunk (read a CSV block, the contract, record in the history store, point-in-time features,
predict) and prints the process's peak resident memory after each, beside the model and the
store opened alone (the baseline). It reads the folder ``bench/batch.py --keep`` leaves
(``manifest.csv``, ``trained.db``, ``mlflow.db``; the store is copied, never changed).

    python bench/batch_memory.py FOLDER [--chunk-mb 64 32 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from peak import peak_mb


def _one(folder: Path, chunk_mb: float) -> None:
    """The steps, in this process; prints one line per step."""
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    from contraband.data.chunks import read_chunks
    from contraband.data.columns import Columns
    from contraband.data.history import BATCH_MEMORY_MAP, open_history
    from contraband.data.load import load_table
    from contraband.models.tracking import load_detector

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(folder / "trained.db", Path(tmp) / "history.db")
        detector = load_detector("models:/contraband-detector@champion")
        store = open_history(Path(tmp) / "history.db", BATCH_MEMORY_MAP)
        steps = [("model and store (baseline)", peak_mb())]
        table = next(read_chunks(folder / "manifest.csv", chunk_bytes=int(chunk_mb * 2**20)))
        steps.append(("CSV block read", peak_mb()))
        loaded = load_table(table, None, "lenient", None)
        del table
        steps.append((f"contract ({loaded.rows_read:,} rows)", peak_mb()))
        declarations = Columns(loaded.columns.X)
        store.ingest(declarations, source="bench")
        steps.append(("recorded in the store", peak_mb()))
        features = detector.features_.matrix(declarations, store)
        steps.append(("point-in-time features", peak_mb()))
        detector.margin(features)
        steps.append(("predict", peak_mb()))
        store.close()
    base = steps[0][1]
    for name, mb in steps:
        print(f"  {chunk_mb:>5g} MB  {name:<32}{mb:>8,.0f} MB  (+{mb - base:,.0f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder kept by bench/batch.py --keep")
    parser.add_argument("--chunk-mb", type=float, nargs="+", default=[64, 32, 16])
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.folder, args.one)
        return
    if not (args.folder / "trained.db").exists():
        raise SystemExit(f"{args.folder}: no trained.db; run bench/batch.py --keep first")
    print(f"peak resident memory after each step of one chunk ({args.folder / 'manifest.csv'})")
    for mb in args.chunk_mb:
        subprocess.run([sys.executable, __file__, str(args.folder), "--one", str(mb)], check=True)


if __name__ == "__main__":
    main()
