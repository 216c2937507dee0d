"""Benchmark: does detection generalise? Few labels, a world that shifts after training, a hard
world without the easy tells, and a model that travels to another administration.

Four worlds of the project's generator (300,000 declarations from 2025-01-01 over 24 months,
one per seed), each trained on the 18 months before 2026-07-01 (validation from 2026-03-01) and
scored blind on the 6 months after:

- ``full``: the default inspection rate (3 %);
- ``few labels``: inspection cut to 1 % (about 20 labelled seizures in the training history);
- ``shifted``: from 2026-07-01 on the smugglers use other hubs, other cover goods with values
  matched to the cover's norm and a new typology, and the history was inspected by another
  unit's rules (value and weight only): the model, trained before the shift, never saw any of it;
- ``hard`` (``hard_world``, docs/data.md): 0.8 % inspected by weak rules, an inspection finding
  the contraband 70 % of the time, three quarters of the contraband shipped by established
  fronts in the cover good, mild physics (a third declaring a normal net weight), ten honest
  oddities of the cover goods for each contraband declaration under them (decoys), and from
  2026-07-01 other hubs, other covers and two new typologies (35 % of the shipments after it).
  Beside recall, the share of the detector's top 5 % that are decoys.

Then zero-shot: the ``full`` world's detector, trained on one administration, scores another's
test window (a world of another seed: other traders) from its first day, with no history of it
(the store holds only the test window's declarations as they arrive, no outcome); and the same
onto the ``hard`` world of another seed. The plain LightGBM trained on the same source beside it.

Beside the detector, in the same run: a tuned plain LightGBM on the raw columns, the
unsupervised scores alone (the IsolationForest ``anomaly_score`` and the robust
``deviation_score``, no labels) and the legacy rules. Every ranking is measured against the
hidden truth over all test declarations: recall and value recall at 1 % and 5 %, and recall at
5 % per typology; means over the seeds. ``--ablation`` adds, for the few-labels world, recall at
5 % with each feature family (or the evidence model beside the booster) left out (and the same
for the hard world).

    python bench/generalise.py [--seeds 7 8 9] [--rows 300000] [--ablation]

``--family tuning`` (or ``held-back``) instead trains and scores each world of that half of the
family (``data/world/family.py``: each seed draws its own mechanics; tune on the first half only,
look at the second when a step is done) and reports, per world and then mean and worst, recall at
5 % and 1 % of the detector beside the plain LightGBM and the label-free scores alone:

    python bench/generalise.py --family tuning [--worlds 12] [--rows 200000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from contraband.data.history import day_of, open_history
from contraband.data.world import WorldConfig, generate, hard_world
from contraband.data.world.family import HELD_BACK_SEEDS, TUNING_SEEDS, describe, family_world
from contraband.features import FAMILIES
from contraband.models import metrics as M
from contraband.models.baselines import PlainLightGBM, rules_score
from contraband.models.detector import Detector, labelled, labels
from contraband.models.training import evaluate_scores, fit_and_evaluate, record, split_by_time

START, VALID_FROM, TEST_FROM = "2025-01-01", "2026-03-01", "2026-07-01"
SCENARIOS = {
    "full": {"inspection_rate": 0.03},
    "few labels": {"inspection_rate": 0.01},
    "shifted": {"inspection_rate": 0.03, "inspection_policy": "value", "shift": ("hubs", "cover", "typology"),
                "shift_from": TEST_FROM},
    "hard": {"hard": True, "shift_from": TEST_FROM},
}
#: zero-shot targets: the ``full`` world's detector onto a world of another seed in these settings
ZERO_SHOT = {"zero-shot: another administration": "full", "zero-shot: onto a hard world": "hard"}
#: the other seed of a zero-shot target world (other traders, other ids)
OTHER_SEED = 1000
RANKINGS = {"model": "detector", "plain_lightgbm": "plain LightGBM", "anomaly": "anomaly score",
            "deviation": "deviation score", "rules": "rules"}
KEYS = ("recall_at_1pct", "recall_at_5pct", "value_recall_at_1pct", "value_recall_at_5pct", "roc_auc")
#: recall at 5 % (and at 1 %) the detector must reach
TARGETS = {"few labels": (0.97, None), "shifted": (0.90, None), "hard": (0.85, 0.65),
           "zero-shot: another administration": (0.90, 0.60)}


def config_of(settings: dict, **world) -> WorldConfig:
    settings = dict(settings)
    return hard_world(**settings, **world) if settings.pop("hard", False) else WorldConfig(**settings, **world)


def world_and_history(config: WorldConfig, path: Path):
    frame = generate(config)
    history = open_history(path)
    record(frame, history, log=lambda m: None)
    return frame, history


def scenario(frame, history, detector_params: dict | None = None):
    """Truth metrics of every ranking on the test window, the labelled seizures trained on, and
    the training outcome."""
    out = fit_and_evaluate(frame, history, valid_from=VALID_FROM, test_from=TEST_FROM, log=lambda m: None,
                           detector_params=detector_params)
    test = out.windows.test
    extra = evaluate_scores({"deviation": out.test_features["deviation_score"].to_numpy()}, test)
    results = against_truth({**out.results, **extra})
    if "truth_decoy" in test:
        decoys(results["model"], out.detector.margin(out.test_features), test)
    summary = out.detector.train_summary_
    return results, summary["train_positives"] + summary["valid_positives"], out


def against_truth(results: dict) -> dict:
    """The metrics against the hidden truth (``*_truth``), by ranking."""
    return {k.removesuffix("_truth"): v for k, v in results.items() if k.endswith("_truth")}


def decoys(metrics: dict, score: np.ndarray, test) -> None:
    """The share of the top 5 % that are decoys (honest oddities of the cover goods), and the
    share of the decoys inside it, added to ``metrics``."""
    top = np.zeros(len(test), dtype=bool)
    top[np.argsort(-score, kind="stable")[:max(1, int(round(0.05 * len(test))))]] = True
    decoy = test["truth_decoy"].to_numpy() == 1
    metrics["decoy_share_of_top_5pct"] = float(decoy[top].mean())
    metrics["decoys_in_top_5pct"] = float(top[decoy].mean()) if decoy.any() else float("nan")


def zero_shot(source, source_frame, target_frame, path: Path) -> dict:
    """Truth metrics on ``target_frame``'s test window of the ``source`` training outcome's detector
    and of a plain LightGBM fitted on the same source rows, the target's history holding nothing
    but its test window's declarations as they arrive (no outcome)."""
    test = split_by_time(target_frame, VALID_FROM, TEST_FROM).test.reset_index(drop=True)
    history = open_history(path)
    history.ingest(test, source="zero-shot")
    detector = source.detector
    features = detector.features(test, history)
    history.close()
    seen = pd.concat([source.windows.train, source.windows.valid])
    lab = labelled(seen)
    plain = PlainLightGBM(n_jobs=2).fit(seen[lab], labels(seen)[lab])
    scores = {"model": detector.margin(features), "plain_lightgbm": plain.score(test), "rules": rules_score(test),
              **{name: features[f"{name}_score"].to_numpy() for name in ("anomaly", "deviation")
                 if f"{name}_score" in features}}
    results = against_truth(evaluate_scores(scores, test))
    if "truth_decoy" in test:
        decoys(results["model"], scores["model"], test)
    return results


