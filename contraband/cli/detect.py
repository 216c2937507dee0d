"""Detection commands: train (record, fit, evaluate, log, register, gate), evaluate a model
blind on labelled declarations, and score manifests."""

from __future__ import annotations

import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import click

from contraband.cli.common import (
    DEFAULT_MODEL_URI,
    check_output,
    cli_actor,
    encoding_option,
    engine_options,
    fx_option,
    fx_rates,
    history_option,
    lag_option,
    load_files,
    load_model,
    mapping_option,
    open_store,
    quiet_mlflow,
    require_rows,
    sheet_option,
    start_engine,
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
@engine_options
def train(paths, mapping, fx, valid_from, test_from, experiment, model_name, promote, force, lag_days,
          history_location, engine_name, scheduler, workers):
    """Record the data in the history, train the detector, compare it with the baselines, log it
    to MLflow and run the gate. Without --data, train on the history store itself: its
    declarations and the analysts' latest recorded outcomes (no export needed)."""
    from contraband.cli.progress import steps
    from contraband.models import metrics as M
    from contraband.models.tracking import describe, tracking_uri
    from contraband.models.training import train as run_training

    log = steps(click.echo)
    quiet_mlflow()
    store = open_store(history_location, create=bool(paths))  # without --data it trains on what the store holds
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
    with ExitStack() as stack:
        engine = start_engine(stack, engine_name, scheduler, workers)
        try:
            outcome = run_training(frame, store, valid_from, test_from, experiment, model_name, promote, force,
                                   params={"data": data, "mapping": mapping, "engine": engine_name}, lag_days=lag_days,
                                   log=log, record_data=bool(paths), engine=engine)
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
    store = open_store(history_location, create=True)
    say(store.ingest(frame, outcomes=False, source="evaluate").summary())
    first = day_of(frame["declaration_date"].min())
    say(f"blind: outcomes recorded from {date_of(first):%Y-%m-%d} on do not count")
    from contraband.models.scoring import margins

    margin = margins(detector, frame, store.blind(first))[1]
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
                encoding=None, sheet=None, chunk_mb=None, progress="auto", spool=None, engine_name="pandas",
                scheduler=None, workers=None):
    """Score files into one ranked list, streamed in chunks (the ``score`` command and the demo)."""
    with ExitStack() as stack:
        engine = start_engine(stack, engine_name, scheduler, workers)
        return _score_files(engine, paths, output, model_uri, mapping, fx, budget, exploration, seed, top,
                            history_location, encoding, sheet, chunk_mb, progress, spool)


