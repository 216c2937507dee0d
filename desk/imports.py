"""Outcomes of many cases from one file (CSV in any common delimiter and encoding, XLSX, Parquet).

Each row names its case by ``case_id`` or ``declaration_id`` and gives the outcome's fields
(:data:`~contraband.desk.vocabulary.OUTCOME_FIELDS`; the short headers ``found``, ``value_usd``
and ``quantity_kg`` are read as ``contraband_found``, ``seized_value_usd``, ``seized_quantity_kg``). A row with a problem is rejected alone,
with its line, column and reason; the others are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from contraband.data.intake import Limits, read_manifest
from contraband.desk.vocabulary import CONCEALMENTS, OUTCOME_FIELDS

_YES = {"1", "true", "yes", "y", "found"}
_NO = {"0", "false", "no", "n", "not found", "none"}
#: the short headers officers write, read as the outcome's own words
_ALIASES = {"found": "contraband_found", "value_usd": "seized_value_usd", "quantity_kg": "seized_quantity_kg"}
_BY_LABEL = {label.split(" (")[0].lower(): key for key, label in CONCEALMENTS.items()}


@dataclass
class OutcomeFile:
    """The outcomes a file holds: (position, key, fields) per good row, the bad rows' problems."""

    rows: list[tuple[int, str, dict]] = field(default_factory=list)
    by_declaration: bool = False
    problems: list[dict] = field(default_factory=list)  # line, column, reason
    lines: list[int] = field(default_factory=list)  # per row of the file
    notes: list[str] = field(default_factory=list)


def read_outcomes(data: bytes, name: str, limits: Limits = Limits()) -> OutcomeFile:
    """The outcomes of a file (``IntakeError`` / ``ContractError`` for a file that cannot be read
    at all, or that names no case column)."""
    from contraband.data.load import ContractError
    from contraband.desk.desk import CaseError, check_outcome

    raw = read_manifest(data, name, limits=limits)
    columns = {_ALIASES.get(str(c).strip().lower(), str(c).strip().lower()): c for c in raw.frame.columns}
    key = "case_id" if "case_id" in columns else "declaration_id" if "declaration_id" in columns else None
    if key is None:
        raise ContractError(f"{name}: no case_id or declaration_id column: each row must say which case it is")
    out = OutcomeFile(by_declaration=key == "declaration_id", lines=[int(v) for v in raw.lines], notes=list(raw.notes))
    ignored = sorted(set(columns) - {"case_id", "declaration_id", *OUTCOME_FIELDS})
    if ignored:
        out.notes.append(f"columns ignored: {', '.join(ignored)}")
    bad_rows = {}
    for p in raw.problems.itertuples():
        bad_rows.setdefault(int(p.position), []).append({"column": str(p.column), "reason": str(p.reason)})
    frame = raw.frame.rename(columns={v: k for k, v in columns.items()})
    for position, row in enumerate(frame.to_dict("records")):
        line = out.lines[position] if position < len(out.lines) else position + 2
        if position in bad_rows:
            out.problems += [{"line": line, **p} for p in bad_rows[position]]
            continue
        ident = _cell(row.get(key))
        if ident is None:
            out.problems.append({"line": line, "column": key, "reason": "empty: say which case this outcome is for"})
            continue
        if key == "case_id" and not ident.isdigit():
            out.problems.append({"line": line, "column": key, "reason": f"{ident!r} is not a case number"})
            continue
        try:
            fields = check_outcome(_outcome(row))
        except CaseError as exc:
            out.problems.append({"line": line, "column": exc.field, "reason": str(exc)})
            continue
        out.rows.append((position, ident, fields))
    return out


def _cell(value) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _outcome(row: dict) -> dict:
    """A row's text cells as the outcome's typed fields (``CaseError`` names a bad one)."""
    from contraband.desk.desk import CaseError

    found = _cell(row.get("contraband_found"))
    if found is None or found.lower() not in _YES | _NO:
        raise CaseError("invalid", f"contraband_found: say whether contraband was found (yes or no), not {found!r}",
                        "contraband_found")
    outcome: dict = {"contraband_found": found.lower() in _YES}
    for name in ("material", "hs_code_found", "note"):
        outcome[name] = _cell(row.get(name))
    concealment = _cell(row.get("concealment"))
    if concealment is not None:
        concealment = _BY_LABEL.get(concealment.lower(), concealment.lower().replace(" ", "_"))
    outcome["concealment"] = concealment
    for name in ("seized_quantity_kg", "seized_value_usd"):
        value = _cell(row.get(name))
        if value is None:
            outcome[name] = None
            continue
        try:
            outcome[name] = float(value.replace(",", ""))
        except ValueError:
            raise CaseError("invalid", f"{name} must be a number >= 0, not {value!r}", name) from None
    return outcome
