"""Benchmark: the whole input's ranks (``global_ranks``) on many tied margins, memory and time.

Ranks over a batch's whole input break ties by declaration id, reading ids a slice at a time;
the large-input benchmark repeats its manifest under new ids, so every row is tied with its
copies. Here: ``--rows`` margins, each value repeated ``--copies`` times, ids as that benchmark
makes them (``L{copy}-`` and a 9-character id). Baseline in the same process: NumPy's descending
sort of the same margins without any tie-breaking. Peak = the rise of this process's ``VmHWM``.

    python bench/ranks.py [--rows 10000000] [--copies 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from peak import peak_mb


def _one(what: str, rows: int, copies: int) -> None:
    """In this (fresh) process: the margins and ids, then one ranking; prints seconds and MB."""
    distinct = rows // copies
    margin = np.tile(np.random.default_rng(0).normal(size=distinct), copies)
    ids = np.array([f"L{k}-D{i:08d}" for k in range(copies) for i in range(distinct)], dtype=object)
    from contraband.models.ranking import global_ranks

    start = peak_mb()
    t = time.perf_counter()
    if what == "plain":
        np.argsort(-margin, kind="stable")
    else:
        rank = global_ranks(margin, lambda rows: ids[rows])
        assert np.array_equal(np.sort(rank), np.arange(1, len(margin) + 1))
    print(time.perf_counter() - t, peak_mb() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--only", choices=["plain", "ranks"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        _one(args.only, args.rows, args.copies)
        return
    got = {}
    for what in ("plain", "ranks"):  # each in a fresh process: its own peak
        done = subprocess.run([sys.executable, __file__, "--only", what, "--rows", str(args.rows), "--copies",
                               str(args.copies)], capture_output=True, text=True, check=True)
        got[what] = [float(v) for v in done.stdout.split()]
    (plain_s, plain_mb), (ranks_s, ranks_mb) = got["plain"], got["ranks"]
    n = args.rows // args.copies * args.copies
    print(f"{n:,} margins, every one tied with {args.copies - 1} others")
    print(f"baseline, a descending sort without ties broken: {plain_s:6.1f} s, +{plain_mb:,.0f} MB")
    print(f"global_ranks, ties broken by declaration id:     {ranks_s:6.1f} s, +{ranks_mb:,.0f} MB "
          f"(x{ranks_s / plain_s:.1f} the time, x{ranks_mb / max(plain_mb, 1):.1f} the memory; "
          f"{ranks_mb * 2**20 / n:.0f} bytes a row)")


if __name__ == "__main__":
    main()
