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
