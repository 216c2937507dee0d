"""Manifest intake: any file an analyst has, read into a table of text cells, losing no row.

One reader for every command and endpoint. :func:`read_manifest` takes a path or the bytes of
an upload and returns a :class:`RawTable`: every record of the file, the line where each starts,
and the problems the reader found in single records. A record with too many or too few fields,
a NUL byte, an oversize field or bytes that are not text in the file's encoding is reported *by
itself* (the contract's loader then rejects that row alone); every other row goes on. A file
that cannot be read at all raises :class:`IntakeError` with one sentence saying what is wrong
and what to do, never a parser's message, and its ``kind`` says which (``unreadable``,
``unsupported``, ``too_large``).

- CSV: the delimiter (``,`` ``;`` tab ``|``) is detected from the first lines; UTF-8 with or
  without BOM, CRLF, UTF-16 and legacy encodings (Windows-1252, Latin-1, CP949, ...) by
  detection (charset-normalizer) or as given; ``.gz`` by its magic bytes.
- XLSX (a named sheet or the first) through openpyxl, Parquet through pyarrow.
- Limits (:class:`Limits`): the received size, the decompressed size (a gzip or XLSX bomb is a
  quick clear error in bounded memory: the gzip stream is decompressed a megabyte at a time and
  refused as soon as it passes the limit, an XLSX's zip directory is checked before any sheet
  is opened) and the size of one field (an oversize field is rejected on its own column; the
  record's other fields, its declaration_id among them, are kept).

Lines: for CSV the physical line where a record starts (the header is line 1), for XLSX the
sheet's row number, for Parquet the record number. A clean CSV (every record on one line, no
blank lines, nothing oversize) is parsed by pyarrow; anything else by a record-by-record reader
that knows every line (the tests hold both to the same table).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from contraband.data.load import RECORD, ContractError

DELIMITERS = (",", ";", "\t", "|")
#: the encodings detection chooses among when a file is not UTF-8 or UTF-16
LEGACY_ENCODINGS = ["cp1252", "cp949", "cp1250", "cp1251", "gb18030", "shift_jis", "big5", "latin_1"]
_MAX_RECORD_LINES = 20  # a quoted field may span lines; past this, a stray quote is assumed
_GZIP_PIECE = 1 << 20  # bytes decompressed at a time
# Python's csv module refuses a field above 131,072 characters (a limit of the whole process),
# and the reader would then lose the record's split: the whole line would land in its first
# column. Fields are measured against Limits.max_field_chars by the intake itself, each on its
# own column, so the module's limit is lifted here.
csv.field_size_limit(2**31 - 1)
_MAGIC = {
    b"%PDF": "a PDF document", b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image", b"\xd0\xcf\x11\xe0": "a legacy Office file (.xls): save it as .xlsx or CSV",
    b"Rar!": "a RAR archive", b"7z\xbc\xaf": "a 7-Zip archive",
}


@dataclass(frozen=True)
class Limits:
    """What one file may cost. Defaults suit a manifest of a few million declarations."""

    max_bytes: int = 512 * 2**20  # as received
    max_decompressed_bytes: int = 2 * 2**30  # after gzip or inside an XLSX
    max_field_chars: int = 10_000  # one cell
    max_rows: int | None = None  # records of one file (None: no limit of their own)


class IntakeError(ContractError):
    """A file that cannot be read at all. ``kind``: unreadable, unsupported or too_large."""

    def __init__(self, message: str, kind: str = "unreadable"):
        super().__init__(message)
        self.kind = kind


@dataclass
class RawTable:
    """Every record of a file as text cells (``None`` for empty), with where each starts."""

    frame: pd.DataFrame  # the file's header as columns, one row per record (RangeIndex)
    lines: np.ndarray  # int64: the source line (CSV), sheet row (XLSX) or record number (Parquet)
    problems: pd.DataFrame  # position (0-based record), column, value, reason
    source: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)
    size: int = 0  # bytes of the file this table covers (a streamed chunk's share; 0: not known)


def _problems(positions=(), columns=(), values=(), reasons=()) -> pd.DataFrame:
    return pd.DataFrame({"position": np.asarray(positions, dtype=np.int64), "column": list(columns),
                         "value": list(values), "reason": list(reasons)})


def _clip(value: str, n: int = 120) -> str:
    return value if len(value) <= n else value[:n] + "..."


class _Records:
    """Records read one by one (the careful CSV reader, XLSX): cells checked, problems kept."""

    def __init__(self, header: list[str], limits: Limits):
        self.header, self.width, self.limits = header, len(header), limits
        self.cells: list[list] = []
        self.starts: list[int] = []
        self.problems: tuple[list, list, list, list] = ([], [], [], [])

    def reject(self, column: str, value: str, reason: str) -> None:
        """A problem of the record being added (call before :meth:`add`)."""
        for part, item in zip(self.problems, (len(self.cells), column, value, reason)):
            part.append(item)

    def add(self, fields: list, start: int) -> None:
        """A record starting at ``start``, its fields already padded to the header; an empty, NUL
        or oversize cell is kept as None (the last two reported)."""
        cells = []
        for column, value in zip(self.header, fields):
            if value is None or value == "":
                value = None
            elif "\x00" in value:
                self.reject(column, _clip(value.replace("\x00", "\\0")), "contains a NUL byte")
                value = None
            elif len(value) > self.limits.max_field_chars:
                self.reject(column, _clip(value), f"field of {len(value):,} characters "
                                                  f"(the limit is {self.limits.max_field_chars:,})")
                value = None
            cells.append(value)
        self.cells.append(cells)
        self.starts.append(start)

    def table(self, source: str, fmt: str) -> RawTable:
        frame = pd.DataFrame.from_records(self.cells, columns=range(self.width)) if self.cells else \
            pd.DataFrame({k: pd.Series([], dtype=object) for k in range(self.width)})
        frame.columns = self.header
        frame = frame.astype(object).where(frame.notna(), None)
        return RawTable(frame, np.asarray(self.starts, dtype=np.int64), _problems(*self.problems), source, fmt)


# --- entry point ---------------------------------------------------------------------------------

def read_manifest(data: bytes | str | Path, name: str | None = None, *, encoding: str | None = None,
                  sheet: str | None = None, limits: Limits = Limits()) -> RawTable:
    """Read a declarations file (a path, or the bytes of an upload named ``name``)."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        source = name or str(path)
        if not path.is_file():
            raise FileNotFoundError(f"declarations file not found: {path}")
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise IntakeError(f"{source}: the file is {size / 2**20:,.0f} MB, above the limit of "
                              f"{limits.max_bytes / 2**20:,.0f} MB; split it into smaller files", "too_large")
        data = path.read_bytes()
    else:
        source = name or "upload"
        if len(data) > limits.max_bytes:
            raise IntakeError(f"{source}: the file is {len(data) / 2**20:,.0f} MB, above the limit of "
                              f"{limits.max_bytes / 2**20:,.0f} MB; split it into smaller files", "too_large")
    table = _read_bytes(bytes(data), source, encoding, sheet, limits)
    if limits.max_rows is not None and len(table.frame) > limits.max_rows:
        raise IntakeError(f"{source}: the file holds {len(table.frame):,} records, above the limit of "
                          f"{limits.max_rows:,} per file; split it into smaller files, or score it as a batch "
                          "(contraband score)", "too_large")
    return table


