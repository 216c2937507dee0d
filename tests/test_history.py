"""The history store: idempotent ingest, outcome versions, as-of counts, and real processes
writing at once. Every test ends by checking the series against a rebuild from the stored
declarations and outcomes. Each store test runs on SQLite and on a real PostgreSQL server."""

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from contraband.data.history import open_history
from history_helpers import clone, counts, declarations, snapshot


@pytest.fixture()
def store(history_location):
    s = open_history(history_location("history"))
    yield s
    s.close()


def _meta(store, name: str):
    from sqlalchemy import select

    from contraband.data.history import schema as S

    with store.engine.connect() as conn:
        return conn.execute(select(S.meta.c.value).where(S.meta.c.name == name)).scalar()


def consistent(store) -> bool:
    before = snapshot(store)
    store.rebuild()
    return snapshot(store) == before


def test_a_declaration_counts_from_the_next_day_and_re_sending_it_changes_nothing(store):
    frame = declarations([{"declaration_id": "A", "declaration_date": "2025-03-01"},
                          {"declaration_id": "B", "declaration_date": "2025-03-01", "exporter_id": "E2"},
                          {"declaration_id": "C", "declaration_date": "2025-03-04"}])
    first = store.ingest(frame)
    assert (first.new, first.amended, first.unchanged) == (3, 0, 0)
    assert counts(store, "exporter", "E1", "2025-03-01") == (0, 0, 0)  # same day: not history yet
    assert counts(store, "exporter", "E1", "2025-03-02") == (1, 0, 0)
    assert counts(store, "exporter", "E1", "2025-03-05") == (2, 0, 0)
    assert counts(store, "hs6", "381010", "2025-03-02") == (2, 0, 0)
    state = snapshot(store)
    again = store.ingest(frame.sample(frac=1, random_state=1))
    assert (again.new, again.amended, again.unchanged) == (0, 0, 3)
    assert snapshot(store) == state and store.summary()["declarations"] == 3
    assert consistent(store)


def test_an_amendment_is_a_new_version_that_counts_from_the_day_it_arrives(store):
    from contraband.data.history import day_of

    store.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-03-01"},
                               {"declaration_id": "B", "declaration_date": "2025-03-02"}]), source="first file")
    before = {day: counts(store, "exporter", "E1", day) for day in ("2025-03-10", "2025-06-01")}
    amended = declarations([{"declaration_id": "B", "declaration_date": "2025-03-03", "exporter_id": "E9",
                             "hs_code": "690721"}])
    report = store.ingest(amended, source="api:k1", recorded_at="2025-06-01T09:30")
    assert (report.new, report.amended, report.unchanged) == (0, 1, 0) and report.refused.empty
    # the past stays as it was: up to the day the amendment arrived, B is E1's
    assert {day: counts(store, "exporter", "E1", day) for day in before} == before == {
        "2025-03-10": (2, 0, 0), "2025-06-01": (2, 0, 0)}
    assert counts(store, "exporter", "E9", "2025-06-01") == (0, 0, 0)
    # from the next day on, the amended version counts instead
    assert counts(store, "exporter", "E1", "2025-06-02") == (1, 0, 0)
    assert counts(store, "exporter", "E9", "2025-06-02") == (1, 0, 0)
    assert counts(store, "exporter_hs4s", "E9", "2025-06-02")[0] == 1
    assert counts(store, "exporter_hs4s", "E9", "2025-05-31")[0] == 0
    current = store.declarations().set_index("declaration_id")
    assert current.loc["B", "hs_code"] == "690721" and str(current.loc["B", "declaration_date"].date()) == "2025-03-03"
    then = store.declarations(as_of=day_of("2025-05-01")).set_index("declaration_id")
    assert then.loc["B", "hs_code"] == "381010" and then.loc["B", "exporter_id"] == "E1"
    versions = store.declaration_versions("B")
    assert [(v["version"], v["sent_by"], v["counts_from"], v["current"]) for v in versions] == [
        (1, "first file", "2025-03-02", False), (2, "api:k1", "2025-06-01", True)]
    assert versions[0]["declaration"]["exporter_id"] == "E1" and versions[1]["declaration"]["exporter_id"] == "E9"
    # the same amendment sent again changes nothing; the first copy sent again is a third version
    assert store.ingest(amended, recorded_at="2025-06-05").unchanged == 1
    assert store.ingest(declarations([{"declaration_id": "B", "declaration_date": "2025-03-02"}]),
                        recorded_at="2025-07-01").amended == 1
    assert counts(store, "exporter", "E1", "2025-07-02") == (2, 0, 0)
    assert counts(store, "exporter", "E9", "2025-07-02") == (0, 0, 0)
    assert len(store.declaration_versions("B")) == 3
    assert consistent(store)


def test_an_inspected_declaration_is_not_amended_through_scoring_only_by_an_admin(store):
    store.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-06-10", "exporter_id": "EXS"},
                               {"declaration_id": "B", "declaration_date": "2025-06-11", "exporter_id": "EXS"}]))
    store.record_outcomes(pd.DataFrame({"declaration_id": ["A"], "inspected": [1], "contraband": [1],
                                        "recorded_at": ["2025-06-20"]}))
    state = snapshot(store)
    assert counts(store, "exporter", "EXS", "2026-12-01") == (2, 1, 1)
    cleared = declarations([
        {"declaration_id": "A", "declaration_date": "2026-11-25", "exporter_id": "EXCLEAN01",
         "goods_description": "wooden furniture", "hs_code": "940360", "origin_country": "VN"},
        {"declaration_id": "C", "declaration_date": "2026-11-25", "exporter_id": "EXCLEAN01"}])
    report = store.ingest(cleared, source="api:analyst")
    assert (report.new, report.amended) == (1, 0)
    assert report.refused["declaration_id"].tolist() == ["A"]
    assert "recorded inspection" in report.refused["reason"].iloc[0]
    assert counts(store, "exporter", "EXS", "2026-12-01") == (2, 1, 1)  # the seized exporter keeps its record
    assert snapshot(store)["exporter"] == [*state["exporter"][:1], ("EXCLEAN01", [9460], [[1, 0, 0]])] or \
        counts(store, "exporter", "EXCLEAN01", "2026-12-01") == (1, 0, 0)
    assert store.declarations(ids=["A"]).loc[0, "exporter_id"] == "EXS"
    # an admin can amend it, with a reason, and the amendment counts from its own day only
    with pytest.raises(ValueError, match="who makes it and why"):
        store.amend(cleared.iloc[:1], by="lead", reason=" ")
    admin = store.amend(cleared.iloc[:1], by="lead analyst", reason="exporter id keyed wrongly",
                        recorded_at="2026-11-30")
    assert admin.amended == 1 and admin.refused.empty
    assert counts(store, "exporter", "EXS", "2026-11-30") == (2, 1, 1)
    assert counts(store, "exporter", "EXS", "2026-12-01") == (1, 0, 0)
    assert counts(store, "exporter", "EXCLEAN01", "2026-12-01") == (2, 1, 1)
    audit = store.declaration_versions("A")[-1]
    assert (audit["sent_by"], audit["note"], audit["version"]) == ("amend:lead analyst", "exporter id keyed wrongly", 2)
    assert consistent(store)


