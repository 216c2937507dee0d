"""Benchmark: the history store on PostgreSQL against the SQLite file (the baseline, same process).

On one generated world, for each database: ingest every declaration with its outcomes into an
empty store, ingest them again (all unchanged), read the entity features of the last 100,000
declarations (every series of each kind read at once), and record then read one declaration at
a time as a scoring request does (the lean path). Prints each figure and PostgreSQL's ratio to
SQLite.

    python bench/postgres_store.py [--rows 500000] [--features 100000] [--requests 300]
                                   [--server postgresql://user:password@host:port/db] [--keep]

Without ``--server`` a throwaway PostgreSQL is started from the Debian package's binaries (as the
tests do: fsync off, in the scratch folder); with it, the named database must be empty.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from scratch import scratch_folder

TESTS = Path(__file__).resolve().parent.parent / "tests"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--features", type=int, default=100_000, help="declarations whose features are read")
    parser.add_argument("--requests", type=int, default=300, help="one-declaration requests recorded and read")
    parser.add_argument("--server", help="an empty PostgreSQL database (default: a throwaway server)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    with scratch_folder(args.keep, "contraband-bench-pg-") as tmp:
        server = None
        if args.server is None:
            sys.path.insert(0, str(TESTS))
            import postgres

            server = postgres.start()
        try:
            run(args, tmp, args.server or server.database("bench"))
        finally:
            if server is not None:
                server.stop()


def _measure(store, world, args) -> dict[str, float]:
    from contraband.data.load import load_declarations
    from contraband.features.entities import EntityHistory

    out = {}
    report = store.ingest(world, outcomes=True, source="bench")
    out["ingest"] = report.seconds
    out["re-ingest (unchanged)"] = store.ingest(world, outcomes=True, source="bench again").seconds
    batch = world.iloc[-args.features:]
    family = EntityHistory().fit(world.iloc[:-args.features])
    t = time.perf_counter()
    family.transform(batch, store)
    out[f"features of {len(batch):,} declarations"] = time.perf_counter() - t
    fresh = world.iloc[-args.requests:].drop(columns=["inspected", "contraband", "seized_value_usd", "outcome_date"],
                                             errors="ignore")
    fresh = fresh.assign(declaration_id="REQ-" + fresh["declaration_id"].astype(str))
    requests = [load_declarations(fresh.iloc[[i]], mode="lenient").columns for i in range(len(fresh))]
    times, reads = [], []
    for columns in requests:
        t = time.perf_counter()
        store.ingest(columns)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.series_many({"exporter": columns.entity_keys()["exporter"].values, "hs6": columns.entity_keys()["hs6"].values})
        reads.append(time.perf_counter() - t)
    out["one declaration recorded, p50"] = float(np.median(times))
    out["one declaration's series read, p50"] = float(np.median(reads))
    return out


def run(args, tmp: Path, server: str) -> None:
    from contraband.data.history import open_history
    from contraband.data.world import WorldConfig, generate

    t = time.perf_counter()
    world = generate(WorldConfig(rows=args.rows, seed=1))
    print(f"world generated ({time.perf_counter() - t:.1f} s): {len(world):,} declarations, "
          f"{int(world['inspected'].sum()):,} inspected")
    figures = {}
    for name, location in (("SQLite", tmp / "history.db"), ("PostgreSQL", server)):
        store = open_history(location)
        figures[name] = _measure(store, world, args)
        print(f"{name}: {store.url}")
        store.close()
    print(f"\n{'':<40}{'SQLite':>12}{'PostgreSQL':>12}{'ratio':>8}")
    for what, base in figures["SQLite"].items():
        pg = figures["PostgreSQL"][what]
        unit, scale = ("ms", 1e3) if base < 0.1 else ("s", 1.0)
        print(f"{what:<40}{base * scale:>9.2f} {unit:<2}{pg * scale:>9.2f} {unit:<2}{pg / base:>7.2f}x")


if __name__ == "__main__":
    main()
