"""The synthetic world: deterministic, in the contract, realistic, and faithful to the timeline."""

import numpy as np
import pandas as pd
import pytest

from contraband.data import contract
from contraband.data import reference as ref
from contraband.data.load import load_declarations
from contraband.data.world import WorldConfig, generate, hard_world, write
from contraband.data.world.generate import SEA_ONLY_INCOTERMS
from contraband.data.world.smuggling import HUBS, MOTOR_PARTS, NEW_TYPOLOGY, SHIFTED_HUBS, TYPOLOGIES


def hs6(frame):
    return frame["hs_code"].astype("str").str[:6]


def usd_per_kg(frame):
    return frame["declared_value_usd"] / frame["net_weight_kg"]


def kg_per_unit(frame):
    """Kg per declared unit, for the declarations that give one (NaN where kilograms are declared)."""
    return (frame["net_weight_kg"] / frame["quantity"]).where(frame["quantity_unit"].astype(str) != "KG")


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
    assert (kg_per_unit(water[hs6(water).isin(["220190", "220110"])]).dropna() > 1.25).mean() > 0.5
    kg_high = hs6(world).map(ref.goods()["kg_per_unit_high"])
    tiles = smuggled(world, "ceramic_tiles")
    assert (kg_per_unit(tiles) > kg_high[tiles.index])[kg_per_unit(tiles).notna()].mean() > 0.5
    honest_tiles = h[hs6(h).isin(["690721", "690722", "690723"])]
    assert (kg_per_unit(honest_tiles) > kg_high[honest_tiles.index]).mean() < 0.3
    mannequins = smuggled(world, "mannequins")
    on_9618 = mannequins[hs6(mannequins) == "961800"]
    assert (kg_per_unit(on_9618).dropna() > 20).mean() > 0.3
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


def test_smugglers_documents_contradict_themselves_more_often_than_honest_ones(world):
    h, s = honest(world), smuggled(world)

    def loading_elsewhere(frame):
        return frame["port_of_loading"].astype(str).str[:2] != frame["export_country"].astype(str)

    def sea_term_off_sea(frame):
        return frame["incoterm"].astype(str).isin(SEA_ONLY_INCOTERMS) & (frame["transport_mode"].astype(str) != "sea")

    per_unit = hs6(world).map(ref.goods()["unit"]) != "KG"

    def kilograms_for_units(frame):
        return (frame["quantity_unit"].astype(str) == "KG")[per_unit[frame.index]]

    assert loading_elsewhere(h).mean() < 0.03
    assert loading_elsewhere(smuggled(world, "origin_relabel")).mean() > 5 * loading_elsewhere(h).mean()
    assert sea_term_off_sea(h).mean() < 0.03
    assert sea_term_off_sea(s).mean() > 3 * sea_term_off_sea(h).mean()
    assert kilograms_for_units(h).mean() < 0.03
    covers = s[s["truth_typology"].isin(["ceramic_tiles", "bottled_water", "mannequins"])]
    assert kilograms_for_units(covers).mean() > 0.15


@pytest.fixture(scope="module")
def shifted():
    config = WorldConfig(rows=80_000, seed=5, prevalence=0.01, shift=("hubs", "cover", "typology"),
                         shift_from="2026-03-01")
    return generate(config), pd.Timestamp(config.shift_from)


def test_a_shifted_world_changes_the_smugglers_ways_from_the_shift_day(shifted):
    world, day = shifted
    s = smuggled(world)
    before, after = s[s["declaration_date"] < day], s[s["declaration_date"] >= day]
    assert NEW_TYPOLOGY not in set(before["truth_typology"])
    new = after[after["truth_typology"] == NEW_TYPOLOGY]
    assert len(new) > 0.05 * len(after) and (hs6(new) == "284610").all()

    def hubs_used(rows):
        countries = pd.concat([rows["export_country"].astype(str), rows["origin_country"].astype(str),
                               rows["transit_countries"].dropna().astype(str)])
        return set(countries) - {"CN"}

    assert hubs_used(before) <= set(HUBS) and hubs_used(after) <= set(SHIFTED_HUBS)
    assert len(hubs_used(after)) >= 3
    mannequins = after[after["truth_typology"] == "mannequins"]
    assert (hs6(mannequins) == "392640").all()
    # values matched to the cover's norm: far fewer betray the hidden material
    norm_high = hs6(world).map(ref.goods()["usd_per_kg_high"])
    covers = s[s["truth_typology"].isin(["non_controlled", "tile_adhesive", "solder_paste"])]
    betrayed = (usd_per_kg(covers) > 3 * norm_high[covers.index]).groupby(covers["declaration_date"] >= day).mean()
    assert betrayed[True] < 0.6 * betrayed[False]


