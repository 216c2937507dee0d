"""Streamed reading: a file, a folder or a glob of declaration files, in chunks of bounded size.

:func:`manifest_files` turns what a user typed into the files to read; :func:`read_chunks`
reads one file as a sequence of :class:`~contraband.data.intake.RawTable` chunks, each read
by the same readers as a whole file (so a chunk's records, cells, problems and lines are the
ones :func:`~contraband.data.intake.read_manifest` gives for those records) and each holding
the file's own line numbers.

- CSV (and ``.csv.gz``): blocks of about ``chunk_bytes`` cut at a line end outside any quoted
  field (quote parity; a stray quote that never closes is cut at the last line end, and the
  careful reader rejects that record by itself as it would in a whole file). The encoding and
  the delimiter are worked out once, from the first block (or taken as given). The header
  line is read once and put in front of every block. A file in UTF-16, or with bare ``\\r``
  line ends, is read whole (within the intake's limits) and then cut.
- Parquet: record batches of ``chunk_rows``.
- XLSX: read whole (a sheet holds at most 1,048,576 rows), then cut.

:func:`read_pieces` gives the same chunks unparsed where it can: a CSV block is a
:class:`CsvBlock` (where its records lie in the file, and the header, encoding and delimiter
to read them with), parsed by :func:`read_piece` wherever that runs (a Dask worker, say);
other chunks are read tables already. ``read_chunks`` is ``read_piece`` over ``read_pieces``.

Memory is bounded by the chunk, never by the file: no file size limit applies here, but the
size of one field still does. A field above it inside a block is rejected on its own column by
the careful reader; a line longer than any record (one endless field, say) is skipped a
megabyte at a time and rejected by itself, with the fields before the one that runs on (its
declaration_id among them) and that field's column; a first line with no line end within
a megabyte (or the first chunk) is no header at all.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contraband.data.intake import (
    RECORD,
    IntakeError,
    Limits,
    RawTable,
    _clip,
    _delimiter,
    _guess_8bit,
    _problems,
    _read_csv,
    _Records,
    read_manifest,
)

#: default chunk: about this many bytes of CSV, or this many records of Parquet or XLSX
CHUNK_BYTES = 32 * 2**20
CHUNK_ROWS = 250_000
_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv", ".gz", ".xlsx", ".xlsm", ".parquet", ".pq")
_HEAD_BYTES = 1 << 16
_QUOTE_SEARCH_LINES = 64  # line ends tried (backwards) for one outside a quoted field
_MAX_HEADER_BYTES = 2**20  # a header line may be long (many columns), not endless
_LIMITS = Limits()


def manifest_files(inputs) -> list[Path]:
    """The files named by paths, folders (their declaration files, sorted) and glob patterns, in
    the order given. Raises FileNotFoundError naming what matched nothing."""
    out: list[Path] = []
    for item in inputs:
        item = str(item)
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(_SUFFIXES))
            if not found:
                raise FileNotFoundError(f"{item}: the folder holds no CSV, XLSX or Parquet files")
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not found:
                raise FileNotFoundError(f"{item}: no such file, folder or matching files")
        out += [p for p in found if p not in out]
    return out


@dataclass
class CsvBlock:
    """Whole CSV records of a file, not parsed yet: ``length`` bytes at ``offset`` of an
    uncompressed file, or the (decompressed) ``data`` itself; ``line``: the file line of the
    first record."""

    source: str
    header: bytes
    line: int
    encoding: str
    delimiter: str
    limits: Limits
    size: int  # bytes of the file (as stored) this block covers
    offset: int = 0
    length: int = 0
    data: bytes | None = None

    def read(self) -> RawTable:
        if self.data is None:
            with open(self.source, "rb") as f:
                f.seek(self.offset)
                body = f.read(self.length)
        else:
            body = self.data
        table = _read_csv(self.header + b"\n" + body, self.source, self.encoding, self.limits,
                          delimiter=self.delimiter)
        table.lines = table.lines + (self.line - 2)  # the block's line 2 is the file's ``line``
        table.source = self.source
        table.size = self.size
        return table


def read_piece(piece: CsvBlock | RawTable) -> RawTable:
    """A chunk from :func:`read_pieces` as a read table."""
    return piece.read() if isinstance(piece, CsvBlock) else piece


def read_chunks(path: str | Path, *, chunk_bytes: int = CHUNK_BYTES, chunk_rows: int = CHUNK_ROWS,
                encoding: str | None = None, sheet: str | None = None,
                limits: Limits = _LIMITS) -> Iterator[RawTable]:
    """The records of one file, chunk by chunk (see the module's docstring)."""
    yielded = False
    for piece in read_pieces(path, chunk_bytes=chunk_bytes, chunk_rows=chunk_rows, encoding=encoding, sheet=sheet,
                             limits=limits):
        table = read_piece(piece)
        if len(table.frame) or not yielded:  # a block of blank records only counts when it is all there is
            yield table
            yielded = True


def read_pieces(path: str | Path, *, chunk_bytes: int = CHUNK_BYTES, chunk_rows: int = CHUNK_ROWS,
                encoding: str | None = None, sheet: str | None = None,
                limits: Limits = _LIMITS) -> Iterator[CsvBlock | RawTable]:
    """The chunks of one file, CSV blocks unparsed (see the module's docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"declarations file not found: {path}")
    source = str(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        yield from _parquet_chunks(path, source, chunk_rows)
    elif magic == b"PK\x03\x04":
        yield from _cut(read_manifest(path, encoding=encoding, sheet=sheet, limits=limits), chunk_rows,
                        path.stat().st_size)
    else:
        yield from _csv_chunks(path, source, magic[:2] == b"\x1f\x8b", chunk_bytes, encoding, limits)


def _cut(table: RawTable, rows: int, size: int) -> Iterator[RawTable]:
    """A table read whole, as chunks of ``rows`` records (problems follow their records);
    ``size``: the file's bytes, shared among the chunks."""
    n = len(table.frame)
    for start in range(0, max(n, 1), rows):
        stop = min(start + rows, n)
        at = table.problems["position"].to_numpy()
        keep = (at >= start) & (at < stop)
        problems = table.problems[keep].assign(position=at[keep] - start).reset_index(drop=True)
        yield RawTable(table.frame.iloc[start:stop].reset_index(drop=True), table.lines[start:stop], problems,
                       table.source, table.format, table.encoding, table.delimiter, table.notes,
                       size * (stop - start) // max(n, 1))


def _parquet_chunks(path: Path, source: str, rows: int) -> Iterator[RawTable]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        total, size = max(file.metadata.num_rows, 1), path.stat().st_size
        start = 0
        for batch in file.iter_batches(batch_size=rows):
            frame = batch.to_pandas()
            yield RawTable(frame, np.arange(start + 1, start + len(frame) + 1, dtype=np.int64), _problems(),
                           source, "parquet", size=size * len(frame) // total)
            start += len(frame)
        if start == 0:
            yield RawTable(file.schema_arrow.empty_table().to_pandas(), np.zeros(0, dtype=np.int64), _problems(),
                           source, "parquet")
    except OSError:  # pyarrow's damaged-file errors derive from OSError (ArrowInvalid too)
        raise IntakeError(f"{source}: the Parquet file is damaged; write it again") from None


def _csv_chunks(path: Path, source: str, compressed: bool, chunk_bytes: int, encoding: str | None,
                limits: Limits) -> Iterator[RawTable]:
    try:
        with open(path, "rb") as raw, (gzip.GzipFile(fileobj=raw) if compressed else raw) as stream:
            want = max(chunk_bytes, _HEAD_BYTES)  # the header and enough lines to see the delimiter
            first = stream.read(want)
            while first.strip() and b"\n" not in first.lstrip():  # a header longer than that
                if len(first) > _MAX_HEADER_BYTES:  # one endless line (a gzip bomb, say): not a header
                    raise IntakeError(f"{source}: the first line has no line end within "
                                      f"{_MAX_HEADER_BYTES / 2**20:g} MB; this is not a table of declarations "
                                      "with a header line")
                more = stream.read(want)
                if not more:
                    break
                first += more
            if first.startswith((b"\xff\xfe", b"\xfe\xff")) or (encoding or "").lower().startswith("utf-16") or (
                    b"\r" in first and b"\n" not in first) or _utf16_without_bom(first):
                # line ends are not single bytes: read whole, then cut
                yield from _cut(read_manifest(path, encoding=encoding, limits=limits), max(1, chunk_bytes // 256),
                                path.stat().st_size)
                return
            if not first.strip():
                raise IntakeError(f"{source}: the file is empty; send a header line and at least one declaration")
            bom = b"\xef\xbb\xbf" if first.startswith(b"\xef\xbb\xbf") else b""
            header, body_at, header_line = _header(first, len(bom))
            encoding = encoding or _guess_8bit(first)
            delimiter = _delimiter(first[len(bom):].decode(encoding, errors="replace"))
            yield from _csv_blocks(stream, raw.tell, first[body_at:], len(first) < want, header,
                                   header_line + 1, source, encoding, delimiter, chunk_bytes, limits, compressed)
    except (OSError, EOFError) as exc:
        if isinstance(exc, IntakeError):
            raise
        what = "the gzip file is damaged or truncated; compress it again" if compressed else f"cannot be read ({exc})"
        raise IntakeError(f"{source}: {what}") from None


def _csv_blocks(stream, position, carry: bytes, eof: bool, header: bytes, line: int, source: str, encoding: str,
                delimiter: str, chunk_bytes: int, limits: Limits, compressed: bool) -> Iterator[CsvBlock | RawTable]:
    """Blocks of whole records after the header; ``line`` is the file line of the first;
    ``position()`` is how far into the file (as stored) the reading is."""
    read_to = 0
    width = len(header.decode(encoding, errors="replace").split(delimiter))
    longest = chunk_bytes + 4 * limits.max_field_chars * max(width, 1)  # a record no field limit allows
    yielded = False
    while True:
        while not eof and len(carry) < chunk_bytes:
            more = stream.read(chunk_bytes - len(carry))  # up to the chunk, not a chunk more
            eof = not more
            carry += more
        cut = len(carry) if eof else _cut_point(carry)
        if cut is None and len(carry) > longest:
            last = carry.rfind(b"\n")
            if last >= 0:  # a quote that never closes: cut at the last line end (the careful
                cut = last + 1  # reader then rejects the record with the stray quote by itself)
        if cut is None:  # no line end yet: a huge record, or not text at all
            if len(carry) > longest:
                head = carry
                carry, skipped = _skip_record(stream, carry)
                table = _oversize(head, header, delimiter, line, source, encoding, skipped, limits)
                table.size, read_to = position() - read_to, position()
                yield table
                yielded = True
                line += 1
                continue
            more = stream.read(chunk_bytes)
            eof = not more
            carry += more
            continue
        start = stream.tell() - len(carry)  # where the block starts in the (decompressed) stream
        block, carry = carry[:cut], carry[cut:]
        if block.strip():
            size, read_to = position() - read_to, position()
            yield CsvBlock(source, header, line, encoding, delimiter, limits, size, start, len(block),
                           block if compressed else None)
            yielded = True
        line += block.count(b"\n")
        if eof and not carry:
            break
    if not yielded:  # a header and no records: one empty table, as a whole-file read gives
        yield _read_csv(header + b"\n", source, encoding, limits, delimiter=delimiter)


def _skip_record(stream, carry: bytes) -> tuple[bytes, int]:
    """Drop everything up to the next line end; returns what follows it and the bytes dropped."""
    skipped = len(carry)
    while True:
        more = stream.read(1 << 20)
        if not more:
            return b"", skipped
        end = more.find(b"\n")
        if end >= 0:
            return more[end + 1:], skipped + end
        skipped += len(more)


def _oversize(head: bytes, header: bytes, delimiter: str, line: int, source: str, encoding: str, size: int,
              limits: Limits) -> RawTable:
    """One record rejected by itself: a line of ``size`` bytes, too long for any record, whose
    first bytes are ``head``. The fields before the one that runs on are kept (the
    declaration_id among them, to say which declaration it was); that one is reported on its
    own column."""
    names = list(_read_csv(header + b"\n", source, encoding, limits, delimiter=delimiter).frame.columns)
    fields = next(csv.reader(io.StringIO(head.decode(encoding, errors="replace"), newline=""), delimiter=delimiter),
                  None) or [""]
    kept, runs_on = fields[:-1], fields[-1]
    records = _Records(names, limits)
    records.reject(names[len(kept)] if len(kept) < len(names) else RECORD, _clip(runs_on),
                   f"field of more than {len(runs_on):,} characters (the limit is {limits.max_field_chars:,}) in a "
                   f"line of {size:,} bytes with no line end: longer than any record")
    records.add((kept + [None] * len(names))[:len(names)], line)
    table = records.table(source, "csv")
    table.encoding, table.delimiter = encoding, delimiter
    return table


def _utf16_without_bom(head: bytes) -> bool:
    head = head[:4096]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return bool(min(len(head) // 2, 64)) and max(even, odd) > 0.3 * (len(head) // 2) and min(even, odd) == 0


def _header(data: bytes, start: int) -> tuple[bytes, int, int]:
    """The header line (blank lines before it skipped), where the body starts, and the file
    line of the header."""
    at, line = start, 1
    while True:
        end = data.find(b"\n", at)
        end = len(data) if end < 0 else end
        if data[at:end].strip() or end >= len(data):
            return data[at:end].rstrip(b"\r"), min(end + 1, len(data)), line
        at, line = end + 1, line + 1


def _cut_point(block: bytes) -> int | None:
    """Just past the last line end of ``block`` outside a quoted field (None: there is none)."""
    end = block.rfind(b"\n")
    if end < 0:
        return None
    quotes = block.count(b'"', 0, end)
    for _ in range(_QUOTE_SEARCH_LINES):  # the usual case: a few lines back at most
        if quotes % 2 == 0:
            return end + 1
        previous = block.rfind(b"\n", 0, end)
        if previous < 0:
            return None
        quotes -= block.count(b'"', previous, end)
        end = previous
    raw = np.frombuffer(block, dtype=np.uint8)  # a long quoted stretch: every line end at once
    ends = np.flatnonzero(raw == 10)
    even = ends[np.searchsorted(np.flatnonzero(raw == 34), ends) % 2 == 0]
    return int(even[-1]) + 1 if len(even) else None
