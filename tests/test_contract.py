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
    assert "6, 8 or 10 digits" in reasons[(2, "hs_code")]
    assert "not inspected" in reasons[(2, "contraband")]
    assert "not a finite number" in reasons[(3, "net_weight_kg")]
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


def test_duplicated_column_names_reject_the_file_by_name(tmp_path):
    path = tmp_path / "dup.csv"
    manifest().assign(dup=manifest()["hs_code"]).to_csv(path, index=False)
    path.write_text(path.read_text().replace(",dup\n", ",hs_code\n", 1))
    with pytest.raises(ContractError, match=r"dup.csv: duplicated column names: hs_code"):
        load_declarations(path)
    frame = pd.concat([manifest(), manifest()[["hs_code"]]], axis=1)
    with pytest.raises(ContractError, match=r"upload: duplicated column names: hs_code"):
        load_declarations(frame, source="upload")


def test_summary_lists_ignored_columns():
    summary = load_declarations(manifest(gross_wieght_kg=["1"] * 5)).summary()
    assert "ignored columns (not in the contract or the mapping): gross_wieght_kg" in summary


def test_pass_through_columns_are_alike_from_csv_and_parquet(tmp_path):
    df = manifest(truth_contraband=[1, 0, 0, 0, 0], truth_value_usd=[5.5, 0, 0, 0, 0],
                  truth_typology=pd.Categorical(["a", "b", "b", "b", "b"]), x_tax=["1.5"] * 5, x_office=["A1"] * 5)
    df.to_csv(tmp_path / "m.csv", index=False)
    df.to_parquet(tmp_path / "m.parquet")
    for path in (tmp_path / "m.csv", tmp_path / "m.parquet"):
        d = load_declarations(path).declarations
        assert [str(d[c].dtype) for c in ("truth_contraband", "truth_value_usd", "x_tax")] == ["int8", "float64", "float64"]
        assert d["truth_typology"].tolist()[:2] == ["a", "b"] and d["x_office"].iloc[0] == "A1"
        assert pd.api.types.is_string_dtype(d["truth_typology"]) and pd.api.types.is_string_dtype(d["x_office"])


def test_repeated_declaration_id_is_rejected_after_the_first():
    result = load_declarations(manifest(declaration_id=["A1", "A2", "A1", "A4", "A1"]))
    rej = result.rejected
    assert rej[["row", "column", "value"]].values.tolist() == [[3, "declaration_id", "A1"], [5, "declaration_id", "A1"]]
    assert set(rej["reason"]) == {"duplicate declaration_id (first at row 1)"}
    assert result.declarations.index.tolist() == [1, 2, 4]


def test_offset_and_partial_dates_are_reported_per_cell_not_as_a_crash():
    dates = ["2025-05-01T23:00+05:00", "2025-05-01T23:00+01:00", "2025", "2025-05", "2025-05-01T10:00:00"]
    result = load_declarations(manifest(declaration_date=dates))
    assert result.declarations.index.tolist() == [1, 2, 5]
    assert (result.declarations["declaration_date"] == pd.Timestamp("2025-05-01")).all()
    assert set(result.rejected["reason"]) == {"not a date (YYYY-MM-DD)"}


def test_blank_csv_lines_are_skipped_and_not_counted(tmp_path):
    path = tmp_path / "blank.csv"
    manifest().to_csv(path, index=False)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + [""] + lines[2:]) + "\n")
    result = load_declarations(path)
    assert result.rows_read == 5 and result.declarations.index.tolist() == [1, 2, 3, 4, 5]


def test_unreadable_files_raise_a_contract_error_naming_the_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2,3\n")
    (tmp_path / "bad.parquet").write_bytes(b"junk")
    (tmp_path / "d.xlsx").write_bytes(b"junk")
    for name in ("empty.csv", "ragged.csv", "bad.parquet", "d.xlsx"):
        with pytest.raises(ContractError, match=name):
            load_declarations(tmp_path / name)


def test_contract_hs_check_takes_ascii_digits_only():
    from contraband.data.load import canonicalise, validate

    canonical, _, _ = canonicalise(manifest())
    canonical.loc[1, "hs_code"] = "３８１０１０"
    assert validate(canonical)[["row", "column"]].values.tolist() == [[1, "hs_code"]]


def test_every_frame_the_loader_returns_passes_the_schema_and_validate_agrees(world):
    from contraband.data.load import canonicalise, validate

    sample = world.head(3000).copy()
    sample["hs_code"] = sample["hs_code"].astype(str)
    sample.iloc[7, sample.columns.get_loc("hs_code")] = "3810100"
    sample.iloc[9, sample.columns.get_loc("net_weight_kg")] = -1.0
    for frame in (manifest(), broken(), sample):
        result = load_declarations(frame)
        contract.schema().validate(result.declarations)  # raises on any breach of the published contract
        canonical, parse_problems, _ = canonicalise(frame)
        full = {(r.row, r.column) for r in validate(canonical).itertuples()}
        full |= {(r.row, r.column) for r in parse_problems.itertuples()}
        assert {(r.row, r.column) for r in result.rejected.itertuples()} == full


def test_a_row_reads_the_same_alone_as_inside_a_file(world):
    rows = world.head(100)
    whole = load_declarations(rows).declarations
    for i in (0, 17, 99):
        alone = load_declarations(rows.iloc[[i]]).declarations
        pd.testing.assert_frame_equal(alone.reset_index(drop=True), whole.iloc[[i]].reset_index(drop=True),
                                      check_dtype=False)


def test_an_hs_subheading_missing_from_the_nomenclature_is_kept_and_reported():
    result = load_declarations(manifest(hs_code=["3810.10", "3810.19", "2201.90", "85051100", "7504.00"]))
    assert len(result.declarations) == 5 and result.rejected.empty
    assert result.warnings[["row", "column", "value"]].values.tolist() == [[2, "hs_code", "381019"]]
    assert "3810.19 is not in the HS 2022 nomenclature" in result.warnings["reason"].iloc[0]
    assert "warning" in result.summary()


def test_outcome_dates_must_follow_the_declaration_and_an_inspection():
    result = load_declarations(manifest(outcome_date=["2025-05-03", "2025-05-09", None, "2025-05-01", None]))
    assert result.rejected[["row", "column", "reason"]].values.tolist() == [
        [2, "outcome_date", "outcome date given for a row that was not inspected"],
        [4, "outcome_date", "outcome recorded before the declaration was lodged"]]
