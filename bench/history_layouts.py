"""Benchmark: what each layout of the history costs to write, for the choice of issue 23's item 1.

Issue 23 asks for 1,000,000 declarations with outcomes recorded in under 3 s, while the record
stays shared by many processes (the service's workers, a batch run, a retrain) on SQLite or
PostgreSQL, with every declaration findable by its id (re-sends, amendments, outcomes, evidence).
This bench measures, on one 1,000,000-declaration world and in one process, what the candidate
layouts cost, so that the choice rests on figures:

- the store's own ingest (rows, outcomes and series, as it is today), and its split;
- the declarations as SQLite rows, in the store's short transactions of 16,384 rows: every stored
  column (today), the entity columns only (what the series and outcome checks need; the rest
  would live in columnar blocks), and the id, day and row hash only (the narrowest by-id index);
- the declarations as columnar blocks (Parquet, 65,536 rows each) in one SQL table, written, read
  back whole, and read for their ids and row hashes only (a re-send check without an index);
- the per-entity series the ingest leaves, written as one row per entity (today) and as one row
  per bucket of entities (4,096 buckets per kind).

Baseline in the same process: writing the same rows to one Parquet file.

    python bench/history_layouts.py [--rows 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

from scratch import scratch_folder

_TRANSACTION_ROWS = 16_384  # the store's slice of new declarations per transaction (recording._write_block)
_BLOCK_ROWS = 65_536
_BUCKETS = 4_096


def _sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # as the store opens it
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _rows_in_transactions(path: Path, frame, columns: list[str]) -> float:
    """Seconds to write ``columns`` of ``frame`` as rows keyed by declaration id (indexed by day)."""
    conn = _sqlite(path)
    conn.execute(f"CREATE TABLE declarations ({', '.join(columns)}, PRIMARY KEY (declaration_id))")
    conn.execute("CREATE INDEX declarations_day ON declarations (day)")
    rows = list(zip(*(frame[c].to_numpy(dtype=object).tolist() for c in columns)))
    insert = f"INSERT INTO declarations VALUES ({', '.join('?' * len(columns))})"
    t = time.perf_counter()
    for start in range(0, len(rows), _TRANSACTION_ROWS):
        conn.executemany(insert, rows[start:start + _TRANSACTION_ROWS])
        conn.commit()
    seconds = time.perf_counter() - t
    conn.close()
    return seconds


def _blocks(path: Path, frame, compression: str) -> tuple[float, float, float, int]:
    """Seconds to write ``frame`` as Parquet blocks in a SQL table, to read them back whole, to
    read their ids and row hashes, and the table's size in bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    conn = _sqlite(path)
    conn.execute("CREATE TABLE declaration_blocks (block INTEGER PRIMARY KEY, rows INTEGER, data BLOB)")
    t = time.perf_counter()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, start in enumerate(range(0, len(frame), _BLOCK_ROWS)):
        sink = pa.BufferOutputStream()
        pq.write_table(table.slice(start, _BLOCK_ROWS), sink, compression=compression)
        conn.execute("INSERT INTO declaration_blocks VALUES (?, ?, ?)", (i, min(_BLOCK_ROWS, len(frame) - start),
                                                                          sink.getvalue().to_pybytes()))
        conn.commit()
    write_s = time.perf_counter() - t
    t = time.perf_counter()
    whole = pa.concat_tables([pq.read_table(pa.BufferReader(b)) for (b,) in conn.execute("SELECT data FROM declaration_blocks")])
    read_s = time.perf_counter() - t
    assert whole.num_rows == len(frame)
    t = time.perf_counter()
    ids = pa.concat_tables([pq.read_table(pa.BufferReader(b), columns=["declaration_id", "row_hash"])
                            for (b,) in conn.execute("SELECT data FROM declaration_blocks")])
    ids_s = time.perf_counter() - t
    assert ids.num_rows == len(frame)
    conn.close()
    return write_s, read_s, ids_s, path.stat().st_size


