"""Batch scoring: files of any size in bounded memory, with the scores of the whole input at once.

:func:`score_batch` reads the input (files, folders, globs) in chunks and makes three passes
over it, so that every score, rank and flag is the one scoring the whole input at once gives
(:func:`contraband.models.scoring.scores`), whatever the chunk size:

1. **read and record**: each chunk goes through the contract (rejected rows set aside with
   their file, line and reasons; an id repeated across chunks is rejected after its first
   occurrence, as within one file), is recorded in the history store (a declaration the store
   refuses, such as an inspected one re-sent with other values, is rejected with the store's
   reason), and is spooled to a temporary folder (Arrow IPC, LZ4). Chunks are recorded through
   one :meth:`~contraband.data.history.HistoryStore.recording`: rows are written in short
   transactions as they come (the service's writers never wait long), and the entity series move
   once per round of up to a million declarations, not once per chunk. Recording every chunk before scoring any is
   what the scoring contract asks: the input's earlier days are history for its later days,
   whatever the order of its rows.
2. **score**: each spooled chunk's point-in-time features and margin, an input of more than one
   block in :func:`~contraband.models.processes.batch_processes` processes side by side (forked
   once the series are kept, so that they share them). Only the margins and exploration draws
   stay in memory (16 bytes a declaration); the feature matrix is spooled as it was scored
   (uncompressed, so that its flagged rows alone are read back).
3. **list and explain**: ranks, flags and exploration picks come from all the margins at once
   (the budget is the top n % of the whole input, exactly; ties broken by declaration id);
   each chunk then gets its risk scores and, for its flagged rows only, their reasons from the
   spooled features (not computed again: at 3,000,000 rows that was half of this step), and is
   spooled sorted by rank. A k-way merge of these sorted runs writes the output highest risk
   first, rejected rows last, as the whole-input list does.

Memory: one chunk of declarations, the features of :data:`SCORE_ROWS` declarations (one block, or
one smaller block per process) and, for
an input of more than one block, every kind's series read once (at most
:data:`~contraband.data.history.kept.KEPT_BYTES`), about 40 bytes per declaration of the input
(ids met, margins, exploration draws, then ranks and flags; ties read 16 bytes of each tied id,
whole ids only where those coincide), and one batch (4,096 rows) per run during the merge. Disk: the input once more
(compressed), twice for the runs, and 8 bytes per feature per declaration (about 800 bytes).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from contraband.data.columns import Columns
from contraband.data.history.kept import KeptSeries
from contraband.data.contract import is_truth_column
from contraband.models.output import OUTPUT_COLUMNS, REJECTED, rejected_lines
from contraband.models.processes import batch_processes, in_parts
from contraband.models.ranking import global_ranks
from contraband.models.reasons import MAX_REASONS
from contraband.models.scoring import _check, budget_flags, exploration_draws, margins, scored_columns

_RUN_BATCH = 65_536  # rows per block of the merge
#: declarations whose features are worked out at once (a part is scored in blocks of these; with
#: n processes, blocks of SCORE_ROWS / n each): the features of 214,000 at once peaked 250 MB
#: above two blocks of 107,000
SCORE_ROWS = 65_536
#: rows per record batch of a sorted run: the merge holds one pending batch per run (per chunk
#: of the input), so memory during the merge is this times the number of runs times a row's
#: width (about 2 kB with its reasons): 45 runs of 4,096 rows held 180 MB more than of 1,024
_RUN_PIECE = 1_024
#: rows whose features are worked out before the processes fork, so that every kind of series
#: they read is read once, by the batch, and shared
_WARM_ROWS = 1_000


class _NoProgress:
    def update(self, n: int = 1, **info) -> None:
        pass

    def close(self) -> None:
        pass


def no_progress(label: str, total: int | None = None, unit: str = "rows"):
    return _NoProgress()


@dataclass
class BatchReport:
    """What a batch run did, for the command to print."""

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    scored: int = 0
    rejected: int = 0
    flagged: int = 0
    exploration: int = 0
    chunks: int = 0
    recorded_new: int = 0
    refused: int = 0  # declarations the history store refused to record (counted in ``rejected``)
    seconds: dict[str, float] = field(default_factory=dict)
    rejected_reasons: pd.Series | None = None  # rows per (column, reason), most frequent first
    top: pd.DataFrame | None = None  # the first flagged rows of the list, as written


def release_freed_memory() -> None:
    """Hand memory the process has freed back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). A chunk's many small objects leave the heap holey: without this, the next
    step's arrays are placed above them and the resident size only grows."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, looked up once (None where there is none)."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _hash_ids(ids: np.ndarray) -> np.ndarray:
    return pd.util.hash_array(np.asarray([str(i) for i in ids], dtype=object), categorize=False)


