"""Detection commands: train (record, fit, evaluate, log, register, gate), evaluate a model
blind on labelled declarations, and score manifests."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from contraband.cli.common import (
    DEFAULT_MODEL_URI,
    check_output,
    encoding_option,
    fx_option,
    fx_rates,
    history_option,
    lag_option,
    load_files,
    load_model,
    mapping_option,
    open_store,
    quiet_mlflow,
    rejected_rows,
    require_rows,
    sheet_option,
    write_table,
)


@click.command()
@click.option("--data", "paths", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Declarations with inspection outcomes (repeatable); without it, everything the history "
                   "store holds, labelled by each declaration's current recorded outcome.")
@mapping_option
@fx_option
@click.option("--valid-from", help="First day of the validation window (default: 60 % into the data's days).")
@click.option("--test-from", help="First day of the test window (default: 80 % into the data's days).")
@click.option("--experiment", default="contraband", show_default=True, help="MLflow experiment.")
@click.option("--model-name", default="contraband-detector", show_default=True, help="Registered model name.")
@click.option("--promote/--no-promote", default=True, show_default=True,
              help="Run the champion gate (promote only if the new model beats the champion).")
@click.option("--force", is_flag=True, help="Promote even if the new model does not beat the champion.")
@lag_option
@history_option
def train(paths, mapping, fx, valid_from, test_from, experiment, model_name, promote, force, lag_days,
          history_location):
    """Record the data in the history, train the detector, compare it with the baselines, log it
    to MLflow and run the gate. Without --data, train on the history store itself: its
    declarations and the analysts' latest recorded outcomes (no export needed)."""
    from contraband.models import metrics as M
    from contraband.models.tracking import describe, tracking_uri
    from contraband.models.training import train as run_training

    quiet_mlflow()
    store = open_store(history_location)
    if paths:
        frame, _ = load_files(paths, mapping, fx_rates(fx))
        require_rows(frame, paths)
        data = ",".join(Path(p).name for p in paths)
    else:
        frame = store.labelled_declarations()
        data = f"history:{store.url}"
        click.echo(f"training on the history store: {len(frame):,} declarations, "
                   f"{int((frame['contraband'].notna() & (frame['inspected'] == 1)).sum()):,} with a recorded result")
        require_rows(frame, [store.url])
    click.echo(f"tracking store: {tracking_uri()}; history store: {store.url}")
    try:
        outcome = run_training(frame, store, valid_from, test_from, experiment, model_name, promote, force,
                               params={"data": data, "mapping": mapping}, lag_days=lag_days, log=click.echo,
                               record_data=bool(paths))
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo("\ntest window (scored blind), inspected rows (and *_truth: every row against the hidden truth)")
    click.echo(M.table(outcome.results))
    click.echo(f"\nMLflow run id: {outcome.run_id}")
    click.echo(f"registered: {model_name} version {outcome.version}")
    click.echo(f"gate: {describe(outcome.decision)}")


