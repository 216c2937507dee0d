"""Batch scoring on a Dask cluster: the same list as :func:`contraband.models.batch.score_batch`,
made of the same steps, each chunk's on a worker.

The input is a partitioned Dask DataFrame, one partition per chunk of the chunk reader
(:func:`contraband.data.chunks.read_pieces`: the client cuts CSV files into blocks of whole
records, outside quoted fields, and each worker parses its block; Parquet and XLSX chunks are
read on the client). Partitions are the pandas engine's chunks (32 MB, 250,000 records), or
smaller CSV blocks when the input would leave a worker fewer than two (8 MB at least: each
partition reads the entity series its declarations name, a cost per partition). Then, as in the streamed scorer:

1. **read and record**: each partition goes through the contract on its worker (rejected rows
   set aside with their file, line and reasons). The client gets back only the hashes and
   lines of the ids, finds the ids repeated across partitions in input order (the first
   occurrence is kept, the others rejected, as in one file), and the workers record their
   partitions in the history store, every one before any is scored (a declaration the store
   refuses to record is rejected with its reason, as in the streamed scorer).
2. **score**: the partitions' point-in-time features and margins, ``map_partitions`` with the
   same fitted detector. The as-of read of each partition's entity series from the store, as
   of the day before each declaration, is the point-in-time join, done on the workers.
3. **list and explain**: ranks, flags and exploration picks from all the margins on the client
   (the budget over the whole input, ties by declaration id: only tied rows' ids are fetched);
   each worker then writes its partition's sorted run (risk scores, reasons for its flagged
   rows) and the client merges the runs into the output, highest risk first, rejected rows
   last.

Workers read the input files, the history store and the spool folder by their names: on a
LocalCluster that is this machine; a remote cluster needs them on storage every worker
reaches under the same paths. A store opens once per worker process.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import wait

from contraband.data.chunks import CHUNK_BYTES, CHUNK_ROWS, manifest_files, read_piece, read_pieces
from contraband.engines.dask_cluster import store_address, worker_store
from contraband.models.batch import (
    BatchReport,
    CheckedChunk,
    SeenIds,
    _Spool,
    chunk_margins,
    check_chunk,
    ids_in_parts,
    no_progress,
    output_columns,
    ranked_run,
    record_chunk,
    total_reasons,
    write_list,
    write_run,
)
from contraband.models.ranking import global_ranks
from contraband.models.reasons import MAX_REASONS
from contraband.models.scoring import _check, budget_flags

#: the smallest CSV partition chosen (unless asked): each partition reads the entity series of
#: its keys from the store, so fewer, larger partitions cost less, up to the chunk reader's 32 MB
MIN_PARTITION_BYTES = 8 * 2**20


def partition_bytes(total: int, workers: int) -> int:
    """CSV bytes per partition: the pandas engine's chunk, or less when that would leave a worker
    fewer than two partitions of the input."""
    return int(min(CHUNK_BYTES, max(MIN_PARTITION_BYTES, total // (2 * max(workers, 1)))))


# --- what runs on the workers ----------------------------------------------------------------

def _checked(piece, mapping, fx) -> CheckedChunk:
    return check_chunk(read_piece(piece), mapping, fx)


def _ids(chunk: CheckedChunk) -> tuple:
    return chunk.hashes, chunk.lines, chunk.source, chunk.rows_read, chunk.reasons


def _first_only(chunk: CheckedChunk, again: np.ndarray, where: list) -> CheckedChunk:
    return chunk.without_repeats(again, where)


def _declarations(chunk: CheckedChunk) -> pd.DataFrame:
    return chunk.declarations()


def _rejected(chunk: CheckedChunk) -> pd.DataFrame | None:
    return chunk.rejected_text()


def _record(declarations: pd.DataFrame, address: dict, source: str) -> tuple:
    return record_chunk(declarations, worker_store(address), source) if len(declarations) else (0, declarations, None)


def _item(result: tuple, i: int):
    return result[i]


def _margins(declarations: pd.DataFrame, detector, address: dict, seed: int) -> pd.DataFrame:
    if not len(declarations):
        return pd.DataFrame({"margin": np.zeros(0), "draw": np.zeros(0)})
    margin, draw, _ = chunk_margins(detector, declarations, worker_store(address), seed)
    return pd.DataFrame({"margin": margin, "draw": draw}, index=declarations.index)


def _ids_at(declarations: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    return declarations["declaration_id"].to_numpy(dtype=object)[rows]


def _run(declarations: pd.DataFrame, detector, address: dict, margin, rank, flagged, explored, max_reasons: int,
         path: str) -> str:
    write_run(ranked_run(detector, declarations, worker_store(address), margin, rank, flagged, explored, max_reasons),
              Path(path))
    return path


# --- the client's side -----------------------------------------------------------------------

def score_on_cluster(client, detector, paths, history, output, *, mapping=None, fx=None, encoding=None, sheet=None,
                     budget: float = 0.05, exploration: float = 0.1, seed: int = 0, mode: str = "random",
                     record: bool = True, source: str = "score", chunk_bytes: int | None = None,
                     chunk_rows: int | None = None, spool: str | None = None, progress=no_progress, top: int = 0,
                     max_reasons: int = MAX_REASONS, model_threads: int | None = None) -> BatchReport:
    """Score declaration files into one ranked list at ``output`` on the cluster of ``client``
    (see the module's docstring; the options are :func:`~contraband.models.batch.score_batch`'s;
    ``model_threads``: LightGBM's threads on each worker, else the model's own setting)."""
    if model_threads:
        detector = copy.copy(detector)  # the same fitted parts; only how many threads predict
        detector.n_jobs = model_threads
    _check(budget, exploration, mode, "budget")
    files = manifest_files(paths)
    report = BatchReport(files=[str(f) for f in files])
    address, _ = store_address(history)
    work = _Spool(spool)
    try:
        # 1. read, check, record -------------------------------------------------------------
        t0 = time.perf_counter()
        bar = progress("reading and recording", sum(f.stat().st_size for f in files), "B")
        size = sum(f.stat().st_size for f in files)
        workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        pieces = [piece for path in files
                  for piece in read_pieces(path, chunk_bytes=chunk_bytes or partition_bytes(size, workers),
                                           chunk_rows=chunk_rows or CHUNK_ROWS, encoding=encoding, sheet=sheet)]
        report.chunks = len(pieces)
        checked = client.map(_checked, pieces, mapping=mapping, fx=fx, pure=False)
        del pieces
        seen, again, where = SeenIds(), [], []
        for hashes, lines, source_file, rows_read, reasons in client.gather(client.map(_ids, checked)):
            report.rows_read += rows_read
            report.rejected_reasons = total_reasons([report.rejected_reasons, reasons])
            repeated, first = seen.repeats(hashes, lines, source_file)
            again.append(repeated)
            where.append(first)
        del seen
        kept = client.map(_first_only, checked, again, where)
        del checked
        parts = client.map(_declarations, kept)
        rejected = client.map(_rejected, kept)
        del kept
        refused = []
        if record:  # a declaration the store refuses to record is rejected, with the store's reason
            recorded = client.map(_record, parts, address=address, source=source)
            report.recorded_new = int(sum(client.gather(client.map(_item, recorded, i=0))))
            parts = client.map(_item, recorded, i=1)
            refused = client.map(_item, recorded, i=2)
            del recorded
        else:
            wait(parts)
        sizes = np.asarray(client.gather(client.map(len, parts)), dtype=np.int64)
        report.scored = int(sizes.sum())
        bar.update(sum(f.stat().st_size for f in files), rows=report.rows_read)
        bar.close()
        report.seconds["read and record"] = time.perf_counter() - t0

        # 2. margins: map_partitions over the declarations ----------------------------------
        t1 = time.perf_counter()
        bar = progress("scoring", report.scored, "rows")
        meta = pd.DataFrame({"margin": np.zeros(0), "draw": np.zeros(0)})
        frame = dd.from_delayed(parts, meta=client.submit(lambda f: f.iloc[:0], parts[0]).result(),
                                verify_meta=False)
        [shared] = client.scatter([detector], broadcast=True, hash=False)
        scored = frame.map_partitions(_margins, shared, address, seed, meta=meta, enforce_metadata=False).compute()
        margin, draw = scored["margin"].to_numpy(), scored["draw"].to_numpy()
        del scored
        bar.update(report.scored)
        bar.close()
        report.seconds["score"] = time.perf_counter() - t1

        # 3. the list: ranks and flags over everything on the client, runs on the workers ---
        t2 = time.perf_counter()
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        rank = global_ranks(margin, lambda rows: ids_in_parts(
            offsets, rows, lambda p, mine: client.submit(_ids_at, parts[p], mine).result()))
        flagged, explored = budget_flags(margin, rank, draw, budget, exploration, mode)
        report.flagged, report.exploration = int(flagged.sum()), int(explored.sum())
        bar = progress("explaining", report.scored, "rows")
        cuts = [slice(offsets[p], offsets[p + 1]) for p in range(len(parts))]
        runs = client.gather(client.map(
            _run, parts, [shared] * len(parts), [address] * len(parts), [margin[c] for c in cuts],
            [rank[c] for c in cuts], [flagged[c] for c in cuts], [explored[c] for c in cuts],
            [max_reasons] * len(parts), [str(work.run_path(p)) for p in range(len(parts))]))
        bar.update(report.scored)
        bar.close()
        report.seconds["explain"] = time.perf_counter() - t2

        # 4. write: the runs merged by rank, then the rejected rows --------------------------
        t3 = time.perf_counter()
        columns: list[str] = []
        for names in client.gather(client.map(lambda f: list(f.columns[:-2]), parts)):
            columns += [c for c in names if c not in columns]
        bad = [b for b in client.gather(rejected) if b is not None]
        stopped = [b for b in client.gather(refused) if b is not None]
        report.refused = sum(len(b) for b in stopped)
        bad += stopped
        report.rejected = sum(len(b) for b in bad)
        report.top = write_list(output, output_columns(columns, bool(bad)), [Path(r) for r in runs], bad, columns, top)
        report.seconds["write"] = time.perf_counter() - t3
        return report
    finally:
        work.close()
