"""The detection commands of ``contraband``: train, evaluate, score, and the end-to-end demo.

Registered on the ``contraband`` group by ``contraband.cli``. MLflow and LightGBM are imported
inside the commands that need them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import click

# a command-line run reports its own progress: no MLflow download bars
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _quiet_mlflow() -> None:
    """MLflow sets its own log level when imported: lower its info chatter afterwards."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)

DEFAULT_MODEL_URI = "models:/contraband-detector@champion"


def _load(paths, mapping, fx, say=click.echo):
    """Declarations from one or more files through the contract (lenient: rejections reported)."""
    import pandas as pd

    from contraband.data.load import ContractError, load_declarations
    from contraband.data.mapping import MappingError, load_mapping

    try:
        m = load_mapping(mapping) if mapping else None
        results = [load_declarations(p, m, mode="lenient", fx=fx) for p in paths]
    except (ContractError, MappingError, FileNotFoundError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for r in results:
        say(r.summary())
    frames = [r.declarations for r in results]
    frame = pd.concat(frames) if len(frames) > 1 else frames[0]
    return frame.reset_index(drop=True), results


def _require_rows(frame, paths) -> None:
    if not len(frame):
        click.echo(f"error: no valid declarations in {', '.join(map(str, paths))}", err=True)
        sys.exit(1)


def _detector(model_uri: str):
    from contraband.models.tracking import load_detector, tracking_uri

    _quiet_mlflow()
    t0 = time.perf_counter()
    try:
        detector = load_detector(model_uri)
    except Exception as exc:  # MLflow raises several types for a missing model or alias
        click.echo(f"error: cannot load model {model_uri} from {tracking_uri()}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"loaded {model_uri} ({time.perf_counter() - t0:.1f} s)", err=True)
    return detector


@click.command()
@click.option("--data", "paths", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="Declarations with inspection outcomes (repeatable).")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), help="TOML mapping of another system's columns.")
@click.option("--fx", multiple=True, metavar="CODE=RATE", help="USD per unit of a currency, e.g. KRW=0.00077.")
@click.option("--valid-from", help="First day of the validation window (default: 60 % into the data's days).")
@click.option("--test-from", help="First day of the test window (default: 80 % into the data's days).")
@click.option("--experiment", default="contraband", show_default=True, help="MLflow experiment.")
@click.option("--model-name", default="contraband-detector", show_default=True, help="Registered model name.")
@click.option("--promote/--no-promote", default=True, show_default=True,
              help="Run the champion gate (promote only if the new model beats the champion).")
@click.option("--force", is_flag=True, help="Promote even if the new model does not beat the champion.")
def train(paths, mapping, fx, valid_from, test_from, experiment, model_name, promote, force):
    """Train the detector, compare it with the baselines, log it to MLflow and run the gate."""
    from contraband.cli import _fx
    from contraband.models import metrics as M
    from contraband.models.tracking import describe, tracking_uri
    from contraband.models.training import train as run_training

    _quiet_mlflow()
    frame, _ = _load(paths, mapping, _fx(fx))
    _require_rows(frame, paths)
    click.echo(f"tracking store: {tracking_uri()}")
    try:
        outcome = run_training(frame, valid_from, test_from, experiment, model_name, promote, force,
                               params={"data": ",".join(Path(p).name for p in paths), "mapping": mapping},
                               log=click.echo)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo("\ntest window, inspected rows (and *_truth: every row against the hidden truth)")
    click.echo(M.table({k: v for k, v in outcome.results.items()}))
    click.echo(f"\nMLflow run id: {outcome.run_id}")
    click.echo(f"registered: {model_name} version {outcome.version}")
    click.echo(f"gate: {describe(outcome.decision)}")