class SeenIds:
    """Declaration ids met in earlier chunks (64-bit hashes, one sorted array per chunk) and the
    line each was first met on."""

    def __init__(self):
        self.parts: list[tuple[np.ndarray, np.ndarray, str]] = []

    def first_lines(self, hashes: np.ndarray) -> tuple[np.ndarray, list]:
        """Which hashes were met before, and where (file and line) for each of them."""
        found = np.zeros(len(hashes), dtype=bool)
        where: list = [None] * len(hashes)
        for keys, lines, source in self.parts:
            at = np.searchsorted(keys, hashes)
            hit = (at < len(keys)) & (keys[np.minimum(at, len(keys) - 1)] == hashes) & ~found
            for i in np.flatnonzero(hit):
                where[i] = (source, int(lines[at[i]]))
            found |= hit
        return found, where

    def add(self, hashes: np.ndarray, lines: np.ndarray, source: str) -> None:
        order = np.argsort(hashes, kind="stable")
        self.parts.append((hashes[order], lines[order], source))

    def repeats(self, hashes: np.ndarray, lines: np.ndarray, source: str) -> tuple[np.ndarray, list]:
        """Which ids of the next chunk were met in earlier chunks, and where the first of each
        was; the others are remembered for the chunks after it."""
        again, where = self.first_lines(hashes)
        self.add(hashes[~again], lines[~again], source)
        return again, [where[i] for i in np.flatnonzero(again)]

    def keep_first(self, chunk: CheckedChunk) -> CheckedChunk:
        """The chunk without the ids met in earlier chunks (those rows rejected)."""
        return chunk.without_repeats(*self.repeats(chunk.hashes, chunk.lines, chunk.source))


SPOOL_PREFIX = "contraband-batch-"
_SPOOL_LOCK = ".in-use"


class _Spool:
    """Temporary parts on disk: declarations per chunk, rejected rows, sorted runs.

    The folder is removed when the run ends, however it ends (:meth:`close`, called from a
    ``finally``). A run killed outright (``kill -9``, a power cut) cannot remove it, so each run
    holds a lock on a file inside its folder while it works, and the next run in the same
    temporary folder removes every spool folder whose lock nobody holds (:func:`sweep_spools`)."""

    def __init__(self, folder: str | None):
        sweep_spools(folder)
        self.path = Path(tempfile.mkdtemp(prefix=SPOOL_PREFIX, dir=folder))
        self._lock = _hold(self.path / _SPOOL_LOCK)
        self.parts: list[Path] = []
        self.rejected: list[Path] = []
        self.runs: list[Path] = []

    def put(self, kind: list, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.feather as feather

        path = self.path / f"{len(kind)}-{id(kind)}.arrow"
        feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), path, compression="lz4")
        kind.append(path)

    @staticmethod
    def get(path: Path, columns=None, head: int | None = None) -> pd.DataFrame:
        """A spooled frame (its first ``head`` rows)."""
        table = _Spool.get_table(path, columns)
        return (table if head is None else table.slice(0, head)).to_pandas()

    @staticmethod
    def get_table(path: Path, columns=None):
        """A spooled frame as Arrow (a few times smaller than as pandas, whose strings are objects)."""
        import pyarrow.feather as feather

        return feather.read_table(path, columns=columns, memory_map=False)

    def features_file(self, part: int, rows: int, width: int) -> "_FeatureFile":
        """Part ``part``'s feature matrix as it is scored, a piece at a time (read back for its
        flagged rows' reasons)."""
        return _FeatureFile(self.features_path(part), rows, width)

    def features_path(self, part: int) -> Path:
        return self.path / f"features-{part}.npy"

    @staticmethod
    def get_features(path: Path) -> np.ndarray:
        """A part's feature matrix, mapped from disk: only the rows taken are read."""
        return np.load(path, mmap_mode="r")

    def run_path(self, part: int) -> Path:
        """Where part ``part``'s sorted run is written."""
        return self.path / f"run-{part}.arrow"

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)  # the lock goes with its file descriptor
            self._lock = None