_NAMED = {".parquet": (b"PAR1", "Parquet"), ".pq": (b"PAR1", "Parquet"), ".xlsx": (b"PK\x03\x04", "XLSX"),
          ".xlsm": (b"PK\x03\x04", "XLSX"), ".gz": (b"\x1f\x8b", "gzip")}


def _read_bytes(data: bytes, source: str, encoding, sheet, limits: Limits) -> RawTable:
    if not data.strip():
        raise IntakeError(f"{source}: the file is empty; send a header line and at least one declaration")
    suffix = Path(source).suffix.lower()
    if suffix in _NAMED and not data.startswith(_NAMED[suffix][0]):
        raise IntakeError(f"{source}: named {suffix} but is not a {_NAMED[suffix][1]} file (damaged or renamed); "
                          "send the file as exported")
    if suffix == ".xls":
        raise IntakeError(f"{source}: legacy Excel .xls is not read; save it as .xlsx or CSV", "unsupported")
    if data[:2] == b"\x1f\x8b":
        inner = source[:-3] if source.lower().endswith(".gz") else source + ".csv"
        table = _read_bytes(_gunzip(data, source, limits), inner, encoding, sheet, limits)
        table.source = source
        return table
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data, source, sheet, limits)
    if data[:4] == b"PAR1":
        return _read_parquet(data, source)
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise IntakeError(f"{source}: this is {what}, not a table of declarations; "
                              "send CSV, XLSX or Parquet", "unsupported")
    return _read_csv(data, source, encoding, limits)