def ablation(frame, history) -> dict[str, float]:
    """Recall at 5 % of the detector with each feature family, or the evidence model, left out."""
    w = split_by_time(frame, VALID_FROM, TEST_FROM)
    blind = history.blind(day_of(w.test_from))
    truth = w.test["truth_contraband"].to_numpy().astype(int)
    variants = {"none": {}, "evidence model": {"evidence": False}}
    variants.update({f: {"families": tuple(g for g in FAMILIES if g != f)} for f in FAMILIES})
    out = {}
    for left_out, settings in variants.items():
        detector = Detector(**settings).fit(w.train, w.valid, history)
        margin = detector.margin(detector.features(w.test, blind))
        out[left_out] = M.budget_metrics(margin, truth)["recall_at_5pct"]
    return out


#: the family's goals (issue #41) on its held-back half: mean recall at 5 % and 1 %, worst at 5 %
FAMILY_TARGETS = {"mean recall at 5 %": 0.85, "mean recall at 1 %": 0.65, "worst recall at 5 %": 0.70}
FAMILY_RANKINGS = ("model", "plain_lightgbm", "anomaly", "deviation")


def family_half(half: str, worlds: int, rows: int, without: tuple[str, ...] = ()) -> bool:
    """Every world of one half of the family trained and scored blind (see the module's docstring),
    the detector without the feature families ``without``; whether the goals are met."""
    seeds = (TUNING_SEEDS if half == "tuning" else HELD_BACK_SEEDS)[:worlds]
    params = {"families": tuple(f for f in FAMILIES if f not in without)} if without else None
    t0 = time.perf_counter()
    per_world, untrained = {}, {}
    with tempfile.TemporaryDirectory(prefix="contraband-family-") as tmp:
        for seed in seeds:
            config = family_world(seed, rows=rows, start=START, shift_from=TEST_FROM)
            frame, history = world_and_history(config, Path(tmp) / f"family-{seed}.db")
            try:
                results, positives, _ = scenario(frame, history, params)
            except ValueError as exc:  # too few labels to train on: the product trains no model
                untrained[seed] = str(exc)
                print(f"world {seed}: {describe(config)}; no model: {exc} ({time.perf_counter() - t0:.0f} s)",
                      flush=True)
                continue
            finally:
                history.close()
            per_world[seed] = {r: results[r] for r in FAMILY_RANKINGS if r in results}
            got = per_world[seed]["model"]
            print(f"world {seed}: {describe(config)}; {positives} labelled seizures in training; detector recall "
                  f"{got['recall_at_5pct']:.3f} at 5 %, {got['recall_at_1pct']:.3f} at 1 % "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\n## the family's {half} half: {len(seeds)} worlds of {rows:,} declarations, test window {TEST_FROM} on, "
          f"scored blind against the hidden truth" + (f"; the detector without {', '.join(without)}" if without else "")
          + "\n")
    print("| world | " + " | ".join(f"{RANKINGS[r]} at 5 % | at 1 %" for r in FAMILY_RANKINGS) + " |")
    print("|---" * (1 + 2 * len(FAMILY_RANKINGS)) + "|")
    for seed, results in per_world.items():
        print(f"| {seed} | " + " | ".join(f"{results[r]['recall_at_5pct']:.3f} | {results[r]['recall_at_1pct']:.3f}"
                                          if r in results else "- | -" for r in FAMILY_RANKINGS) + " |")
    summary = {}
    for label, pick in (("mean", np.mean), ("worst", np.min)):
        row = []
        for r in FAMILY_RANKINGS:
            at5 = [w[r]["recall_at_5pct"] for w in per_world.values() if r in w]
            at1 = [w[r]["recall_at_1pct"] for w in per_world.values() if r in w]
            row.append(f"{pick(at5):.3f} | {pick(at1):.3f}" if at5 else "- | -")
            if r == "model" and at5:
                summary[f"{label} recall at 5 %"], summary[f"{label} recall at 1 %"] = pick(at5), pick(at1)
        print(f"| **{label}** | " + " | ".join(row) + " |")
    for seed, why in untrained.items():
        print(f"| {seed} | no model: {why} |")
    met = not untrained
    if untrained:
        print(f"goal every world trained: {len(untrained)} of {len(seeds)} without a model MISSED "
              f"(the means and the worst are over the others)")
    for goal, target in FAMILY_TARGETS.items():
        got = summary.get(goal, float("nan"))
        met &= bool(got >= target)
        print(f"goal {goal} >= {target}: {got:.3f} {'met' if got >= target else 'MISSED'}")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return met


