"""Benchmark: reading a manifest of 1,000,000 declarations through the intake.

No target of its own: it shows what losing no row costs. The baseline is pandas' own CSV reader
(pyarrow engine, every column as text), which refuses the whole file on one ragged row. Timed
in one process on the same bytes:

- a clean UTF-8 comma file (the intake's pyarrow path);
- the same declarations as a semicolon-separated Windows-1252 file with CRLF line ends;
- the clean file with one ragged row in every 10,000 (the record-by-record reader);
- the full contract (``load_declarations``) of the clean file.

    python bench/intake.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import io
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    import pandas as pd

    from contraband.data.intake import read_manifest
    from contraband.data.load import load_declarations
    from contraband.data.world import WorldConfig, generate

    world = generate(WorldConfig(rows=args.rows, seed=1))
    world = world.drop(columns=[c for c in world if c.startswith("truth_")])
    clean = world.to_csv(index=False).encode("utf-8")
    legacy = world.to_csv(index=False, sep=";", lineterminator="\r\n").encode("cp1252", errors="replace")
    lines = clean.split(b"\n")
    for i in range(1, len(lines) - 1, 10_000):
        lines[i] += b",surplus"
    ragged = b"\n".join(lines)
    print(f"{len(world):,} declarations, {len(clean) / 1e6:.0f} MB of CSV")

    def timed(label, fn):
        t0 = time.perf_counter()
        out = fn()
        s = time.perf_counter() - t0
        print(f"{label:<58}{s:>8.2f} s{len(world) / s:>12,.0f} rows/s")
        return s, out

    base, _ = timed("baseline: pandas.read_csv (pyarrow engine, text)",
                    lambda: pd.read_csv(io.BytesIO(clean), dtype="str", keep_default_na=False, na_values=[""],
                                        engine="pyarrow"))
    fast, table = timed("intake: clean UTF-8 CSV", lambda: read_manifest(clean, "clean.csv"))
    slow, messy = timed("intake: semicolon, Windows-1252, CRLF", lambda: read_manifest(legacy, "legacy.csv"))
    bad, broken = timed("intake: one ragged row in 10,000", lambda: read_manifest(ragged, "ragged.csv"))
    full, result = timed("load_declarations (intake + contract), clean CSV",
                         lambda: load_declarations(clean, source="clean.csv"))
    assert len(table.frame) == len(messy.frame) == len(world) and len(result.declarations) == len(world)
    print(f"ragged rows rejected alone: {len(broken.problems):,}; the other {len(broken.frame) - len(broken.problems):,} "
          "read")
    print(f"intake / baseline: x{fast / base:.2f} clean, x{slow / base:.2f} legacy encoding, x{bad / base:.2f} "
          f"with ragged rows; the contract on top: x{full / base:.2f}")


if __name__ == "__main__":
    main()
