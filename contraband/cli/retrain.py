"""``contraband retrain``: the unattended retraining job, with exit statuses a scheduler acts on."""

from __future__ import annotations

import sys
from contextlib import ExitStack

import click

from contraband.cli.common import engine_options, history_option, open_store, quiet_mlflow, start_engine


@click.command()
@click.option("--cut-off", help="Train on what the history store held before this day (YYYY-MM-DD; default: today).")
@click.option("--window-days", default=56, show_default=True, type=click.IntRange(min=7),
              help="Days of the newest window (the gate's blind comparison and the drift report's newest "
                   "rows) and of the validation window before it.")
@click.option("--experiment", default="contraband", show_default=True, help="MLflow experiment.")
@click.option("--model-name", default="contraband-detector", show_default=True, help="Registered model name.")
@click.option("--force", is_flag=True, help="Promote the challenger even if the gate does not find it better.")
@click.option("--budget", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Inspection budget of the drift report's flag rate.")
@click.option("--baselines/--no-baselines", default=True, show_default=True,
              help="Score the rules, the anomaly score and a plain LightGBM beside the challenger.")
@engine_options
@history_option
def retrain(cut_off, window_days, experiment, model_name, force, budget, baselines, engine_name, scheduler, workers,
            history_location):
    """Retrain on the history store up to a cut-off, unattended: fit a challenger, compare it with
    the champion on the same newest window (blind), promote it only if the gate says so, report
    drift (PSI of every feature, of the score and of the flag rate), log everything to MLflow.

    Exit status: 0 promoted, 3 kept (the champion stays), 1 failed. Safe to re-run: the same
    cut-off is done once (a re-run reports the first result); a run killed midway leaves the
    registry and the store as they were, and the next run with that cut-off starts again."""
    import pandas as pd

    from contraband.cli.progress import steps
    from contraband.models import metrics as M
    from contraband.models.retrain import EXIT, RetrainError, retrain as run_retrain
    from contraband.models.tracking import describe, tracking_uri

    quiet_mlflow()
    say = steps(click.echo)

    try:
        cut = pd.Timestamp(cut_off or pd.Timestamp.now().normalize())
    except ValueError:
        raise click.BadParameter(f"{cut_off!r} is not a date (YYYY-MM-DD)", param_hint="--cut-off") from None
    store = open_store(history_location)
    say(f"retraining {model_name} on {store.url} before {cut:%Y-%m-%d}; tracking store: {tracking_uri()}")
    try:
        with ExitStack() as stack:
            engine = start_engine(stack, engine_name, scheduler, workers)
            result = run_retrain(store, cut, window_days=window_days, experiment=experiment, model_name=model_name,
                                 force=force, budget=budget, baselines=baselines, log=say, engine=engine)
    except RetrainError as exc:
        click.echo(f"error: {exc}", err=True)
        click.echo(f"status: failed (exit {EXIT['failed']})")
        sys.exit(EXIT["failed"])
    except Exception as exc:  # the tracking server down, a full disk: a scheduler needs the status
        click.echo(f"error: the retraining job failed: {type(exc).__name__}: {exc}", err=True)
        click.echo(f"status: failed (exit {EXIT['failed']})")
        sys.exit(EXIT["failed"])
    if not result.repeated:
        click.echo("\nnewest window (scored blind), inspected rows")
        click.echo(M.table({k: v for k, v in result.results.items() if not k.endswith("_truth")}))
        click.echo("")
        for line in result.drift.lines():
            click.echo(line)
        click.echo(f"\nMLflow run id: {result.run_id}")
        click.echo(f"gate: {describe(result.decision)}")
    else:
        click.echo(f"gate (earlier run {result.run_id}): {result.reason}")
    click.echo(f"status: {result.status} (exit {result.exit_code})")
    sys.exit(result.exit_code)
