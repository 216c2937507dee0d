"""The trader's own norm, on hand-made declarations read out of time from a real store: an
established exporter's departure from its own record, a falsified net weight seen through the
gross weight and the packages, and a persistent oddity that is not news."""

import numpy as np
import pandas as pd
import pytest

from contraband.data.history import open_history
from contraband.features.trader import TraderNorms
from history_helpers import declarations


def _history(rows: list[dict], tmp_path):
    store = open_history(tmp_path / "history.db")
    store.ingest(declarations(rows))
    return store


def _own(store, probe: dict, fit_rows: list[dict]) -> pd.Series:
    family = TraderNorms().fit(declarations(fit_rows))
    return family.transform(declarations([probe]), store).iloc[0]


def _tiles(exporter: str, n: int, kg_per_m2: float, start="2025-01-01", **extra) -> list[dict]:
    days = pd.date_range(start, periods=n, freq="D")
    return [{"declaration_id": f"{exporter}-{i}", "declaration_date": str(d.date()), "exporter_id": exporter,
             "hs_code": "690721", "goods_description": "porcelain tiles", "quantity_unit": "M2",
             "net_weight_kg": 21000.0 * (1 + 0.01 * (i % 3)), "quantity": round(21000.0 / kg_per_m2),
             "gross_weight_kg": 22260.0 * (1 + 0.01 * (i % 3)), "packages": 22.0, **extra}
            for i, d in enumerate(days)]


def test_an_established_exporter_departing_from_its_own_norm_is_seen_and_a_later_day_never_counts(tmp_path):
    past = _tiles("E1", 30, 21.0)
    later = [{**r, "declaration_id": f"later-{i}"} for i, r in enumerate(_tiles("E1", 5, 30.0, start="2025-03-01"))]
    # (heavier declarations after the probe's day: never part of its history)
    store = _history(past + later, tmp_path)
    heavy = {**past[0], "declaration_id": "P", "declaration_date": "2025-02-10", "quantity": round(21000 / 31.5)}
    usual = {**past[1], "declaration_id": "Q", "declaration_date": "2025-02-10"}
    f_heavy, f_usual = _own(store, heavy, past), _own(store, usual, past)
    assert f_heavy["exporter_hs6_prior_declarations"] == pytest.approx(np.log1p(30))
    assert f_heavy["own_kg_per_unit_share"] == 0 and f_heavy["own_kg_per_unit_excess"] > 3
    assert f_usual["own_kg_per_unit_share"] > 0.9 and abs(f_usual["own_kg_per_unit_z"]) < 1
    # the same declaration dated on the first day of the exporter's history has no own norm yet
    first = _own(store, {**heavy, "declaration_date": "2025-01-01"}, past)
    assert first["exporter_hs6_prior_declarations"] == 0 and np.isnan(first["own_kg_per_unit_z"])
    store.close()


def test_a_falsified_net_weight_shows_in_the_gross_weight_and_the_packages(tmp_path):
    past = _tiles("E1", 30, 21.0)
    store = _history(past, tmp_path)
    # the net weight and count of a usual consignment; the gross and the packages of a 30 % heavier one
    lying = {**past[0], "declaration_id": "P", "declaration_date": "2025-02-10",
             "gross_weight_kg": 22260.0 * 1.3, "packages": 22.0}
    f = _own(store, lying, past)
    assert f["own_kg_per_unit_share"] > 0.9  # the declared figures look like its others
    assert f["own_gross_to_net_share"] == 0 and f["own_gross_to_net_excess"] > 3
    assert f["own_kg_per_package_share"] == 0 and f["own_kg_per_package_excess"] > 2
    store.close()


def test_a_persistent_oddity_is_not_news(tmp_path):
    # E2 always ships dense tiles (30 kg per m2, far above the goods' usual 21); E3 ships usual ones
    dense, usual = _tiles("E2", 30, 30.0), _tiles("E3", 30, 21.0)
    store = _history(dense + usual, tmp_path)
    probe = {**dense[0], "declaration_id": "P", "declaration_date": "2025-02-10"}
    f_same = _own(store, probe, dense + usual)
    f_news = _own(store, {**probe, "exporter_id": "E3"}, dense + usual)
    assert f_same["own_kg_per_unit_share"] > 0.9 and abs(f_same["own_kg_per_unit_z"]) < 1
    assert f_news["own_kg_per_unit_share"] == 0 and f_news["own_kg_per_unit_excess"] > 3
    # a new consignee and a new HS code are news only for an exporter with a history
    assert _own(store, {**probe, "consignee_id": "C9"}, dense)["exporter_consignee_new"] == 1
    assert _own(store, {**probe, "hs_code": "220190"}, dense)["exporter_hs6_new"] == 1
    assert _own(store, {**probe, "exporter_id": "NEW", "consignee_id": "C9"}, dense)["exporter_consignee_new"] == 0
    store.close()


def test_the_norm_worked_out_a_block_of_rows_at_a_time_is_the_norm_of_all_at_once(tmp_path, monkeypatch):
    """Issue 40: the (row, bin) pairs are worked out a block of rows at a time to bound their
    memory; blocks of 3 rows give every row the figures of all rows at once."""
    import contraband.features.trader as trader

    past = _tiles("E1", 30, 21.0) + _tiles("E2", 20, 12.0) + _tiles("E3", 3, 40.0)
    store = _history(past, tmp_path)
    probes = declarations([{**r, "declaration_id": f"P{i}", "declaration_date": "2025-02-25",
                            "quantity": round(r["quantity"] * (0.8 + 0.05 * i))}
                           for i, r in enumerate(past[::4])])
    family = TraderNorms().fit(declarations(past))
    whole = family.transform(probes, store)
    monkeypatch.setattr(trader, "PAIR_ROWS", 3)
    blocks = family.transform(probes, store)
    pd.testing.assert_frame_equal(blocks, whole)
    assert whole["own_kg_per_unit_z"].notna().sum() > 5  # established exporters: figures to compare
