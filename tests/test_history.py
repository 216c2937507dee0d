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
from history_helpers import counts, declarations, snapshot


@pytest.fixture()
def store(history_location):
    s = open_history(history_location("history"))
    yield s
    s.close()


def consistent(store) -> bool:
    before = snapshot(store)
    store.rebuild()
    return snapshot(store) == before


def test_a_declaration_counts_from_the_next_day_and_re_sending_it_changes_nothing(store):
    frame = declarations([{"declaration_id": "A", "declaration_date": "2025-03-01"},
                          {"declaration_id": "B", "declaration_date": "2025-03-01", "exporter_id": "E2"},
                          {"declaration_id": "C", "declaration_date": "2025-03-04"}])
    first = store.ingest(frame)
    assert (first.new, first.replaced, first.unchanged) == (3, 0, 0)
    assert counts(store, "exporter", "E1", "2025-03-01") == (0, 0, 0)  # same day: not history yet
    assert counts(store, "exporter", "E1", "2025-03-02") == (1, 0, 0)
    assert counts(store, "exporter", "E1", "2025-03-05") == (2, 0, 0)
    assert counts(store, "hs6", "381010", "2025-03-02") == (2, 0, 0)
    state = snapshot(store)
    again = store.ingest(frame.sample(frac=1, random_state=1))
    assert (again.new, again.replaced, again.unchanged) == (0, 0, 3)
    assert snapshot(store) == state and store.summary()["declarations"] == 3
    assert consistent(store)


def test_a_re_sent_declaration_replaces_its_copy_everywhere(store):
    store.ingest(declarations([{"declaration_id": "A", "declaration_date": "2025-03-01"},
                               {"declaration_id": "B", "declaration_date": "2025-03-02"}]))
    corrected = declarations([{"declaration_id": "B", "declaration_date": "2025-03-03", "exporter_id": "E9",
                               "hs_code": "690721"}])
    report = store.ingest(corrected)
    assert report.replaced == 1
    assert counts(store, "exporter", "E1", "2025-03-10") == (1, 0, 0)
    assert counts(store, "exporter", "E9", "2025-03-10") == (1, 0, 0)
    assert counts(store, "exporter_hs4s", "E1", "2025-03-10")[0] == 1
    stored = store.declarations()
    assert stored.set_index("declaration_id").loc["B", "hs_code"] == "690721"
    assert str(stored.set_index("declaration_id").loc["B", "declaration_date"].date()) == "2025-03-03"
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
    bulk.ingest(rows, chunk_rows=1000)  # 300 rows: the general path
    few = open_history(history_location("few"))
    for start in range(0, len(rows), 7):  # 7 at a time: the lean path
        assert few.ingest(rows.iloc[start:start + 7]).new == len(rows.iloc[start:start + 7])
    assert snapshot(few) == snapshot(bulk)
    again = few.ingest(rows, chunk_rows=1000)  # the general path recognises the lean path's rows
    assert (again.unchanged, again.new, again.replaced) == (300, 0, 0)
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
    import contraband.data.history.store as store_module

    past, chunks = _chunks_with_a_resend(world)
    one_by_one = open_history(history_location("one-by-one"))
    one_by_one.ingest(past, outcomes=True)
    reports = [one_by_one.ingest(c) for c in chunks]
    monkeypatch.setattr(store_module, "_MERGE_KEYS", 37)
    for transaction_rows in (10_000, 500):
        recorded = open_history(history_location(f"recorded-{transaction_rows}"))
        recorded.ingest(past, outcomes=True)
        with recorded.recording("batch", transaction_rows=transaction_rows) as recording:
            got = [recording.add(c) for c in chunks]
        assert [(r.new, r.replaced, r.unchanged) for r in got] == [(r.new, r.replaced, r.unchanged) for r in reports]
        assert recording.transactions == (1 if transaction_rows == 10_000 else 2)
        assert snapshot(recorded) == snapshot(one_by_one)
        stored = recorded.declarations().sort_values("declaration_id").reset_index(drop=True)
        expected = one_by_one.declarations().sort_values("declaration_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(stored, expected)
        assert consistent(recorded)
        recorded.close()
    one_by_one.close()


def test_a_recording_that_fails_keeps_what_it_committed_and_nothing_of_the_rest(world, history_location):
    past, chunks = _chunks_with_a_resend(world)
    committed = open_history(history_location("committed"))
    committed.ingest(past, outcomes=True)
    committed.ingest(pd.concat(chunks[:2]))
    store = open_history(history_location("failed"))
    store.ingest(past, outcomes=True)
    with pytest.raises(RuntimeError, match="the disk is full"):
        with store.recording("batch", transaction_rows=600) as recording:
            for c in chunks[:3]:
                recording.add(c)  # the first two commit (600 rows), the third stays pending
            raise RuntimeError("the disk is full")
    assert snapshot(store) == snapshot(committed)
    assert len(store.declarations()) == len(committed.declarations())
    assert consistent(store)
    store.close()
    committed.close()


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
