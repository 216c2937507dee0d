"""Benchmark: each way of evaluating a model's trees, per model (issue 40, item 3).

For each model, each option's compile (a process of its own, within the product's limits:
``CONTRABAND_COMPILE_SECONDS`` of CPU and ``CONTRABAND_COMPILE_MB`` of address space, 900 s and
6,144 MB unless set): its seconds and peak memory; then its predict on ``--rows`` rows (default
1,000,000), in rows per second, beside LightGBM's own ``predict`` of the same rows in the same
process, and the largest difference of their raw margins. The options:

- ``lightgbm``: LightGBM's tree walker (``Booster.predict(raw_score=True)``), no compile;
- ``lleaves``: lleaves' defaults (what the product compiles: functions inlined, cache blocks of
  34 trees);
- ``lleaves without inlining`` (``finline=False``: compiles much faster, predicts slower, says its
  documentation);
- ``lleaves without cache blocks`` (``fblocksize`` = the number of trees);
- ``treelite + tl2cgen`` (C through the machine's compiler), when both are installed: they are
  not dependencies of the product; this bench says whether they would pay for themselves.

The models: the demo's (a world of ``--demo-rows`` declarations, default 200,000 as ``contraband
demo``, trained by ``contraband train``) and, when ``../shared/data/kcs`` is there, one trained on
the public KCS data as issue 40 says (``--no-kcs`` leaves it out: its training takes minutes).
The rows: for each feature, values drawn among the model's own split thresholds (and 10 %
missing), so that every branch is taken (``contraband.models.compiled.probe_rows``, what a
compile measures itself on); the same rows for every option.

    python bench/compiled.py [--rows 1000000] [--demo-rows 200000] [--no-kcs] [--keep]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from peak import run_measured
from scratch import scratch_folder

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
KCS = ROOT.parent / "shared" / "data" / "kcs"
THREADS = 2

#: option -> lleaves.Model.compile's keywords (None: not lleaves)
OPTIONS = {"lleaves": {}, "lleaves without inlining": {"finline": False},
           "lleaves without cache blocks": {"fblocksize": -1}, "treelite + tl2cgen": None}

_COMPILE = """
import sys, time
model_file, out, option, trees = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t = time.perf_counter()
if option == "treelite + tl2cgen":
    import tl2cgen, treelite
    model = treelite.frontend.load_lightgbm_model(model_file)
    tl2cgen.export_lib(model, toolchain="gcc", libpath=out, params={"parallel_comp": 2}, nthread=2)
else:
    import lleaves
    keywords = {"": {}, "finline": {"finline": False}, "fblocksize": {"fblocksize": trees}}[sys.argv[5]]
    lleaves.Model(model_file=model_file).compile(cache=out, raw_score=True, **keywords)
print(f"compiled {time.perf_counter() - t:.3f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--demo-rows", type=int, default=200_000)
    parser.add_argument("--no-kcs", action="store_true", help="leave out the model trained on the KCS data")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with scratch_folder(args.keep, "contraband-bench-compiled-") as tmp:
        tmp = Path(tmp)
        models = {"demo": _demo_model(tmp, args.demo_rows)}
        if args.no_kcs:
            print("the KCS model: left out (--no-kcs)")
        elif not KCS.exists():
            print(f"the KCS model: skipped, {KCS} is not there")
        else:
            models["KCS"] = _kcs_model(tmp)
        for name, booster in models.items():
            _measure(name, booster, tmp / name.lower(), args.rows)


def _train(tmp: Path, name: str, args: list[str]):
    """``contraband train`` into an MLflow store of its own; the champion's booster."""
    folder = tmp / name
    folder.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow.db",
           "CONTRABAND_HISTORY": str(folder / "history.db"), "CONTRABAND_MODEL_CACHE": str(folder / "cache"),
           "CONTRABAND_COMPILED_TREES": "0"}
    t = time.perf_counter()
    seconds, peak, said, status = run_measured([str(BIN / "contraband"), "train", *args], env, cwd=folder)
    if status:
        raise SystemExit(f"contraband train failed:\n{said[-3000:]}")
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    from contraband.models.tracking import load_detector

    booster = load_detector("models:/contraband-detector@champion").model_.booster_
    print(f"{name} model: trained in {time.perf_counter() - t:.0f} s (peak {peak:,.0f} MB): "
          f"{booster.num_trees():,} trees, {booster.num_feature()} features")
    return booster


