"""Benchmark: generate a synthetic world of 1,000,000 declarations and write it.

Target (issue 3): under 30 s and under 2 GB peak memory on the 2-core machine.
Each stage runs in a fresh child process so that its peak resident memory is its own; the
baseline writes a table of plain random noise of the same shape (no entities, no timeline, no
fingerprints), so the ratio shows what the world's structure costs over bare numpy + writing.

    python bench/generate_world.py [--rows 1000000] [--format csv|parquet]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak import peak_mb


def stage_world(rows: int, out: Path) -> dict:
    from contraband.data.world import WorldConfig, generate, write

    t0 = time.perf_counter()
    world = generate(WorldConfig(rows=rows, seed=1))
    t1 = time.perf_counter()
    write(world, out)
    t2 = time.perf_counter()
    return {"generate_s": t1 - t0, "write_s": t2 - t1, "total_s": t2 - t0, "peak_mb": peak_mb(),
            "file_mb": out.stat().st_size / 1e6}


def stage_noise(rows: int, out: Path) -> dict:
    """Same shape, no structure: random numbers and codes drawn from small vocabularies."""
    import numpy as np
    import pandas as pd

    from contraband.data.world import write

    t0 = time.perf_counter()
    rng = np.random.default_rng(1)
    cols = {}
    for name in ("net_weight_kg", "declared_value_usd", "gross_weight_kg", "quantity", "packages",
                 "truth_value_usd", "seized_value_usd"):
        cols[name] = rng.lognormal(5, 2, rows)
    for name, k in (("hs_code", 300), ("goods_description", 900), ("origin_country", 30), ("export_country", 30),
                    ("destination_country", 30), ("quantity_unit", 4), ("transit_countries", 8),
                    ("port_of_loading", 60), ("port_of_discharge", 60), ("transport_mode", 6),
                    ("exporter_id", 5000), ("consignee_id", 6000), ("declarant_id", 250), ("incoterm", 7),
                    ("truth_typology", 8), ("truth_material", 25)):
        cols[name] = pd.Categorical.from_codes(rng.integers(0, k, rows), [f"{name[:3]}{i:06d}" for i in range(k)])
    cols["declaration_id"] = pd.Series(np.arange(rows)).map("DCL{:09d}".format)
    cols["declaration_date"] = pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.integers(0, 730, rows), unit="D")
    for name in ("inspected", "contraband", "truth_contraband"):
        cols[name] = rng.integers(0, 2, rows).astype(np.int8)
    frame = pd.DataFrame(cols)
    t1 = time.perf_counter()
    write(frame, out)
    t2 = time.perf_counter()
    return {"generate_s": t1 - t0, "write_s": t2 - t1, "total_s": t2 - t0, "peak_mb": peak_mb(),
            "file_mb": out.stat().st_size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--stage", choices=["world", "noise"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        fn = stage_world if args.stage == "world" else stage_noise
        print(json.dumps(fn(args.rows, Path(args.out))))
        return

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for stage in ("noise", "world"):
            out = Path(tmp) / f"{stage}.{args.format}"
            done = subprocess.run([sys.executable, __file__, "--stage", stage, "--rows", str(args.rows),
                                   "--out", str(out)], capture_output=True, text=True, check=True)
            results[stage] = json.loads(done.stdout.strip().splitlines()[-1])
    w, b = results["world"], results["noise"]
    print(f"rows: {args.rows:,}  format: {args.format}")
    print(f"{'stage':<28}{'generate s':>11}{'write s':>9}{'total s':>9}{'peak MB':>9}{'file MB':>9}")
    for name, r in (("baseline: random noise", b), ("synthetic world", w)):
        print(f"{name:<28}{r['generate_s']:>11.1f}{r['write_s']:>9.1f}{r['total_s']:>9.1f}{r['peak_mb']:>9.0f}{r['file_mb']:>9.0f}")
    print(f"world / baseline: time x{w['total_s'] / b['total_s']:.2f}, peak memory x{w['peak_mb'] / b['peak_mb']:.2f}")
    ok = w["total_s"] < 30 and w["peak_mb"] < 2048
    print(f"target (< 30 s, < 2,048 MB): {'met' if ok else 'MISSED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