def test_outcomes_count_from_their_record_day_and_pending_ones_never_count_as_clean(store):
    store.ingest(declarations([{"declaration_id": d, "declaration_date": "2025-03-01"} for d in "ABC"]))
    report = store.record_outcomes(pd.DataFrame({
        "declaration_id": ["A", "B", "C"], "inspected": [1, 1, 1], "contraband": [1, 0, None],
        "recorded_at": ["2025-03-05T10:00", "2025-03-05T11:00", "2025-03-05T12:00"]}))
    assert report.recorded == 3 and report.rejected.empty
    assert counts(store, "exporter", "E1", "2025-03-05") == (3, 0, 0)  # recorded that day: not yet
    # from the next day: two results known (one seizure); the pending inspection is neither
    assert counts(store, "exporter", "E1", "2025-03-06") == (3, 2, 1)
    assert counts(store, "exporter_route", "E1\x1fCN>CN>>US", "2025-03-06") == (3, 0, 0)  # pairs: declarations only
    assert consistent(store)


def test_a_correction_is_a_new_version_and_counts_from_its_own_day(store):
    store.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-03-01"}]))
    store.record_outcomes(pd.DataFrame({"declaration_id": ["A"], "inspected": [1], "contraband": [0],
                                        "recorded_at": ["2025-03-02"]}))
    store.record_outcomes(pd.DataFrame({"declaration_id": ["A"], "inspected": [1], "contraband": [1],
                                        "note": ["lab: dysprosium oxide"], "recorded_at": ["2025-03-10"]}))
    assert counts(store, "consignee", "C1", "2025-03-05") == (1, 1, 0)  # the first result, clean
    assert counts(store, "consignee", "C1", "2025-03-11") == (1, 1, 1)  # the correction: seized
    history = store.outcomes(all_versions=True)
    assert history["contraband"].tolist() == [0, 1]
    current = store.outcomes()
    assert len(current) == 1 and current.loc[0, "note"] == "lab: dysprosium oxide"
    # the same correction sent again is no new version
    store.record_outcomes(pd.DataFrame({"declaration_id": ["A"], "inspected": [1], "contraband": [1],
                                        "note": ["lab: dysprosium oxide"], "recorded_at": ["2025-03-10"]}))
    assert len(store.outcomes(all_versions=True)) == 2
    assert consistent(store)


def test_a_resent_result_adds_no_version_and_training_labels_are_the_current_results(store):
    store.ingest(declarations([{"declaration_id": d, "declaration_date": "2025-03-01"} for d in "ABC"]))
    first = store.record_outcomes(pd.DataFrame({"declaration_id": ["A", "B"], "inspected": [1, 1],
                                                "contraband": [0, None], "recorded_at": ["2025-03-02", "2025-03-02"]}))
    again = store.record_outcomes(pd.DataFrame({"declaration_id": ["A", "B"], "inspected": [1, 1],
                                                "contraband": [0, None]}))  # later, same results
    assert (first.recorded, again.recorded, again.unchanged) == (2, 0, 2)
    store.record_outcomes(pd.DataFrame({"declaration_id": ["A"], "inspected": [1], "contraband": [1],
                                        "seized_value_usd": [9000.0], "recorded_at": ["2025-03-09T15:00"]}))
    labelled = store.labelled_declarations().set_index("declaration_id")
    assert labelled.loc["A", ["inspected", "contraband", "seized_value_usd"]].tolist() == [1, 1, 9000.0]
    assert labelled.loc["A", "outcome_date"] == pd.Timestamp("2025-03-09")
    assert labelled.loc["B", "inspected"] == 1 and pd.isna(labelled.loc["B", "contraband"])  # pending
    assert labelled.loc["C", "inspected"] == 0 and pd.isna(labelled.loc["C", "contraband"])  # never inspected
    assert len(labelled) == 3 and labelled.loc["A", "hs_code"] == "381010"


def test_a_reader_keeps_one_snapshot_while_a_writer_commits(store):
    store.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-03-01"}]))
    with store.reading() as conn:
        count = "SELECT count(*) FROM declarations"
        assert conn.exec_driver_sql(count).scalar() == 1
        store.ingest(declarations([{"declaration_id": "B", "declaration_date": "2025-03-02"}]))  # committed
        assert conn.exec_driver_sql(count).scalar() == 1  # not in this reader's snapshot
        assert counts(store, "exporter", "E1", "2025-03-05") == (2, 0, 0)  # a new reader sees it
    assert store.summary()["declarations"] == 2


def test_outcomes_for_unknown_or_later_declarations_are_rejected_with_reasons(store):
    store.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-03-10"}]))
    report = store.record_outcomes(pd.DataFrame({
        "declaration_id": ["A", "Z", "A", "A"], "inspected": [1, 1, 0, 2], "contraband": [1, 0, 1, None],
        "recorded_at": ["2025-03-01", "2025-03-12", "2025-03-12", "2025-03-12"]}))
    assert report.recorded == 0
    reasons = dict(zip(report.rejected["row"], report.rejected["reason"]))
    assert reasons == {1: "recorded before the declaration was lodged", 2: "unknown declaration: not in the history",
                       3: "a result is given for a declaration that was not inspected", 4: "inspected must be 0 or 1"}
    assert store.outcomes().empty


