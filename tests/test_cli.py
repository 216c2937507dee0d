"""The ``contraband`` command line: generate and validate, run as a user runs them."""

import re
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from contraband.cli import main


def test_generate_writes_a_world_and_prints_its_summary(tmp_path):
    out = tmp_path / "world.csv"
    result = CliRunner().invoke(main, ["generate", "--rows", "5000", "--seed", "3", "--start", "2025-01-01",
                                       "--months", "12", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "5,000 declarations, 2025-01-01 to 2025-12-31" in result.output
    assert "typology" in result.output and f"wrote {out}" in result.output
    # each step is printed as it ends, with the time since the start, before the summary
    steps = [line for line in result.output.splitlines() if re.match(r"\[\s*\d+\.\d s\] ", line)]
    assert [s.split("] ")[1].split(":")[0].split(" ")[0] for s in steps] == \
        ["traders", "shipments", "declarations", "inspections", "writing"]
    assert result.output.index(steps[-1]) < result.output.index("typology")
    frame = pd.read_csv(out, dtype={"hs_code": "str"})
    assert len(frame) == 5000 and frame["hs_code"].str.len().min() >= 6


def test_generate_hard_writes_the_hard_setting_and_keeps_what_is_given(tmp_path):
    out = tmp_path / "hard.parquet"
    result = CliRunner().invoke(main, ["generate", "--hard", "--rows", "40000", "--seed", "3", "--start", "2025-01-01",
                                       "--inspection-rate", "0.02", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "decoys:" in result.output and "motor_parts" in result.output
    frame = pd.read_parquet(out)
    assert frame["truth_decoy"].sum() > 0  # decoys, marked in the hidden truth
    assert frame["inspected"].mean() == pytest.approx(0.02, rel=0.2)  # the rate given, not the setting's 0.8 %
    shifted = frame.loc[frame["truth_typology"] == "motor_parts", "declaration_date"]
    assert (shifted >= pd.Timestamp("2026-07-01")).all()  # the shift 18 months after the start
    result = CliRunner().invoke(main, ["generate", "--hard", "--rows", "5000", "--shift", "tides", "-o", str(out)])
    assert result.exit_code == 2 and "unknown shift" in result.output


def test_generate_refuses_bad_parameters(tmp_path):
    result = CliRunner().invoke(main, ["generate", "--rows", "10", "-o", str(tmp_path / "w.csv")])
    assert result.exit_code == 2 and "at least 1,000 rows" in result.output
    result = CliRunner().invoke(main, ["generate", "--rows", "5000", "-o", str(tmp_path / "w.xlsx")])
    assert result.exit_code == 2 and "choose a .csv, .csv.gz or .parquet" in result.output
    assert "typology" not in result.output  # refused before generating
    result = CliRunner().invoke(main, ["generate", "--seed", "-1", "-o", str(tmp_path / "w.csv")])
    assert result.exit_code == 2 and "--seed" in result.output


def test_validate_reports_rejected_rows_and_keeps_the_rest(tmp_path):
    path = tmp_path / "manifest.csv"
    pd.DataFrame({
        "declaration_id": ["A1", "A2"], "declaration_date": ["2025-05-01", "2025-05-02"],
        "hs_code": ["381010", "38"], "goods_description": ["solder paste", "paste"],
        "origin_country": ["CN", "CN"], "export_country": ["CN", "CN"], "destination_country": ["US", "US"],
        "net_weight_kg": ["10", "10"], "declared_value_usd": ["100", "100"],
    }).to_csv(path, index=False)
    rejected = tmp_path / "rejected.csv"
    runner = CliRunner()
    result = runner.invoke(main, ["validate", str(path), "--rejected", str(rejected)])
    assert result.exit_code == 0, result.output
    assert "2 rows read, 1 valid, 1 rejected" in result.output
    table = pd.read_csv(rejected, dtype=str)  # to fix and send again: line, id, problems, the cells as received
    assert table[["line", "declaration_id", "problems", "hs_code", "goods_description"]].values.tolist() == [
        ["3", "A2", "hs_code '38': HS code must have 6, 8 or 10 digits", "38", "paste"]]
    strict = runner.invoke(main, ["validate", str(path), "--strict"])
    assert strict.exit_code == 1 and "line 3 (row 2), column hs_code, value '38'" in strict.output


def test_validate_with_a_mapping_and_currency_rate(tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'absent = ["goods_description"]\n[fields]\ndeclaration_id = "ID"\ndeclaration_date = "Date"\n'
        'hs_code = "HS"\norigin_country = "Origin"\nexport_country = "From"\n'
        'destination_country = { value = "DE" }\nnet_weight_kg = { column = "Kg", unit = "kg" }\n'
        'declared_value_usd = { column = "Price", currency = "EUR" }\n'
    )
    data = tmp_path / "d.csv"
    data.write_text("ID,Date,HS,Origin,From,Kg,Price\n1,2025-01-02,850511,CHN,CN,5,100\n")
    runner = CliRunner()
    missing_rate = runner.invoke(main, ["validate", str(data), "--mapping", str(mapping)])
    assert missing_rate.exit_code == 1 and "no USD rate given for currency EUR" in missing_rate.output
    for bad in ("EUR=-1", "EUR=inf", "EU=1.1", "EUR=x"):
        refused = runner.invoke(main, ["validate", str(data), "--mapping", str(mapping), "--fx", bad])
        assert refused.exit_code == 2 and "Invalid value for --fx" in refused.output
    ok = runner.invoke(main, ["validate", str(data), "--mapping", str(mapping), "--fx", "EUR=1.1"])
    assert ok.exit_code == 0 and "1 valid, 0 rejected" in ok.output


def test_installed_command_runs_and_claims_no_generic_top_level_names(tmp_path):
    bindir = sys.executable.rsplit("/", 1)[0]
    out = subprocess.run([f"{bindir}/contraband", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and "generate" in out.stdout and "validate" in out.stdout
    probe = "import importlib.util as u; print([n for n in ('api','models','features','data') if u.find_spec(n)])"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert found.stdout.strip() == "[]"
    ok = subprocess.run([sys.executable, "-c", "import contraband.data, contraband.features, contraband.models, contraband.api"],
                        capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_validate_gives_one_line_errors_for_unreadable_files(tmp_path):
    files = {"empty.csv": b"", "ragged.csv": b"a,b\n1,2,3\n", "d.xlsx": b"PK", "bad.parquet": b"junk",
             "dup.csv": b"a,b,a\n1,2,3\n"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        result = CliRunner().invoke(main, ["validate", str(tmp_path / name)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), name
        assert len(result.output.strip().splitlines()) == 1 and name in result.output


def test_keys_create_prints_the_key_alone_list_never_shows_it_and_revoke_ends_it(tmp_path):
    from contraband.api.access import KeyRing
    from contraband.data.history import open_history

    store = str(tmp_path / "history.db")
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--role", "admin", "--label", "ops", "--history", store])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("cb_") and "\n" not in key and len(key) > 40
    ring = KeyRing(open_history(store))
    assert ring.identify(key)[1] == "admin"
    listed = runner.invoke(main, ["keys", "list", "--history", store])
    key_id = key.split("_")[1]
    assert key_id in listed.output and "admin" in listed.output and "ops" in listed.output
    assert key.split("_", 2)[2] not in listed.output
    assert runner.invoke(main, ["keys", "revoke", key_id, "--history", store]).exit_code == 0
    assert KeyRing(open_history(store)).identify(key) is None
    again = runner.invoke(main, ["keys", "revoke", key_id, "--history", store])
    assert again.exit_code == 1 and "no active key" in again.output
    bad = runner.invoke(main, ["keys", "create", "--role", "root", "--history", store])
    assert bad.exit_code == 2


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign", "empty"])
def test_every_command_facing_a_store_it_cannot_read_says_so_in_one_line_and_exits_1(tmp_path, world, damage):
    import sqlite3

    from contraband.data.history import open_history

    good = open_history(tmp_path / "good.db")
    good.ingest(world.head(3000), outcomes=True)
    good.close()
    data = (tmp_path / "good.db").read_bytes()
    path = tmp_path / f"{damage}.db"
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"PK\x03\x04 not a database" * 100)
    elif damage == "foreign":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE invoices (id INTEGER)")
        db.commit()
        db.close()
    else:
        path.write_bytes(b"")
    manifest = tmp_path / "m.csv"
    world.head(20).drop(columns=["inspected", "contraband", "seized_value_usd"]).to_csv(manifest, index=False)
    commands = [["history", "info"], ["history", "rebuild"], ["keys", "list"], ["retrain", "--cut-off", "2026-06-01"]]
    if damage != "empty":  # an empty file is a new store to a command that records (and it says so)
        commands += [["history", "ingest", str(manifest)], ["score", str(manifest), "-o", str(tmp_path / "o.csv")]]
    for command in commands:
        result = CliRunner().invoke(main, [*command, "--history", str(path)])
        said = [line for line in result.output.splitlines() if line.strip() and not line.startswith(f"{manifest}:")
                and not line.startswith("loaded ")]
        assert result.exit_code == 1, (command, result.output)
        assert len(said) == 1 and said[0].startswith("error: ") and str(path) in said[0], (command, result.output)
    if damage == "empty":
        created = CliRunner().invoke(main, ["history", "ingest", str(manifest), "--history", str(path)])
        assert created.exit_code == 0 and "created a new history store" in created.output
