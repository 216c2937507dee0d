"""``policy`` (the selection policy), ``rules`` (the analysts' rules), ``cases`` (the queue),
``performance`` (live figures), ``audit`` (the trail) and ``backtest`` (a replay) of the targeting desk."""

from __future__ import annotations

import sys

import click

from contraband.cli.common import cli_actor, history_option, open_store


def _desk(history_location: str):
    from contraband.desk import Desk

    return Desk(open_store(history_location))


@click.group()
def policy():
    """The selection policy: each lane's capacity per day, the random control's share."""


@policy.command("show")
@history_option
def policy_show(history_location):
    """The policy in force (version 0: the product's default)."""
    shown = _desk(history_location).policy().shown()
    click.echo(f"policy version {shown['version']} ({shown['author']}{', ' + shown['created_at'] if shown['created_at'] else ''})"
               + (f": {shown['note']}" if shown["note"] else ""))
    for lane, words in shown["lanes"].items():
        click.echo(f"  {lane:<8}{words}")
    click.echo(f"  capacity per office where the manifest has the column {shown['office_column']}")


@policy.command("set")
@click.option("--red-share", type=click.FloatRange(0, 1), help="Red lane: this share of each day's declarations.")
@click.option("--red-count", type=click.IntRange(0), help="Red lane: this many declarations a day.")
@click.option("--yellow-share", type=click.FloatRange(0, 1), help="Yellow lane: this share of each day's declarations.")
@click.option("--yellow-count", type=click.IntRange(0), help="Yellow lane: this many declarations a day.")
@click.option("--control-share", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Share of all declarations sent to red at random, whatever their risk (beside red's capacity).")
@click.option("--office-column", default="x_office_id", show_default=True,
              help="The column naming the customs office (capacity per office where present).")
@click.option("--note", default="", help="Why (kept with the version).")
@history_option
def policy_set(red_share, red_count, yellow_share, yellow_count, control_share, office_column, note, history_location):
    """Set a new version of the policy (a supervisor's decision; audited)."""
    from contraband.desk import PolicyError

    lanes = {}
    for lane, share, count in (("red", red_share, red_count), ("yellow", yellow_share, yellow_count)):
        if (share is None) == (count is None):
            click.echo(f"error: give the {lane} lane's capacity as --{lane}-share or --{lane}-count (one of them)",
                       err=True)
            sys.exit(2)
        lanes[lane] = {"share": share} if share is not None else {"count": count}
    try:
        shown = _desk(history_location).set_policy({**lanes, "control_share": control_share,
                                                    "office_column": office_column, "note": note},
                                                   actor=cli_actor()).shown()
    except PolicyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"policy version {shown['version']} set: " + "; ".join(f"{k} {v}" for k, v in shown["lanes"].items()))


@click.group()
def cases():
    """The case queue: red and yellow declarations, open -> inspected -> closed."""


@cases.command("list")
@click.option("--state", type=click.Choice(["open", "inspected", "closed"]), help="Only cases in this state.")
@click.option("--lane", type=click.Choice(["red", "yellow", "green"]), help="Only cases in this lane.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write every column to this .csv or .parquet.")
@history_option
def cases_list(state, lane, output, history_location):
    """The queue, by case number."""
    from contraband.data.export import write_table

    frame = _desk(history_location).cases(state=state, lane=lane)
    if output:
        write_table(frame, output)
        click.echo(f"wrote {len(frame):,} cases to {output}", err=True)
        return
    click.echo(f"{'case':>7}  {'state':<10}{'lane':<7}{'source':<9}{'day':<11}declaration  why")
    for r in frame.itertuples(index=False):
        click.echo(f"{r.case_id:>7}  {r.state:<10}{r.lane:<7}{r.source:<9}{r.day:<11}{r.declaration_id}  {r.why}")
    click.echo(f"{len(frame):,} cases", err=True)


@click.group()
def audit():
    """The audit trail: who changed what, when, before and after (append-only)."""


@audit.command("export")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="A .csv or .parquet file.")
@history_option
def audit_export(output, history_location):
    """Every event of the trail, oldest first."""
    from contraband.data.export import write_table

    frame = _desk(history_location).audit_frame()
    write_table(frame, output)
    click.echo(f"wrote {len(frame):,} audit events to {output}", err=True)


@click.group()
def rules():
    """The analysts' targeting rules: conditions, a lane, a rationale, the officer's instructions."""


def _rule_file(path: str) -> dict:
    import json
    import tomllib
    from pathlib import Path

    text = Path(path).read_text(encoding="utf-8")
    try:
        return tomllib.loads(text) if path.lower().endswith(".toml") else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        click.echo(f"error: {path}: not a rule ({'TOML' if path.lower().endswith('.toml') else 'JSON'}): {exc}",
                   err=True)
        sys.exit(2)