def test_training_data_outcomes_count_after_the_lag_or_their_own_date(store):
    frame = declarations([
        {"declaration_id": "A", "declaration_date": "2025-03-01", "inspected": 1, "contraband": 1},
        {"declaration_id": "B", "declaration_date": "2025-03-01", "inspected": 1, "contraband": 0,
         "outcome_date": "2025-03-02"},
        {"declaration_id": "C", "declaration_date": "2025-03-01", "inspected": 0},
    ])
    report = store.ingest(frame, outcomes=True, lag_days=7)
    assert report.outcome_versions == 2  # C was not inspected: no outcome
    assert counts(store, "exporter", "E1", "2025-03-03") == (3, 1, 0)  # B's own date
    assert counts(store, "exporter", "E1", "2025-03-09") == (3, 2, 1)  # A: 1 March + 7 days
    assert store.ingest(frame, outcomes=True, lag_days=7).outcome_versions == 0  # idempotent
    assert consistent(store)


def test_declarations_with_and_without_extras_read_back_together(store):
    """A store holding declarations recorded with an ``x_`` column and others without reads them
    back together (under pandas 3 the missing extras read as NaN, which once broke every read,
    and with it the service's reload and start-up: issue 40)."""
    store.ingest(declarations([{"declaration_id": "PLAIN", "declaration_date": "2025-03-01"}]))
    store.ingest(declarations([{"declaration_id": "EXTRA", "declaration_date": "2025-03-01", "x_office_id": "ICN"}]))
    frame = store.declarations().set_index("declaration_id")
    assert frame.at["EXTRA", "x_office_id"] == "ICN" and pd.isna(frame.at["PLAIN", "x_office_id"])
    assert set(store.declarations(ids=["PLAIN", "EXTRA"])["declaration_id"]) == {"PLAIN", "EXTRA"}
    # extras another writer left that are not a JSON object read back as none: every stored row reads
    from sqlalchemy import text

    for i, cell in enumerate(["{not json", "[1, 2]", "12", '{"office": "not an extra"}']):
        store.ingest(declarations([{"declaration_id": f"ODD{i}", "declaration_date": "2025-03-02", "x_office_id": "X"}]))
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE declarations SET extras = :cell WHERE declaration_id = :id"),
                         {"cell": cell, "id": f"ODD{i}"})
    frame = store.declarations().set_index("declaration_id")
    assert len(frame) == 6 and frame.loc[[f"ODD{i}" for i in range(4)], "x_office_id"].isna().all()
    assert "office" not in frame.columns and frame.at["EXTRA", "x_office_id"] == "ICN"


def test_the_seizures_behind_a_declaration_s_traders_are_those_known_before_its_day(store):
    """What the evidence opens behind "linked to k earlier seizures": the same exporter's,
    consignee's or declarant's declarations whose result, as recorded before the day, found
    contraband; not a later seizure, not one corrected to nothing found, not another trader's."""
    frame = declarations([
        {"declaration_id": "S1", "declaration_date": "2025-03-01", "inspected": 1, "contraband": 1,
         "outcome_date": "2025-03-02"},
        {"declaration_id": "S2", "declaration_date": "2025-03-02", "inspected": 1, "contraband": 1,
         "outcome_date": "2025-03-03", "exporter_id": "E2"},  # the same consignee only
        {"declaration_id": "S3", "declaration_date": "2025-03-03", "inspected": 1, "contraband": 1,
         "outcome_date": "2025-03-20"},  # known only after the day asked about
        {"declaration_id": "S4", "declaration_date": "2025-03-03", "inspected": 1, "contraband": 1,
         "outcome_date": "2025-03-04", "exporter_id": "E9", "consignee_id": "C9", "declarant_id": "D9"},
        {"declaration_id": "N1", "declaration_date": "2025-03-03", "inspected": 1, "contraband": 0,
         "outcome_date": "2025-03-04"},
        {"declaration_id": "S5", "declaration_date": "2025-03-04", "inspected": 1, "contraband": 1,
         "outcome_date": "2025-03-05"},
    ])
    store.ingest(frame, outcomes=True)
    store.record_outcomes(pd.DataFrame({"declaration_id": ["S5"], "inspected": [1], "contraband": [0],
                                        "recorded_at": [pd.Timestamp("2025-03-06")]}))  # corrected: nothing found
    from contraband.data.keys import day_numbers

    day = int(day_numbers(["2025-03-10"])[0])
    linked = store.seizures_linked({"exporter_id": "E1", "consignee_id": "C1", "declarant_id": "D1"}, before_day=day)
    assert set(zip(linked["declaration_id"], linked["linked_by"])) == {
        ("S1", "exporter_id"), ("S1", "consignee_id"), ("S1", "declarant_id"), ("S2", "consignee_id"),
        ("S2", "declarant_id")}
    assert linked.loc[linked["declaration_id"] == "S1", "declaration_date"].iloc[0] == "2025-03-01"
    assert store.seizures_linked({"exporter_id": "E9"}, before_day=int(day_numbers(["2025-03-04"])[0])).empty


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing(history_location, tmp_path):
    path = history_location("shared")
    open_history(path).close()
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import pandas as pd
        from contraband.data.history import open_history
        name = sys.argv[1]
        store = open_history({path!r})
        for batch in range(30):
            rows = [{{"declaration_id": f"{{name}}-{{batch}}-{{i}}", "declaration_date": f"2025-03-{{1 + i % 20:02d}}",
                     "hs_code": "381010", "goods_description": "solder paste", "origin_country": "CN",
                     "export_country": "CN", "destination_country": "US", "net_weight_kg": 1.0,
                     "declared_value_usd": 1.0, "exporter_id": f"E{{i % 3}}", "consignee_id": name,
                     "inspected": 1, "contraband": i % 2}} for i in range(20)]
            frame = pd.DataFrame(rows)
            frame["declaration_date"] = pd.to_datetime(frame["declaration_date"])
            store.ingest(frame, outcomes=True, lag_days=1)
            store.record_outcomes(pd.DataFrame({{"declaration_id": [f"{{name}}-{{batch}}-1"], "inspected": [1],
                                                "contraband": [0], "recorded_at": ["2025-04-01"]}}))
        print("done", name)
    """))
    procs = [subprocess.Popen([sys.executable, str(script), name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for name in ("north", "south")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    store = open_history(path)
    assert store.summary()["declarations"] == 2 * 30 * 20
    assert len(store.outcomes(all_versions=True)) == 2 * 30 * 20 + 2 * 30
    assert counts(store, "exporter", "E0", "2025-05-01")[0] == 2 * 30 * 7
    # each process seized 10 of every 20 and corrected one seizure per batch to clean on 1 April
    assert counts(store, "consignee", "north", "2025-03-31") == (600, 600, 300)
    assert counts(store, "consignee", "north", "2025-05-01") == (600, 600, 300 - 30)
    assert consistent(store)


def test_a_few_declarations_at_a_time_leave_the_same_store_as_one_bulk_load(world, history_location):
    """Scoring requests record through a lean path, bulk loads through the general one: the
    resulting series, and the row hashes that recognise a re-send, must be the same."""
    rows = world[world["declaration_date"] >= "2026-10-01"].head(300).drop(
        columns=["inspected", "contraband", "seized_value_usd"])
    bulk = open_history(history_location("bulk"))
    bulk.ingest(rows)  # 300 rows: the general path
    few = open_history(history_location("few"))
    for start in range(0, len(rows), 7):  # 7 at a time: the lean path
        assert few.ingest(rows.iloc[start:start + 7]).new == len(rows.iloc[start:start + 7])
    assert snapshot(few) == snapshot(bulk)
    again = few.ingest(rows)  # the general path recognises the lean path's rows
    assert (again.unchanged, again.new, again.amended) == (300, 0, 0)
    assert bulk.ingest(rows.iloc[:5]).unchanged == 5  # and the other way round
    assert consistent(few)


def _chunks_with_a_resend(world):
    """Four chunks of recent declarations, the last re-sending one of the first's with a new consignee."""
    rows = world[world["declaration_date"] >= "2026-09-01"].head(1_200).drop(
        columns=["inspected", "contraband", "seized_value_usd"]).reset_index(drop=True)
    chunks = [rows.iloc[i:i + 300] for i in range(0, len(rows), 300)]
    resent = chunks[0].iloc[[5]].assign(consignee_id="a consignee never seen")
    chunks[-1] = pd.concat([chunks[-1], resent], ignore_index=True)
    return world[world["declaration_date"] < "2026-09-01"].tail(3_000), chunks