def _series_rows(path: Path, series: list[tuple[str, str, bytes]], bucketed: bool) -> tuple[float, float, int]:
    """Seconds to pack the series into buckets of entities (each bucket: its keys, their series'
    lengths and the series, one blob; 0 for one row per entity) and to write them, and the
    number of rows written."""
    import numpy as np
    import pandas as pd

    conn = _sqlite(path)
    conn.execute("CREATE TABLE series (kind TEXT, key TEXT, data BLOB, PRIMARY KEY (kind, key)) WITHOUT ROWID")
    t = time.perf_counter()
    if bucketed:
        frame = pd.DataFrame(series, columns=["kind", "key", "data"])
        bucket = pd.util.hash_array(frame["key"].to_numpy(dtype=object)) % np.uint64(_BUCKETS)
        rows = []
        for (kind, b), part in frame.groupby([frame["kind"], bucket], sort=True):
            keys = "\x00".join(part["key"]).encode()
            lengths = np.fromiter((len(d) for d in part["data"]), dtype="<i4", count=len(part)).tobytes()
            rows.append((kind, str(int(b)), len(keys).to_bytes(4, "little") + keys + lengths + b"".join(part["data"])))
    else:
        rows = series
    pack_s = time.perf_counter() - t
    t = time.perf_counter()
    for start in range(0, len(rows), _TRANSACTION_ROWS):
        conn.executemany("INSERT INTO series VALUES (?, ?, ?)", rows[start:start + _TRANSACTION_ROWS])
        conn.commit()
    seconds = time.perf_counter() - t
    conn.close()
    return pack_s, seconds, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    with scratch_folder(args.keep, "contraband-bench-") as tmp:
        run(args.rows, tmp)


def run(n: int, tmp: Path) -> None:
    from contraband.data.history import open_history
    from contraband.data.history.rows import _ENTITY_FIELDS, _stored_rows
    from contraband.data.world import WorldConfig, generate

    world = generate(WorldConfig(rows=n + n // 20, months=25, seed=1))
    history = world[world["declaration_date"] < "2026-11-01"].iloc[-n:]  # bench/history_serving.py's history
    t = time.perf_counter()
    history.to_parquet(tmp / "baseline.parquet")
    parquet_s = time.perf_counter() - t
    print(f"{len(history):,} declarations, {int(history['inspected'].sum()):,} inspected; baseline: written to one "
          f"Parquet file in {parquet_s:.2f} s\n")

    store = open_history(tmp / "history.db")
    report = store.ingest(history, outcomes=True, source="bench")
    with store.engine.connect() as conn:
        series = [tuple(r) for r in conn.exec_driver_sql("SELECT kind, key, data FROM series").fetchall()]
    store.close()
    stored = _stored_rows(history)

    lines = [("the store's ingest today (rows, outcomes, series)", report.seconds, "")]
    for label, columns in (("rows: every stored column (today)", list(stored.columns)),
                           ("rows: the entity columns and row hash", [*_ENTITY_FIELDS, "row_hash"]),
                           ("rows: id, day and row hash only", ["declaration_id", "day", "row_hash"])):
        seconds = _rows_in_transactions(tmp / f"rows-{len(columns)}.db", stored, columns)
        lines.append((label, seconds, f"{len(columns)} columns"))
    for compression in ("zstd", "none"):
        write_s, read_s, ids_s, size = _blocks(tmp / f"blocks-{compression}.db", stored, compression)
        lines.append((f"Parquet blocks ({compression}): write", write_s, f"{size / 1e6:,.0f} MB"))
        lines.append((f"Parquet blocks ({compression}): read whole", read_s, ""))
        lines.append((f"Parquet blocks ({compression}): read ids and hashes", ids_s, ""))
    for bucketed in (False, True):
        pack_s, seconds, rows = _series_rows(tmp / f"series-{bucketed}.db", series, bucketed)
        lines.append((f"series: one row per {'bucket of entities' if bucketed else 'entity (today)'}", seconds,
                      f"{rows:,} rows, {sum(len(s[2]) for s in series) / 1e6:,.0f} MB of series"
                      + (f"; packing them into buckets (Python) {pack_s:.2f} s more" if bucketed else "")))
    print(f"{'layout':<52}{'seconds':>9}{'x Parquet':>11}  note")
    for label, seconds, note in lines:
        print(f"{label:<52}{seconds:>9.2f}{seconds / parquet_s:>11.1f}  {note}")
    floor = lines[3][1] + min(s for label, s, _ in lines if label.endswith("write"))
    print(f"\nfloor of a shared by-id record: narrowest rows + blocks = {floor:.2f} s before any series or outcome "
          f"(target for all of it: 3 s)")


if __name__ == "__main__":
    main()