def _gunzip(data: bytes, source: str, limits: Limits) -> bytes:
    """The decompressed bytes of a gzip file (every member), decompressed a piece at a time and
    refused as soon as they pass ``limits.max_decompressed_bytes``: a small file that unpacks to
    gigabytes costs the limit, not the gigabytes."""
    pieces, total, rest = [], 0, data
    while rest:  # one gzip member at a time
        unpack, tail = zlib.decompressobj(16 + zlib.MAX_WBITS), rest
        while not unpack.eof:
            try:
                piece = unpack.decompress(tail, _GZIP_PIECE)
            except zlib.error:
                raise IntakeError(f"{source}: the gzip file is damaged or truncated; compress it again") from None
            tail = unpack.unconsumed_tail
            if not piece and not tail:  # every byte read and the member not ended: cut short
                raise IntakeError(f"{source}: the gzip file is damaged or truncated; compress it again")
            total += len(piece)
            if total > limits.max_decompressed_bytes:
                raise IntakeError(f"{source}: the gzip file decompresses to more than "
                                  f"{limits.max_decompressed_bytes / 2**20:,.0f} MB; split it into smaller files",
                                  "too_large")
            pieces.append(piece)
        rest = unpack.unused_data.lstrip(b"\x00")  # another member may follow; padding is not one
    return b"".join(pieces)


# --- CSV -----------------------------------------------------------------------------------------

