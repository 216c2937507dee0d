"""Foreign schemas through TOML mappings, and the Korea Customs Service dataset through kcs.toml."""

import numpy as np
import pandas as pd
import pytest

from contraband.data.load import ContractError, load_declarations
from contraband.data.mapping import BUNDLED, MappingError, bundled_mapping, from_dict, load_mapping, mapping_files


@pytest.fixture(scope="module")
def kcs_mapping():
    return load_mapping(bundled_mapping("kcs"))


@pytest.mark.parametrize("split,rows,fraud_rate", [("train", 37_385, 0.2170), ("valid", 8_134, 0.2095)])
def test_kcs_files_load_whole_through_the_mapping(kcs_mapping, kcs_path, split, rows, fraud_rate):
    path = kcs_path(split)
    raw = pd.read_csv(path)
    result = load_declarations(path, kcs_mapping, mode="strict")
    d = result.declarations
    assert len(d) == rows and result.rejected.empty
    assert d["contraband"].mean() == pytest.approx(fraud_rate, abs=5e-4)
    assert (d["inspected"] == 1).all()
    assert d["hs_code"].str.fullmatch(r"\d{6}").all()
    assert (d["hs_code"].str[0] == "0").any()  # leading zeros restored
    np.testing.assert_allclose(d["declared_value_usd"].to_numpy(), raw["Item Price"].to_numpy() * 0.000769)
    assert (d["destination_country"] == "KR").all()
    assert set(d["transport_mode"].dropna()) <= {"sea", "air", "rail", "road", "post"}
    assert d["goods_description"].isna().all() and result.absent == {"goods_description"}
    assert {"x_office_id", "x_tax_rate_pct"} <= set(d.columns)
    assert d["x_tax_rate_pct"].dtype == "float64"


def test_caller_rate_overrides_the_mapping_rate(kcs_mapping, kcs_path):
    path = kcs_path("valid")
    base = load_declarations(path, kcs_mapping).declarations["declared_value_usd"]
    other = load_declarations(path, kcs_mapping, fx={"KRW": 0.001}).declarations["declared_value_usd"]
    np.testing.assert_allclose(other, base / 0.000769 * 0.001)


def test_custom_mapping_converts_pounds_currencies_and_constants():
    mapping = from_dict({
        "label": "Seized",
        "absent": ["goods_description"],
        "fields": {
            "declaration_id": "Entry No",
            "declaration_date": "Entry Date",
            "hs_code": {"column": "Tariff", "pad": True},
            "origin_country": "COO",
            "export_country": "Country of Export",
            "destination_country": {"value": "United States"},
            "net_weight_kg": {"column": "Weight", "unit_column": "Weight Unit"},
            "declared_value_usd": {"column": "Value", "currency_column": "Currency"},
            "inspected": {"value": 1},
        },
        "rates": {"EUR": 1.1},
        "source": {"date_format": "%m/%d/%Y"},
    })
    raw = pd.DataFrame({
        "Entry No": ["E1", "E2", "E3"], "Entry Date": ["04/30/2025", "05/01/2025", "05/02/2025"],
        "Tariff": ["8505110070", "381010000", "6907.21.10"], "COO": ["China", "Thailand", "MEX"],
        "Country of Export": ["CN", "TH", "MX"], "Weight": ["100", "2", "50"], "Weight Unit": ["lb", "t", "oz"],
        "Value": ["1000", "500", "10"], "Currency": ["EUR", "USD", "USD"], "Seized": ["1", "0", "0"],
    })
    result = load_declarations(raw, mapping, source="cbp.csv")
    d = result.declarations
    assert d.loc[1, "net_weight_kg"] == pytest.approx(45.359237) and d.loc[2, "net_weight_kg"] == 2000
    assert d.loc[1, "declared_value_usd"] == pytest.approx(1100) and d.loc[1, "destination_country"] == "US"
    assert d.loc[2, "hs_code"] == "0381010000" and d.loc[1, "declaration_date"] == pd.Timestamp("2025-04-30")
    assert d.loc[1, "contraband"] == 1
    # the unknown weight unit rejects row 3 with a reason, and nothing else is lost
    assert result.rejected[["row", "column", "value"]].values.tolist() == [[3, "net_weight_kg", "50"]]


@pytest.mark.parametrize("doc,message", [
    ({"fields": {"hs_code": "HS"}}, "required fields .* are neither mapped nor declared absent"),
    ({"fields": {"colour": "C"}}, "colour is not a field of the declaration contract"),
    ({"fields": {"hs_code": {"column": "HS", "value": "1"}}}, "exactly one of 'column' or 'value'"),
    ({"fields": {"hs_code": {"column": "HS", "unit": "lb"}}}, "weight units apply to \\*_kg fields only"),
    ({"absent": ["incoterm"]}, "not required fields"),
    ({"sheet": 1}, "unknown top-level keys"),
])
def test_bad_mappings_name_the_file_and_key(doc, message):
    with pytest.raises(MappingError, match=message):
        from_dict(doc, "bad.toml")


