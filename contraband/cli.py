"""The ``contraband`` command: generate worlds and check declaration files here; train, evaluate,
score and the demo live in ``contraband.cli_detect``.

Heavy libraries are imported inside each command, so ``contraband --help`` stays fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click


def _fx(values: tuple[str, ...]) -> dict[str, float]:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="contraband")
def main() -> None:
    """Score customs declarations for rare-earth contraband hidden under false declarations."""


@main.command()
@click.option("--rows", default=200_000, show_default=True, help="Declarations to generate.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Random seed (same seed, same world).")
@click.option("--start", default="2024-11-01", show_default=True, help="First declaration date.")
@click.option("--months", default=24, show_default=True, help="Months of trade.")
@click.option("--prevalence", default=0.003, show_default=True, help="Share of declarations carrying contraband.")
@click.option("--inspection-rate", default=0.03, show_default=True, help="Share of declarations inspected.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .csv or .parquet.")
def generate(rows, seed, start, months, prevalence, inspection_rate, output):
    """Generate a synthetic customs world (contract columns plus hidden truth_* columns)."""
    from contraband.data.world import WorldConfig, summarise, write
    from contraband.data.world import generate as make_world

    suffix = "".join(Path(output).suffixes[-2:]).lower()
    if not suffix.endswith((".csv", ".csv.gz", ".parquet")):
        raise click.BadParameter(f"{output}: choose a .csv, .csv.gz or .parquet file", param_hint="--output")
    try:
        config = WorldConfig(rows=rows, seed=seed, start=start, months=months, prevalence=prevalence,
                             inspection_rate=inspection_rate)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    t0 = time.perf_counter()
    world = make_world(config)
    t1 = time.perf_counter()
    path = write(world, output)
    t2 = time.perf_counter()
    click.echo(summarise(world))
    click.echo(f"wrote {path} in {t2 - t0:.1f} s (generate {t1 - t0:.1f} s, write {t2 - t1:.1f} s)")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), help="TOML mapping of another system's columns.")
@click.option("--strict", is_flag=True, help="Reject the whole file on any problem (default: keep valid rows).")
@click.option("--fx", multiple=True, metavar="CODE=RATE", help="USD per unit of a currency, e.g. KRW=0.00077.")
@click.option("--rejected", "rejected_out", type=click.Path(dir_okay=False), help="Write rejected rows (CSV) here.")
def validate(path, mapping, strict, fx, rejected_out):
    """Check a declarations file against the contract; report every rejected row."""
    from contraband.data.load import ContractError, load_declarations
    from contraband.data.mapping import MappingError, load_mapping

    rates = _fx(fx)
    try:
        result = load_declarations(path, load_mapping(mapping) if mapping else None,
                                   mode="strict" if strict else "lenient", fx=rates)
    except (ContractError, MappingError, OSError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(result.summary())
    if len(result.rejected):
        if rejected_out:
            Path(rejected_out).parent.mkdir(parents=True, exist_ok=True)
            result.rejected.to_csv(rejected_out, index=False)
            click.echo(f"rejected rows written to {rejected_out}")
        else:
            click.echo(result.rejected.head(20).to_string(index=False))


def _register_detection_commands() -> None:
    from contraband import cli_detect

    for command in (cli_detect.train, cli_detect.evaluate, cli_detect.score, cli_detect.demo):
        main.add_command(command)


_register_detection_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
