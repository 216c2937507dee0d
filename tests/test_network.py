"""Network features on hand-made declarations: a seizure travels one hop along the trade graph,
new exporters are counted per declarant and per route, all as of the day before each
declaration and blind to outcomes recorded from the blind day on. The family is fitted on
January and computes later declarations (out of time), alone and in a batch, through the
few-keys path and the read-every-series path, on SQLite and on a PostgreSQL server whose text
sorts by English rules (the pairs of one owner must still be one key range)."""

import numpy as np
import pandas as pd
import pytest

from contraband.data.history import day_of, open_history
from contraband.data.history import reads as store_reads
from contraband.features import network
from contraband.features.network import NetworkHistory
from history_helpers import declarations

LOG1 = float(np.log1p(1))


def _history() -> pd.DataFrame:
    """January's trade. E1 ships to C1 on the 5th (seized; the result recorded on the 8th) and
    to C2 on the 10th. E7 ships to C10 (seized too): C10 is not C1. Declarant D9 files for three
    new exporters on the 2nd to the 4th; the Thai route sees two exporters."""
    rows = [
        {"declaration_id": "S1", "declaration_date": "2026-01-05", "exporter_id": "E1", "consignee_id": "C1"},
        {"declaration_id": "A", "declaration_date": "2026-01-10", "exporter_id": "E1", "consignee_id": "C2"},
        {"declaration_id": "S7", "declaration_date": "2026-01-06", "exporter_id": "E7", "consignee_id": "C10"},
        {"declaration_id": "D1", "declaration_date": "2026-01-02", "exporter_id": "E5", "consignee_id": "C5", "declarant_id": "D9"},
        {"declaration_id": "D2", "declaration_date": "2026-01-03", "exporter_id": "E6", "consignee_id": "C5", "declarant_id": "D9"},
        {"declaration_id": "D3", "declaration_date": "2026-01-04", "exporter_id": "E8", "consignee_id": "C5", "declarant_id": "D9"},
        {"declaration_id": "D4", "declaration_date": "2026-01-04", "exporter_id": "E5", "consignee_id": "C5", "declarant_id": "D9"},
        {"declaration_id": "T1", "declaration_date": "2026-01-12", "exporter_id": "E5", "consignee_id": "C5",
         "origin_country": "TH", "export_country": "TH"},
        {"declaration_id": "T2", "declaration_date": "2026-01-13", "exporter_id": "E6", "consignee_id": "C5",
         "origin_country": "TH", "export_country": "TH"},
    ]
    return declarations(rows)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        location = str(tmp_path / "network.db")
    else:
        location = request.getfixturevalue("postgres").database("network", icu_locale="en-US")
    history = open_history(location)
    history.ingest(_history())
    history.record_outcomes(pd.DataFrame({"declaration_id": ["S1", "S7"], "inspected": [1, 1], "contraband": [1, 1],
                                          "recorded_at": ["2026-01-08", "2026-01-08"]}))
    yield history
    history.close()


@pytest.fixture(scope="module")
def family():
    return NetworkHistory().fit(_history())


@pytest.fixture(params=["few keys", "every series"])
def read(request, monkeypatch):
    """Which way the store is read: the owners' key ranges, or every series of a kind (whose
    owners are then looked up as a large batch's are, through a pandas index)."""
    if request.param == "every series":
        monkeypatch.setattr(store_reads, "_FETCH_ALL", 1)
        monkeypatch.setattr(network, "DICT_LOOKUP", 0)
    return request.param


def _later(date: str, **fields) -> dict:
    return {"declaration_date": date, **fields}


