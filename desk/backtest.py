"""The selection backtest: a world replayed week by week, as the desk would have run it.

Before the replay, the world's own past (its declarations and the inspections its customs made)
is recorded and a first model trained on it. Then, each week of the replay, for each strategy:

1. the week's declarations are scored against that strategy's history (the model strategies);
2. the strategy selects: the model strategies under the desk's policy (the red lane's places
   are ``capacity`` less the control's share, the control beside them; the analysts' rules raise
   declarations beside the places), the baselines as many declarations each day as the loop
   inspected that day (the same workload; ``capacity`` of the day when the loop is not run);
3. only the selected declarations reveal their outcome (selective labels: what is not inspected
   stays unknown), recorded in that strategy's history a few days after the week;
4. the product's loop retrains every ``retrain_every`` weeks through the retraining job and its
   gate (MLflow: the backtest's own tracking store in its folder), and scores the next weeks
   with the champion.

Strategies:

- ``loop``: the model, the analysts' rules and the random control, retrained (the product);
- ``frozen``: the same, with the first model never retrained (its history still learns);
- ``rules``: the analysts' rules alone, up to the workload (red rules first; the rest is not
  spent);
- ``random``: the workload drawn at random.

For the model strategies it also counts the reasons' specificity: the share of the top of the
list (the model's flagged, at the capacity) with neither checkable evidence nor a rule behind it,
and, for each reason template, the share of the declarations below the budget whose evidence
holds too (a reason true of many unflagged declarations tells an analyst little).

Each strategy keeps its own history store and desk, so that what one inspected never informs
another. The truth columns of the world are read only to reveal the outcomes of what was
selected, and to count what was there to find.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contraband.data.contract import OUTCOME_FIELDS, is_truth_column
from contraband.data.keys import day_numbers
from contraband.models.reasons import NO_EVIDENCE

STRATEGIES = ("loop", "frozen", "rules", "random")
MODEL_NAME = "contraband-backtest"
EXPERIMENT = "contraband-backtest"
OUTCOME_LAG_DAYS = 3  # a week's results are known the Thursday after it

#: rules an analyst writes from the public typologies (domain-facts.md): cover goods that
#: rare-earth oxides and magnets were declared as, and the transshipment routes
DEFAULT_RULES = [
    {"name": "solder paste and pastes", "lane": "red", "conditions": {"hs_prefixes": ["3810"]},
     "rationale": "rare-earth oxides declared as solder paste", "instructions": "sample the paste for rare earths"},
    {"name": "ceramic tiles", "lane": "red", "conditions": {"hs_prefixes": ["6907", "6908"]},
     "rationale": "oxides mixed into ceramic tiles", "instructions": "break two tiles from different pallets"},
    {"name": "mannequins and plastic articles", "lane": "red", "conditions": {"hs_prefixes": ["3926"]},
     "rationale": "magnets hidden in plastic mannequins", "instructions": "open the articles; gaussmeter"},
    {"name": "transshipped via Thailand or Mexico", "lane": "red",
     "conditions": {"transit_countries": ["TH", "MX"], "origin_countries": ["TH", "MX", "VN", "MY"]},
     "rationale": "relabelled origin on a known transshipment route", "instructions": "check certificates of origin"},
]


@dataclass
class Backtest:
    """What each strategy selected and found, week by week (``weeks``), and in total (``totals``)."""

    weeks: pd.DataFrame
    totals: pd.DataFrame
    #: per model strategy and reason template: the share of the declarations below the budget
    #: (not flagged) whose evidence holds (``strategy``, ``template``, ``evidence``, ``share_below_budget``)
    templates: pd.DataFrame
    contraband: int  # contraband declarations in the replayed weeks (the truth: what was there to find)
    contraband_value: float
    seconds: float


def _mondays(dates: pd.Series) -> pd.Series:
    return (dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")).dt.normalize()


def _declarations(frame: pd.DataFrame) -> pd.DataFrame:
    """What a customs system would send: no outcome, no truth."""
    return frame[[c for c in frame.columns if c not in OUTCOME_FIELDS and not is_truth_column(c)]]


def backtest(world: pd.DataFrame, folder, *, weeks: int = 26, capacity: float = 0.05, control_share: float = 0.01,
             retrain_every: int = 4, rules: list[dict] | None = None, strategies=STRATEGIES,
             log=print) -> Backtest:
    """Replay the last ``weeks`` full weeks of ``world`` (see the module). ``folder`` (new, or
    empty) holds everything the replay writes: the strategies' history stores and its own MLflow
    tracking store (``mlflow.db``, artifacts in ``mlruns/``), so that it touches no other."""
    import os

    import mlflow

    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty: a backtest writes into a folder of its own")
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder.resolve() / 'mlflow.db'}"
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.create_experiment(EXPERIMENT, artifact_location=(folder.resolve() / "mlruns").as_uri())
        return _backtest(world, folder, weeks, capacity, control_share, retrain_every, rules, strategies, log)
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before
        mlflow.set_tracking_uri(before or "sqlite:///mlflow.db")


def _backtest(world, folder: Path, weeks, capacity, control_share, retrain_every, rules, strategies, log) -> Backtest:
    from contraband.data.history import open_history
    from contraband.models import tracking
    from contraband.models.training import fit_and_evaluate

    t0 = time.perf_counter()
    rules = DEFAULT_RULES if rules is None else rules
    world = world.sort_values(["declaration_date", "declaration_id"], kind="stable").reset_index(drop=True)
    dates = pd.to_datetime(world["declaration_date"])
    monday = _mondays(dates)
    last = monday.max() if (dates.max() - monday.max()).days >= 6 else monday.max() - pd.Timedelta(days=7)
    replay = [last - pd.Timedelta(days=7 * k) for k in range(weeks - 1, -1, -1)]
    if replay[0] <= monday.min() + pd.Timedelta(days=7 * 8):
        raise ValueError(f"the world is too short for {weeks} weeks of replay after at least 8 weeks of past")
    past = world[dates < replay[0]]
    log(f"past: {len(past):,} declarations before {replay[0]:%Y-%m-%d} ({int(past['inspected'].sum()):,} inspected "
        f"by the world's customs); replay: {weeks} weeks from {replay[0]:%Y-%m-%d}")

    base = folder / "past.db"
    store = open_history(base)
    store.ingest(past, outcomes=True, source="backtest:past")
    first = fit_and_evaluate(past, store, baselines=False, log=lambda m: None)
    store.close()
    client = tracking.setup(EXPERIMENT)
    run_id, model_uri = tracking.log_training(first.detector, first.windows.as_dict(), first.results, first.curves,
                                              {"data": "backtest past", "job": "backtest"})
    version = tracking.register(model_uri, MODEL_NAME)
    client.set_registered_model_alias(MODEL_NAME, tracking.CHAMPION, version)
    log(f"first model trained on the past ({time.perf_counter() - t0:.0f} s): {MODEL_NAME} version {version}")

    rows, below = [], []
    workload: dict[int, int] = {}  # the loop's inspections per day: the baselines' workload
    for name in sorted(strategies, key=lambda s: s != "loop"):
        weekly, holding = _run(name, world, dates, replay, base, folder, first.detector, capacity, control_share,
                               retrain_every, rules, log, workload)
        rows += weekly
        if holding is not None:
            below.append(_template_shares(name, holding))
    table = pd.DataFrame(rows)
    inside = (dates >= replay[0]) & (dates < replay[-1] + pd.Timedelta(days=7))
    truth = world.loc[inside, "truth_contraband"].astype(bool)
    value = float(world.loc[inside, "truth_value_usd"].where(truth, 0).fillna(0).sum())
    totals = table.groupby("strategy", sort=False).agg(
        declarations=("declarations", "sum"), capacity=("capacity", "sum"), inspections=("inspections", "sum"),
        seizures=("seizures", "sum"), seized_value_usd=("seized_value_usd", "sum"), flagged=("flagged", "sum"),
        flagged_weak=("flagged_weak", "sum")).reset_index()
    # the top of the model's list with neither checkable evidence nor a rule (model strategies)
    totals["flagged_weak_share"] = (totals["flagged_weak"] / totals["flagged"]).where(totals["flagged"] > 0)
    totals["budget_spent"] = totals["inspections"] / totals["capacity"]
    totals["share_of_contraband"] = totals["seizures"] / max(int(truth.sum()), 1)
    totals["share_of_value"] = totals["seized_value_usd"] / value if value else np.nan
    templates = pd.concat(below, ignore_index=True) if below else _template_shares("", None)
    return Backtest(table, totals, templates, int(truth.sum()), value, time.perf_counter() - t0)


def _template_shares(strategy: str, holding: dict | None) -> pd.DataFrame:
    """``holding`` (declarations below the budget under ``"declarations"``, and per template how
    many of them its evidence holds for) as shares, the least specific template first."""
    from contraband.models.reasons import TEMPLATES

    if holding is None:
        return pd.DataFrame(columns=["strategy", "template", "evidence", "share_below_budget"])
    n = max(holding["declarations"], 1)
    out = pd.DataFrame({"strategy": strategy, "template": [t.name for t in TEMPLATES],
                        "evidence": [t.evidence for t in TEMPLATES],
                        "share_below_budget": [holding[t.name] / n for t in TEMPLATES]})
    return out.sort_values("share_below_budget", ascending=False, kind="stable").reset_index(drop=True)


def _run(name: str, world, dates, replay, base: Path, folder: Path, detector, capacity: float, control_share: float,
         retrain_every: int, rules: list[dict], log, workload: dict) -> tuple[list[dict], dict | None]:
    """One strategy's replay: its weekly rows, and (model strategies) how many declarations below
    the budget each reason template's evidence holds for."""
    from contraband.data.history import open_history
    from contraband.desk import Desk
    from contraband.desk.desk import check_outcome
    from contraband.desk.lanes import assign
    from contraband.desk.policy import Capacity, Policy
    from contraband.desk.rules import Rule, hits
    from contraband.models import tracking
    from contraband.models.retrain import RetrainError, retrain
    from contraband.models.scoring import scores

    t0 = time.perf_counter()
    path = folder / f"{name}.db"
    shutil.copyfile(base, path)
    store = open_history(path)
    desk = Desk(store)
    uses_model = name in ("loop", "frozen")
    if uses_model:
        desk.set_policy({"red": {"share": max(capacity - control_share, 0.0)}, "yellow": {"count": 0},
                         "control_share": control_share,
                         "salt": f"backtest-{name}"}, actor="backtest")
        for rule in rules:
            desk.add_rule(rule, actor="backtest")
    baseline_rules = [Rule(**r, rule_id=f"R-{i + 1}") for i, r in enumerate(rules)]
    baseline = Policy(red=Capacity(share=capacity), yellow=Capacity(count=0), control_share=0.0,
                      salt=f"backtest-{name}")
    out = []
    holding = {"declarations": 0} if uses_model else None
    for k, monday in enumerate(replay):
        week = world[(dates >= monday) & (dates < monday + pd.Timedelta(days=7))].reset_index(drop=True)
        declared = _declarations(week)
        if uses_model:
            result = scores(detector, declared, store, budget=capacity, source=f"backtest:{monday:%Y-%m-%d}")
            lanes = desk.select(declared.assign(risk_score=result.columns["risk_score"]), actor="backtest",
                                source=f"week of {monday:%Y-%m-%d}")
            chosen = lanes["lane"].isin(["red", "yellow"]).to_numpy()
            # the top of the list with neither checkable evidence nor a rule behind it
            flagged = np.asarray(result.columns["flagged"], dtype=bool)
            weak = flagged & lanes["rule_id"].isna().to_numpy() & np.array(
                [str(r).startswith(NO_EVIDENCE) for r in result.columns["reason_1"]], dtype=bool)
            # each template's evidence among the declarations below the budget (the features the
            # scoring read: each day's from the history strictly before it)
            holds = detector.evidence_holding(declared, result.features)
            holding["declarations"] += int((~flagged).sum())
            for template, rows in holds.items():
                holding[template] = holding.get(template, 0) + int(rows[~flagged].sum())
        else:
            frame = pd.DataFrame({"declaration_id": declared["declaration_id"].astype(str).to_numpy(dtype=object),
                                  "day": day_numbers(pd.to_datetime(declared["declaration_date"])), "office": "",
                                  "risk_score": 0.0})
            if name == "rules":
                lanes = assign(frame, baseline, rule_hits=hits(baseline_rules, declared), fill=False)
                chosen = _within(frame, baseline, workload, lanes["lane"].map({"red": 0, "yellow": 1}).to_numpy())
            else:  # each day's workload, the declarations with the smallest keyed draws
                chosen = _within(frame, baseline, workload)
        found = week["truth_contraband"].astype(bool).to_numpy()
        value = week["truth_value_usd"].fillna(0).to_numpy(dtype=np.float64)
        if uses_model and chosen.any():
            cases = lanes.loc[chosen, "case_id"].astype(int).to_numpy()
            results = [check_outcome({"contraband_found": bool(f), "seized_value_usd": float(v) if f else None})
                       for f, v in zip(found[chosen], value[chosen])]
            done, refused = desk.record_outcomes(list(zip(cases, results)), actor="backtest",
                                                 recorded_at=monday + pd.Timedelta(days=7 + OUTCOME_LAG_DAYS))
            if refused:
                log(f"  {name}: {len(refused)} outcomes refused: {refused[0][2]}")
        days = day_numbers(pd.to_datetime(declared["declaration_date"]))
        room = sum(baseline.red.of(int(n), 0) for n in pd.Series(days).value_counts().to_numpy())
        if name == "loop":
            for day, n in pd.Series(days[chosen]).value_counts().items():
                workload[int(day)] = int(n)
        out.append({"strategy": name, "week": f"{monday:%Y-%m-%d}", "declarations": len(week), "capacity": room,
                    "inspections": int(chosen.sum()), "seizures": int((found & chosen).sum()),
                    "seized_value_usd": float(value[found & chosen].sum()), "contraband": int(found.sum()),
                    "flagged": int(flagged.sum()) if uses_model else 0,
                    "flagged_weak": int(weak.sum()) if uses_model else 0})
        if name == "loop" and (k + 1) % retrain_every == 0 and k + 1 < len(replay):
            cut = replay[k + 1]
            try:
                report = retrain(store, cut, experiment=EXPERIMENT, model_name=MODEL_NAME, baselines=False,
                                 log=lambda m: None)
            except RetrainError as exc:
                log(f"  loop: retraining at {cut:%Y-%m-%d} failed, the champion stays: {exc}")
            else:
                if report.status == "promoted":
                    detector = tracking.load_detector(f"models:/{MODEL_NAME}@{tracking.CHAMPION}")
                log(f"  loop: retrained at {cut:%Y-%m-%d}: {report.status} ({report.reason})")
    store.close()
    seized = sum(r["seizures"] for r in out)
    log(f"{name}: {sum(r['inspections'] for r in out):,} inspections, {seized:,} seizures "
        f"({time.perf_counter() - t0:.0f} s)")
    return out, holding


def _within(frame: pd.DataFrame, policy, workload: dict, priority: np.ndarray | None = None) -> np.ndarray:
    """Each day's workload (the loop's inspections that day, else the red lane's capacity): with
    ``priority`` (0 first, then 1; NaN: never) the declarations by priority, else all of them;
    within a priority the smallest keyed draws."""
    from contraband.desk.lanes import control_draws
    from contraband.models.selection import smallest

    draws = control_draws(frame["declaration_id"], policy)
    chosen = np.zeros(len(frame), dtype=bool)
    for day, members in frame.groupby("day").indices.items():
        room = workload.get(int(day), policy.red.of(len(members), 0))
        if priority is None:
            chosen[members[smallest(draws[members], room)]] = True
            continue
        for level in (0, 1):
            candidates = members[priority[members] == level]
            take = candidates[smallest(draws[candidates], room)]
            chosen[take] = True
            room -= len(take)
    return chosen