def test_a_recording_leaves_the_store_an_ingest_per_chunk_leaves(world, history_location, monkeypatch):
    """Batch scoring records its chunks through one recording (the series moved once per
    transaction, a slice of keys at a time): the series, declarations and row hashes must be
    those of an ingest per chunk, whatever the transaction size and the slices."""
    from contraband.data.history import moves

    past, chunks = _chunks_with_a_resend(world)
    one_by_one = open_history(history_location("one-by-one"))
    one_by_one.ingest(past, outcomes=True)
    starts = {n: clone(one_by_one, history_location(f"recorded-{n}")) for n in (10_000, 500)}  # the past, copied
    reports = [one_by_one.ingest(c) for c in chunks]
    monkeypatch.setattr(moves, "_MERGE_KEYS", 37)
    for transaction_rows, recorded in starts.items():
        with recorded.recording("batch", transaction_rows=transaction_rows) as recording:
            got = [recording.add(c) for c in chunks]
        assert [(r.new, r.amended, r.unchanged) for r in got] == [(r.new, r.amended, r.unchanged) for r in reports]
        assert recording.transactions == (1 if transaction_rows == 10_000 else 2)
        assert snapshot(recorded) == snapshot(one_by_one)
        stored = recorded.declarations().sort_values("declaration_id").reset_index(drop=True)
        expected = one_by_one.declarations().sort_values("declaration_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(stored, expected)
        assert consistent(recorded)
        recorded.close()
    one_by_one.close()


def test_a_recording_that_fails_keeps_every_declaration_it_wrote_with_its_series(world, history_location):
    """Rows are written in short transactions as they come: after an error, those written are
    recorded declarations, and their series are moved before the error goes on."""
    past, chunks = _chunks_with_a_resend(world)
    expected = open_history(history_location("expected"))
    expected.ingest(past, outcomes=True)
    expected.ingest(pd.concat(chunks[:3]))
    store = open_history(history_location("failed"))
    store.ingest(past, outcomes=True)
    with pytest.raises(RuntimeError, match="the disk is full"):
        with store.recording("batch", transaction_rows=600) as recording:
            for c in chunks[:3]:
                recording.add(c)  # the first two move their series (600 rows), the third's are pending
            raise RuntimeError("the disk is full")
    assert snapshot(store) == snapshot(expected)
    assert len(store.declarations()) == len(expected.declarations())
    assert store.summary()["recording"] == []
    assert consistent(store)
    store.close()
    expected.close()


def test_one_series_merge_agrees_with_the_vectorised_merge():
    from contraband.data.history.series import SeriesTable, merge, merge_one

    rng = np.random.default_rng(4)
    for _ in range(200):
        days = np.sort(rng.choice(200, size=rng.integers(0, 12), replace=False))
        daily = rng.integers(0, 4, size=(len(days), 3))
        days, daily = days[(daily != 0).any(axis=1)], daily[(daily != 0).any(axis=1)]
        rows = np.column_stack([days, np.cumsum(daily, axis=0)]).astype(np.int64).reshape(-1, 4)
        k = int(rng.integers(1, 4))
        d, c = rng.integers(0, 220, size=k), rng.integers(0, 3, size=(k, 3))
        table = SeriesTable.from_blobs("exporter", ["E"], [rows.astype("<i4").tobytes()])
        deltas = pd.DataFrame({"key": ["E"] * k, "day": d, "declarations": c[:, 0], "inspections": c[:, 1],
                               "seizures": c[:, 2]})
        vectorised = merge(table, deltas)
        one = merge_one(rows, d, c)
        assert np.array_equal(np.column_stack([vectorised.day, vectorised.cum]), one)


def test_the_write_ahead_log_stays_small_under_a_steady_stream_of_requests(world, tmp_path):
    """A service records every declaration it scores, one request after another. SQLite's log
    must be copied into the database and restarted as it goes, not grow with every request."""
    from contraband.data.load import load_declarations

    store = open_history(tmp_path / "history.db")
    store.checkpoint_interval = 0.05
    rows = world[world["declaration_date"] >= "2026-10-01"].head(400).drop(
        columns=["inspected", "contraband", "seized_value_usd"]).reset_index(drop=True)
    for i in range(len(rows)):  # as the pyfunc records them: one request, one declaration
        assert store.ingest(load_declarations(rows.iloc[[i]], mode="lenient").columns).new == 1
    size = (tmp_path / "history.db-wal").stat().st_size
    store.close()
    # each request writes about 50 kB of pages: a log that is never restarted holds all of them
    assert size < 5_000_000, f"the log grew to {size:,} bytes over {len(rows)} requests"
    assert consistent(open_history(tmp_path / "history.db"))


def test_a_series_reads_the_same_from_bytes_or_a_memoryview():
    """A driver may hand a stored series back as bytes (psycopg, sqlite3) or as a memoryview."""
    from contraband.data.history.series import SeriesTable, decode, encode

    rows = [np.array([[3, 1, 0, 0], [9, 4, 2, 1]]), np.array([[5, 2, 1, 1]])]
    blobs = [encode(r) for r in rows]
    from_bytes = SeriesTable.from_blobs("exporter", ["E1", "E2"], blobs)
    from_views = SeriesTable.from_blobs("exporter", ["E1", "E2"], [memoryview(b) for b in blobs])
    assert np.array_equal(from_views.day, from_bytes.day) and np.array_equal(from_views.cum, from_bytes.cum)
    assert np.array_equal(decode(memoryview(blobs[0])), rows[0])


def test_a_server_store_never_shows_its_password_and_travels_to_another_process(postgres, tmp_path):
    import pickle

    from click.testing import CliRunner

    from contraband.cli import main
    from postgres import PASSWORD

    location = postgres.database("shown")
    store = open_history(location.replace("postgresql://", "postgres://"))  # the short scheme works too
    store.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-03-01"}]))
    assert PASSWORD not in f"{store.url} {store!r} {store.summary()} {store.blind(0)!r}"
    assert store.url.startswith("postgres://contraband:***@127.0.0.1:")
    travelled = pickle.loads(pickle.dumps(store))  # as a batch or service worker receives it
    assert travelled.summary()["declarations"] == 1
    shown = CliRunner().invoke(main, ["history", "info", "--history", location])
    assert shown.exit_code == 0 and "declarations: 1 " in shown.output and PASSWORD not in shown.output
    refused = CliRunner().invoke(main, ["history", "info", "--history", location.replace(PASSWORD, "wrong")])
    assert refused.exit_code == 1 and "cannot open the history store postgresql://contraband:***@" in refused.output
    assert "password authentication failed" in refused.output
    store.close()


def test_a_store_of_the_previous_schema_is_upgraded_in_place_and_keeps_its_series(tmp_path):
    """Stores written before declarations were versioned (schema 1) gain the new columns and
    tables when opened; every stored declaration is its version 1, and nothing moves."""
    import sqlite3

    store = open_history(tmp_path / "old.db")
    store.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-03-01"},
                               {"declaration_id": "B", "declaration_date": "2025-03-02", "inspected": 1,
                                "contraband": 1}]), outcomes=True)
    state = snapshot(store)
    store.close()
    db = sqlite3.connect(tmp_path / "old.db")  # back to schema 1, as an older product left it
    db.executescript("""
        DROP TABLE declaration_versions; DROP INDEX ingests_state;
        ALTER TABLE declarations DROP COLUMN version; ALTER TABLE declarations DROP COLUMN recorded_day;
        ALTER TABLE ingests DROP COLUMN note; ALTER TABLE ingests DROP COLUMN state;
        ALTER TABLE ingests DROP COLUMN progress; ALTER TABLE outcomes DROP COLUMN ingest;
        UPDATE meta SET value = '1' WHERE name = 'schema_version';""")
    db.close()
    upgraded = open_history(tmp_path / "old.db", create=False)
    assert _meta(upgraded, "schema_version") == "2" and snapshot(upgraded) == state
    assert [v["version"] for v in upgraded.declaration_versions("A")] == [1]
    report = upgraded.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-03-01",
                                            "exporter_id": "E7"}]), recorded_at="2025-04-01")
    assert report.amended == 1 and counts(upgraded, "exporter", "E1", "2025-03-20") == (2, 1, 1)
    assert counts(upgraded, "exporter", "E7", "2025-04-02") == (1, 0, 0)
    assert consistent(upgraded)


