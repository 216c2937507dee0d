"""Options and helpers the commands share: currency rates, the history store, reading
declaration files through the contract, writing results, loading a registered model."""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import ExitStack

import click

# a command-line run reports its own progress: no MLflow download bars
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

DEFAULT_MODEL_URI = "models:/contraband-detector@champion"


def fx_rates(values: tuple[str, ...]) -> dict[str, float]:
    """``--fx CODE=RATE`` options as {code: USD per unit}."""
    from contraband.data.mapping import usd_rate

    rates = {}
    for item in values:
        code, _, rate = item.partition("=")
        try:
            value = float(rate)
        except ValueError:
            value = None
        problem = usd_rate(code, value) if value is not None else f"rate {rate!r} is not a number"
        if problem:
            raise click.BadParameter(f"{item!r}: {problem}; use CODE=USD_PER_UNIT, e.g. KRW=0.00077",
                                     param_hint="--fx")
        rates[code.strip().upper()] = value
    return rates


history_option = click.option(
    "--history", "history_location", envvar="CONTRABAND_HISTORY", default="history.db", show_default=True,
    help="History store: a file (SQLite) or a database URL; also CONTRABAND_HISTORY.")
lag_option = click.option(
    "--outcome-lag-days", "lag_days", default=7, show_default=True, type=click.IntRange(min=0),
    help="Where the data gives no outcome_date, an outcome counts from its declaration date plus this many days.")
mapping_option = click.option("--mapping", type=click.Path(exists=True, dir_okay=False),
                              help="TOML mapping of another system's columns.")
fx_option = click.option("--fx", multiple=True, metavar="CODE=RATE", help="USD per unit of a currency, e.g. KRW=0.00077.")


def open_store(location: str, memory_map: int | None = None, create: bool = False):
    """The history store, or one line on standard error and exit status 1 when it cannot be
    opened (missing or empty without ``create``, damaged, truncated, foreign, unreachable). A
    store created here is announced."""
    from contraband.data.history import StoreError, open_history
    from contraband.data.history.store import shown_url

    try:
        store = open_history(location, memory_map, create=create)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # an unreachable server, a read-only folder
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        click.echo(f"error: cannot open the history store {shown_url(location)}: {reason[0] if reason else exc}",
                   err=True)
        sys.exit(1)
    if store.created:
        click.echo(f"created a new history store: {store.url}", err=True)
    return store


encoding_option = click.option("--encoding", help="Text encoding of CSV files (default: detected).")
sheet_option = click.option("--sheet", help="Sheet of XLSX files to read (default: the first).")


def load_files(paths, mapping, fx, say=click.echo, encoding=None, sheet=None):
    """Declarations from one or more files through the contract (lenient: rejections reported)."""
    import pandas as pd

    from contraband.data.load import ContractError, load_declarations
    from contraband.data.mapping import MappingError, load_mapping

    try:
        m = load_mapping(mapping) if mapping else None
        results = [load_declarations(p, m, mode="lenient", fx=fx, encoding=encoding, sheet=sheet) for p in paths]
    except (ContractError, MappingError, FileNotFoundError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for r in results:
        say(r.summary())
    frames = [r.declarations for r in results]
    frame = pd.concat(frames) if len(frames) > 1 else frames[0]
    return frame.reset_index(drop=True), results


def require_rows(frame, paths) -> None:
    if not len(frame):
        click.echo(f"error: no valid declarations in {', '.join(map(str, paths))}", err=True)
        sys.exit(1)


def check_output(output: str) -> None:
    if not output.lower().endswith((".csv", ".csv.gz", ".parquet")):
        raise click.BadParameter(f"{output}: choose a .csv, .csv.gz or .parquet file", param_hint="--output")


def write_table(frame, output: str) -> None:
    from contraband.data.export import write_table as write

    try:
        write(frame, output)
    except OSError as exc:
        click.echo(f"error: cannot write {output}: {exc}", err=True)
        sys.exit(1)


def quiet_mlflow() -> None:
    """MLflow sets its own log level when imported: lower its info chatter afterwards."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def load_model(model_uri: str):
    """The detector of ``model_uri``, its trees compiled. A registered model (``models:/NAME@ALIAS``
    or ``models:/NAME/VERSION``) is read through the service's local cache (``CONTRABAND_MODEL_CACHE``,
    default ``model-cache``): copied once per version, then loaded from disk; other URIs through
    MLflow's loader."""
    from contraband.api.champion import Champion, parse_uri
    from contraband.models.registry import tracking_uri

    t0 = time.perf_counter()
    note = ""
    try:
        try:
            parse_uri(model_uri)
        except ValueError:  # runs:/..., a folder: not a registered version
            from contraband.models.tracking import load_detector

            quiet_mlflow()
            detector = load_detector(model_uri)
            trees = detector.compile_trees()
        else:
            served = Champion(model_uri, os.environ.get("CONTRABAND_MODEL_CACHE") or "model-cache", store=None).open()
            quiet_mlflow()  # if the registry had to be asked through MLflow
            detector, trees, note = served.detector, served.trees, served.note
    except Exception as exc:  # MLflow raises several types for a missing model or alias
        click.echo(f"error: cannot load model {model_uri} from {tracking_uri()}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"loaded {model_uri} ({time.perf_counter() - t0:.1f} s; {trees}){'; ' + note if note else ''}", err=True)
    return detector


def engine_options(command):
    """``--engine``, ``--scheduler``, ``--workers``: where a command's heavy work runs."""
    command = click.option("--workers", type=click.IntRange(min=1), metavar="N",
                           help="Worker processes of the LocalCluster --engine dask starts without --scheduler "
                                "(default 2).")(command)
    command = click.option("--scheduler", metavar="ADDRESS",
                           help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (--engine dask); without it a "
                                "LocalCluster on 127.0.0.1 is started for the run.")(command)
    return click.option("--engine", "engine_name", type=click.Choice(["pandas", "dask"]), default="pandas",
                        show_default=True, help="pandas: this process; dask: a Dask cluster (the scale extra: "
                                                "pip install 'contraband[scale]').")(command)


def start_engine(stack: ExitStack, name: str = "pandas", scheduler: str | None = None, workers: int | None = None):
    """The engine chosen, closed with ``stack``; a clear error when it cannot start."""
    from contraband.engines import EngineUnavailable, open_engine

    try:
        engine = stack.enter_context(open_engine(name, scheduler, workers))
    except (EngineUnavailable, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if engine.name != "pandas":
        click.echo(f"engine: {engine.describe()}", err=True)
    return engine


def cli_actor() -> str:
    """Who a command acts as in the audit trail: ``cli:<the user running it>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"cli:uid-{os.getuid()}"