@pytest.mark.parametrize("policy", ["rules", "value", "random"])
def test_inspection_policies_pick_differently(policy):
    world = generate(WorldConfig(rows=30_000, seed=2, inspection_policy=policy))
    inspected = world["inspected"] == 1
    assert inspected.mean() == pytest.approx(0.03, rel=0.2)
    cover = hs6(world).isin(set(ref.cover_goods()["hs_code"]))
    lift = inspected[cover].mean() / inspected.mean()
    if policy == "random":
        assert lift == pytest.approx(1.0, abs=0.35)
    elif policy == "rules":
        assert lift > 2  # the legacy rules target cover goods
    else:
        value_odd = usd_per_kg(world) > 3 * hs6(world).map(ref.goods()["usd_per_kg_high"])
        assert inspected[value_odd].mean() > 5 * inspected.mean()


def test_a_shift_needs_its_day_and_known_ways():
    with pytest.raises(ValueError, match="shift_from"):
        WorldConfig(shift=("hubs",))
    with pytest.raises(ValueError, match="unknown shift"):
        WorldConfig(shift=("weather",), shift_from="2026-01-01")
    with pytest.raises(ValueError, match="inspection_policy"):
        WorldConfig(inspection_policy="psychic")


@pytest.fixture(scope="module")
def hard():
    config = hard_world(rows=150_000, seed=5, start="2025-01-01", prevalence=0.006)
    return generate(config), pd.Timestamp(config.shift_from)


def test_the_hard_setting_has_few_labels_from_weak_rules(hard):
    world, day = hard
    assert day == pd.Timestamp("2026-07-01")  # 18 months after the start
    inspected = world["inspected"] == 1
    assert inspected.mean() == pytest.approx(0.008, rel=0.15)
    caught = world.loc[inspected & (world["truth_contraband"] == 1), "contraband"]
    assert 0.5 < caught.mean() < 0.9  # an inspection finds the contraband 70 % of the time
    assert world.loc[world["declaration_date"] < day, "contraband"].fillna(0).sum() < 60


def test_hard_fronts_are_established_exporters_of_the_cover_good(hard):
    """Three quarters of the contraband comes from exporters with a long, clean record, most of
    them in the very HS code they declare it under."""
    world, _ = hard
    w = world.reset_index(drop=True)
    earlier = w.groupby("exporter_id", observed=True).cumcount()
    first = w.groupby("exporter_id", observed=True)["declaration_date"].transform("min")
    same_good = w.groupby([w["exporter_id"].astype(str), hs6(w)]).cumcount()
    s = w[w["truth_contraband"] == 1]
    established = (earlier[s.index] >= 20) & ((s["declaration_date"] - first[s.index]).dt.days >= 180)
    assert established.mean() > 0.6
    covers = s["truth_typology"].isin(["ceramic_tiles", "bottled_water", "mannequins", "solder_paste"])
    in_cover = (same_good[s.index] >= 5) & established
    assert in_cover[covers].mean() > 0.5


def test_hard_physics_is_mild_and_a_third_declare_a_normal_net_weight(hard):
    world, _ = hard
    h = honest(world)
    h = h[h.get("truth_decoy", 0) == 0]
    usual = kg_per_unit(h).groupby(hs6(h)).median()
    s = smuggled(world)
    per_unit = s[hs6(s).isin(["690721", "690722", "690723", "220190"]) & (s["quantity_unit"].astype(str) != "KG")]
    ratio = kg_per_unit(per_unit) / hs6(per_unit).map(usual)
    assert len(per_unit) >= 30 and ratio.max() < 1.6 and ratio.quantile(0.9) < 1.35  # nothing impossible
    assert ratio.median() > 1.0
    # the gross weight shows what a normal net weight hides, for about a third of them
    gross_net = world["gross_weight_kg"] / world["net_weight_kg"]
    heavy = gross_net > (gross_net[h.index]).quantile(0.99)
    hiding = s[s["truth_typology"] != "origin_relabel"]
    assert 0.12 < heavy[hiding.index].mean() < 0.5
    assert heavy[smuggled(world, "origin_relabel").index].mean() < 0.05


def test_hard_decoys_are_ten_times_the_contraband_and_mostly_persistent(hard):
    """Honest oddities of the cover goods, mostly an exporter's own product every time."""
    from contraband.data.world.decoys import decoy_codes

    world, _ = hard
    decoy = world["truth_decoy"] == 1
    assert not (decoy & (world["truth_contraband"] == 1)).any()
    under = (world["truth_contraband"] == 1) & hs6(world).isin(decoy_codes())
    assert decoy.sum() == pytest.approx(10 * under.sum(), rel=0.15)
    lines = world[hs6(world).isin(decoy_codes())].groupby([world["exporter_id"].astype(str), hs6(world)])
    always = lines["truth_decoy"].transform("mean") == 1
    assert always[decoy].mean() > 0.7
    water = world[hs6(world) == "220190"]
    odd = kg_per_unit(water[water["truth_decoy"] == 1]) / kg_per_unit(water[water["truth_decoy"] == 0]).median()
    assert odd.median() > 1.1
    # a default world has none
    assert "truth_decoy" not in generate(WorldConfig(rows=5_000, seed=1))


