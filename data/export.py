"""Tables out: every CSV the product writes, safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (CSV injection): a manifest's goods description
``=HYPERLINK(...)`` would run when an analyst opens the scored file. Text cells that start so
are written with a leading apostrophe (OWASP's advice), which spreadsheets show as text;
numbers are left alone (``-3.5`` stays a number). Lines end in CRLF (RFC 4180), so a cell
holding a carriage return is quoted. The CLI and the API both write through
:func:`write_table` / :func:`csv_bytes`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot be read as spreadsheet formulas."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values) \
                or pd.api.types.is_datetime64_any_dtype(values):
            continue
        cells = values.to_numpy(dtype=object)
        risky = np.fromiter((isinstance(v, str) and v.startswith(FORMULA_STARTS) for v in cells), bool, len(cells))
        if risky.any():
            cells = cells.copy()
            cells[risky] = ["'" + v for v in cells[risky]]
            out[column] = pd.Series(cells, index=out.index, dtype=object)
    renamed = {c: "'" + c for c in out.columns if isinstance(c, str) and c.startswith(FORMULA_STARTS)}
    return out.rename(columns=renamed) if renamed else out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV (no index), formulas neutralised."""
    return neutralise_formulas(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write CSV (formulas neutralised; ``.csv.gz`` compressed) or Parquet, by the file's name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        neutralise_formulas(frame).to_csv(path, index=False, lineterminator="\r\n")


class TableWriter:
    """A table written part by part, in bounded memory: CSV (formulas neutralised as above,
    CRLF; ``.csv.gz`` compressed) or Parquet, by the file's name. The columns are fixed when the
    writer is made; a part may lack some (written empty). In Parquet, the first part fixes the
    column types; a later part's cell that is not of its column's type (a rejected row's raw
    text in a number column) is written empty."""

    def __init__(self, path: str | Path, columns: list[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns = list(columns)
        self.parquet = self.path.suffix.lower() == ".parquet"
        self._schema = None
        self._writer = None
        self._file = None
        self.rows = 0

    def write(self, part) -> None:
        """Write a frame or an Arrow table (columns by name)."""
        import pyarrow as pa

        table = part if isinstance(part, pa.Table) else pa.Table.from_pandas(part, preserve_index=False)
        if not table.num_rows:  # nothing to write (the columns come out on close if nothing ever is)
            return
        if self.parquet:
            self._write_parquet(table)
        else:
            self._write_csv(table)
        self.rows += table.num_rows

    def _aligned(self, table, types=None):
        import pyarrow as pa

        arrays = []
        for i, name in enumerate(self.columns):
            target = types[i] if types is not None else None
            if name in table.column_names:
                column = table.column(name)
                if target is not None and column.type != target:
                    column = _cast_or_null(column, target)
            else:
                column = pa.nulls(table.num_rows, target or pa.null())
            arrays.append(column)
        return pa.table(arrays, names=self.columns)

    def _write_parquet(self, table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            first = self._aligned(table)
            fields = [pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in first.schema]
            self._schema = pa.schema(fields)
            self._writer = pq.ParquetWriter(self.path, self._schema)
        self._writer.write_table(self._aligned(table, self._schema.types).cast(self._schema))

    def _write_csv(self, table) -> None:
        import io

        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv

        self._open()
        table = self._aligned(table)
        arrays, multiline = [], False
        for column in table.columns:
            if pa.types.is_boolean(column.type):  # as pandas writes them
                column = pc.if_else(column, "True", "False")
            elif pa.types.is_dictionary(column.type):
                column = column.cast(pa.string())
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                column = pc.replace_substring_regex(column, pattern=_FORMULA_PATTERN, replacement="'\\1")
                multiline = multiline or bool(pc.any(pc.match_substring(column, "\n")).as_py())
            elif pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
                column = pc.strftime(column, "%Y-%m-%d")
            arrays.append(column)
        names = ["'" + c if c.startswith(FORMULA_STARTS) else c for c in self.columns]
        table = pa.table(arrays, names=names)
        if multiline:  # a cell holds a line end: pandas writes it inside quotes, CRLF between rows
            frame = table.to_pandas()
            self._file.write(frame.to_csv(index=False, header=self.rows == 0, lineterminator="\r\n").encode())
            return
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=self.rows == 0, batch_size=8192))
        self._file.write(buffer.getvalue().replace(b"\n", b"\r\n"))

    def _open(self) -> None:
        if self._file is None:
            self._file = gzip.open(self.path, "wb") if self.path.name.lower().endswith(".gz") else open(self.path, "wb")

    def close(self) -> None:
        """Finish the file (with nothing written: the columns alone)."""
        if self._writer is not None:
            self._writer.close()
        elif self.parquet:
            pd.DataFrame(columns=self.columns).to_parquet(self.path, index=False)
        if not self.parquet:
            if not self.rows:
                self._open()
                self._file.write((",".join(self.columns) + "\r\n").encode())
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_FORMULA_PATTERN = "^([=+\\-@\t\r])"


def _cast_or_null(column, target):
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            if pa.types.is_floating(target) or pa.types.is_integer(target):
                number = pc.utf8_is_numeric(column)  # digits only; anything else is written empty
                return pc.if_else(number, column, None).cast(target, safe=False)
        return pa.nulls(len(column), target)