@click.command()
@click.option("--data", "paths", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False))
@click.option("--fx", multiple=True, metavar="CODE=RATE")
@click.option("--model", "model_uri", default=DEFAULT_MODEL_URI, show_default=True, help="MLflow model URI.")
@click.option("--truth", is_flag=True, help="Evaluate every row against truth_contraband (generated data).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def evaluate(paths, mapping, fx, model_uri, truth, as_json):
    """Measure a model on labelled declarations: precision, recall and value recall at budgets."""
    from contraband.cli import _fx
    from contraband.models import metrics as M
    from contraband.models.detector import labelled, labels

    say = (lambda m: click.echo(m, err=True)) if as_json else click.echo
    frame, _ = _load(paths, mapping, _fx(fx), say=say)
    _require_rows(frame, paths)
    detector = _detector(model_uri)
    margin = detector.margin(frame)
    if truth:
        if "truth_contraband" not in frame:
            click.echo("error: --truth needs truth_contraband (a generated world)", err=True)
            sys.exit(1)
        result = M.budget_metrics(margin, frame["truth_contraband"].to_numpy().astype(int), M.truth_value(frame))
        result.update({f"recall_at_5pct_{t}": r for t, r in M.typology_recall(margin, frame).items()})
    else:
        lab = labelled(frame)
        if not lab.any():
            click.echo("error: no inspected rows with an outcome to evaluate against", err=True)
            sys.exit(1)
        result = M.budget_metrics(margin[lab], labels(frame)[lab], M.outcome_value(frame)[lab])
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(M.table({"model": result}, keys=tuple(k for k in result if k not in ("rows", "positives"))))
        click.echo(f"rows {result['rows']:,}, positives {result['positives']:,}")


def _write(frame, output: str) -> None:
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    except OSError as exc:
        click.echo(f"error: cannot write {output}: {exc}", err=True)
        sys.exit(1)


def _check_output(output: str) -> None:
    if not output.lower().endswith((".csv", ".csv.gz", ".parquet")):
        raise click.BadParameter(f"{output}: choose a .csv, .csv.gz or .parquet file", param_hint="--output")


def score_file(paths, output, model_uri, mapping, fx, budget, exploration, seed, top):
    import pandas as pd

    from contraband.models.scoring import score_declarations

    t0 = time.perf_counter()
    _check_output(output)
    frame, results = _load(paths, mapping, fx)
    if not len(frame):  # nothing to score: hand back the rejected rows with their reasons
        _write(pd.concat([r.rejected for r in results], ignore_index=True), output)
        click.echo(f"error: no valid declarations to score; rejected rows written to {output}", err=True)
        sys.exit(1)
    detector = _detector(model_uri)
    t1 = time.perf_counter()
    scored = score_declarations(detector, frame, budget=budget, exploration=exploration, seed=seed)
    t2 = time.perf_counter()
    out = pd.concat([frame.reset_index(drop=True), scored.reset_index(drop=True)], axis=1)
    out = out[[c for c in out.columns if not c.startswith("truth_")]]
    rejected = pd.concat([r.rejected for r in results if len(r.rejected)], ignore_index=True) \
        if any(len(r.rejected) for r in results) else None
    if rejected is not None:  # nothing is lost: rejected rows come back unscored, with their reasons
        reasons = rejected.groupby(["file", "row"]).apply(
            lambda g: "rejected: " + "; ".join(f"{c} {v!r}: {r}" for c, v, r in zip(g["column"], g["value"], g["reason"])),
            include_groups=False).rename("reason_1").reset_index()
        out = pd.concat([out, reasons], ignore_index=True)
    _write(out.sort_values("rank", na_position="last", kind="stable"), output)
    flagged = int(scored["flagged"].sum())
    click.echo(f"scored {len(frame):,} declarations in {t2 - t1:.1f} s ({len(frame) / max(t2 - t1, 1e-9):,.0f} rows/s); "
               f"{flagged:,} flagged for inspection at a {budget:.0%} budget "
               f"({int(scored['exploration'].sum()):,} exploration picks); wrote {output} ({time.perf_counter() - t0:.1f} s)")
    if top:
        best = out[out["flagged"] == True].sort_values("rank").head(top)  # noqa: E712
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
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False))
@click.option("--fx", multiple=True, metavar="CODE=RATE")
@click.option("--budget", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Share of declarations to flag for inspection.")
@click.option("--exploration", default=0.1, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Share of the budget reserved for exploration picks.")
@click.option("--seed", default=0, show_default=True, help="Seed of the exploration picks.")
@click.option("--top", default=10, show_default=True, help="Print this many flagged declarations.")
def score(paths, output, model_uri, mapping, fx, budget, exploration, seed, top):
    """Score a manifest: risk score, rank, flag, exploration mark and reasons for every row."""
    from contraband.cli import _fx

    score_file(paths, output, model_uri, mapping, _fx(fx), budget, exploration, seed, top)


@click.command()
@click.option("--rows", default=200_000, show_default=True, help="Declarations in the demo world.")
@click.option("--workdir", default="outputs", show_default=True, type=click.Path(file_okay=False))
def demo(rows, workdir):
    """The main job on embedded defaults: world -> train -> register -> promote -> score a manifest."""
    from contraband.data.contract import OUTCOME_FIELDS, is_truth_column
    from contraband.data.world import WorldConfig, generate as make_world, summarise, write

    out = Path(workdir)
    click.echo(f"[1/4] generating a world of {rows:,} declarations, 2024-11-01 to 2026-11-30")
    world = make_world(WorldConfig(rows=rows, months=25))
    click.echo(summarise(world))
    history = world[world["declaration_date"] < "2026-11-01"]
    manifest = world[world["declaration_date"] >= "2026-11-01"]
    history_path = write(history, out / "history.parquet")
    manifest = manifest[[c for c in manifest.columns if c not in OUTCOME_FIELDS and not is_truth_column(c)]]
    manifest_path = write(manifest, out / "manifest.csv")
    click.echo(f"      wrote {history_path} (history with outcomes) and {manifest_path} "
               f"(a fresh November 2026 manifest: {len(manifest):,} declarations, no outcomes)")
    click.echo("[2/4] training on the history, beside the baselines; logging to MLflow")
    ctx = click.get_current_context()
    ctx.invoke(train, paths=(str(history_path),), mapping=None, fx=(), valid_from=None, test_from=None,
               experiment="contraband", model_name="contraband-detector", promote=True, force=False)
    click.echo(f"[3/4] scoring {manifest_path} with {DEFAULT_MODEL_URI}")
    scored = score_file((str(manifest_path),), str(out / "manifest_scored.csv"), DEFAULT_MODEL_URI, None, {},
                        0.05, 0.1, 0, 10)
    truth = world.loc[world["declaration_date"] >= "2026-11-01", ["declaration_id", "truth_contraband"]]
    flagged = scored[scored["flagged"] == True].merge(truth, on="declaration_id")  # noqa: E712
    click.echo(f"[4/4] hidden truth of the November manifest: {int(truth['truth_contraband'].sum())} contraband "
               f"shipments; {int(flagged['truth_contraband'].sum())} of them are among the {len(flagged):,} flagged")