class _FeatureFile:
    """A feature matrix written a block of rows at a time, as an ``.npy`` file (mapped back by
    :meth:`_Spool.get_features`)."""

    def __init__(self, path: Path, rows: int, width: int):
        self.file = open(path, "wb")
        np.lib.format.write_array_header_1_0(self.file, {"descr": "<f8", "fortran_order": False,
                                                         "shape": (rows, width)})

    def write(self, matrix: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(matrix, dtype="<f8").tobytes())

    def __enter__(self) -> "_FeatureFile":
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


def _hold(path: Path) -> int | None:
    """An exclusive lock on ``path`` (created), held until its descriptor is closed."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def sweep_spools(folder: str | None = None) -> list[Path]:
    """Remove the spool folders of runs that ended without removing them (killed): those in
    ``folder`` (default: the system's temporary folder) that hold a spool's lock file which no
    process holds. A folder without the lock file is left alone, whatever its name: it is not a
    spool (or one killed in the instant between its creation and its lock's). Returns the
    folders removed."""
    root = Path(folder or tempfile.gettempdir())
    removed = []
    for path in root.glob(f"{SPOOL_PREFIX}*"):
        lock = path / _SPOOL_LOCK
        if not path.is_dir() or not lock.is_file():
            continue
        fd = _hold(lock)
        if fd is None:  # a run at work
            continue
        os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def write_run(table, path: Path) -> Path:
    """A sorted run on disk (Arrow IPC file, in batches the merge reads one at a time)."""
    import pyarrow as pa

    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=_RUN_PIECE):
            writer.write_batch(batch)
    return path


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as received, as text (None when empty), for a spool of rejected rows."""
    out = {}
    for c in frame.columns:
        values = frame[c].to_numpy(dtype=object)
        out[str(c)] = [None if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v)
                       for v in values]
    return pd.DataFrame(out, index=frame.index)


def _visible(columns) -> list[str]:
    return [c for c in columns if not is_truth_column(c)]


def _merge_runs(paths: list[Path], block: int = _RUN_BATCH):
    """The rows of runs sorted by ``rank`` (dense 1..n over all runs), in rank order, by blocks."""
    import pyarrow as pa
    import pyarrow.compute as pc

    handles = [pa.OSFile(str(p)) for p in paths]
    files = [pa.ipc.open_file(h) for h in handles]
    cursor = [0] * len(files)  # next batch of each run
    pending: list = [None] * len(files)  # the part of a batch not yet written

    def take(i: int, below: int):
        out = []
        while True:
            if pending[i] is None:
                if cursor[i] >= files[i].num_record_batches:
                    return out
                pending[i] = pa.Table.from_batches([files[i].get_batch(cursor[i])])
                cursor[i] += 1
            table = pending[i]
            ranks = table.column("rank").to_numpy()
            cut = int(np.searchsorted(ranks, below))
            if cut:
                out.append(table.slice(0, cut))
            if cut < table.num_rows:
                pending[i] = table.slice(cut)
                return out
            pending[i] = None

    start = 1
    try:
        while True:
            pieces = [t for i in range(len(files)) for t in take(i, start + block)]
            if not pieces:
                break
            merged = pa.concat_tables(pieces, promote_options="default")
            yield merged.take(pc.sort_indices(merged, sort_keys=[("rank", "ascending")]))
            start += block
    finally:
        for h in handles:
            h.close()


@dataclass
class CheckedChunk:
    """One chunk of the input through the contract: its valid declarations (``truth_*`` columns
    kept until :meth:`declarations`), their file lines, and its rejected rows."""

    frame: pd.DataFrame
    lines: np.ndarray
    hashes: np.ndarray  # of the valid rows' declaration ids
    rejected: pd.DataFrame | None
    reasons: pd.Series | None  # the contract's rejections per (column, reason)
    rows_read: int
    source: str

    def without_repeats(self, again: np.ndarray, where: list) -> CheckedChunk:
        """The rows whose id an earlier chunk had (``again``; ``where``: file and line of the
        first of each) go to the rejected rows."""
        if not len(again) or not again.any():
            return self
        rejected = _repeated(self.frame[again], self.lines[again], where, self.source, self.rejected)
        return CheckedChunk(self.frame[~again], self.lines[~again], self.hashes[~again], rejected, self.reasons,
                            self.rows_read, self.source)

    def declarations(self) -> pd.DataFrame:
        """The valid declarations as features may see them, with their ``line`` and ``file``."""
        frame = self.frame[_visible(self.frame.columns)]
        return frame.reset_index(drop=True).assign(line=self.lines, file=self.source)

    def rejected_text(self) -> pd.DataFrame | None:
        return _as_text(self.rejected) if self.rejected is not None and len(self.rejected) else None


def check_chunk(table, mapping=None, fx=None) -> CheckedChunk:
    """A read chunk (:class:`~contraband.data.intake.RawTable`) through the contract, leniently."""
    from contraband.data.load import load_table

    loaded = load_table(table, mapping, "lenient", fx)
    valid = loaded.columns
    source = str(table.source)
    rejected = loaded.rejected_rows().assign(file=source) if len(loaded.rejected) else None
    reasons = loaded.rejected.groupby(["column", "reason"]).size() if len(loaded.rejected) else None
    hashes = _hash_ids(valid.cells("declaration_id")) if len(valid.X) else np.zeros(0, dtype=np.uint64)
    return CheckedChunk(valid.X, loaded.line_of(valid.index), hashes, rejected, reasons, loaded.rows_read, source)


def _canonical(declarations: pd.DataFrame) -> Columns:
    """A chunk's declarations (as :meth:`CheckedChunk.declarations`) without the file and line."""
    return Columns(declarations.drop(columns=["line", "file"]))


def record_chunk(declarations: pd.DataFrame, history, source: str) -> tuple[int, pd.DataFrame, pd.DataFrame | None]:
    """Record a chunk's declarations (as :meth:`CheckedChunk.declarations`) in the history store,
    as an ingest of its own (a whole input's chunks go through one :meth:`recording` instead):
    the number new to it, the declarations recorded, and those it refused as rejected rows
    (:func:`refused_rows`)."""
    report = history.ingest(_canonical(declarations), source=source)
    return (report.new, *refused_rows(declarations, report.refused))


def refused_rows(declarations: pd.DataFrame, refused: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A chunk's declarations (as :meth:`CheckedChunk.declarations`) without those the store
    refused to record (``refused``: ids and reasons, e.g. an inspected declaration re-sent with
    other values), and those as rejected rows (None when there are none)."""
    if not len(refused):
        return declarations, None
    reason = dict(zip(refused["declaration_id"], refused["reason"]))
    ids = declarations["declaration_id"].to_numpy(dtype=object)
    out = np.array([i in reason for i in ids], dtype=bool)
    bad = declarations[out]
    texts = [f"declaration_id {i!r}: {reason[i]}" for i in ids[out]]
    rows = _rejected_text(bad.drop(columns=["line", "file"]), bad["line"].to_numpy(), texts,
                          str(bad["file"].iloc[0]) if len(bad) else "")
    return declarations[~out].reset_index(drop=True), rows


def chunk_margins(detector, declarations: pd.DataFrame, history,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Margins, exploration draws and feature matrix of a chunk's declarations (as
    :meth:`CheckedChunk.declarations`)."""
    chunk = _canonical(declarations)
    features, margin = margins(detector, chunk, history)
    return margin, exploration_draws(chunk.cells("declaration_id"), seed), features


def ranked_run(detector, declarations: pd.DataFrame, history, margin: np.ndarray, rank: np.ndarray,
               flagged: np.ndarray, explored: np.ndarray, max_reasons: int = MAX_REASONS,
               features: np.ndarray | None = None):
    """A chunk's rows as output rows (risk score, rank, flags, reasons for the flagged only),
    sorted by rank: an Arrow table, one sorted run of the merge. The flagged rows' reasons come
    from ``features`` (the chunk's feature matrix as it was scored) when given, else from their
    features read again from ``history``."""
    frame = declarations.drop(columns=["line", "file"])
    scored = scored_columns(detector, frame, margin, rank, flagged, explored, max_reasons, history=history,
                            features=features)
    out = pd.concat([declarations[["line"]], frame, pd.DataFrame(scored)], axis=1)
    return _arrow(out.sort_values("rank", kind="stable"))


def output_columns(columns: list[str], any_rejected: bool) -> list[str]:
    return ["line", *columns, *OUTPUT_COLUMNS] + ([REJECTED, "file"] if any_rejected else [])


def write_list(output, out_columns: list[str], runs: list[Path], rejected, columns: list[str],
               top: int = 0) -> pd.DataFrame | None:
    """The ranked list at ``output``: the runs merged by rank, then the rejected rows (frames of
    text cells, from ``rejected``, an iterable); the list's first ``top`` rows back."""
    from contraband.data.export import TableWriter

    head = None
    with TableWriter(output, out_columns) as writer:
        for block in _merge_runs(runs):
            if top and head is None:
                head = block.slice(0, top).to_pandas()
            writer.write(block)
        for bad in rejected:
            writer.write(rejected_lines(bad, columns))
    return head


def total_reasons(reasons: list) -> pd.Series | None:
    """Rejected rows per (column, reason) over every chunk, most frequent first."""
    reasons = [r for r in reasons if r is not None]
    return pd.concat(reasons).groupby(level=[0, 1]).sum().sort_values(ascending=False) if reasons else None


def score_batch(detector, paths, history, output, *, mapping=None, fx=None, encoding=None, sheet=None,
                budget: float = 0.05, exploration: float = 0.1, seed: int = 0, mode: str = "random",
                record: bool = True, source: str = "score", chunk_bytes: int | None = None,
                chunk_rows: int | None = None, spool: str | None = None, progress=no_progress,
                top: int = 0, max_reasons: int = MAX_REASONS, processes: int | None = None) -> BatchReport:
    """Score declaration files into one ranked list at ``output`` (see the module's docstring).

    ``progress(label, total, unit)`` returns an object with ``update(n, **info)`` and
    ``close()`` (a bar on a terminal, lines in a log); ``top``: keep that many rows of the list's
    head in the report (for printing); ``processes``: how many score the parts of an
    input of more than one block (:mod:`~contraband.models.processes`; default
    :func:`~contraband.models.processes.batch_processes`)."""
    from contraband.data.chunks import CHUNK_BYTES, CHUNK_ROWS, manifest_files, read_chunks

    _check(budget, exploration, mode, "budget")
    processes = batch_processes() if processes is None else processes  # a bad setting said before any work
    files = manifest_files(paths)
    report = BatchReport(files=[str(f) for f in files])
    work = _Spool(spool)
    try:
        # 1. read, check, record, spool ------------------------------------------------------
        t0 = time.perf_counter()
        seen = SeenIds()
        columns: list[str] = []
        reasons = []
        bar = progress("reading and recording", sum(f.stat().st_size for f in files), "B")
        with history.recording(source) if record else nullcontext() as recording:
            for path in files:
                size, done = path.stat().st_size, 0
                for table in read_chunks(path, chunk_bytes=chunk_bytes or CHUNK_BYTES,
                                         chunk_rows=chunk_rows or CHUNK_ROWS, encoding=encoding, sheet=sheet):
                    chunk = check_chunk(table, mapping, fx)
                    report.rows_read += chunk.rows_read
                    report.chunks += 1
                    reasons.append(chunk.reasons)
                    chunk = seen.keep_first(chunk)
                    bad = chunk.rejected_text()
                    if bad is not None:
                        report.rejected += len(bad)
                        work.put(work.rejected, bad)
                    if len(chunk.frame):
                        frame = chunk.declarations()
                        if record:
                            recorded = recording.add(_canonical(frame))
                            report.recorded_new += recorded.new
                            frame, refused = refused_rows(frame, recorded.refused)
                            if refused is not None:
                                report.rejected += len(refused)
                                report.refused += len(refused)
                                work.put(work.rejected, refused)
                        columns += [c for c in frame.columns[:-2] if c not in columns]
                        if len(frame):
                            work.put(work.parts, frame)
                            report.scored += len(frame)
                    step = min(table.size, size - done)
                    done += step
                    bar.update(step, rows=report.rows_read)
                    table = chunk = frame = bad = None
                    release_freed_memory()
                bar.update(size - done, rows=report.rows_read)
        bar.close()
        report.rejected_reasons = total_reasons(reasons)
        report.seconds["read and record"] = time.perf_counter() - t0

        del seen  # 16 bytes a declaration, not needed any more

        # 2. margins ----------------------------------------------------------------------------
        t1 = time.perf_counter()
        bar = progress("scoring", report.scored, "rows")
        large = report.scored > SCORE_ROWS
        # more than one block: every kind read whole once and kept for the blocks (a small file
        # reads the series of its own keys instead), and the parts scored side by side
        scoring = KeptSeries(history) if large else history
        processes = processes if large else 1
        if processes > 1 and len(work.parts) > 1:  # the kinds the features read, read here: the processes share them
            detector.features_.matrix(_canonical(work.get(work.parts[0], head=_WARM_ROWS)), scoring)
            scoring.prepare()
            history.release_connections()  # the store's mapped pages would count in every process
        width = len(detector.features_.feature_names_out_)
        block_rows = max(1, SCORE_ROWS // processes)  # the processes' features together: SCORE_ROWS rows

        def score_part(p: int) -> tuple[np.ndarray, np.ndarray]:
            """Part ``p``'s margins and exploration draws; its features spooled as scored."""
            table = work.get_table(work.parts[p])
            margins, draws = [], []
            with work.features_file(p, len(table), width) as sink:
                for a in range(0, len(table), block_rows):  # the features' memory follows these rows
                    block = table.slice(a, block_rows).to_pandas()
                    margin, draw, features = chunk_margins(detector, block, scoring, seed)
                    sink.write(features)
                    margins.append(margin)
                    draws.append(draw)
                    del block, features
                    release_freed_memory()
            return np.concatenate(margins), np.concatenate(draws)

        def one_thread() -> None:
            detector.n_jobs = 1

        margins, draws = [], []
        for margin, draw in in_parts(score_part, len(work.parts), processes, one_thread):
            margins.append(margin)
            draws.append(draw)
            bar.update(len(margin))
        del scoring  # the kept series: not needed to explain (the features are spooled)
        bar.close()
        sizes = [len(m) for m in margins]
        margin = np.concatenate(margins) if margins else np.zeros(0)
        draw = np.concatenate(draws) if draws else np.zeros(0)
        del margins, draws
        report.seconds["score"] = time.perf_counter() - t1

        # 3. the list: ranks and flags over everything, reasons for the flagged, sorted runs ----
        t2 = time.perf_counter()
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

        def ids_of(part: int, rows: np.ndarray) -> np.ndarray:
            return work.get(work.parts[part], columns=["declaration_id"])["declaration_id"].to_numpy(dtype=object)[rows]

        rank = global_ranks(margin, lambda rows: ids_in_parts(offsets, rows, ids_of))
        flagged, explored = budget_flags(margin, rank, draw, budget, exploration, mode)
        report.flagged, report.exploration = int(flagged.sum()), int(explored.sum())
        bar = progress("explaining", report.scored, "rows")

        def explain_part(p: int) -> int:
            """Part ``p``'s sorted run written, its flagged rows' reasons from its spooled features."""
            a, b = offsets[p], offsets[p + 1]
            write_run(ranked_run(detector, work.get(work.parts[p]), history, margin[a:b], rank[a:b], flagged[a:b],
                                 explored[a:b], max_reasons, features=work.get_features(work.features_path(p))),
                      work.run_path(p))
            return b - a

        for p in range(len(work.parts)):  # here: a part's output rows in two processes took 2 x 970 MB
            bar.update(explain_part(p))
        work.runs = [work.run_path(p) for p in range(len(work.parts))]
        bar.close()
        report.seconds["explain"] = time.perf_counter() - t2

        # 4. write: the runs merged by rank, then the rejected rows --------------------------
        t3 = time.perf_counter()
        report.top = write_list(output, output_columns(columns, bool(work.rejected)), work.runs,
                                (work.get(p) for p in work.rejected), columns, top)
        report.seconds["write"] = time.perf_counter() - t3
        return report
    finally:
        work.close()


def ids_in_parts(offsets: np.ndarray, rows: np.ndarray, ids_of) -> np.ndarray:
    """The declaration ids of rows of the whole input, which is cut into parts at ``offsets``;
    ``ids_of(part, rows_of_that_part)`` reads them from one part."""
    out = np.empty(len(rows), dtype=object)
    part_of = np.searchsorted(offsets, rows, side="right") - 1
    for p in np.unique(part_of):
        mine = part_of == p
        out[mine] = ids_of(int(p), rows[mine] - offsets[p])
    return out


def _arrow(frame: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def _repeated(frame: pd.DataFrame, lines: np.ndarray, where: list, source: str, rejected):
    """Rows whose id an earlier chunk already had, as rejected rows (their cells as read)."""
    texts = [f"declaration_id {i!r}: duplicate declaration_id (first at line {line}"
             + ("" if first == source else f" of {first}") + ")"
             for i, (first, line) in zip(frame["declaration_id"].to_numpy(dtype=object), where)]
    rows = _rejected_text(frame, lines, texts, source)
    both = rows if rejected is None else pd.concat([rejected, rows], ignore_index=True)
    return both.sort_values("line", kind="stable").reset_index(drop=True)


def _rejected_text(frame: pd.DataFrame, lines: np.ndarray, texts: list[str], source: str) -> pd.DataFrame:
    """Declarations rejected after the contract read them, as rejected rows: line, id, the
    problems, their cells as text, and the file."""
    rows = pd.concat([pd.DataFrame({"line": np.asarray(lines), "declaration_id": frame["declaration_id"].to_numpy(dtype=object),
                                    "problems": texts}), _as_text(frame.drop(columns=["declaration_id"])
                                                                  .reset_index(drop=True))], axis=1)
    rows["file"] = source
    return rows