def _features(family, history, rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(family.columns(declarations(rows), history))


def test_a_consignee_shared_with_a_seized_exporter_carries_the_seizure(family, store, read):
    rows = [_later("2026-03-02", exporter_id="E2", consignee_id="C2"),  # C2 also received from E1
            _later("2026-03-02", exporter_id="E2", consignee_id="C3"),  # C3 never did
            _later("2026-03-02", exporter_id="E1", consignee_id="C2"),  # E1 itself: not its own network
            _later("2026-03-02", exporter_id="E3", consignee_id="C1")]  # C1 received E1's seized goods
    f = _features(family, store, rows)
    assert f["consignee_network_seizures"].tolist() == [LOG1, 0.0, 0.0, LOG1]
    # E1's other consignee C1 was seized: E1's shipment to C2 carries it; E2 and E3 had no partner
    assert f["exporter_network_seizures"].tolist() == [0.0, 0.0, LOG1, 0.0]


def test_a_consignee_whose_id_extends_another_is_not_its_partner(family, store, read):
    """C10's seized exporter E7 is nothing to C1 (the key ranges end at the separator)."""
    f = _features(family, store, [_later("2026-03-02", exporter_id="E4", consignee_id="C1"),
                                  _later("2026-03-02", exporter_id="E4", consignee_id="C10")])
    assert f["consignee_network_seizures"].tolist() == [LOG1, LOG1]  # E1 for C1, E7 for C10: one each


def test_links_and_seizures_count_from_the_day_after_they_happened(family, store, read):
    dates = ["2026-01-08", "2026-01-09", "2026-01-10", "2026-01-11"]
    via_c1 = _features(family, store, [_later(d, exporter_id="E3", consignee_id="C1") for d in dates])
    # E1 -> C1 traded on the 5th, its seizure recorded on the 8th: counts from the 9th
    assert via_c1["consignee_network_seizures"].tolist() == [0.0, LOG1, LOG1, LOG1]
    via_c2 = _features(family, store, [_later(d, exporter_id="E3", consignee_id="C2") for d in dates])
    # E1 -> C2 first traded on the 10th: the link counts from the 11th
    assert via_c2["consignee_network_seizures"].tolist() == [0.0, 0.0, 0.0, LOG1]


def test_a_blind_view_does_not_see_seizures_recorded_from_its_day_on(family, store, read):
    row = [_later("2026-03-02", exporter_id="E2", consignee_id="C2")]
    assert _features(family, store.blind(day_of("2026-01-08")), row)["consignee_network_seizures"][0] == 0.0
    assert _features(family, store.blind(day_of("2026-01-09")), row)["consignee_network_seizures"][0] == LOG1


def test_a_corrected_seizure_stops_counting_from_its_correction(family, store, read):
    store.record_outcomes(pd.DataFrame({"declaration_id": ["S1"], "inspected": [1], "contraband": [0],
                                        "recorded_at": ["2026-02-01"]}))
    f = _features(family, store, [_later(d, exporter_id="E2", consignee_id="C2") for d in ("2026-01-20", "2026-03-02")])
    assert f["consignee_network_seizures"].tolist() == [LOG1, 0.0]


def test_a_declaration_scores_the_same_alone_and_in_a_batch(family, store, read):
    rows = [_later(d, exporter_id=e, consignee_id=c, declarant_id=r)
            for d in ("2026-01-09", "2026-01-11", "2026-03-02") for e, c in (("E2", "C2"), ("E1", "C2"), ("E3", "C1"))
            for r in ("D1", "D9")]
    batch = _features(family, store, rows)
    alone = pd.concat([_features(family, store, [r]) for r in rows], ignore_index=True)
    pd.testing.assert_frame_equal(batch, alone)
    shuffled = np.random.default_rng(0).permutation(len(rows))
    pd.testing.assert_frame_equal(_features(family, store, [rows[i] for i in shuffled]),
                                  batch.iloc[shuffled].reset_index(drop=True))


def test_a_declarant_filing_for_new_exporters_and_a_route_whose_exporters_churn(family, store, read):
    f = _features(family, store, [
        _later("2026-01-05", exporter_id="E2", declarant_id="D9"),
        _later("2026-04-05", exporter_id="E2", declarant_id="D9"),  # the 4th was 91 days before
        _later("2026-01-14", exporter_id="E2", origin_country="TH", export_country="TH"),
        _later("2026-01-14", exporter_id="E2", declarant_id="D2")])  # a declarant never seen
    # D9: three exporters new to it among four declarations in the 90 days before the 5th
    assert f["declarant_new_exporters_90d"].tolist()[:2] == [3.0, 0.0]
    assert f["declarant_new_exporter_share"].tolist()[0] == 0.75
    assert np.isnan(f["declarant_new_exporter_share"][1])  # nothing lodged in the window
    assert f["route_new_exporters_90d"][2] == 2.0 and f["route_new_exporter_share"][2] == 1.0
    assert f["declarant_new_exporters_90d"][3] == 0.0 and np.isnan(f["declarant_new_exporter_share"][3])


def test_an_older_store_is_upgraded_once_to_count_the_trade_graph(tmp_path):
    """A store written before the trade graph was counted gets its series rebuilt when opened."""
    from sqlalchemy import delete

    from contraband.data.history import schema as S
    from history_helpers import snapshot

    history = open_history(tmp_path / "old.db")
    history.ingest(_history())
    expected = snapshot(history)
    with history.engine.begin() as conn:  # as the previous product left it
        conn.execute(delete(S.series).where(S.series.c.kind.in_(["exporter_consignee", "declarant_exporters"])))
        conn.execute(delete(S.meta).where(S.meta.c.name == "series_version"))
    history.close()
    reopened = open_history(tmp_path / "old.db")
    assert snapshot(reopened) == expected
    assert NetworkHistory().fit(_history()).columns(
        declarations([_later("2026-01-05", exporter_id="E2", declarant_id="D9")]),
        reopened)["declarant_new_exporters_90d"][0] == 3.0