def _score_files(engine, paths, output, model_uri, mapping, fx, budget, exploration, seed, top, history_location,
                 encoding, sheet, chunk_mb, progress, spool):
    from contraband.cli.progress import reporter
    from contraband.data.intake import IntakeError
    from contraband.data.load import ContractError
    from contraband.data.mapping import MappingError, load_mapping
    from contraband.models.processes import ProcessFailed, batch_processes

    t0 = time.perf_counter()
    check_output(output)
    try:
        m = load_mapping(mapping) if mapping else None
        batch_processes()  # a bad CONTRABAND_BATCH_PROCESSES, said before anything is read
    except (MappingError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    from contraband.data.history import BATCH_MEMORY_MAP

    store = open_store(history_location, memory_map=BATCH_MEMORY_MAP, create=True)
    detector = load_model(model_uri)
    try:
        report = engine.score(detector, paths, store, output, mapping=m, fx=fx, encoding=encoding, sheet=sheet,
                              budget=budget, exploration=exploration, seed=seed,
                              source="score:" + ",".join(Path(p).name for p in paths),
                              chunk_bytes=int(chunk_mb * 2**20) if chunk_mb else None, spool=spool,
                              progress=reporter(progress), top=top)
    except (ContractError, IntakeError, MappingError, FileNotFoundError, ProcessFailed) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: cannot write {output}: {exc}", err=True)
        sys.exit(1)
    _print_batch(report, store, budget, output, time.perf_counter() - t0, top)
    if not report.scored:
        click.echo(f"error: no valid declarations to score; rejected rows written to {output}", err=True)
        sys.exit(1)
    return report


def _print_batch(report, store, budget, output, seconds, top) -> None:
    import pandas as pd

    click.echo(f"read {report.rows_read:,} rows from {len(report.files)} file(s) in {report.chunks} chunk(s): "
               f"{report.scored:,} valid, {report.rejected:,} rejected")
    if report.rejected_reasons is not None:
        for (column, reason), n in report.rejected_reasons.head(10).items():
            click.echo(f"  {n:>8,}  {column}: {reason}")
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
    click.echo(f"scored {report.scored:,} declarations ({report.scored / max(seconds, 1e-9):,.0f} rows/s end to end; "
               f"{steps}; {report.recorded_new:,} new in {store.url}); {report.flagged:,} flagged for inspection "
               f"at a {budget:.0%} budget ({report.exploration:,} exploration picks); wrote {output} ({seconds:.1f} s)")
    if top and report.top is not None:
        best = report.top[report.top["flagged"] == True].head(top)  # noqa: E712
        for _, r in best.iterrows():
            click.echo(f"#{int(r['rank']):<4} {r['risk_score']:.3f}  {r['declaration_id']}  HS {r['hs_code']}  "
                       f"{str(r.get('goods_description', '')):<28.28}  "
                       f"{r['origin_country']}->{r['destination_country']}  "
                       f"{r.get('exporter_id', '') if pd.notna(r.get('exporter_id')) else ''}")
            for k in (1, 2, 3):
                reason = r[f"reason_{k}"]
                if isinstance(reason, str) and reason:
                    click.echo(f"        - {reason}")


@click.command()
@click.argument("paths", nargs=-1, required=True)
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
@click.option("--chunk-mb", type=click.FloatRange(min=0.01), help="Read CSV in chunks of about this many MB "
              "(default 32; Parquet and XLSX in chunks of 250,000 rows). Memory follows the chunk, not the input.")
@click.option("--progress", type=click.Choice(["auto", "bar", "lines", "none"]), default="auto", show_default=True,
              help="A bar on a terminal, plain lines in a log (auto), or nothing.")
@click.option("--spool", type=click.Path(file_okay=False), help="Folder for temporary parts (default: the system's).")
@click.option("--nice", "niceness", default=19, show_default=True, type=click.IntRange(0, 19),
              help="Run at a lower CPU priority (added niceness), so that a service on the same machine keeps "
                   "answering while the batch runs; 0: the normal priority.")
@click.option("--queue", is_flag=True, help="Give each declaration a lane under the selection policy (red, yellow, "
              "green: added to the list), and open a case for the red and yellow ones (contraband cases list).")
@history_option
@engine_options
def score(paths, output, model_uri, mapping, fx, budget, exploration, seed, top, encoding, sheet, chunk_mb, progress,
          spool, niceness, queue, history_location, engine_name, scheduler, workers):
    """Score declarations (CSV, XLSX, Parquet; files, folders or glob patterns) into one ranked list:
    risk score, rank, flag, exploration mark and reasons for every row, highest risk first;
    rejected rows come last with their file, line, problems and cells as received.

    Any size in bounded memory: the input is read in chunks, recorded in the history store
    (tomorrow it is history), scored, and the budget applies to the whole input (three passes
    over a temporary spool; the scores are those of the whole input at once). With --engine dask
    the same steps run partition by partition on a Dask cluster, with the same result."""
    if niceness:
        import os

        os.nice(niceness)  # a local cluster's workers, started from here, inherit it
    # under a policy the random control is the one random mechanism: no exploration picks beside it
    score_files(paths, output, model_uri, mapping, fx_rates(fx), budget, 0.0 if queue else exploration, seed, top,
                history_location, encoding, sheet, chunk_mb, progress, spool, engine_name, scheduler, workers)
    if queue:
        _queue(output, history_location, source="score:" + ",".join(Path(p).name for p in paths), model=model_uri)


def _queue(output, history_location, source: str, model: str) -> None:
    from contraband.desk import Desk
    from contraband.desk.desk import lane_counts
    from contraband.desk.lists import queue_list

    desk = Desk(open_store(history_location))
    detector = None

    def explain(rows):  # the list's declarations through the contract again, their features as of their day
        nonlocal detector
        from contraband.data.load import load_declarations
        from contraband.models.scoring import reasons_of
        from contraband.models.tracking import load_detector

        detector = detector or load_detector(model)
        loaded = load_declarations(rows.reset_index(drop=True), mode="lenient", source=str(output))
        texts = reasons_of(detector, loaded.columns, desk.store)
        by_id = dict(zip(loaded.columns.cells("declaration_id"), texts))
        return [by_id.get(i, []) for i in rows["declaration_id"]]

    lanes = queue_list(desk, output, actor=cli_actor(), source=source, model=model, explain=explain)
    counts = lane_counts(lanes)
    click.echo(f"lanes under policy version {desk.policy().version}: {counts['red']:,} red, "
               f"{counts['yellow']:,} yellow, {counts['green']:,} green"
               + (f"; {counts['kept']:,} kept the lane given before" if counts["kept"] else "")
               + f"; {counts['red'] + counts['yellow']:,} cases opened (contraband cases list); lanes added to "
               f"{output}")