def mean(runs: list[dict]) -> dict:
    keys = set().union(*runs)
    return {k: float(np.nanmean([r.get(k, np.nan) for r in runs])) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--ablation", action="store_true",
                        help="also leave each feature family out (few labels and hard)")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS) + ["zero-shot"],
                        help="run these worlds alone (zero-shot needs full)")
    parser.add_argument("--family", choices=["tuning", "held-back"],
                        help="instead, every world of this half of the family of worlds")
    parser.add_argument("--worlds", type=int, default=12, help="with --family: the half's first N worlds")
    parser.add_argument("--without", nargs="+", default=[], choices=list(FAMILIES),
                        help="with --family: the detector without these feature families (an ablation)")
    args = parser.parse_args()
    if args.family:
        sys.exit(0 if family_half(args.family, args.worlds, args.rows, tuple(args.without)) else 1)
    chosen = args.only or list(SCENARIOS) + ["zero-shot"]
    t0 = time.perf_counter()
    tables, seizures, ablations, sources = {}, {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="contraband-generalise-") as tmp:
        for number, (name, settings) in enumerate(SCENARIOS.items()):
            if name not in chosen:
                continue
            runs = []
            seizures[name] = []
            for seed in args.seeds:
                frame, history = world_and_history(config_of(settings, rows=args.rows, seed=seed, start=START),
                                                   Path(tmp) / f"history-{number}-{seed}.db")
                results, positives, outcome = scenario(frame, history)
                runs.append(results)
                seizures[name].append(positives)
                if name == "full":
                    sources[seed] = (outcome, frame)
                print(f"{name}, seed {seed}: {positives} labelled seizures in training; detector recall at 5 % "
                      f"{results['model']['recall_at_5pct']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
                if args.ablation and name in ("few labels", "hard"):
                    ablations.setdefault(name, []).append(ablation(frame, history))
                history.close()
            tables[name] = {ranking: mean([r[ranking] for r in runs]) for ranking in RANKINGS}
        if "zero-shot" in chosen and sources:
            for label, kind in ZERO_SHOT.items():
                runs = []
                for seed, (outcome, frame) in sources.items():
                    target = generate(config_of(SCENARIOS[kind], rows=args.rows, seed=seed + OTHER_SEED, start=START))
                    runs.append(zero_shot(outcome, frame, target, Path(tmp) / f"zero-shot-{kind}-{seed}.db"))
                    print(f"{label}, seed {seed} -> {seed + OTHER_SEED}: detector recall at 5 % "
                          f"{runs[-1]['model']['recall_at_5pct']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
                tables[label] = {ranking: mean([r[ranking] for r in runs if ranking in r]) for ranking in RANKINGS
                                 if any(ranking in r for r in runs)}
                seizures[label] = [0] * len(runs)

    print(f"\nmeans over seeds {', '.join(map(str, args.seeds))}; {args.rows:,} declarations per world; "
          f"test window {TEST_FROM} on, scored blind against the hidden truth")
    met = True
    for name, table in tables.items():
        trained = "none (no history of the target)" if name.startswith("zero-shot") else ", ".join(map(str, seizures[name]))
        print(f"\n## {name} (labelled seizures in training: {trained})")
        typologies = sorted(k for k in table["model"] if k.startswith("recall_at_5pct_"))
        extra = tuple(k for k in ("decoy_share_of_top_5pct", "decoys_in_top_5pct") if k in table["model"])
        named = {RANKINGS[k]: v for k, v in table.items()}
        print(M.table(named, KEYS + extra + tuple(typologies)))
        at5, at1 = TARGETS.get(name, (None, None))
        for target, key in ((at5, "recall_at_5pct"), (at1, "recall_at_1pct")):
            if target is not None:
                got = table["model"][key]
                met &= got >= target
                print(f"target {key.replace('_', ' ').replace('pct', ' %')} >= {target}: {got:.3f} "
                      f"{'met' if got >= target else 'MISSED'}")
    for name, runs in ablations.items():
        print(f"\n## {name}: detector recall at 5 % with one feature family (or the evidence model) left out")
        both = mean(runs)
        for family, recall in sorted(both.items(), key=lambda kv: kv[1]):
            print(f"  {family:<16}{recall:.3f}  ({recall - both['none']:+.3f})")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