@click.command()
@click.option("--data", "paths", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False))
@mapping_option
@fx_option
@click.option("--model", "model_uri", default=DEFAULT_MODEL_URI, show_default=True, help="MLflow model URI.")
@click.option("--truth", is_flag=True, help="Evaluate every row against truth_contraband (generated data).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@history_option
def evaluate(paths, mapping, fx, model_uri, truth, as_json, history_location):
    """Measure a model on labelled declarations, blind: precision, recall and value recall at budgets.

    The declarations are recorded in the history (never their outcomes) and scored as if the model
    had been deployed on their first day: no outcome recorded from that day on counts."""
    from contraband.data.history import date_of, day_of
    from contraband.models import metrics as M
    from contraband.models.detector import labelled, labels

    say = (lambda m: click.echo(m, err=True)) if as_json else click.echo
    frame, _ = load_files(paths, mapping, fx_rates(fx), say=say)
    require_rows(frame, paths)
    if truth and "truth_contraband" not in frame:
        click.echo("error: --truth needs truth_contraband (a generated world)", err=True)
        sys.exit(1)
    lab = labelled(frame)
    if not truth and not lab.any():
        click.echo("error: no inspected rows with an outcome to evaluate against", err=True)
        sys.exit(1)
    detector = load_model(model_uri)
    store = open_store(history_location)
    say(store.ingest(frame, outcomes=False, source="evaluate").summary())
    first = day_of(frame["declaration_date"].min())
    say(f"blind: outcomes recorded from {date_of(first):%Y-%m-%d} on do not count")
    margin = detector.margin(detector.features(frame, store.blind(first)))
    if truth:
        result = M.budget_metrics(margin, frame["truth_contraband"].to_numpy().astype(int), M.truth_value(frame))
        result.update({f"recall_at_5pct_{t}": r for t, r in M.typology_recall(margin, frame).items()})
    else:
        result = M.budget_metrics(margin[lab], labels(frame)[lab], M.outcome_value(frame)[lab])
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(M.table({"model": result}, keys=tuple(k for k in result if k not in ("rows", "positives"))))
        click.echo(f"rows {result['rows']:,}, positives {result['positives']:,}")


def score_files(paths, output, model_uri, mapping, fx, budget, exploration, seed, top, history_location,
                encoding=None, sheet=None):
    """Score files into one ranked list (the ``score`` command and the demo)."""
    import numpy as np
    import pandas as pd

    from contraband.models.output import for_manifest
    from contraband.models.scoring import score as score_rows

    t0 = time.perf_counter()
    check_output(output)
    frame, results = load_files(paths, mapping, fx, encoding=encoding, sheet=sheet)
    rejected = pd.concat([r.rejected for r in results], ignore_index=True)
    bad = rejected_rows(results)
    if not len(frame):  # nothing to score: hand back the rejected rows with their reasons
        write_table(bad, output)
        click.echo(f"error: no valid declarations to score; rejected rows written to {output}", err=True)
        sys.exit(1)
    detector = load_model(model_uri)
    store = open_store(history_location)
    t1 = time.perf_counter()
    scored = score_rows(detector, frame, store, budget=budget, exploration=exploration, seed=seed,
                        flag_by="budget", source="score:" + ",".join(Path(p).name for p in paths))
    t2 = time.perf_counter()
    lines = np.concatenate([r.line_of(r.declarations.index) for r in results])
    out = for_manifest(frame, scored, rejected, lines=lines, rejected_rows=bad)
    write_table(out, output)
    flagged = int(scored["flagged"].sum())
    click.echo(f"scored {len(frame):,} declarations in {t2 - t1:.1f} s ({len(frame) / max(t2 - t1, 1e-9):,.0f} rows/s, "
               f"recorded in {store.url}); {flagged:,} flagged for inspection at a {budget:.0%} budget "
               f"({int(scored['exploration'].sum()):,} exploration picks); wrote {output} ({time.perf_counter() - t0:.1f} s)")
    if top:
        best = out[out["flagged"] == True].head(top)  # noqa: E712
        for _, r in best.iterrows():
            click.echo(f"#{int(r['rank']):<4} {r['risk_score']:.3f}  {r['declaration_id']}  HS {r['hs_code']}  "
                       f"{str(r.get('goods_description', '')):<28.28}  {r['origin_country']}->{r['destination_country']}  "
                       f"{r.get('exporter_id', '') if pd.notna(r.get('exporter_id')) else ''}")
            for k in (1, 2, 3):
                reason = r[f"reason_{k}"]
                if isinstance(reason, str) and reason:
                    click.echo(f"        - {reason}")
    return out


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Scored .csv or .parquet.")
@click.option("--model", "model_uri", default=DEFAULT_MODEL_URI, show_default=True, help="MLflow model URI.")
@mapping_option
@fx_option
@click.option("--budget", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Share of declarations to flag for inspection.")
@click.option("--exploration", default=0.1, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Share of the budget reserved for exploration picks.")
@click.option("--seed", default=0, show_default=True, help="Seed of the exploration picks.")
@click.option("--top", default=10, show_default=True, help="Print this many flagged declarations.")
@encoding_option
@sheet_option
@history_option
def score(paths, output, model_uri, mapping, fx, budget, exploration, seed, top, encoding, sheet, history_location):
    """Score manifests (CSV, XLSX, Parquet): risk score, rank, flag, exploration mark and reasons
    for every row; rejected rows come last with their line, problems and cells as received.

    The declarations are recorded in the history store first: tomorrow they are history."""
    score_files(paths, output, model_uri, mapping, fx_rates(fx), budget, exploration, seed, top, history_location,
                encoding, sheet)