def _demo_model(tmp: Path, rows: int):
    from contraband.data.world import WorldConfig, generate, write

    write(generate(WorldConfig(rows=rows, months=25)), tmp / "world.parquet")
    return _train(tmp, "demo", ["--data", str(tmp / "world.parquet")])


def _kcs_model(tmp: Path):
    return _train(tmp, "KCS", ["--data", str(KCS / "df_syn_train_eng.csv"), "--data",
                               str(KCS / "df_syn_valid_eng.csv"), "--mapping", str(ROOT / "data/mappings/kcs.toml")])


def _measure(name: str, booster, folder: Path, n: int) -> None:
    from contraband.models.compiled import limits, probe_rows

    folder.mkdir(exist_ok=True)
    model_file = folder / "model.txt"
    booster.save_model(str(model_file))
    rows = probe_rows(booster, n)
    t = time.perf_counter()
    reference = booster.predict(rows, raw_score=True, num_threads=THREADS)
    lightgbm = n / (time.perf_counter() - t)
    seconds, megabytes = limits()
    print(f"\n{name} model, {booster.num_trees():,} trees; predict on {n:,} rows with {THREADS} threads; each compile "
          f"within {seconds:,} s of CPU and {megabytes:,} MB")
    print(f"  {'option':<26} {'compile s':>10} {'peak MB':>8} {'rows/s':>12} {'x LightGBM':>10} {'max |diff|':>11}")
    print(f"  {'lightgbm':<26} {'-':>10} {'-':>8} {lightgbm:12,.0f} {1:10.2f} {0:11.1e}")
    for option, keywords in OPTIONS.items():
        if keywords is None and not _installed("treelite", "tl2cgen"):
            print(f"  {option:<26} skipped: not installed (not a dependency of the product)")
            continue
        out = folder / (option.replace(" ", "").replace(",", "-").replace("+", "-") + (".so" if keywords is None else ".o"))
        flag = "finline" if keywords == {"finline": False} else "fblocksize" if keywords else ""
        wall, peak, said, status = run_measured(
            [sys.executable, "-c", _COMPILE, str(model_file), str(out), option, str(booster.num_trees()), flag],
            os.environ, limits=(seconds, megabytes))
        if status or not out.exists():
            why = said.strip().splitlines()[-1] if said.strip() else f"exit {status}"
            print(f"  {option:<26} {wall:10.1f} {peak:8,.0f} did not compile within the limits: {why[:80]}")
            continue
        margins, rate = _predict(option, keywords, model_file, out, rows, booster.num_trees())
        diff = float(np.max(np.abs(margins - reference)))
        print(f"  {option:<26} {wall:10.1f} {peak:8,.0f} {rate:12,.0f} {rate / lightgbm:10.2f} {diff:11.1e}")


def _installed(*names: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in names)


def _predict(option: str, keywords, model_file: Path, library: Path, rows: np.ndarray, trees: int):
    """The option's raw margins of ``rows`` and its rows per second (the library loaded first)."""
    if keywords is None:
        import tl2cgen

        predictor = tl2cgen.Predictor(str(library), nthread=THREADS)
        matrix = tl2cgen.DMatrix(rows, dtype="float64")
        t = time.perf_counter()
        margins = predictor.predict(matrix, pred_margin=True).reshape(-1)
    else:
        import lleaves

        model = lleaves.Model(model_file=str(model_file))
        model.compile(cache=str(library), raw_score=True,
                      **({"fblocksize": trees} if "fblocksize" in keywords else keywords))
        t = time.perf_counter()
        margins = model.predict(rows, n_jobs=THREADS)
    return margins, len(rows) / (time.perf_counter() - t)


if __name__ == "__main__":
    main()