def test_mapping_file_errors(tmp_path):
    with pytest.raises(MappingError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.toml")
    bad = tmp_path / "broken.toml"
    bad.write_text("label = \n")
    with pytest.raises(MappingError, match="broken.toml: not valid TOML"):
        load_mapping(bad)


def test_mappings_are_found_by_name_never_by_a_path(tmp_path):
    """Names come from listing the folders: the bundled mappings, then a folder's (replacing a
    bundled one of the same name); a file whose stem is not a plain name is not a mapping."""
    assert mapping_files() == {"kcs": BUNDLED / "kcs.toml"}
    for name in ("mine.toml", "kcs.toml", "two words.toml", ".hidden.toml", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "folder.toml").mkdir()
    assert mapping_files(tmp_path) == {"kcs": tmp_path / "kcs.toml", "mine": tmp_path / "mine.toml"}
    assert mapping_files(tmp_path / "absent") == {"kcs": BUNDLED / "kcs.toml"}
    assert bundled_mapping("kcs") == BUNDLED / "kcs.toml"
    for name in ("../mappings/kcs", str(BUNDLED / "kcs"), "mine"):
        with pytest.raises(MappingError, match="no bundled mapping named .*; the bundled mappings are kcs$"):
            bundled_mapping(name)


def test_mapping_naming_a_column_the_file_lacks(kcs_mapping, kcs_path):
    raw = pd.read_csv(kcs_path("valid"), nrows=5).drop(columns=["Net Mass"])
    with pytest.raises(ContractError, match=r"columns \['Net Mass'\] named by mapping"):
        load_declarations(raw, kcs_mapping)


def complete(**changes):
    doc = {
        "label": "Fraud", "absent": ["goods_description"],
        "fields": {"declaration_id": "ID", "declaration_date": "Date", "hs_code": {"column": "HS", "pad": True},
                   "origin_country": "Origin", "export_country": "From", "destination_country": {"value": "KR"},
                   "net_weight_kg": {"column": "Kg", "unit": "kg"},
                   "declared_value_usd": {"column": "Price", "currency": "KRW"}},
        "rates": {"KRW": 0.00077}, "extras": {"office": "Office"},
    }
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            doc[section] = {**doc[section], name: value}
        else:
            doc[section] = value
    return doc


@pytest.mark.parametrize("changes,message", [
    ({"fields__hs_code": {"column": "HS", "pad": 6}}, r"\[fields\] hs_code.pad must be true or false"),
    ({"fields__origin_country": {"column": "Origin", "pad": True}}, r"\[fields\] origin_country.pad applies to hs_code only"),
    ({"fields__net_weight_kg": {"column": "Kg", "unit": "stone"}}, r"\[fields\] net_weight_kg.unit must be a weight unit"),
    ({"fields__declared_value_usd": {"column": "P", "currency": "KRWX"}}, r"\[fields\] declared_value_usd.currency must be a 3-letter"),
    ({"fields__transport_mode": {"column": "M", "values": "x"}}, r"\[fields\] transport_mode.values must be a table"),
    ({"absent": "goods_description"}, r"absent must be a list of field names"),
    ({"extras__courier": 5}, r"\[extras\] courier must be a column name or a table"),
    ({"extras__courier": {"column": 5}}, r"\[extras\] courier.column must be a column name"),
    ({"rates__KRW": "abc"}, r"\[rates\] KRW: rate 'abc' must be a finite number > 0"),
    ({"rates__KRW": -1}, r"\[rates\] KRW: rate -1 must be a finite number > 0"),
    ({"rates__K1": 1.0}, r"\[rates\] K1: 'K1' is not a 3-letter currency code"),
    ({"extras__fraud_copy": "Fraud"}, r"\[extras\] fraud_copy reads the label column 'Fraud'"),
    ({"fields__exporter_id": "Fraud"}, r"\[fields\] exporter_id reads the label column"),
    ({"extras__hidden": {"column": "truth_typology"}}, r"\[extras\] hidden reads 'truth_typology'"),
])
def test_mapping_values_of_the_wrong_kind_name_the_file_and_key(changes, message):
    assert from_dict(complete(), "m.toml").rates == {"KRW": 0.00077}
    with pytest.raises(MappingError, match="m.toml: " + message):
        from_dict(complete(**changes), "m.toml")


def test_a_user_mapping_named_canonical_is_still_a_mapping():
    mapping = from_dict(complete(fields__gross_weight_kg="GrossWt"), "canonical.toml")
    raw = pd.DataFrame({c: ["1"] for c in ["ID", "Date", "HS", "Origin", "From", "Kg", "Price", "Fraud", "Office"]})
    assert mapping.name == "canonical" and not mapping.identity
    with pytest.raises(ContractError, match=r"columns \['GrossWt'\] named by mapping canonical.toml"):
        load_declarations(raw, mapping)
