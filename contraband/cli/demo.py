"""``contraband demo``: the main job on embedded defaults (sqlite MLflow store, history file),
ending by serving the analyst's page on 127.0.0.1 with a fresh analyst key."""

from __future__ import annotations

from pathlib import Path

import click

from contraband.cli.common import DEFAULT_MODEL_URI, history_option
from contraband.cli.detect import score_files, train
from contraband.cli.service import run_server


@click.command()
@click.option("--rows", default=200_000, show_default=True, help="Declarations in the demo world.")
@click.option("--workdir", default="outputs", show_default=True, type=click.Path(file_okay=False))
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="End by serving the analyst's page (until Ctrl+C); --no-serve stops after scoring.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port of the page.")
@history_option
def demo(rows, workdir, serve, port, history_location):
    """The main job on embedded defaults: world -> history -> train -> register -> promote -> score
    a manifest -> serve the analyst's page."""
    import pandas as pd

    from contraband.data.contract import OUTCOME_FIELDS, is_truth_column
    from contraband.data.world import WorldConfig, generate as make_world, summarise, write

    out = Path(workdir)
    click.echo(f"[1/5] generating a world of {rows:,} declarations, 2024-11-01 to 2026-11-30")
    world = make_world(WorldConfig(rows=rows, months=25))
    click.echo(summarise(world))
    history = world[world["declaration_date"] < "2026-11-01"]
    manifest = world[world["declaration_date"] >= "2026-11-01"]
    history_path = write(history, out / "history.parquet")
    manifest = manifest[[c for c in manifest.columns if c not in OUTCOME_FIELDS and not is_truth_column(c)]]
    manifest_path = write(manifest, out / "manifest.csv")
    click.echo(f"      wrote {history_path} (history with outcomes) and {manifest_path} "
               f"(a fresh November 2026 manifest: {len(manifest):,} declarations, no outcomes)")
    click.echo("[2/5] recording the history, training beside the baselines, logging to MLflow")
    ctx = click.get_current_context()
    ctx.invoke(train, paths=(str(history_path),), mapping=None, fx=(), valid_from=None, test_from=None,
               experiment="contraband", model_name="contraband-detector", promote=True, force=False, lag_days=7,
               history_location=history_location)
    click.echo(f"[3/5] scoring {manifest_path} with {DEFAULT_MODEL_URI} against the history up to October")
    score_files((str(manifest_path),), str(out / "manifest_scored.csv"), DEFAULT_MODEL_URI, None, {},
                0.05, 0.1, 0, 10, history_location)
    scored = pd.read_csv(out / "manifest_scored.csv", usecols=["declaration_id", "flagged"])
    truth = world.loc[world["declaration_date"] >= "2026-11-01", ["declaration_id", "truth_contraband"]]
    flagged = scored[scored["flagged"] == True].merge(truth, on="declaration_id")  # noqa: E712
    click.echo(f"[4/5] hidden truth of the November manifest: {int(truth['truth_contraband'].sum())} contraband "
               f"shipments; {int(flagged['truth_contraband'].sum())} of them are among the {len(flagged):,} flagged")
    from contraband.api.access import KeyRing
    from contraband.api.settings import Settings
    from contraband.cli.common import open_store

    store = open_store(history_location)
    key = KeyRing(store).create("analyst", "demo")
    store.close()
    if not serve:
        click.echo(f"[5/5] not serving (--no-serve); an analyst key for contraband serve: {key}")
        return
    click.echo(f"[5/5] the analyst's page: http://127.0.0.1:{port}/  (API key: {key})\n"
               f"      upload {manifest_path} there; Ctrl+C stops the service")
    run_server("127.0.0.1", port, 1, Settings(history=history_location))
