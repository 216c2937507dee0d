"""Domain reference tables: consistent with each other, with HS 2022 and with the timeline."""

import pandas as pd
import pytest

from contraband.data import reference as ref


def test_goods_table_covers_controlled_cover_and_background_goods():
    goods = ref.goods()
    assert goods["hs_code"].is_unique and goods["hs_code"].str.fullmatch(r"\d{6}").all()
    roles = goods["role"].value_counts()
    assert roles["background"] >= 150 and roles["controlled"] >= 20 and roles["cover"] >= 15
    chapters = goods.loc[goods["role"] == "background", "hs_code"].str[:2]
    assert chapters.nunique() >= 30
    weights = goods.groupby(goods["hs_code"].str[:2])["trade_weight"].sum().sort_values(ascending=False)
    assert set(weights.index[:3]) <= {"84", "85", "39", "94", "61", "95", "38"}  # what dominates these routes


def test_goods_descriptions_are_the_hs_2022_nomenclature():
    goods = ref.goods()
    descriptions = ref.hs_descriptions()
    mismatched = [c for c, d in zip(goods["hs_code"], goods["hs_description"]) if descriptions.get(c) != d]
    assert not mismatched
    assert ref.hs_description("3810100000").startswith("Pickling preparations")
    assert ref.hs_description("77000000") is None  # chapter 77 is reserved in HS 2022


def test_unit_value_and_unit_weight_ranges_are_well_formed():
    goods = ref.goods()
    assert (goods["usd_per_kg_low"] > 0).all() and (goods["usd_per_kg_low"] < goods["usd_per_kg_high"]).all()
    per_unit = goods["unit"] != "KG"
    assert goods.loc[per_unit, ["kg_per_unit_low", "kg_per_unit_high"]].notna().all().all()
    assert goods.loc[~per_unit, ["kg_per_unit_low", "kg_per_unit_high"]].isna().all().all()
    assert goods.loc["690721", "unit"] == "M2" and goods.loc["220190", "unit"] == "L"
    assert goods.loc["961800", "unit"] == "PCS"
    # figures from the domain facts
    assert goods.loc["381010", ["usd_per_kg_low", "usd_per_kg_high"]].tolist() == [60, 150]
    assert goods.loc["690721", ["usd_per_kg_low", "usd_per_kg_high"]].tolist() == [0.28, 0.83]


def test_every_material_and_cover_code_is_a_known_good():
    goods = ref.goods()
    assert set(ref.controlled_materials()["hs_code"]) <= set(goods.index)
    assert set(ref.cover_goods()["hs_code"]) <= set(goods.index)
    named = set(";".join(ref.cover_goods()["materials"]).split(";"))
    assert named <= set(ref.controlled_materials().index)
    assert set(ref.controlled_materials()["measure_id"]) <= set(ref.control_timeline().index)
    typologies = set(ref.cover_goods()["typology"])
    assert typologies == {"solder_paste", "ceramic_tiles", "tile_adhesive", "mannequins", "bottled_water",
                          "non_controlled", "origin_relabel"}


def test_control_timeline_effective_and_suspension_dates():
    assert ref.control_date("Dy2O3") == pd.Timestamp("2025-04-04")
    assert ref.control_date("gallium") == pd.Timestamp("2023-08-01")
    dates = pd.to_datetime(["2025-04-03", "2025-04-04", "2026-11-09", "2026-12-01"])
    assert ref.material_controlled("Tb4O7", dates).tolist() == [False, True, True, True]
    # the October 2025 measures were suspended on 7 November 2025 until 10 November 2026
    dates = pd.to_datetime(["2025-10-08", "2025-10-09", "2025-11-06", "2025-11-07", "2026-11-10"])
    assert ref.material_controlled("Ho2O3", dates).tolist() == [False, True, True, False, True]


def test_countries_and_ports():
    countries = ref.countries()
    assert set(ref.hub_countries()) == {"TH", "MX", "VN", "MY", "HK"}
    assert countries.loc[["TH", "MY"], "re_producer"].tolist() == [1, 1]
    ports = ref.ports()
    assert ports["port"].is_unique and set(ports["country"]) <= set(countries.index)
    for hub in ref.hub_countries():
        assert (ports["country"] == hub).any(), hub


@pytest.mark.parametrize("code", ["381010", "690721", "961800", "220190", "750400", "850511", "284690"])
def test_cover_and_controlled_codes_have_typical_transport(code):
    modes = set(ref.goods().loc[code, "transport"].split(";"))
    assert modes <= {"sea", "air", "road", "rail", "post", "courier"} and modes