def _decode(data: bytes, source: str, encoding: str | None) -> tuple[str, str, set[int]]:
    """The file's text, its encoding and the (1-based) lines whose bytes are not text in it."""
    if encoding is None:
        if data.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8-sig"
        elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        else:
            head = data[:4096]
            even, odd = head[0::2].count(0), head[1::2].count(0)
            if min(len(head) // 2, 64) and max(even, odd) > 0.3 * (len(head) // 2) and min(even, odd) == 0:
                encoding = "utf-16-be" if even > odd else "utf-16-le"
            else:
                encoding = _guess_8bit(data)
    try:
        return data.decode(encoding), encoding, set()
    except LookupError:
        raise IntakeError(f"{source}: unknown text encoding {encoding!r}; give one such as utf-8, "
                          "cp1252, latin-1, cp949 or utf-16", "unsupported") from None
    except UnicodeDecodeError:
        pass
    if encoding.startswith("utf-16"):
        raise IntakeError(f"{source}: the file is not valid {encoding} text; save it again as UTF-8 "
                          "or give its encoding")
    bad, lines = set(), data.split(b"\n")
    for i, line in enumerate(lines):
        try:
            lines[i] = line.decode(encoding)
        except UnicodeDecodeError:
            lines[i] = line.decode(encoding, errors="replace")
            bad.add(i + 1)
    return "\n".join(lines), encoding, bad


def _guess_8bit(data: bytes) -> str:
    """UTF-8 unless the non-ASCII text of the file never decodes as UTF-8 (then detect)."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # a UTF-8 file with a damaged line or two stays UTF-8 (those lines are rejected, not the file)
    good = bad = 0
    for line in data.split(b"\n", 20_000)[:20_000]:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad += 1
    if good >= bad and good > 0:
        return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[: 1 << 18], cp_isolation=LEGACY_ENCODINGS))
    if not matches:
        return "cp1252"
    # among the equally plausible, the first of LEGACY_ENCODINGS (a short sample often reads the
    # same in Windows-1252 and its neighbours)
    chaos = min(m.chaos for m in matches)
    coherence = max(m.coherence for m in matches if m.chaos <= chaos + 0.01)
    plausible = {e for m in matches if m.chaos <= chaos + 0.01 and m.coherence >= coherence - 0.01
                 for e in m.could_be_from_charset}
    return next(e for e in LEGACY_ENCODINGS + sorted(plausible) if e in plausible)


def _delimiter(text: str) -> str:
    """The delimiter whose first lines split most consistently into the header's field count."""
    sample = [line for line in text[: 1 << 16].splitlines()[:50] if line.strip()]
    if not sample:
        return ","
    best, best_key = ",", (-1, -1)
    for d in DELIMITERS:
        try:
            rows = list(csv.reader(sample, delimiter=d))
        except csv.Error:
            continue
        width = len(rows[0])
        if width < 2:
            continue
        key = (sum(len(r) == width for r in rows[1:]), width)
        if key > best_key:
            best, best_key = d, key
    return best


_LINE_END = re.compile(r"\r\n|\r|\n")


def _physical_lines(text: str) -> list[str]:
    parts = _LINE_END.split(text)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def _read_csv(data: bytes, source: str, encoding: str | None, limits: Limits,
              delimiter: str | None = None) -> RawTable:
    if encoding in (None, "utf-8", "ascii") and data.isascii():
        # the common clean file: read from its bytes, without a second copy of it as text
        head = data[:1 << 16].decode("ascii")
        _refuse_binary(head, source)
        delimiter = delimiter or _delimiter(head)
        fast = _fast_csv(data, head, delimiter, limits)
        if fast is not None:
            fast.source, fast.encoding, fast.delimiter = source, encoding or "utf-8", delimiter
            return fast
    text, encoding, bad_lines = _decode(data, source, encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    _refuse_binary(text, source)
    delimiter = delimiter or _delimiter(text)
    fast = None
    if not bad_lines:
        utf8 = data if encoding in ("utf-8", "utf-8-sig", "ascii") else text.encode("utf-8")
        fast = _fast_csv(utf8, text, delimiter, limits)
    table = fast if fast is not None else _slow_csv(text, delimiter, bad_lines, encoding, source, limits)
    table.source, table.encoding, table.delimiter = source, encoding, delimiter
    return table


def _refuse_binary(text: str, source: str) -> None:
    """A file whose first characters are mostly control characters is not a table."""
    sample = text[:8192]
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\r\n")
    if sample and controls > 0.1 * len(sample):
        raise IntakeError(f"{source}: this is a binary file, not a table of declarations; "
                          "send CSV, XLSX or Parquet", "unsupported")


def _fast_csv(data: bytes, text: str, delimiter: str, limits: Limits) -> RawTable | None:
    """pyarrow's reader, for the common clean file (UTF-8 ``data``; ``text`` its decoded text, or
    at least its first line); None when any line needs the careful reader."""
    if b"\x00" in data or data.count(b"\r") != data.count(b"\r\n"):
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    bounds = np.concatenate([[-1], ends, [len(raw)]])
    lengths = np.diff(bounds) - 1
    if lengths.max(initial=0) > limits.max_field_chars or (lengths[:-1] <= 1).any():  # long or blank lines
        return None
    n_lines = len(ends) + (1 if lengths[-1] > 0 else 0)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    header = _fields(text.split("\n", 1)[0].rstrip("\r"), delimiter) or []

    def read(threads: bool):
        invalid = []

        def refuse(row) -> str:
            invalid.append(row)
            return "skip"

        table = pacsv.read_csv(
            pa.py_buffer(data[start:]) if start else pa.py_buffer(data),
            read_options=pacsv.ReadOptions(block_size=1 << 24, use_threads=threads),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False,
                                             invalid_row_handler=refuse),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True, auto_dict_encode=False, check_utf8=True,
                timestamp_parsers=[]),
        )
        return table, invalid

    try:
        table, invalid = read(threads=True)
        if invalid:  # ragged records: read again on one thread, which numbers their lines
            table, invalid = read(threads=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError):
        return None
    if table.num_rows + len(invalid) != n_lines - 1 or any(r.number is None for r in invalid) or any(
            not pa.types.is_string(t) and not pa.types.is_null(t) for t in table.schema.types):
        return None
    names = table.column_names
    if len(set(names)) != len(names):  # the careful reader keeps them, the contract names them
        return None
    frame = table.to_pandas()  # pandas' str columns over the Arrow buffers (missing: NaN)
    lines = np.arange(2, n_lines + 1, dtype=np.int64)
    if not invalid:
        return RawTable(frame, lines, _problems(), "", "csv")
    # a ragged record is rejected by itself, in its place among the others
    width = len(names)
    at = np.array([r.number for r in invalid], dtype=np.int64) - 2
    cells = [([f or None for f in _fields(r.text, delimiter) or [r.text]] + [None] * width)[:width] for r in invalid]
    ragged = pd.DataFrame.from_records(cells, columns=names, index=at)
    frame.index = np.setdiff1d(np.arange(n_lines - 1), at)
    frame = pd.concat([frame, ragged.astype(frame.dtypes.to_dict())]).sort_index().reset_index(drop=True)
    reasons = [f"{r.actual_columns} fields where the header has {r.expected_columns} (delimiter {delimiter!r})"
               for r in invalid]
    return RawTable(frame, lines, _problems(at, [RECORD] * len(at), [_clip(r.text) for r in invalid], reasons),
                    "", "csv")