def test_a_damaged_truncated_foreign_or_missing_store_is_refused_with_one_sentence(tmp_path):
    import sqlite3

    from contraband.data.history import StoreError

    good = open_history(tmp_path / "good.db")
    good.ingest(declarations([{"declaration_id": f"A{i}", "declaration_date": "2025-03-01",
                               "goods_description": "x" * 2000} for i in range(200)]))
    good.close()
    data = (tmp_path / "good.db").read_bytes()
    (tmp_path / "truncated.db").write_bytes(data[:len(data) // 2])
    (tmp_path / "garbage.db").write_bytes(b"\x00\x13binary" * 500)
    (tmp_path / "empty.db").write_bytes(b"")
    damaged = bytearray(data)
    damaged[4096:] = b"\xff" * (len(data) - 4096)  # every page after the schema's overwritten
    (tmp_path / "damaged.db").write_bytes(bytes(damaged))
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE invoices (id INTEGER)")
    other.commit()
    other.close()
    expected = {"truncated.db": "is truncated", "garbage.db": "not a SQLite database file",
                "damaged.db": "cannot be read as a history store", "other.db": "a database of something else",
                "empty.db": "is empty (0 bytes)", "missing.db": "does not exist"}
    for name, words in expected.items():
        with pytest.raises(StoreError) as refused:
            open_history(tmp_path / name, create=False)
        message = str(refused.value)
        assert words in message and name in message and "\n" not in message, message
    assert not (tmp_path / "missing.db").exists()  # nothing created where nothing was meant
    created = open_history(tmp_path / "empty.db", create=True)  # meant: a new store, and it says so
    assert created.created and created.summary()["declarations"] == 0
    assert not open_history(tmp_path / "empty.db", create=False).created




def test_a_store_being_checkpointed_by_another_process_is_not_called_truncated(tmp_path):
    """A checkpoint writes the header's new page count before the pages that extend the file: a
    process opening the store at that moment sees a file shorter than its header says. With
    frames in the write-ahead log beside it, that is a store at work, which SQLite itself then
    reads; without them it is truncated. (Seen in the suite: a test reading the store while the
    service wrote it was told the store was truncated.)"""
    from contraband.data.history import StoreError
    from contraband.data.history.opening import sqlite_state

    good = open_history(tmp_path / "good.db")
    good.ingest(declarations([{"declaration_id": f"A{i}", "declaration_date": "2025-03-01",
                               "goods_description": "x" * 2000} for i in range(200)]))
    good.close()
    data = (tmp_path / "good.db").read_bytes()
    short = tmp_path / "live.db"
    short.write_bytes(data[:len(data) // 2])
    with pytest.raises(StoreError, match="is truncated"):
        sqlite_state(short)
    (tmp_path / "live.db-wal").write_bytes(b"")  # a log without frames proves nothing
    with pytest.raises(StoreError, match="is truncated"):
        sqlite_state(short)
    (tmp_path / "live.db-wal").write_bytes(bytes.fromhex("377f0682002de218") + bytes(24 + 24 + 4096))  # one frame
    assert sqlite_state(short) == "sqlite"
def test_other_writers_go_on_while_a_batch_is_recording_and_nothing_is_counted_twice(world, history_location):
    """A batch holds the writers' lock a short transaction at a time: between its chunks (its
    round still open, its series not moved) a scoring request and an outcome are recorded at
    once; an outcome for a declaration of the open round is refused with a reason; once the
    round ends the series equal a rebuild."""
    import threading

    from contraband.data.history.versions import BUSY

    past, chunks = _chunks_with_a_resend(world)
    store = open_history(history_location("busy"))
    store.ingest(past, outcomes=True)
    done = {}

    def meanwhile():
        one = declarations([{"declaration_id": "REQ-1", "declaration_date": "2026-09-02"}])
        done["request"] = store.ingest(one, source="api:k").new
        done["outcome"] = store.record_outcomes(pd.DataFrame({
            "declaration_id": ["REQ-1", chunks[0]["declaration_id"].iloc[0]], "inspected": [1, 1],
            "contraband": [1, 0], "recorded_at": ["2026-09-03", "2026-09-03"]}))

    with store.recording("batch") as recording:
        recording.add(chunks[0])
        assert store.summary()["recording"]  # the round is open: its series have not moved
        writer = threading.Thread(target=meanwhile)
        writer.start()
        writer.join(timeout=60)
        assert not writer.is_alive(), "another writer waited for the batch to end"
        recording.add(chunks[1])
    assert done["request"] == 1 and done["outcome"].recorded == 1
    assert done["outcome"].rejected["reason"].tolist() == [f"declaration {BUSY}"]
    assert counts(store, "exporter", "E1", "2026-09-04") == (1, 1, 1)
    assert store.summary()["recording"] == []
    assert consistent(store)


def test_a_batch_of_amendments_is_worked_out_outside_the_lock_and_one_changed_meanwhile_goes_the_general_way(
        world, history_location, monkeypatch):
    """Amendments in a batch are worked out together from one snapshot, then written a short
    transaction at a time. Between the two, another writer amends one of them and records an
    inspection of another: the store, the versions and the report must be those of the other
    writer's changes followed by the batch through the general path (the one amended again, the
    inspected one refused), and the series those of a rebuild."""
    from contraband.data.history import recording as recording_module
    from contraband.data.history.versions import LOCKED

    monkeypatch.setattr(recording_module, "_SLICE_OTHERS", 7)  # several short transactions
    past = world[world["declaration_date"] < "2026-09-01"].tail(1_500).drop(columns=["seized_value_usd"])
    resent = past.drop(columns=["inspected", "contraband"]).tail(400).astype({"consignee_id": object})
    resent["gross_weight_kg"] = resent["gross_weight_kg"] * 1.5 + 1  # 400 amendments
    resent.loc[resent.index[:3], "consignee_id"] = "a consignee never seen"
    amended_meanwhile, inspected_meanwhile = resent["declaration_id"].iloc[[10, 200]]
    other = resent[resent["declaration_id"] == amended_meanwhile].assign(exporter_id="ANOTHER WRITER")
    inspection = pd.DataFrame({"declaration_id": [inspected_meanwhile], "inspected": [1], "contraband": [0],
                               "recorded_at": ["2026-11-02"]})

    expected = open_history(history_location("expected"))
    expected.ingest(past, outcomes=True)
    store = clone(expected, history_location("bulk"))
    expected.ingest(other, source="other")
    expected.record_outcomes(inspection)
    want = expected.ingest(resent, source="batch")

    planned = store._changes
    def then_another_writer(*args, **kwargs):
        changes = planned(*args, **kwargs)
        if not getattr(then_another_writer, "done", False):
            then_another_writer.done = True
            store.ingest(other, source="other")
            store.record_outcomes(inspection)
        return changes
    monkeypatch.setattr(store, "_changes", then_another_writer)
    with store.recording("batch") as recording:
        got = recording.add(resent)
    assert then_another_writer.done
    assert (got.amended, got.unchanged, got.new) == (want.amended, want.unchanged, want.new)
    assert got.amended + len(got.refused) == len(resent) and got.amended > 300
    assert sorted(got.refused["declaration_id"]) == sorted(want.refused["declaration_id"])
    assert inspected_meanwhile in set(got.refused["declaration_id"]) and set(got.refused["reason"]) == {LOCKED}
    assert [v["version"] for v in store.declaration_versions(amended_meanwhile)] == [1, 2, 3]
    assert snapshot(store) == snapshot(expected)
    pd.testing.assert_frame_equal(_every_version(store), _every_version(expected))
    assert consistent(store)
    store.close()
    expected.close()


def _every_version(store) -> pd.DataFrame:
    """Every stored version of every declaration (entity fields, measures, version, record day)."""
    with store.reading() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT declaration_id FROM declarations").fetchall()]
        versions = store._stored(conn, ids).drop(columns=["ingest"])
    return versions.sort_values(["declaration_id", "version"]).reset_index(drop=True)


_KILLED_RECORDING = """
import sys, time
import pandas as pd
from contraband.data.history import open_history
store = open_history(sys.argv[1])
rows = pd.read_parquet(sys.argv[2])
with store.recording("batch") as recording:
    for start in range(0, len(rows), 400):
        recording.add(rows.iloc[start:start + 400])
        if start >= 800:
            print("written", flush=True)
            time.sleep(60)
"""


def test_a_recording_killed_midway_is_finished_by_the_next_recovery(world, history_location, tmp_path):
    past, chunks = _chunks_with_a_resend(world)
    location_ = history_location("killed")
    store = open_history(location_)
    store.ingest(past, outcomes=True)
    path = tmp_path / "rows.parquet"
    pd.concat(chunks).to_parquet(path)
    job = subprocess.Popen([sys.executable, "-c", _KILLED_RECORDING, str(location_), str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert job.stdout.readline().strip() == "written", job.stderr.read()[-3000:]
    assert store.recover() == []  # its writer is at work: left alone
    job.kill()
    job.wait(timeout=30)
    waiting = store.summary()["recording"]
    assert len(waiting) == 1
    written = store.summary()["declarations"] - len(past)
    assert written == 1_200  # three chunks of 400, the third's series never moved
    assert store.recover() == waiting
    assert store.summary()["recording"] == [] and store.recover() == []
    assert consistent(store)
    expected = open_history(history_location("expected"))
    expected.ingest(past, outcomes=True)
    expected.ingest(pd.concat(chunks).iloc[:1_200])
    assert snapshot(store) == snapshot(expected)


def test_outcomes_recorded_out_of_order_or_for_an_amended_declaration_count_as_a_rebuild_says(store):
    """An analyst's outcome usually goes through a lean path (the few series it changes); one
    recorded with an earlier time than the current version, or for an amended declaration,
    through the general one: both leave the series a rebuild gives."""
    store.ingest(declarations([{"declaration_id": d, "declaration_date": "2025-03-01"} for d in "AB"]))
    store.record_outcomes(pd.DataFrame({"declaration_id": ["A"], "inspected": [1], "contraband": [1],
                                        "recorded_at": ["2025-03-10"]}))
    store.record_outcomes(pd.DataFrame({"declaration_id": ["A"], "inspected": [1], "contraband": [0],
                                        "recorded_at": ["2025-03-05"]}))  # an earlier result, sent late
    assert counts(store, "exporter", "E1", "2025-03-07") == (2, 1, 0)
    assert counts(store, "exporter", "E1", "2025-03-11") == (2, 1, 1)
    store.ingest(declarations([{"declaration_id": "B", "declaration_date": "2025-03-01", "exporter_id": "E2"}]),
                 recorded_at="2025-03-20")
    store.record_outcomes(pd.DataFrame({"declaration_id": ["B"], "inspected": [1], "contraband": [1],
                                        "recorded_at": ["2025-03-25"]}))
    assert counts(store, "exporter", "E2", "2025-03-26") == (1, 1, 1)
    assert counts(store, "exporter", "E1", "2025-03-26") == (1, 1, 1)
    assert consistent(store)


def _failing_once(calls: int, real):
    """``real`` that raises a store error on its ``calls``-th call, once."""
    seen = {"n": 0}

    def call(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] == calls:
            raise RuntimeError("the disk is full")
        return real(*args, **kwargs)
    return call


@pytest.mark.parametrize("where", [pytest.param("writing rows", marks=pytest.mark.slow), "moving series",
                                   pytest.param("first transaction", marks=pytest.mark.slow)])
def test_a_recording_whose_store_fails_midway_leaves_what_it_wrote_counted_and_no_lock(world, history_location,
                                                                                        monkeypatch, where):
    """A store error while a round writes its rows (some slices committed) or moves its series
    (some keys moved): the round is handed to a recovery at once, which works its series out
    from the store, so every declaration written is counted once and nothing stays recording.
    An error in the round's first transaction leaves no ingest and no lock: the next recording
    goes on (the ingest's number is given again)."""
    import threading

    from contraband.data.history import moves, recording as recording_module
    from contraband.data.history.store import HistoryStore

    past, chunks = _chunks_with_a_resend(world)
    store = open_history(history_location(where.replace(" ", "-")))
    store.ingest(past, outcomes=True)
    monkeypatch.setattr(recording_module, "_SLICE_ROWS", 50)
    monkeypatch.setattr(moves, "_SLICE_KEYS", 20)
    for module in (moves, recording_module):  # slices of a fixed size
        monkeypatch.setattr(module, "_adapt", lambda size, seconds, low=16, high=65_536: size)
    if where == "moving series":
        monkeypatch.setattr(HistoryStore, "_move_slice", _failing_once(7, HistoryStore._move_slice))
    else:
        calls = 1 if where == "first transaction" else 3
        monkeypatch.setattr(HistoryStore, "_count_ingest", staticmethod(_failing_once(calls, HistoryStore._count_ingest)))
    with pytest.raises(RuntimeError, match="the disk is full"):
        with store.recording("batch") as recording:
            for c in chunks[:2]:
                recording.add(c)
    assert store.summary()["recording"] == []
    written = store.summary()["declarations"] - len(past)
    assert written == {"writing rows": 100, "moving series": 600, "first transaction": 0}[where]
    assert consistent(store)
    done = []
    def follow_up():
        with store.recording("batch") as again:
            done.append(again.add(pd.concat(chunks[2:])).new)

    follow = threading.Thread(target=follow_up)
    follow.start()
    follow.join(timeout=60)
    assert not follow.is_alive(), "the next recording waited for a lock the failed one kept"
    assert done and consistent(store)
    store.close()


def test_an_outcome_for_a_declaration_whose_outcome_a_batch_is_recording_is_refused_until_it_ends(world,
                                                                                                    history_location):
    """A batch records outcome versions for stored declarations; until its series move, another
    writer's outcome for one of those declarations is refused with a reason (counted now, it
    would be counted twice by a recovery), on the lean path and the general one."""
    from contraband.data.history.versions import BUSY

    past, _ = _chunks_with_a_resend(world)
    store = open_history(history_location("outcome-busy"))
    store.ingest(past.drop(columns=["inspected", "contraband", "seized_value_usd"]))
    sent = past.head(3).assign(inspected=1, contraband=[1, 0, 0], seized_value_usd=0.0)
    with store.recording("batch") as recording:
        from contraband.data.history.rows import _versions_from_frame

        recording.add(sent, _versions_from_frame(sent, 0, "batch"))
        assert store.summary()["recording"]
        ids = sent["declaration_id"].tolist()
        one = store.record_outcomes(pd.DataFrame({"declaration_id": ids[:1], "inspected": [1], "contraband": [0]}))
        many = store.record_outcomes(pd.DataFrame({"declaration_id": ids * 30, "inspected": 1, "contraband": 0}))
    assert one.recorded == 0 and one.rejected["reason"].tolist() == [f"declaration {BUSY}"]
    assert many.recorded == 0 and set(many.rejected["reason"]) == {f"declaration {BUSY}"}
    assert store.summary()["recording"] == [] and consistent(store)
    store.close()


def test_a_recording_interrupted_after_replacing_an_outcome_is_recovered_without_counting_it_twice(world,
                                                                                                   history_location):
    """A bulk outcome load re-sends an outcome with the record time of a stored one (it
    replaces it): the replaced version is gone from the store, so that declaration is written
    apart, in an ingest complete at once; a recovery of the interrupted batch then counts
    every outcome once."""
    past, _ = _chunks_with_a_resend(world)
    store = open_history(history_location("replaced"))
    store.ingest(past.drop(columns=["inspected", "contraband", "seized_value_usd"]))
    first = past.head(4).assign(inspected=1, contraband=0, seized_value_usd=0.0)
    from contraband.data.history.rows import _versions_from_frame

    store.ingest(first, outcomes=True, lag_days=0)
    again = first.assign(contraband=[1, 1, 0, 0], seized_value_usd=[10.0, 20.0, 0.0, 0.0])
    with pytest.raises(KeyboardInterrupt):
        with store.recording("batch") as recording:
            recording.add(again, _versions_from_frame(again, 0, "batch"))
            raise KeyboardInterrupt  # the round is left as a killed batch leaves it
    assert store.summary()["recording"]
    store.recover()
    assert store.summary()["recording"] == []
    assert consistent(store)
    current = store.outcomes(first["declaration_id"].tolist())
    assert sorted(current["contraband"].tolist()) == [0, 0, 1, 1]
    store.close()


def test_an_amendment_dated_before_its_predecessor_counts_from_the_predecessor_s_day(store):
    """A new version never counts from before the version it follows: the days on which the
    earlier ones counted are not given to it."""
    store.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-03-01"}]),
                 recorded_at="2025-03-05")
    for exporter, at in (("E2", "2025-03-20"), ("E3", "2025-03-10")):
        store.amend(declarations([{"declaration_id": "A", "declaration_date": "2025-03-01", "exporter_id": exporter}]),
                    by="admin", reason="exporter keyed wrongly", recorded_at=at)
    versions = store.declaration_versions("A")
    assert [v["counts_from"] for v in versions] == ["2025-03-01", "2025-03-20", "2025-03-20"]
    assert counts(store, "exporter", "E1", "2025-03-15") == (1, 0, 0)
    assert counts(store, "exporter", "E3", "2025-03-15") == (0, 0, 0)
    assert counts(store, "exporter", "E3", "2025-03-21") == (1, 0, 0)
    assert counts(store, "exporter", "E2", "2025-03-21") == (0, 0, 0)
    assert consistent(store)


def test_a_recordings_changes_sum_by_key_and_day_as_a_frame_would_and_sort_by_key():
    """The arrays a recording moves its series with (``series.Changes``) add up by (key, day)
    as the store's frames do, drop what cancels, and sort by key as pandas does."""
    from contraband.data.history.series import COUNTS, Changes

    rng = np.random.default_rng(4)
    frames = [pd.DataFrame({"key": rng.choice(["b", "a\x1fx", "c", "é"], n).astype(object),
                            "day": rng.integers(0, 40, n), **{c: rng.integers(-2, 3, n) for c in COUNTS}})
              for n in (300, 1, 120)]
    total = Changes.total([Changes.of(f) for f in frames])
    expected = pd.concat(frames).groupby(["key", "day"], as_index=False)[list(COUNTS)].sum()
    expected = expected[(expected[list(COUNTS)] != 0).any(axis=1)]
    got = pd.DataFrame({"key": total.key, "day": total.day, **dict(zip(COUNTS, total.counts.T))})
    pd.testing.assert_frame_equal(got.sort_values(["key", "day"]).reset_index(drop=True),
                                  expected.sort_values(["key", "day"]).reset_index(drop=True), check_dtype=False)
    ordered = Changes.of(frames[0]).by_key()
    assert list(ordered.key) == list(frames[0].sort_values("key", kind="stable")["key"])
    assert list(ordered.day) == list(frames[0].sort_values("key", kind="stable")["day"])
    cancel = Changes.of(frames[1])
    assert Changes.total([cancel, Changes(cancel.key, cancel.day, -cancel.counts)]) is None


def test_a_series_lookup_of_one_count_is_that_count_of_every_lookup():
    """Issue 40: ``SeriesTable.before(..., count=k)`` (one count per row, what most features
    read) is column k of the full lookup, and both are the last day strictly before each row's
    day, on generated tables, rows and days (the few-rows path and the vectorised one)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from contraband.data.history.series import COUNTS, SeriesTable

    series = st.lists(st.lists(st.integers(0, 400), max_size=12, unique=True).map(sorted), min_size=1, max_size=8)

    @settings(max_examples=60, deadline=None)
    @given(series, st.lists(st.tuples(st.integers(-1, 7), st.integers(0, 420)), min_size=1, max_size=150),
           st.integers(0, 2**16))
    def check(days_of, lookups, seed):
        rng = np.random.default_rng(seed)
        rows = [np.column_stack([np.asarray(d, dtype=np.int64),
                                 np.cumsum(rng.integers(0, 4, (len(d), len(COUNTS))), axis=0)]).reshape(-1, 4)
                for d in days_of]
        table = SeriesTable.from_rows("exporter", [f"E{i}" for i in range(len(rows))], rows)
        codes = np.array([c if c < len(rows) else -1 for c, _ in lookups], dtype=np.int64)
        days = np.array([d for _, d in lookups], dtype=np.int64)
        expected = np.zeros((len(codes), len(COUNTS)), dtype=np.int64)
        for i, (c, d) in enumerate(zip(codes, days)):
            earlier = rows[c][rows[c][:, 0] < d] if c >= 0 else rows[0][:0]
            if len(earlier):
                expected[i] = earlier[-1, 1:]
        np.testing.assert_array_equal(table.before(codes, days), expected)
        for k in range(len(COUNTS)):
            np.testing.assert_array_equal(table.before(codes, days, count=k), expected[:, k])

    check()
