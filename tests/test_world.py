"""The synthetic world: deterministic, in the contract, realistic, and faithful to the timeline."""

import numpy as np
import pandas as pd
import pytest

from contraband.data import contract
from contraband.data import reference as ref
from contraband.data.load import load_declarations
from contraband.data.world import WorldConfig, generate, write
from contraband.data.world.smuggling import TYPOLOGIES


def hs6(frame):
    return frame["hs_code"].astype("str").str[:6]


def usd_per_kg(frame):
    return frame["declared_value_usd"] / frame["net_weight_kg"]


def kg_per_unit(frame):
    return frame["net_weight_kg"] / frame["quantity"]


def smuggled(world, typology=None):
    rows = world[world["truth_contraband"] == 1]
    return rows if typology is None else rows[rows["truth_typology"] == typology]


def honest(world):
    return world[world["truth_contraband"] == 0]


def test_same_seed_same_world_other_seed_other_world():
    config = WorldConfig(rows=20_000, seed=11)
    a, b = generate(config), generate(config)
    pd.testing.assert_frame_equal(a, b)
    c = generate(WorldConfig(rows=20_000, seed=12))
    assert not a["declared_value_usd"].equals(c["declared_value_usd"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_world_written_and_read_back_through_the_contract(world, tmp_path, suffix):
    sample = world.iloc[::20]
    path = write(sample, tmp_path / f"world{suffix}")
    result = load_declarations(path, mode="strict")
    assert len(result.declarations) == len(sample)
    d = result.declarations
    assert d["hs_code"].str.fullmatch(r"\d{6,10}").all()
    np.testing.assert_allclose(d["declared_value_usd"].to_numpy(), sample["declared_value_usd"].to_numpy())
    assert {"truth_contraband", "truth_typology", "truth_material"} <= set(d.columns)


def test_columns_are_contract_fields_or_clearly_separated_truth(world):
    others = [c for c in world.columns if c not in contract.FIELD_BY_NAME]
    assert others and all(contract.is_truth_column(c) for c in others)
    assert not set(others) & set(contract.FEATURE_FIELDS)


def test_median_unit_value_of_each_hs_code_is_inside_its_reference_range(world):
    goods = ref.goods()
    per_code = pd.DataFrame({"hs6": hs6(world), "usd_kg": usd_per_kg(world)}).groupby("hs6")["usd_kg"].agg(["median", "size"])
    per_code = per_code[per_code["size"] >= 100].join(goods[["usd_per_kg_low", "usd_per_kg_high"]])
    assert len(per_code) > 150
    outside = per_code[(per_code["median"] < per_code["usd_per_kg_low"]) | (per_code["median"] > per_code["usd_per_kg_high"])]
    assert outside.empty, outside


def test_unit_values_have_long_tails_and_legitimate_outliers(world):
    h = honest(world)
    ratio = usd_per_kg(h) / hs6(h).map(ref.goods()["usd_per_kg_high"])
    assert (ratio > 5).sum() > 50  # honest declarations far above the norm exist
    weights = h["net_weight_kg"]
    assert weights.quantile(0.99) / weights.median() > 20


def test_base_rate_and_inspection_share(world, world_config):
    assert world["truth_contraband"].sum() == round(world_config.prevalence * world_config.rows)
    assert world["truth_contraband"].mean() < 0.01
    assert world["inspected"].mean() == pytest.approx(world_config.inspection_rate, rel=0.1)
    low_prevalence = generate(WorldConfig(rows=20_000, seed=1, prevalence=0.001))
    assert low_prevalence["truth_contraband"].mean() == pytest.approx(0.001)


def test_labels_are_selective_and_come_from_inspections_only(world):
    inspected = world["inspected"] == 1
    assert world.loc[~inspected, "contraband"].isna().all()
    assert world.loc[inspected, "contraband"].notna().all()
    found = world["contraband"] == 1
    assert (world.loc[found, "truth_contraband"] == 1).all()
    assert (world.loc[found, "seized_value_usd"] > 0).all()
    # the policy targets risk: inspected rows carry contraband far more often than the base rate
    assert world.loc[inspected, "truth_contraband"].mean() > 3 * world["truth_contraband"].mean()
    # but it misses most of it: labels only cover part of the contraband
    assert world.loc[world["truth_contraband"] == 1, "inspected"].mean() < 0.6


def test_every_typology_appears_after_its_materials_control_date(world):
    s = smuggled(world)
    assert set(s["truth_typology"]) == set(TYPOLOGIES)
    for material, rows in s.groupby("truth_material", observed=True):
        assert (rows["declaration_date"] >= ref.control_date(material)).all(), material
        assert ref.material_controlled(material, rows["declaration_date"]).all(), material


def test_smuggling_follows_the_timeline(world):
    s = smuggled(world)
    rare_earths = ref.controlled_materials().query("measure_id == 're7_2025'").index
    re_rows = s[s["truth_material"].isin(rare_earths)]
    control = pd.Timestamp("2025-04-04")
    assert (re_rows["declaration_date"] >= control).all()
    assert len(re_rows) > 0.4 * len(s)
    before = s[(s["declaration_date"] >= control - pd.DateOffset(months=5)) & (s["declaration_date"] < control)]
    after = s[(s["declaration_date"] >= control + pd.DateOffset(months=1)) & (s["declaration_date"] < control + pd.DateOffset(months=6))]
    assert len(after) > 2 * len(before)
    suspended = ref.controlled_materials().query("measure_id == 're5_2025'").index
    rows = s[s["truth_material"].isin(suspended)]
    assert rows["declaration_date"].between("2025-10-09", "2025-11-06").all()


def test_each_typology_leaves_its_physical_and_commercial_fingerprints(world):
    h = honest(world)
    water = smuggled(world, "bottled_water")
    honest_water = h[hs6(h) == "220190"]
    assert kg_per_unit(honest_water).median() == pytest.approx(1.02, abs=0.03)
    assert (kg_per_unit(water[hs6(water).isin(["220190", "220110"])]) > 1.25).mean() > 0.5
    kg_high = hs6(world).map(ref.goods()["kg_per_unit_high"])
    tiles = smuggled(world, "ceramic_tiles")
    assert (kg_per_unit(tiles) > kg_high[tiles.index]).mean() > 0.5
    honest_tiles = h[hs6(h).isin(["690721", "690722", "690723"])]
    assert (kg_per_unit(honest_tiles) > kg_high[honest_tiles.index]).mean() < 0.3
    mannequins = smuggled(world, "mannequins")
    on_9618 = mannequins[hs6(mannequins) == "961800"]
    assert (kg_per_unit(on_9618) > 20).mean() > 0.4
    norm_high = hs6(world).map(ref.goods()["usd_per_kg_high"])
    for typ, factor in (("non_controlled", 3), ("tile_adhesive", 3), ("solder_paste", 1)):
        rows = smuggled(world, typ)
        assert (usd_per_kg(rows) > factor * norm_high[rows.index]).mean() > 0.3, typ
    relabel = smuggled(world, "origin_relabel")
    hubs = set(ref.hub_countries())
    assert (relabel["origin_country"].astype(str).isin(hubs)).mean() > 0.6
    assert (relabel["origin_country"].astype(str) != relabel["export_country"].astype(str)).mean() > 0.15
    courier = smuggled(world, "solder_paste")["transport_mode"].isin(["courier", "post", "air"]).mean()
    assert courier > 0.8


def test_smugglers_are_new_and_linked_entities(world):
    first_seen = world.groupby("exporter_id", observed=True)["declaration_date"].transform("min")
    new = (world["declaration_date"] - first_seen).dt.days < 90
    settled = world["declaration_date"] >= world["declaration_date"].min() + pd.Timedelta(days=180)
    truth = world["truth_contraband"] == 1
    assert new[settled & truth].mean() > 3 * new[settled & ~truth].mean()
    s = smuggled(world)
    exporters_per_consignee = s.groupby("consignee_id", observed=True)["exporter_id"].nunique()
    assert (exporters_per_consignee >= 2).sum() >= 5  # shells reappear under new names, same consignees


def test_legitimate_look_alikes_drown_simple_rules(world):
    h = honest(world)
    codes = hs6(world)
    cover = codes.isin(set(ref.cover_goods()["hs_code"]))
    hub = world["export_country"].astype(str).isin(ref.hub_countries()) | world["transit_countries"].notna()
    rule = cover & hub
    assert world.loc[rule, "truth_contraband"].mean() < 0.1  # the rule's precision is poor
    assert (h["export_country"].astype(str).isin(["TH", "MY"]) & hs6(h).isin(["284690", "280530", "850511"])).sum() > 0
    assert (hs6(h) == "381010").sum() > 3 * (hs6(smuggled(world)) == "381010").sum()
    heavy_tiles = h[hs6(h).isin(["690721", "690722"]) & (kg_per_unit(h) > 26)]
    assert len(heavy_tiles) > 20
    assert (h["transport_mode"] == "courier").sum() > 10 * (smuggled(world)["transport_mode"] == "courier").sum()
    mx_routes = h[(h["export_country"] == "MX") | h["transit_countries"].astype(str).str.contains("MX")]
    assert len(mx_routes) > 100


def test_trade_has_seasonality(world):
    by_month = world.groupby(world["declaration_date"].dt.month).size()
    assert by_month[2] < 0.8 * by_month[8]  # Chinese New Year against the peak season
