"""The declaration contract: strict and lenient validation with a row/column report."""

import pandas as pd
import pytest

from contraband.data import contract
from contraband.data.load import REJECTED_COLUMNS, ContractError, load_declarations


def manifest(**overrides):
    rows = {
        "declaration_id": ["A1", "A2", "A3", "A4", "A5"],
        "declaration_date": ["2025-05-01", "2025-05-02", "2025-05-03", "2025-05-04", "2025-05-05"],
        "hs_code": ["3810.10", "690721", "2201.90", "850511", "7504.00"],
        "goods_description": ["solder paste", "ceramic tiles", "bottled water", "NdFeB magnets", "nickel powder"],
        "origin_country": ["China", "CN", "CHN", "cn", "Thailand"],
        "export_country": ["CN", "CN", "CN", "CN", "TH"],
        "destination_country": ["US", "US", "Mexico", "JP", "US"],
        "net_weight_kg": ["10", "15000", "9000", "800", "300"],
        "declared_value_usd": ["1000", "7500", "2500", "40000", "9000"],
        "transport_mode": ["courier", "sea", "Ocean", "air", "sea"],
        "transit_countries": [None, "Thailand", "", None, None],
        "inspected": ["1", "0", "0", "1", "0"],
        "contraband": ["1", None, None, "0", None],
    }
    rows.update(overrides)
    return pd.DataFrame(rows)


def test_clean_manifest_is_fully_valid_and_normalised():
    result = load_declarations(manifest())
    assert len(result.declarations) == 5 and result.rejected.empty
    d = result.declarations
    assert d.loc[1, "hs_code"] == "381010" and d.loc[3, "destination_country"] == "MX"
    assert d.loc[2, "transit_countries"] == "TH" and d.loc[3, "transport_mode"] == "sea"
    assert str(d["declaration_date"].dtype).startswith("datetime64")
    assert d.index.name == "row" and d.index.tolist() == [1, 2, 3, 4, 5]


def broken():
    return manifest(
        hs_code=["3810.10", "12", "690721", "850511", "7504.00"],
        origin_country=["China", "CN", "Narnia", "CN", "TH"],
        net_weight_kg=["10", "15000", "x", "-3", "300"],
        contraband=["1", "1", None, "0", None],  # row 2: outcome on a row never inspected
    )


def test_lenient_keeps_valid_rows_and_reports_every_problem_by_row_and_column():
    result = load_declarations(broken(), source="upload.csv")
    assert result.declarations.index.tolist() == [1, 5]
    rej = result.rejected
    assert list(rej.columns) == REJECTED_COLUMNS
    got = {(r.row, r.column, r.value) for r in rej.itertuples()}
    assert got == {
        (2, "hs_code", "12"), (2, "contraband", "1"),
        (3, "origin_country", "Narnia"), (3, "net_weight_kg", "x"),
        (4, "net_weight_kg", "-3.0"),
    }
    assert set(rej["file"]) == {"upload.csv"}
    reasons = dict(zip(zip(rej["row"], rej["column"]), rej["reason"]))
    assert "6 to 10 digits" in reasons[(2, "hs_code")]
    assert "not inspected" in reasons[(2, "contraband")]
    assert "not a number" in reasons[(3, "net_weight_kg")]
    assert "negative" in reasons[(4, "net_weight_kg")]
    # nothing lost: every input row is either valid or rejected
    assert len(result.declarations) + result.rows_rejected == result.rows_read == 5


def test_strict_rejects_the_file_and_lists_every_problem():
    with pytest.raises(ContractError) as err:
        load_declarations(broken(), mode="strict", source="upload.csv")
    message = str(err.value)
    assert "upload.csv: 5 problems in 3 rows" in message
    assert "row 3, column origin_country, value 'Narnia'" in message
    assert len(err.value.rejected) == 5


def test_missing_required_column_names_the_file_and_column():
    with pytest.raises(ContractError, match=r"upload.csv: required columns missing: hs_code"):
        load_declarations(manifest().drop(columns="hs_code"), source="upload.csv")


def test_empty_required_value_is_reported_as_missing():
    result = load_declarations(manifest(goods_description=["solder paste", "", None, "magnets", "powder"]))
    rej = result.rejected
    assert set(rej["row"]) == {2, 3} and set(rej["reason"]) == {"missing value"}


def test_seized_value_needs_contraband_found():
    result = load_declarations(manifest(seized_value_usd=["5000", None, None, "100", None]))
    assert result.rejected[["row", "column"]].values.tolist() == [[4, "seized_value_usd"]]


def test_unknown_columns_are_ignored_and_reported_truth_and_extras_pass_through():
    df = manifest(remarks=["a"] * 5, truth_contraband=[1, 0, 0, 0, 0], x_office_id=["10"] * 5)
    result = load_declarations(df)
    assert result.ignored_columns == ["remarks"]
    assert "truth_contraband" in result.declarations and "x_office_id" in result.declarations


def test_truth_and_outcome_columns_are_never_feature_fields():
    assert not any(contract.is_truth_column(f) for f in contract.FEATURE_FIELDS)
    assert not set(contract.OUTCOME_FIELDS) & set(contract.FEATURE_FIELDS)
    assert contract.LABEL in contract.OUTCOME_FIELDS


def test_absent_fields_may_be_empty_only_when_declared():
    frame = manifest(goods_description=[None] * 5)
    assert set(load_declarations(frame).rejected["column"]) == {"goods_description"}
    from contraband.data.load import canonicalise, validate

    canonical, _, _ = canonicalise(frame)
    assert validate(canonical, frozenset({"goods_description"})).empty
    with pytest.raises(ValueError, match="only required fields"):
        contract.schema({"incoterm"})


def test_every_contract_field_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "data.md").read_text()
    missing = [f.name for f in contract.FIELDS if f"| `{f.name}` |" not in doc]
    assert not missing
