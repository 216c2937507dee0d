"""Batch scoring in chunks: the same table as a whole-file read, the same scores, ranks, flags and
reasons as scoring the whole input at once, the budget over the whole input, bounded memory."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from contraband.data.chunks import manifest_files, read_chunks
from contraband.data.intake import Limits, read_manifest
from contraband.data.load import load_declarations
from contraband.models import ranking
from contraband.models.batch import score_batch
from contraband.models.ranking import global_ranks
from contraband.models.scoring import flag_count, ranks, scores
from history_helpers import clone, location
from test_intake import messy_file


def _same_table(path, **kwargs):
    whole = read_manifest(path, limits=Limits(max_field_chars=200))
    parts = list(read_chunks(path, limits=Limits(max_field_chars=200), **kwargs))
    frame = pd.concat([p.frame for p in parts], ignore_index=True).astype(object)
    frame = frame.where(frame.notna(), None)
    expected = whole.frame.astype(object).where(whole.frame.notna(), None)
    assert frame.values.tolist() == expected.values.tolist()
    assert np.concatenate([p.lines for p in parts]).tolist() == whole.lines.tolist()
    problems = pd.concat([p.problems.assign(line=p.lines[p.problems["position"].to_numpy()]) for p in parts])
    assert sorted(zip(problems["line"], problems["reason"])) == sorted(
        zip(whole.lines[whole.problems["position"].to_numpy()], whole.problems["reason"]))
    return parts


def test_chunks_of_a_messy_csv_are_the_whole_file_read_in_pieces(tmp_path):
    path, _ = messy_file(tmp_path)
    header, body = path.read_bytes().split(b"\n", 1)
    filler = b"".join(b"F%d,2025-05-01,381010,solder paste,CN,CN,US,10,1000,courier,,0,\n" % i for i in range(1500))
    path.write_bytes(header + b"\n" + filler + body)  # the messy records after the first 64 kB
    for size in (40, 120, 1 << 20):  # a chunk smaller than a record, a few records, the whole file
        parts = _same_table(path, chunk_bytes=size)
        assert (len(parts) > 3) == (size != 1 << 20)
    gz = tmp_path / "messy.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    _same_table(gz, chunk_bytes=120)


def test_chunks_of_a_quoted_multiline_csv_and_of_parquet(tmp_path, world):
    frame = world.head(3000).astype({"goods_description": object})
    frame.loc[frame.index[::7], "goods_description"] = 'two\nlines, "quoted"'
    path = tmp_path / "w.csv"
    frame.to_csv(path, index=False)
    parts = _same_table(path, chunk_bytes=50_000)
    assert len(parts) > 5
    parquet = tmp_path / "w.parquet"
    frame.to_parquet(parquet, index=False)
    parts = list(read_chunks(parquet, chunk_rows=700))
    assert [len(p.frame) for p in parts] == [700] * 4 + [200]
    assert np.concatenate([p.lines for p in parts]).tolist() == list(range(1, 3001))


def test_a_line_longer_than_any_record_is_rejected_by_itself(tmp_path, world):
    lines = world.head(50).to_csv(index=False).splitlines()
    lines.insert(20, "x" * 3_000_000)  # line 21: no record is that long
    path = tmp_path / "huge.csv"
    path.write_text("\n".join(lines) + "\n")
    parts = list(read_chunks(path, chunk_bytes=4096, limits=Limits(max_field_chars=1000)))
    assert sum(len(p.frame) for p in parts) == 51
    rejected = [(int(p.lines[i]), r) for p in parts for i, r in zip(p.problems["position"], p.problems["reason"])]
    assert len(rejected) == 1 and rejected[0][0] == 21 and "no line end" in rejected[0][1]


def test_folders_and_globs_name_their_files(tmp_path):
    for name in ("b.csv", "a.parquet", "notes.md"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in manifest_files([tmp_path])] == ["a.parquet", "b.csv"]
    assert [p.name for p in manifest_files([str(tmp_path / "*.csv"), tmp_path / "b.csv"])] == ["b.csv"]
    with pytest.raises(FileNotFoundError, match="no such file, folder or matching files"):
        manifest_files([str(tmp_path / "*.xlsx")])


@pytest.mark.parametrize("values", [4, 40])
@pytest.mark.parametrize("form", ["D{:05d}", "DECLARATION-2026-{:07d}", "\u00e9\u4e2d{}"])
def test_global_ranks_break_ties_by_declaration_id_like_a_whole_request(form, values, monkeypatch):
    """Ids that differ early, ids sharing their first 16 bytes (whole ids read for those), and
    ids beyond ASCII; ids read, and ties sorted, a slice of 64 tied rows at a time: with 4
    margins each run of ties is larger than a slice, with 40 a slice holds several runs."""
    monkeypatch.setattr(ranking, "_TIE_SLICE", 64)
    rng = np.random.default_rng(3)
    margin = rng.choice(rng.normal(size=values), size=500)  # many ties
    ids = np.array([form.format(int(i)) for i in rng.permutation(500)], dtype=object)
    asked = []
    got = global_ranks(margin, lambda rows: asked.append(len(rows)) or ids[rows])
    expected = np.empty(500, dtype=np.int64)  # Python's own sort: margin descending, then id (code points)
    expected[sorted(range(500), key=lambda i: (-margin[i], ids[i]))] = np.arange(1, 501)
    assert got.tolist() == expected.tolist() == ranks(margin, ids).tolist()
    assert max(asked) <= (500 if form.startswith("DECL") else 64)


@pytest.fixture(scope="module")
def manifest_csv(world, tmp_path_factory):
    """New declarations over several days (new ids), a broken row and an id repeated far apart."""
    days = world[world["declaration_date"] >= world["declaration_date"].max() - pd.Timedelta(days=20)]
    frame = days.drop(columns=["inspected", "contraband", "seized_value_usd", "outcome_date"], errors="ignore")
    frame = frame.sample(frac=1.0, random_state=1).head(4000).copy()  # days out of order
    frame["declaration_id"] = "N" + frame["declaration_id"].astype(str)
    frame["hs_code"] = frame["hs_code"].astype(str)
    frame.iloc[10, frame.columns.get_loc("hs_code")] = "38"  # rejected by the contract
    frame.iloc[3900, frame.columns.get_loc("declaration_id")] = frame["declaration_id"].iloc[5]  # a repeat
    path = tmp_path_factory.mktemp("batch") / "manifest.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("score_rows, processes", [(None, None), (1_000, 1), (1_000, 2)])
def test_streamed_scores_are_the_whole_input_scores(trained, world_history, manifest_csv, tmp_path, monkeypatch,
                                                    score_rows, processes):
    """With parts scored whole, and in blocks of 1,000 rows through the batch's kept series, here
    or in two forked processes."""
    if score_rows is not None:
        monkeypatch.setattr("contraband.models.batch.SCORE_ROWS", score_rows)
    detector = trained.detector
    whole_store = clone(world_history, tmp_path / "whole.db")
    loaded = load_declarations(manifest_csv)
    whole = scores(detector, loaded.columns, whole_store, budget=0.05, exploration=0.1, flag_by="budget").frame()
    whole["declaration_id"] = loaded.columns.cells("declaration_id")

    stream_store = clone(world_history, tmp_path / "stream.db")
    out = tmp_path / "scored.csv"
    report = score_batch(detector, [manifest_csv], stream_store, out, budget=0.05, exploration=0.1,
                         chunk_bytes=60_000, processes=processes)
    assert report.chunks > 10 and report.scored == len(whole) == 3998 and report.rejected == 2
    written = pd.read_csv(out, dtype={"declaration_id": str}, keep_default_na=False, na_values=[""])
    assert len(written) == 4000  # nothing lost
    scored = written[written["rank"].notna()].set_index("declaration_id")
    expected = whole.set_index("declaration_id").loc[scored.index]
    np.testing.assert_array_equal(scored["risk_score"].to_numpy(), expected["risk_score"].to_numpy())
    for column in ("rank", "flagged", "exploration"):
        assert scored[column].astype(expected[column].dtype).tolist() == expected[column].tolist(), column
    for column in ("reason_1", "reason_2", "reason_3"):
        assert scored[column].fillna("").tolist() == expected[column].tolist(), column
    # the list: highest risk first, the rejected rows last with their line and reason
    assert written["rank"].iloc[:3998].tolist() == list(range(1, 3999))
    bad = written.iloc[3998:]
    assert bad["rejected_because"].str.len().gt(0).all() and bad["reason_1"].isna().all()  # a rejection is no reason
    assert written["rejected_because"].iloc[:3998].isna().all()
    assert sorted(bad["line"]) == [12, 3902] and "first at line 7" in bad["rejected_because"].iloc[-1]
    # the budget is the top 5 % of the whole input, not of each chunk
    assert report.flagged == flag_count(3998, 0.05) == int(written["flagged"].sum())
    # and both recorded the same history
    assert whole_store.summary()["declarations"] == stream_store.summary()["declarations"]


def test_streamed_parquet_output_and_a_folder_of_files(trained, world_history, manifest_csv, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    frame = pd.read_csv(manifest_csv, dtype=str)
    frame.iloc[:2000].to_csv(folder / "a.csv", index=False)
    frame.iloc[2000:].to_parquet(folder / "b.parquet", index=False)
    store = clone(world_history, tmp_path / "h.db")
    out = tmp_path / "scored.parquet"
    report = score_batch(trained.detector, [folder], store, out, chunk_bytes=100_000, chunk_rows=500)
    written = pd.read_parquet(out)
    assert len(written) == 4000 and report.files == [str(folder / "a.csv"), str(folder / "b.parquet")]
    assert written["rank"].iloc[:report.scored].tolist() == list(range(1, report.scored + 1))
    assert set(written["file"].dropna()) == {str(folder / "a.csv"), str(folder / "b.parquet")}


# the child's own peak: VmHWM (its ru_maxrss would carry pytest's own high-water mark across
# fork and exec, and hide the child's)
_PEAK = """
import sys
from contraband.data.history import open_history
from contraband.models.batch import score_batch
from contraband.models.tracking import load_detector
detector = load_detector("models:/contraband-detector@champion")
store = open_history(sys.argv[2])
score_batch(detector, [sys.argv[1]], store, sys.argv[3], chunk_bytes=2 * 2**20)
print(next(int(line.split()[1]) // 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


@pytest.mark.slow
def test_memory_stays_bounded_on_an_input_far_larger_than_the_chunk(registry, world, world_history, tmp_path):
    """Two inputs 17 and 34 times the chunk, both touching every entity of the store (what
    the store's reads cost is the same for both). Doubling the input adds the per-row arrays of
    the whole-input budget and a pending batch per sorted run: about 380 bytes per added row
    here (51 per row from 1M to 10M rows, docs/benchmarks.md). Keeping each chunk's declarations
    alive would add over 1 kB per row (a 32 MB chunk's frames alone: 1.15 kB a row)."""
    frame = world.drop(columns=["inspected", "contraband", "seized_value_usd", "outcome_date"], errors="ignore")
    paths = {}
    for copies in (2, 4):  # the world again under new ids
        paths[copies] = tmp_path / f"copies-{copies}.csv"
        with open(paths[copies], "w") as f:
            for k in range(copies):
                copy = frame.assign(declaration_id=f"R{k}-" + frame["declaration_id"].astype(str))
                copy.to_csv(f, index=False, header=k == 0)
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry.uri}
    peaks = {}
    for copies, path in paths.items():
        store = clone(world_history, tmp_path / f"{copies}.db")
        store.close()
        run = subprocess.run([sys.executable, "-c", _PEAK, str(path), str(tmp_path / f"{copies}.db"),
                              str(tmp_path / f"{copies}-out.csv")], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-3000:]
        peaks[copies] = int(run.stdout.split()[-1])
    assert len(pd.read_csv(tmp_path / "4-out.csv", usecols=["rank"])) == 4 * len(frame)
    assert os.path.getsize(paths[4]) > 30 * 2 * 2**20  # over 30 chunks
    per_added_row = (peaks[4] - peaks[2]) * 2**20 / (2 * len(frame))
    assert per_added_row < 1000, (peaks, per_added_row)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """One model cache for the module's runs of ``contraband score``: the first copies the model
    and compiles its trees there, the others read them (as a second run on one machine would)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.mark.parametrize("mode", ["bar", "lines"])
def test_the_score_command_shows_its_progress(registry, world_history, manifest_csv, model_cache, tmp_path,
                                              monkeypatch, mode):
    from click.testing import CliRunner

    from contraband.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    monkeypatch.setenv("CONTRABAND_MODEL_CACHE", str(model_cache))
    store = clone(world_history, tmp_path / "h.db")
    store.close()
    result = CliRunner().invoke(main, ["score", str(manifest_csv), "-o", str(tmp_path / "out.csv"), "--history",
                                       str(tmp_path / "h.db"), "--progress", mode, "--chunk-mb", "0.1"])
    assert result.exit_code == 0, result.output
    # the registered model read through the service's cache, its trees compiled and cached there (in another
    # process: LightGBM scores until they are ready, and says so)
    from contraband.models.compiled import PENDING

    assert "compiled trees (lleaves" in result.stderr or PENDING in result.stderr
    # (the champion's version: other suites may have promoted another in the shared registry)
    assert list((model_cache / "contraband-detector").glob("*/served.json"))
    deadline = time.time() + 180
    while not list((model_cache / "compiled").glob("*.o")) and time.time() < deadline:
        time.sleep(0.5)
    assert list((model_cache / "compiled").glob("*.o"))
    for stage in ("reading and recording", "scoring", "explaining"):
        assert stage in result.stderr
    if mode == "bar":  # tqdm: redrawn in place, a bar, a rate
        assert "\r" in result.stderr and "100%|" in result.stderr and "rows/s" in result.stderr
    else:  # a log: whole lines only
        assert "\r" not in result.stderr and "scoring: 3,998 rows of 3,998 rows (100%)" in result.stderr
    assert "3,998 valid, 2 rejected" in result.stdout and "flagged for inspection at a 5% budget" in result.stdout


def test_score_queue_adds_lanes_within_the_policy_and_opens_the_cases(registry, world_history, manifest_csv,
                                                                       model_cache, tmp_path, monkeypatch):
    """``contraband policy set``, ``rules add``, ``score --queue``, ``rules list``, ``cases list`` and
    ``audit export`` on one store."""
    from click.testing import CliRunner

    from contraband.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    monkeypatch.setenv("CONTRABAND_MODEL_CACHE", str(model_cache))
    history = str(tmp_path / "h.db")
    clone(world_history, tmp_path / "h.db").close()
    runner = CliRunner()
    said = runner.invoke(main, ["policy", "set", "--red-share", "0.05", "--yellow-count", "3", "--history", history])
    assert said.exit_code == 0 and "policy version 1 set" in said.output, said.output
    bad = runner.invoke(main, ["policy", "set", "--red-share", "0.05", "--red-count", "2", "--yellow-count", "3",
                               "--history", history])
    assert bad.exit_code == 2 and "one of them" in bad.output
    prefix = pd.read_csv(manifest_csv, dtype=str)["hs_code"].str[:4].value_counts().index[0]
    (tmp_path / "rule.toml").write_text(f'''name = "commonest heading"
lane = "yellow"
rationale = "a test of the rules"
instructions = "check the packing list"
[conditions]
hs_prefixes = ["{prefix}"]
''')
    made = runner.invoke(main, ["rules", "add", str(tmp_path / "rule.toml"), "--history", history])
    assert made.exit_code == 0 and made.output.startswith("R-1 (version 1, yellow)"), made.output
    (tmp_path / "bad.json").write_text('{"name": "x", "lane": "green", "rationale": "y", "conditions": {}}')
    refused = runner.invoke(main, ["rules", "add", str(tmp_path / "bad.json"), "--history", history])
    assert refused.exit_code == 2 and "red or yellow" in refused.output
    out = tmp_path / "out.csv"
    result = runner.invoke(main, ["score", str(manifest_csv), "-o", str(out), "--history", history, "--progress",
                                  "none", "--queue"])
    assert result.exit_code == 0, result.output
    assert "lanes under policy version 1" in result.output
    listed = pd.read_csv(out, dtype=str, keep_default_na=False)
    scored = listed[listed["risk_score"] != ""]
    assert (listed.loc[listed["risk_score"] == "", "lane"] == "").all()  # rejected rows: no lane
    assert not listed["exploration"].isin(["True", "true", "1"]).any()  # the control is the one random mechanism
    strength = {"green": 0, "yellow": 1, "red": 2}
    for _, day in scored.groupby("declaration_date"):  # the model's own lanes fill the capacities exactly
        assert (day["model_lane"] == "red").sum() == int(np.floor(0.05 * len(day) + 0.5))
        assert (day["model_lane"] == "yellow").sum() == min(3, len(day) - (day["model_lane"] == "red").sum())
    # rules and the control sit beside the capacities: they only ever raise the model's lane
    assert (scored["lane"].map(strength) >= scored["model_lane"].map(strength)).all()
    raised = scored[scored["lane"].map(strength) > scored["model_lane"].map(strength)]
    assert raised["lane_source"].isin(["rule", "control"]).all()
    assert (scored["case_id"] != "").sum() == scored["lane"].isin(["red", "yellow"]).sum()
    inspected = scored[scored["lane"].isin(["red", "yellow"])]
    assert (inspected["reason_1"] != "").all()  # every declaration sent to inspection says why
    beyond = inspected[~inspected["flagged"].isin(["True", "true", "1"])]
    assert len(beyond)  # the rule and the control chose some beyond the model's flag: they were explained
    by_rule = scored[scored["lane_source"] == "rule"]
    assert len(by_rule) and by_rule["hs_code"].str.startswith(prefix).all()
    listed = runner.invoke(main, ["rules", "list", "--history", history])
    hits = int(scored["hs_code"].str.startswith(prefix).sum())
    assert "R-1" in listed.output and f"{hits:>7,}" in listed.output, listed.output
    assert runner.invoke(main, ["rules", "retire", "R-1", "--reason", "done", "--history", history]).exit_code == 0
    queue = tmp_path / "cases.csv"
    assert runner.invoke(main, ["cases", "list", "--state", "open", "-o", str(queue), "--history", history]).exit_code == 0
    cases = pd.read_csv(queue, dtype=str)
    assert sorted(cases["case_id"]) == sorted(scored.loc[scored["case_id"] != "", "case_id"])
    shown = runner.invoke(main, ["performance", "--json", "--history", history])
    figures = json.loads(shown.output)
    assert figures["declarations"] == len(scored) and figures["by_lane"]["red"]["declarations"] == (
        scored["lane"] == "red").sum()
    trail = tmp_path / "audit.csv"
    assert runner.invoke(main, ["audit", "export", "-o", str(trail), "--history", history]).exit_code == 0
    assert list(pd.read_csv(trail)["action"]) == ["policy.set", "rule.add", "select", "rule.retire"]


@pytest.mark.slow
def test_the_score_command_with_a_postgresql_history_records_and_scores_as_with_sqlite(
        registry, world_history, server_world_history, manifest_csv, tmp_path, monkeypatch):
    """``contraband score --history postgresql://...`` end to end: the same list, scores, flags and
    reasons as on the SQLite file, the same declarations recorded, and no password printed."""
    from click.testing import CliRunner

    from contraband.cli import main
    from contraband.data.history import open_history
    from postgres import PASSWORD

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    copy = clone(server_world_history, tmp_path / "score")
    server = location(copy)
    copy.close()
    clone(world_history, tmp_path / "h.db").close()
    written, said = {}, {}
    for name, history in (("sqlite", str(tmp_path / "h.db")), ("postgresql", server)):
        out = tmp_path / f"{name}.csv"
        result = CliRunner().invoke(main, ["score", str(manifest_csv), "-o", str(out), "--history", history,
                                           "--progress", "none", "--chunk-mb", "0.2"])
        assert result.exit_code == 0, result.output
        written[name] = pd.read_csv(out, dtype={"declaration_id": str}, keep_default_na=False, na_values=[""])
        said[name] = result.output
    pd.testing.assert_frame_equal(written["postgresql"], written["sqlite"])
    assert written["sqlite"]["rank"].notna().sum() == 3998
    assert "3,998 new in postgresql://contraband:***@127.0.0.1:" in said["postgresql"]
    assert PASSWORD not in said["postgresql"]
    on_file, on_server = open_history(tmp_path / "h.db"), open_history(server)
    assert {**on_server.summary(), "url": ""} == {**on_file.summary(), "url": ""}
    pd.testing.assert_frame_equal(on_server.declarations(), on_file.declarations())
    on_server.close()


def test_a_batch_re_sending_an_inspected_declaration_with_other_values_rejects_it_alone(trained, world, world_history,
                                                                                       tmp_path):
    """The nightly batch must not clear a trader's record: a recorded declaration with an
    inspection, re-sent with other values, is rejected with the store's reason while the rest of
    the file is scored, and an uninspected one re-sent with other values is an amendment."""
    from history_helpers import counts

    from contraband.data.history.versions import LOCKED

    store = clone(world_history, tmp_path / "h.db")
    seized = world[(world["inspected"] == 1) & (world["contraband"] == 1)].iloc[0]
    plain = world[world["inspected"] == 0].iloc[0]
    exporter = seized["exporter_id"]
    before = counts(store, "exporter", exporter, "2030-01-01")
    fresh = world.tail(300).drop(columns=["inspected", "contraband", "seized_value_usd", "outcome_date"],
                                 errors="ignore").assign(declaration_id=lambda f: "F" + f["declaration_id"].astype(str))
    changed = pd.DataFrame([seized, plain])[fresh.columns.drop("declaration_id").insert(0, "declaration_id")]
    changed = changed.assign(exporter_id="EXCLEAN01", goods_description="wooden furniture")
    path = tmp_path / "resent.csv"
    pd.concat([fresh.iloc[:150], changed, fresh.iloc[150:]]).to_csv(path, index=False)
    report = score_batch(trained.detector, [path], store, tmp_path / "out.csv", chunk_bytes=20_000)
    assert (report.scored, report.rejected, report.refused) == (301, 1, 1)
    written = pd.read_csv(tmp_path / "out.csv", dtype={"declaration_id": str}, keep_default_na=False, na_values=[""])
    assert len(written) == 302
    refused = written[written["declaration_id"] == seized["declaration_id"]]
    assert refused["rank"].isna().all() and LOCKED in refused["rejected_because"].iloc[0]
    assert refused["line"].iloc[0] == 152  # the line of the file it came from
    assert counts(store, "exporter", exporter, "2030-01-01") == before  # its record is untouched
    assert store.declarations(ids=[seized["declaration_id"]]).loc[0, "exporter_id"] == exporter
    assert [v["version"] for v in store.declaration_versions(plain["declaration_id"])] == [1, 2]


_KILLED = """
import sys
from contraband.data.history import open_history
from contraband.models.batch import score_batch
from contraband.models.tracking import load_detector
detector = load_detector("models:/contraband-detector@champion")
store = open_history(sys.argv[2])

class Progress:
    def __init__(self, label, total=None, unit="rows"):
        self.label = label
    def update(self, n=1, **info):
        if self.label == "reading and recording" and info.get("rows", 0) > 20_000:
            print("recording", flush=True)
            import time
            time.sleep(60)  # killed here, halfway through the input
    def close(self):
        pass

score_batch(detector, [sys.argv[1]], store, sys.argv[3], chunk_bytes=400_000, spool=sys.argv[4],
            progress=Progress)
"""


@pytest.mark.slow
def test_a_batch_killed_midway_leaves_neither_its_spool_nor_half_moved_series_after_the_next_run(
        registry, world, world_history, tmp_path, monkeypatch):
    from history_helpers import snapshot

    from contraband.data.history import open_history

    frame = world.drop(columns=["inspected", "contraband", "seized_value_usd", "outcome_date"], errors="ignore")
    frame = frame.tail(60_000).assign(declaration_id=lambda f: "K" + f["declaration_id"].astype(str))
    path = tmp_path / "batch.csv"
    frame.to_csv(path, index=False)
    clone(world_history, tmp_path / "h.db").close()
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry.uri}
    job = subprocess.Popen([sys.executable, "-c", _KILLED, str(path), str(tmp_path / "h.db"), str(tmp_path / "out.csv"),
                            str(spool)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert job.stdout.readline().strip() == "recording", job.stderr.read()[-3000:]
    job.kill()  # SIGKILL: no finally, no cleanup
    job.wait(timeout=30)
    assert [p.name for p in spool.iterdir()][0].startswith("contraband-batch-")  # what a kill leaves
    mine = spool / "contraband-batch-notes"  # a folder of the same name that is not a spool: kept
    mine.mkdir()
    (mine / "notes.txt").write_text("an analyst's")
    os.utime(mine, (0, 0))
    store = open_history(tmp_path / "h.db")
    assert store.summary()["recording"], "the killed run's recording is unfinished"
    written = store.summary()["declarations"] - len(world_history.declarations())
    assert 20_000 <= written < len(frame)
    store.close()
    # the next run, on a small file: it removes the dead run's spool and finishes its recording
    path_small = tmp_path / "small.csv"
    frame.head(50).to_csv(path_small, index=False)
    from click.testing import CliRunner

    from contraband.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    result = CliRunner().invoke(main, ["score", str(path_small), "-o", str(tmp_path / "small-out.csv"), "--history",
                                       str(tmp_path / "h.db"), "--spool", str(spool), "--progress", "none"])
    assert result.exit_code == 0, result.output
    assert list(spool.iterdir()) == [mine] and (mine / "notes.txt").exists()
    store = open_history(tmp_path / "h.db")
    assert store.summary()["recording"] == []
    state = snapshot(store)
    store.rebuild()
    assert snapshot(store) == state  # every declaration the killed run wrote counts, once
    assert not list(tmp_path.glob("h.db-recording-*"))


def test_a_scoring_process_killed_outright_fails_the_batch_in_one_line_and_leaves_no_spool(
        registry, world_history, manifest_csv, tmp_path, monkeypatch):
    """A forked process that dies mid-part (killed, out of memory) ends the command with a
    sentence, never a hang or a traceback; the spool goes; the recorded declarations stay."""
    import signal

    from click.testing import CliRunner

    import contraband.models.batch as batch
    from contraband.cli import main
    from contraband.data.history import open_history

    clone(world_history, tmp_path / "h.db").close()
    parent, margins = os.getpid(), batch.chunk_margins

    def dies_in_a_child(*args, **kwargs):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return margins(*args, **kwargs)

    monkeypatch.setattr(batch, "chunk_margins", dies_in_a_child)
    monkeypatch.setattr(batch, "SCORE_ROWS", 1_000)  # more than one block: the parts are forked
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    monkeypatch.setenv("CONTRABAND_BATCH_PROCESSES", "2")
    spool = tmp_path / "spool"
    spool.mkdir()
    result = CliRunner().invoke(main, ["score", str(manifest_csv), "-o", str(tmp_path / "out.csv"), "--history",
                                       str(tmp_path / "h.db"), "--spool", str(spool), "--progress", "none",
                                       "--chunk-mb", "0.1"])  # parts, worked on in the forked processes
    assert result.exit_code == 1, result.output
    said = result.output.strip().splitlines()[-1]
    assert said.startswith("error: a process scoring the batch") and "CONTRABAND_BATCH_PROCESSES=1" in said
    assert "Traceback" not in result.output and not list(spool.iterdir())
    store = open_history(tmp_path / "h.db")
    assert store.summary()["declarations"] == len(world_history.declarations()) + 3998  # recorded before scoring
    store.close()


@pytest.mark.parametrize("said, expected", [("", None), ("1", 1), (" 3 ", 3), ("0", "at least 1"),
                                            ("two", "whole number")])
def test_the_batch_s_processes_come_from_the_environment_or_are_one(said, expected, monkeypatch):
    from contraband.models.processes import ENV, batch_processes

    monkeypatch.setenv(ENV, said)
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            batch_processes()
    else:
        assert batch_processes() == (expected or 1)


def test_a_bad_processes_setting_is_said_before_anything_is_read(manifest_csv, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from contraband.cli import main

    monkeypatch.setenv("CONTRABAND_BATCH_PROCESSES", "two")
    result = CliRunner().invoke(main, ["score", str(manifest_csv), "-o", str(tmp_path / "out.csv"), "--history",
                                       str(tmp_path / "h.db"), "--progress", "none"])
    assert result.exit_code == 1 and result.output.strip() == (
        "error: CONTRABAND_BATCH_PROCESSES must be a whole number of processes, not 'two'")
    assert not (tmp_path / "h.db").exists() and not (tmp_path / "out.csv").exists()