def _fields(chunk: str, delimiter: str) -> list[str] | None:
    """One record's fields, or None if the text is not exactly one record."""
    try:
        rows = list(csv.reader(io.StringIO(chunk, newline=""), delimiter=delimiter))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _slow_csv(text: str, delimiter: str, bad_lines: set[int], encoding: str, source: str,
              limits: Limits) -> RawTable:
    """Record by record: every record's line known, every bad record reported by itself."""
    lines = _physical_lines(text)
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines):
        raise IntakeError(f"{source}: the file is empty; send a header line and at least one declaration")
    header = next(csv.reader([lines[i]], delimiter=delimiter))
    header = [h.strip() for h in header]
    width = len(header)
    if "\x00" in lines[i] or i + 1 in bad_lines:
        raise IntakeError(f"{source}: the header line cannot be read (binary bytes or a wrong encoding); "
                          "save the file as UTF-8 CSV or give its encoding")
    records = _Records(header, limits)
    i += 1
    while i < len(lines):
        start = i
        if not lines[i].strip():
            i += 1
            continue
        chunk = lines[i]
        i += 1
        while chunk.count('"') % 2 and i < len(lines) and i - start < _MAX_RECORD_LINES:
            chunk += "\n" + lines[i]
            i += 1
        fields = _fields(chunk, delimiter)
        if i - start > 1 and (fields is None or len(fields) != width or any(
                len(_fields(line, delimiter) or ()) == width for line in lines[start + 1:i])):
            # a stray quote swallowed the next lines (or lines that are records of their own):
            # this line alone
            i = start + 1
            chunk = lines[start]
            fields = _fields(chunk, delimiter)
        fields = fields if fields is not None else [chunk]
        if len(fields) != width:
            records.reject(RECORD, _clip(chunk),
                           f"{len(fields)} fields where the header has {width} (delimiter {delimiter!r})")
            fields = (fields + [None] * width)[:width]
        if any(line + 1 in bad_lines for line in range(start, i)):
            records.reject(RECORD, _clip(chunk), f"bytes that are not {encoding} text")
        records.add(fields, start + 1)
    return records.table(source, "csv")


# --- XLSX and Parquet ----------------------------------------------------------------------------

def _cell_text(value) -> str | None:
    import datetime as dt

    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes, source: str, sheet: str | None, limits: Limits) -> RawTable:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise IntakeError(f"{source}: the file looks like XLSX but is damaged; save it again") from None
    if "xl/workbook.xml" not in names:
        raise IntakeError(f"{source}: a zip archive, not an XLSX workbook; send CSV, XLSX or Parquet",
                          "unsupported")
    if inflated > limits.max_decompressed_bytes:
        raise IntakeError(f"{source}: the workbook unpacks to {inflated / 2**20:,.0f} MB, above the limit of "
                          f"{limits.max_decompressed_bytes / 2**20:,.0f} MB; export the sheet as CSV", "too_large")
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many types for a damaged workbook
        raise IntakeError(f"{source}: the XLSX workbook is damaged; save it again or export CSV") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise IntakeError(f"{source}: no sheet named {sheet!r}; the workbook has "
                              f"{', '.join(repr(s) for s in book.sheetnames)}")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = ws.iter_rows(min_row=1, values_only=True)
        header, header_row = None, 0
        for header_row, row in enumerate(rows, start=1):
            if any(_cell_text(v) is not None for v in row):
                header = [(_cell_text(v) or "").strip() for v in row]
                break
        if header is None:
            raise IntakeError(f"{source}: the sheet {ws.title!r} is empty; send a header row and declarations")
        while header and not header[-1]:
            header.pop()
        records = _Records(header, limits)
        for number, row in enumerate(rows, start=header_row + 1):
            cells = [_cell_text(v) for v in row]
            if not any(c is not None for c in cells):
                continue
            if any(c is not None for c in cells[records.width:]):
                records.reject(RECORD, _clip(" | ".join(c or "" for c in cells)),
                               f"values beyond the header's {records.width} columns")
            records.add((cells + [None] * records.width)[:records.width], number)
    finally:
        book.close()
    return records.table(source, "xlsx")


def _read_parquet(data: bytes, source: str) -> RawTable:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception:  # pyarrow raises several types for a damaged file
        raise IntakeError(f"{source}: the Parquet file is damaged; write it again") from None
    frame = frame.reset_index(drop=True)
    return RawTable(frame, np.arange(1, len(frame) + 1, dtype=np.int64), _problems(), source, "parquet")