def _rule_call(action):
    from contraband.desk import CaseError
    from contraband.desk.rules import RuleError

    try:
        return action()
    except (RuleError, CaseError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@rules.command("list")
@click.option("--retired", is_flag=True, help="The retired rules too.")
@history_option
def rules_list(retired, history_location):
    """Each rule's current version and figures: hits, inspections, seizures, seizure rate (95 % interval)."""
    desk = _desk(history_location)
    figures = {f["rule_id"]: f for f in desk.rule_figures()}
    click.echo(f"{'rule':<8}{'v':>3}  {'lane':<7}{'hits':>7}{'insp.':>7}{'seiz.':>7}  {'rate (95 %)':<20}name: conditions")
    for rule in desk.rules(retired=retired):
        f = figures[rule.rule_id]
        rate = "-" if f["seizure_rate"] is None else \
            f"{f['seizure_rate']:.1%} ({f['rate_low']:.1%}-{f['rate_high']:.1%})"
        flags = (" [retired]" if rule.retired else "") + (" [review: nothing found lately]" if f["review"] else "")
        click.echo(f"{rule.rule_id:<8}{rule.version:>3}  {rule.lane:<7}{f['hits']:>7,}{f['inspections']:>7,}"
                   f"{f['seizures']:>7,}  {rate:<20}{rule.name}: {rule.in_words()}{flags}")


@rules.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--note", default="", help="Why (kept with the version).")
@history_option
def rules_add(path, note, history_location):
    """Write a new rule from a JSON or TOML file (name, lane, conditions, rationale, instructions,
    valid_from, valid_to; docs/desk.md)."""
    rule = _rule_call(lambda: _desk(history_location).add_rule(_rule_file(path), actor=cli_actor(), note=note))
    click.echo(f"{rule.rule_id} (version {rule.version}, {rule.lane}): {rule.name}: {rule.in_words()}")


@rules.command("change")
@click.argument("rule_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--note", default="", help="Why (kept with the version).")
@history_option
def rules_change(rule_id, path, note, history_location):
    """A new version of a rule, from a JSON or TOML file."""
    rule = _rule_call(lambda: _desk(history_location).change_rule(rule_id, _rule_file(path), actor=cli_actor(),
                                                                  note=note))
    click.echo(f"{rule.rule_id} (version {rule.version}, {rule.lane}): {rule.name}: {rule.in_words()}")


@rules.command("retire")
@click.argument("rule_id")
@click.option("--reason", required=True, help="Why it stops selecting (kept with it).")
@history_option
def rules_retire(rule_id, reason, history_location):
    """Retire a rule: it selects nothing more and stays, with its versions and figures."""
    rule = _rule_call(lambda: _desk(history_location).retire_rule(rule_id, actor=cli_actor(), reason=reason))
    click.echo(f"{rule.rule_id} retired (version {rule.version})")


def _rate(r: dict) -> str:
    return "-" if r["rate"] is None else f"{r['rate']:.1%} ({r['low']:.1%}-{r['high']:.1%})"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (every figure) instead of tables.")
@history_option
def performance(as_json, history_location):
    """Live performance: by week, lane and source, the declarations, inspections, seizures and hit
    rate (95 % interval); the prevalence and the model's recall from the random control."""
    import json

    figures = _desk(history_location).performance()
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(f"{figures['declarations']:,} declarations given a lane")
    click.echo(f"{'source':<10}{'decl.':>9}{'insp.':>8}{'seiz.':>7}  hit rate (95 %)")
    for source, c in figures["by_source"].items():
        click.echo(f"{source:<10}{c['declarations']:>9,}{c['inspections']:>8,}{c['seizures']:>7,}  {_rate(c['hit_rate'])}")
    control = figures["control"]
    click.echo(f"random control: {control['inspections']:,} inspected, {control['seizures']:,} seizures; prevalence "
               f"{_rate(control['prevalence'])}; the model's recall {_rate(control['model_recall'])}")
    click.echo(control["in_words"])
    summary = figures["summary"]
    if summary["week"]:
        click.echo(f"week of {summary['week']} (against {summary['last_week']}):")
        click.echo(f"{'':<10}{'insp.':>12}{'seiz.':>10}{'seized kg':>18}{'seized USD':>22}")
        for row in summary["by_lane"] + summary["by_source"]:
            now, then = row["this_week"], row["last_week"]
            click.echo(f"{row.get('lane') or row.get('source'):<10}"
                       f"{now['inspections']:>6,} ({then['inspections']:>3,}){now['seizures']:>5,} ({then['seizures']:>2,})"
                       f"{now['seized_kg']:>10,.0f} ({then['seized_kg']:>5,.0f}){now['seized_usd']:>13,.0f} "
                       f"({then['seized_usd']:>6,.0f})")
    click.echo(f"{'week':<12}{'lane':<8}{'source':<10}{'decl.':>8}{'insp.':>7}{'seiz.':>7}  hit rate (95 %)")
    for w in figures["weekly"]:
        click.echo(f"{w['week']:<12}{w['lane']:<8}{w['source']:<10}{w['declarations']:>8,}{w['inspections']:>7,}"
                   f"{w['seizures']:>7,}  {_rate(w['hit_rate'])}")


@click.command()
@click.option("--rows", default=120_000, show_default=True, type=click.IntRange(5_000), help="Declarations of the world.")
@click.option("--months", default=12, show_default=True, type=click.IntRange(3), help="Months the world spans.")
@click.option("--seed", default=7, show_default=True, help="The world's seed.")
@click.option("--weeks", default=26, show_default=True, type=click.IntRange(1), help="Weeks replayed (the last ones).")
@click.option("--capacity", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="The red lane's share of each day's declarations.")
@click.option("--control-share", default=0.01, show_default=True, type=click.FloatRange(0, 1),
              help="The random control's share (beside the capacity).")
@click.option("--retrain-every", default=4, show_default=True, type=click.IntRange(1), help="Weeks between retrainings.")
@click.option("--folder", type=click.Path(file_okay=False), help="Where the replay writes (new or empty; default: a "
              "temporary folder, removed after).")
@click.option("--csv", "weekly_csv", type=click.Path(dir_okay=False), help="Write the week-by-week figures here.")
def backtest(rows, months, seed, weeks, capacity, control_share, retrain_every, folder, weekly_csv):
    """Replay a synthetic world week by week as the desk would have run it: each strategy selects
    under the capacity, only what it inspects reveals its outcome, the product's loop retrains
    through the retraining job and its gate. Prints the seizures and seized value of the loop
    against the rules alone, random selection and a model never retrained."""
    import shutil
    import tempfile
    from pathlib import Path

    from contraband.cli.common import quiet_mlflow
    from contraband.data.world import WorldConfig, generate
    from contraband.desk.backtest import backtest as replay

    quiet_mlflow()
    world = generate(WorldConfig(rows=rows, months=months, seed=seed))
    where = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="contraband-backtest-")) / "replay"
    try:
        result = replay(world, where, weeks=weeks, capacity=capacity, control_share=control_share,
                        retrain_every=retrain_every, log=lambda m: click.echo(m, err=True))
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    finally:
        if not folder:
            shutil.rmtree(where.parent, ignore_errors=True)
    if weekly_csv:
        from contraband.data.export import write_table

        write_table(result.weeks, weekly_csv)
    click.echo(f"{weeks} weeks at {capacity:.0%} capacity: {result.contraband:,} contraband declarations to find, "
               f"worth {result.contraband_value:,.0f} USD ({result.seconds:.0f} s)")
    click.echo(f"{'strategy':<10}{'inspections':>12}{'budget spent':>14}{'seizures':>10}{'of all':>8}"
               f"{'seized USD':>16}{'of all':>8}{'x random':>10}")
    totals = result.totals.set_index("strategy")
    random = totals["seizures"].get("random")
    for r in result.totals.itertuples(index=False):
        ratio = f"{r.seizures / random:.1f}" if random else "-"
        click.echo(f"{r.strategy:<10}{r.inspections:>12,}{r.budget_spent:>14.0%}{r.seizures:>10,}"
                   f"{r.share_of_contraband:>8.0%}{r.seized_value_usd:>16,.0f}{r.share_of_value:>8.0%}{ratio:>10}")
    for name in ("loop", "frozen"):
        if name in totals.index and totals.at[name, "flagged"]:
            click.echo(f"{name}: {totals.at[name, 'flagged_weak_share']:.1%} of the top {capacity:.0%} "
                       f"({int(totals.at[name, 'flagged_weak']):,} of {int(totals.at[name, 'flagged']):,}) had neither "
                       "checkable evidence nor a rule behind them")
    loop = result.templates[result.templates["strategy"] == "loop"]
    if len(loop):
        click.echo("loop: each reason's share of the declarations below the budget it is also true of "
                   "(* novelty, said after the evidence):")
        for r in loop.head(8).itertuples(index=False):
            click.echo(f"  {r.template:<24}{r.share_below_budget:>7.1%}{'' if r.evidence else ' *'}")