def test_hard_drift_brings_two_new_typologies_after_the_shift(hard):
    world, day = hard
    s = smuggled(world)
    before, after = s[s["declaration_date"] < day], s[s["declaration_date"] >= day]
    new = after["truth_typology"].isin([NEW_TYPOLOGY, MOTOR_PARTS])
    assert not before["truth_typology"].isin([NEW_TYPOLOGY, MOTOR_PARTS]).any()
    assert 0.25 < new.mean() < 0.45
    motor = after[after["truth_typology"] == MOTOR_PARTS]
    assert len(motor) > 20 and hs6(motor).isin(["850300", "850519"]).all()


def test_the_family_draws_each_seed_s_mechanics_within_their_ranges_and_keeps_its_halves_apart():
    from contraband.data.world.family import HELD_BACK_SEEDS, RANGES, TUNING_SEEDS, family_mechanics, family_world

    assert not set(TUNING_SEEDS) & set(HELD_BACK_SEEDS) and len(TUNING_SEEDS) >= 12 <= len(HELD_BACK_SEEDS)
    drawn = {seed: family_mechanics(seed) for seed in TUNING_SEEDS + HELD_BACK_SEEDS}
    for seed, mechanics in drawn.items():
        assert mechanics == family_mechanics(seed)  # a seed is its world
        config = family_world(seed, rows=50_000)
        assert (config.shift_from is not None) == bool(config.shift)
        for name, (kind, *args) in RANGES.items():
            value = mechanics[name]
            if kind in ("uniform", "log"):
                assert args[0] <= value <= args[1], (seed, name, value)
            elif kind == "choice":
                assert value in args
    # the family varies what matters: labels, fronts, physics, drift
    tuning = [drawn[s] for s in TUNING_SEEDS]
    assert len({m["inspection_policy"] for m in tuning}) >= 2 and len({m["physics"] for m in tuning}) == 2
    assert max(m["front_share"] for m in tuning) - min(m["front_share"] for m in tuning) > 0.3
    assert any(m["shift"] for m in tuning) and len({m["shift"] for m in tuning}) >= 3


def test_the_physics_strength_and_the_normal_net_share_shape_the_contraband():
    def world(**mechanics):
        w = generate(hard_world(rows=80_000, seed=3, start="2025-01-01", prevalence=0.008, decoys=0.0, **mechanics))
        s = smuggled(w)
        per_unit = s[hs6(s).isin(["690721", "690722", "690723", "220190"]) & (s["quantity_unit"].astype(str) != "KG")]
        h = honest(w)
        usual = kg_per_unit(h).groupby(hs6(h)).median()
        excess = (kg_per_unit(per_unit) / hs6(per_unit).map(usual)).median()
        gross_net = w["gross_weight_kg"] / w["net_weight_kg"]
        hiding = s[s["truth_typology"] != "origin_relabel"]
        heavy = (gross_net[hiding.index] > gross_net[h.index].quantile(0.99)).mean()
        return excess, heavy

    weak, strong = world(physics_strength=0.5), world(physics_strength=1.5)
    assert 1.0 < weak[0] < strong[0]  # a heavier load shows more per unit
    few, many = world(normal_net_share=0.05), world(normal_net_share=0.8)
    assert few[1] < 0.1 < 0.4 < many[1]  # a normal net weight declared: the gross weight shows the load
    with pytest.raises(ValueError, match="physics_strength"):
        WorldConfig(physics_strength=0)


def test_any_seed_of_the_family_is_a_valid_world_within_the_ranges():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from contraband.data.world.config import SHIFTS
    from contraband.data.world.family import RANGES, family_world

    @settings(max_examples=300, deadline=None)
    @given(st.integers(0, 2**32 - 1))
    def check(seed):
        config = family_world(seed, rows=10_000)  # WorldConfig checks every value
        for name, (kind, *args) in RANGES.items():
            value = getattr(config, name)
            if kind in ("uniform", "log"):
                assert args[0] * 0.999 <= value <= args[1] * 1.001, (name, value)
            elif kind == "choice":
                assert value in args
            elif kind == "subset":
                assert set(value) <= set(SHIFTS)
        assert (config.shift_day is None) == (not config.shift)

    check()
