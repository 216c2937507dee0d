"""Data commands: generate a synthetic world, check files against the contract, and the
history store (record declarations and outcomes, amend recorded declarations, show a
declaration's versions and what the store holds, finish killed recordings, rebuild its series)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from contraband.cli.common import (
    encoding_option,
    fx_option,
    fx_rates,
    history_option,
    lag_option,
    load_files,
    mapping_option,
    open_store,
    require_rows,
    sheet_option,
    write_table,
)


@click.command()
@click.option("--rows", default=200_000, show_default=True, help="Declarations to generate.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Random seed (same seed, same world).")
@click.option("--start", default="2024-11-01", show_default=True, help="First declaration date.")
@click.option("--months", default=24, show_default=True, help="Months of trade.")
@click.option("--prevalence", default=0.003, show_default=True, help="Share of declarations carrying contraband.")
@click.option("--inspection-rate", default=0.03, show_default=True, help="Share of declarations inspected.")
@click.option("--inspection-policy", default="rules", show_default=True, type=click.Choice(["rules", "value", "random"]),
              help="How inspections are chosen: the legacy risk rules plus a random share, rules on "
                   "declared value and weight only, or at random.")
@click.option("--shift", default="", metavar="LIST",
              help="From --shift-from on the smugglers change: a comma list of hubs (other "
                   "transshipment countries), cover (other cover goods, values matched to the cover's "
                   "norm), typology (a new typology), motor_parts (a second one).")
@click.option("--shift-from", default=None, metavar="DATE", help="First day of the shift.")
@click.option("--hard", is_flag=True,
              help="The hard setting: few labels from weak rules, established fronts, mild physics, decoys, and "
                   "a shift 18 months after --start (docs/data.md); options given explicitly still apply.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .csv or .parquet.")
@click.pass_context
def generate(ctx, rows, seed, start, months, prevalence, inspection_rate, inspection_policy, shift, shift_from, hard,
             output):
    """Generate a synthetic customs world (contract columns plus hidden truth_* columns)."""
    from click.core import ParameterSource

    from contraband.data.world import WorldConfig, hard_world, summarise, write
    from contraband.data.world import generate as make_world

    suffix = "".join(Path(output).suffixes[-2:]).lower()
    if not suffix.endswith((".csv", ".csv.gz", ".parquet")):
        raise click.BadParameter(f"{output}: choose a .csv, .csv.gz or .parquet file", param_hint="--output")
    settings = {"rows": rows, "seed": seed, "start": start, "months": months, "prevalence": prevalence,
                "inspection_rate": inspection_rate, "inspection_policy": inspection_policy,
                "shift": tuple(part.strip() for part in shift.split(",") if part.strip()), "shift_from": shift_from}
    try:
        if hard:
            own = ("inspection_rate", "inspection_policy", "shift", "shift_from")  # the setting's unless given
            config = hard_world(**{k: v for k, v in settings.items()
                                   if k not in own or ctx.get_parameter_source(k) != ParameterSource.DEFAULT})
        else:
            config = WorldConfig(**settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from contraband.cli.progress import steps

    log = steps(click.echo)
    t0 = time.perf_counter()
    world = make_world(config, log=log)
    t1 = time.perf_counter()
    log(f"writing {output}")
    path = write(world, output)
    t2 = time.perf_counter()
    click.echo(summarise(world))
    click.echo(f"wrote {path} in {t2 - t0:.1f} s (generate {t1 - t0:.1f} s, write {t2 - t1:.1f} s)")


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@mapping_option
@click.option("--strict", is_flag=True, help="Reject the whole file on any problem (default: keep valid rows).")
@fx_option
@encoding_option
@sheet_option
@click.option("--rejected", "rejected_out", type=click.Path(dir_okay=False),
              help="Write the rejected rows here (CSV: line, declaration_id, problems, the cells as received).")
def validate(path, mapping, strict, fx, encoding, sheet, rejected_out):
    """Check a declarations file (CSV, XLSX, Parquet) against the contract; report every rejected row."""
    from contraband.data.load import ContractError, load_declarations
    from contraband.data.mapping import MappingError, load_mapping

    rates = fx_rates(fx)
    try:
        result = load_declarations(path, load_mapping(mapping) if mapping else None,
                                   mode="strict" if strict else "lenient", fx=rates, encoding=encoding, sheet=sheet)
    except (ContractError, MappingError, OSError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(result.summary())
    if len(result.rejected):
        if rejected_out:
            write_table(result.rejected_rows(), rejected_out)
            click.echo(f"rejected rows written to {rejected_out} (fix them and send them again)")
        else:
            click.echo(result.rejected.head(20).to_string(index=False))


@click.group()
def history():
    """The history store: every declaration seen and every inspection outcome recorded."""


@history.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@mapping_option
@fx_option
@click.option("--outcomes/--no-outcomes", default=True, show_default=True,
              help="Record the inspection outcomes the files carry.")
@lag_option
@history_option
def history_ingest(paths, mapping, fx, outcomes, lag_days, history_location):
    """Record declarations (and their outcomes) in the history store; re-sending is harmless."""
    frame, _ = load_files(paths, mapping, fx_rates(fx))
    require_rows(frame, paths)
    store = open_store(history_location, create=True)
    report = store.ingest(frame, outcomes=outcomes, lag_days=lag_days,
                          source="ingest:" + ",".join(Path(p).name for p in paths))
    click.echo(report.summary())


@history.command("amend")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--reason", required=True, help="Why the recorded declarations are amended (kept with the amendment).")
@click.option("--by", "by", default=lambda: os.environ.get("USER") or "", show_default="$USER",
              help="Who amends them (kept with the amendment).")
@mapping_option
@fx_option
@history_option
def history_amend(paths, reason, by, mapping, fx, history_location):
    """Amend recorded declarations, inspected ones included (an admin's action): each declaration
    of the files whose values differ from its recorded version becomes a new version, counting
    from today; the earlier versions stay, and who amended them and why is kept."""
    frame, _ = load_files(paths, mapping, fx_rates(fx))
    require_rows(frame, paths)
    store = open_store(history_location)
    unknown = set(frame["declaration_id"]) - set(store.declarations(ids=list(frame["declaration_id"]))["declaration_id"])
    if unknown:
        click.echo(f"error: {len(unknown):,} declarations are not in the history (e.g. {sorted(unknown)[0]!r}): an "
                   "amendment changes recorded declarations; record new ones with contraband history ingest", err=True)
        sys.exit(1)
    try:
        from contraband.desk import Desk

        report = Desk(store).amend(frame, by=by, reason=reason, actor=f"cli:{by}")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(report.summary())


@history.command("versions")
@click.argument("declaration_id")
@history_option
def history_versions(declaration_id, history_location):
    """Every recorded version of one declaration: who sent it, when, from which day it counts and
    why an admin amended it."""
    versions = open_store(history_location).declaration_versions(declaration_id)
    if not versions:
        click.echo(f"error: declaration {declaration_id!r} is not in the history", err=True)
        sys.exit(1)
    shown = ("declaration_date", "hs_code", "goods_description", "origin_country", "exporter_id", "consignee_id",
             "declared_value_usd", "net_weight_kg")
    for v in versions:
        click.echo(f"version {v['version']}{' (current)' if v['current'] else ''}: sent by {v['sent_by'] or '-'} at "
                   f"{v['recorded_at']}, counts from {v['counts_from']}" + (f"; reason: {v['note']}" if v['note'] else ""))
        click.echo("  " + ", ".join(f"{k} {v['declaration'].get(k)}" for k in shown if k in v["declaration"]))


@history.command("info")
@history_option
def history_info(history_location):
    """What the history store holds."""
    summary = open_store(history_location).summary()
    click.echo(f"history store: {summary['url']}")
    click.echo(f"declarations: {summary['declarations']:,} ({summary['from']} to {summary['to']}); "
               f"earlier versions of amended ones: {summary['earlier_versions']:,}")
    click.echo(f"outcome versions: {summary['outcome_versions']:,}")
    if summary["recording"]:
        click.echo(f"unfinished recordings (a batch under way, or killed: contraband history recover): "
                   f"{', '.join(map(str, summary['recording']))}")
    for kind, n in sorted(summary["series"].items()):
        click.echo(f"  {kind:<22} {n:>10,} entities")


@history.command("recover")
@history_option
def history_recover(history_location):
    """Finish the recordings of batch runs that were killed midway (their series); a run still
    at work is left alone. Any batch, ingest or serve does this too."""
    t0 = time.perf_counter()
    done = open_store(history_location).recover()
    click.echo(f"finished {len(done)} unfinished recording(s){': ' + ', '.join(map(str, done)) if done else ''} "
               f"in {time.perf_counter() - t0:.1f} s")


@history.command("rebuild")
@history_option
def history_rebuild(history_location):
    """Recompute every entity series from the stored declarations and outcomes (a repair)."""
    t0 = time.perf_counter()
    open_store(history_location).rebuild()
    click.echo(f"rebuilt the entity series in {time.perf_counter() - t0:.1f} s")
