"""Evidence that needs no label, on hand-made declarations: deviations from the goods' norms and
documents that contradict themselves. Each family is fitted on a training window and computes
features of later declarations (out of time), one declaration alone as in a batch."""

import numpy as np
import pandas as pd
import pytest

from contraband.features.consistency import ConsistencyFeatures, locode_country
from contraband.features.deviation import DeviationFeatures
from history_helpers import declarations


def _training_window() -> pd.DataFrame:
    """January: 60 declarations of bottled water (about 1.0 kg per litre, 0.3 USD/kg) and 60 of
    porcelain tiles (about 22 kg per m2, 0.5 USD/kg), by sea, FOB, loaded in China."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        litres = float(rng.integers(5_000, 20_000))
        kg = round(litres * rng.uniform(0.98, 1.04), 1)
        rows.append({"hs_code": "220190", "goods_description": "drinking water", "quantity": litres,
                     "quantity_unit": "L", "net_weight_kg": kg, "gross_weight_kg": kg * rng.uniform(1.05, 1.1),
                     "packages": max(1.0, round(kg / 600)), "declared_value_usd": round(kg * rng.uniform(0.25, 0.35), 2)})
        m2 = float(rng.integers(300, 900))
        kg = round(m2 * rng.uniform(21, 23), 1)
        rows.append({"hs_code": "690721", "goods_description": "porcelain tile", "quantity": m2,
                     "quantity_unit": "M2", "net_weight_kg": kg, "gross_weight_kg": kg * rng.uniform(1.05, 1.1),
                     "packages": max(1.0, round(kg / 700)), "declared_value_usd": round(kg * rng.uniform(0.45, 0.55), 2)})
    frame = declarations([{**r, "declaration_date": f"2026-01-{1 + i % 28:02d}", "transport_mode": "sea",
                           "incoterm": "FOB", "port_of_loading": "CNSHA", "port_of_discharge": "USLAX"}
                          for i, r in enumerate(rows)])
    return frame


@pytest.fixture(scope="module")
def deviation():
    return DeviationFeatures().fit(_training_window())


@pytest.fixture(scope="module")
def consistency():
    return ConsistencyFeatures().fit(_training_window())


def _later(**fields) -> pd.DataFrame:
    """One March declaration of ordinary bottled water, with ``fields`` changed."""
    base = {"declaration_date": "2026-03-02", "hs_code": "220190", "goods_description": "drinking water",
            "quantity": 10_000.0, "quantity_unit": "L", "net_weight_kg": 10_100.0, "gross_weight_kg": 10_800.0,
            "packages": 17.0, "declared_value_usd": 3_030.0, "transport_mode": "sea", "incoterm": "FOB",
            "port_of_loading": "CNSHA", "port_of_discharge": "USLAX"}
    return declarations([{**base, **fields}])


def _one(family, **fields) -> dict:
    return {k: float(v[0]) for k, v in family.columns(_later(**fields)).items()}


def test_ordinary_declaration_deviates_from_nothing(deviation):
    f = _one(deviation)
    assert all(abs(f[name]) < 3 for name in ("value_z", "unit_value_z", "kg_per_unit_z", "gross_to_net_z"))
    assert f["deviation_score"] == 0.0


def test_water_at_1_6_kg_per_litre_is_far_outside_waters_own_spread(deviation):
    f = _one(deviation, net_weight_kg=16_000.0, gross_weight_kg=17_000.0, declared_value_usd=4_800.0)
    assert f["kg_per_unit_z"] > 5  # water's weight per litre hardly varies
    assert abs(f["value_z"]) < 3  # declared at water's price per kg
    assert f["deviation_score"] > 5


def test_declared_value_betraying_hidden_oxide_is_an_outlier_for_water(deviation):
    f = _one(deviation, declared_value_usd=10_100.0 * 40)  # 40 USD/kg for water
    assert f["value_z"] > 10
    assert f["deviation_score"] > 0


def test_an_unseen_hs_code_backs_off_to_all_goods_not_to_nothing(deviation):
    f = _one(deviation, hs_code="961800", quantity_unit="PCS", quantity=100.0, net_weight_kg=1_000.0,
             gross_weight_kg=1_100.0, declared_value_usd=8_000.0)
    assert np.isfinite(f["value_z"])  # HS 9618 never seen: measured against every declaration
    assert np.isnan(f["kg_per_unit_z"])  # no piece-goods norm at all in the window: no evidence


def test_deviations_of_a_declaration_do_not_depend_on_the_others_in_the_request(deviation):
    alone = deviation.transform(_later(net_weight_kg=16_000.0))
    batch = pd.concat([_later(), _later(net_weight_kg=16_000.0), _later(declared_value_usd=1e6)], ignore_index=True)
    pd.testing.assert_frame_equal(deviation.transform(batch).iloc[[1]].reset_index(drop=True), alone)


def test_locode_country_reads_un_locodes_only():
    assert locode_country("CNSHA") == "CN"
    assert locode_country("th bkk") == "TH"
    assert locode_country("Shanghai") is None
    assert locode_country("") is None


@pytest.mark.parametrize("fields, expected", [
    ({}, {"loading_port_not_export": 0, "loading_port_unstated": 0, "loading_port_in_transit": 0}),
    # "exported from Thailand", Thai origin, loaded at Shanghai: the documents contradict themselves
    ({"export_country": "TH", "origin_country": "TH"},
     {"loading_port_not_export": 1, "loading_port_unstated": 1, "loading_port_in_transit": 0}),
    # exported from China through Thailand, but loaded in Thailand
    ({"transit_countries": "VN;TH", "port_of_loading": "THLCH"},
     {"loading_port_not_export": 1, "loading_port_unstated": 0, "loading_port_in_transit": 1}),
    # a Thai-origin good re-exported from China: the port fits the export country
    ({"origin_country": "TH"}, {"loading_port_not_export": 0, "loading_port_unstated": 0}),
])
def test_port_of_loading_against_the_declared_countries(consistency, fields, expected):
    f = _one(consistency, **fields)
    assert {k: f[k] for k in expected} == expected


@pytest.mark.parametrize("port", [None, "Shanghai"])
def test_a_missing_or_unreadable_port_is_no_contradiction(consistency, port):
    f = _one(consistency, port_of_loading=port)
    assert np.isnan(f["loading_port_not_export"]) and np.isnan(f["loading_port_unstated"])


def test_port_of_discharge_against_the_destination(consistency):
    assert _one(consistency)["discharge_port_not_destination"] == 0
    assert _one(consistency, port_of_discharge="MXZLO")["discharge_port_not_destination"] == 1


@pytest.mark.parametrize("incoterm, mode, expected", [
    ("FOB", "sea", 0), ("CIF", "sea", 0), ("FCA", "air", 0), ("DAP", "courier", 0),
    ("FOB", "air", 1), ("CIF", "courier", 1), ("CFR", "post", 1), ("FOB", None, None),
])
def test_incoterm_against_the_transport_mode(consistency, incoterm, mode, expected):
    f = _one(consistency, incoterm=incoterm, transport_mode=mode)
    assert (np.isnan(f["incoterm_mode_misfit"]) if expected is None else f["incoterm_mode_misfit"] == expected)


@pytest.mark.parametrize("hs_code, unit, expected", [
    ("220190", "L", 0), ("220190", "KG", 1),  # water's unit learned from the window
    ("690721", "M2", 0), ("690721", "KG", 1),  # tiles in kilograms hide the weight per m2
    ("961800", "PCS", 0), ("961800", "KG", 1),  # mannequins: the reference table's unit
    ("999999", "KG", None),  # a code nobody knows: no expectation
])
def test_quantity_unit_against_the_goods(consistency, hs_code, unit, expected):
    f = _one(consistency, hs_code=hs_code, quantity_unit=unit)
    assert (np.isnan(f["unit_misfit"]) if expected is None else f["unit_misfit"] == expected)


def test_checks_whose_columns_the_data_lacks_switch_off():
    window = _training_window().drop(columns=["port_of_loading", "port_of_discharge", "incoterm"])
    fam = ConsistencyFeatures().fit(window)
    assert fam.feature_names_out_ == ["unit_misfit"]
