"""From declarations to an inspection list: record, score, rank, flag, explore, explain.

The scoring contract: a declaration's risk score depends only on the declaration and on the
history recorded strictly before its day. So a request is first recorded in the history store
(its earlier days then count as history for its later days, exactly as if they had been scored
first) and every feature is read as of the day before each declaration; the other rows of the
request, their order and the chunking of a file never change a score, and scoring twice gives
the same scores.

Flagging is a budget decision, not a score. Two rules:

- ``budget``: the top ``ceil(budget x n)`` declarations of the request (exact integer
  arithmetic: 7 % of 100 flags 7). Of these, ``round_half_up(exploration x flagged)`` are
  exploration picks drawn from below the model's picks; the model keeps the rest.
- ``threshold``: for a request smaller than a day's manifest, where "the top n %" of a handful
  of rows means nothing. A declaration is a model pick when its margin reaches the model's
  budget threshold for the model's share of the budget (the margin quantile over recent
  declarations, stored with the model and refreshed from the store); a declaration below it is
  an exploration pick with probability ``budget x exploration / (1 - budget x (1 - exploration))``,
  so that the expected shares match the budget rule. A declaration sent alone is flagged by the
  same rule as any small request.

``auto`` (the default) uses ``threshold`` for requests with fewer rows than the model's typical
day (``daily_volume_``) when the model has a budget reference, else ``budget``.

Exploration draws are a hash of the declaration id and the seed, not a random stream: the same
declaration gets the same draw whatever else is in the request and in whatever order.
``random`` exploration is uniform; ``uncertainty`` (budget rule only) weighs each candidate by
p(1-p) of its risk score. Ties in the margin are broken by declaration id. Reasons are written
only for flagged rows, where an analyst reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contraband.data.columns import Columns
from contraband.features.pipeline import truth_columns, without_truth
from contraband.models.ranking import ranks
from contraband.models.selection import budget_count, exact, keyed_draws, share_count, smallest
from contraband.models.reasons import MAX_REASONS

EXPLORATION_MODES = ("random", "uncertainty")
FLAG_RULES = ("auto", "budget", "threshold")
EXPLORATION_PREFIX = "exploration pick (outside the model's top list); "
#: recent declarations the budget reference is refreshed from: the last days of the history
REFERENCE_DAYS = 30
REFERENCE_ROWS = 20_000


def flag_count(n: int, budget: float) -> int:
    """Declarations flagged by a budget: ceil(budget x n), exactly."""
    return budget_count(n, budget)


def exploration_count(flagged: int, exploration: float) -> int:
    """Exploration picks among ``flagged``: exploration x flagged, rounded half up (5 x 0.1 -> 1)."""
    return share_count(flagged, exploration)


def exploration_draws(ids: np.ndarray, seed: int) -> np.ndarray:
    """A uniform draw in [0, 1) per declaration id, fixed by the id and the seed."""
    return keyed_draws(ids, f"{int(seed) % 10**16:016d}")


def _check(budget: float, exploration: float, mode: str, rule: str) -> None:
    if not 0 < budget <= 1:
        raise ValueError("budget must be in (0, 1]")
    if not 0 <= exploration < 1:
        raise ValueError("exploration must be in [0, 1)")
    if mode not in EXPLORATION_MODES:
        raise ValueError(f"mode must be one of {EXPLORATION_MODES}")
    if rule not in FLAG_RULES:
        raise ValueError(f"flag rule must be one of {FLAG_RULES}")


def inspection_list(margin: np.ndarray, ids: np.ndarray, budget: float = 0.05, exploration: float = 0.1,
                    seed: int = 0, mode: str = "random", rule: str = "budget",
                    threshold=None) -> pd.DataFrame:
    """Rank, flagged and exploration for each row.

    ``rule="threshold"`` needs ``threshold(share) -> margin`` (the model's budget threshold)."""
    _check(budget, exploration, mode, rule)
    rank, flagged, explored = _listing(margin, ids, budget, exploration, seed, mode, rule, threshold)
    return pd.DataFrame({"rank": rank, "flagged": flagged, "exploration": explored})


def budget_flags(margin: np.ndarray, rank: np.ndarray, draw: np.ndarray, budget: float, exploration: float,
                 mode: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """Flagged and exploration marks by the budget rule, from every row's margin, rank (1 =
    highest) and exploration draw: the same for a request scored at once and for a file
    streamed in chunks (whose ranks come from all its margins)."""
    n = len(margin)
    flagged = np.zeros(n, dtype=bool)
    explored = np.zeros(n, dtype=bool)
    n_flag = flag_count(n, budget)
    n_explore = exploration_count(n_flag, exploration)
    model = rank <= n_flag - n_explore
    flagged |= model
    rest = np.flatnonzero(~model)
    if n_explore and len(rest):
        if mode == "random":
            key = draw[rest]
        else:  # weighted sampling without replacement (Efraimidis & Spirakis): smallest -log(u)/w
            p = 1.0 / (1.0 + np.exp(-margin[rest]))
            key = -np.log(np.maximum(draw[rest], 1e-300)) / (p * (1 - p) + 1e-12)
        picks = rest[smallest(key, n_explore)]
        flagged[picks] = explored[picks] = True
    return flagged, explored


def _listing(margin, ids, budget, exploration, seed, mode, rule, threshold):
    margin = np.asarray(margin, dtype="float64")
    n = len(margin)
    rank = ranks(margin, ids)
    draw = exploration_draws(ids, seed)
    if rule == "budget":
        flagged, explored = budget_flags(margin, rank, draw, budget, exploration, mode)
    else:
        share = exact(budget) * (1 - exact(exploration))  # the model's part of the budget
        model = margin >= threshold(float(share)) if share > 0 else np.zeros(n, dtype=bool)
        chance = float(exact(budget) * exact(exploration) / (1 - share)) if share < 1 else 0.0
        picks = ~model & (draw < chance)
        flagged = model | picks
        explored = picks
    return rank, flagged, explored


def choose_rule(detector, n: int, rule: str = "auto") -> str:
    if rule != "auto":
        return rule
    has_reference = getattr(detector, "budget_quantiles_", None) is not None
    return "threshold" if has_reference and n < getattr(detector, "daily_volume_", 0) else "budget"


@dataclass
class Scores:
    """Per declaration: risk score, rank, flagged, exploration and reasons (arrays), with the row
    labels of the declarations and the flag rule used."""

    index: pd.Index
    columns: dict[str, np.ndarray]
    flag_rule: str
    #: declarations the history store refused to record (an inspected one re-sent with other
    #: values, say): not scored; ``row`` (their index label), ``declaration_id`` and ``reason``
    refused: pd.DataFrame = field(default_factory=lambda: _no_refusals())  # defined below
    #: the scored declarations' feature rows, as the scoring read them (None when none were scored)
    features: np.ndarray | None = None
    #: the scored declarations themselves (what :meth:`explain` quotes)
    declarations: Columns | None = None

    def __len__(self) -> int:
        return len(self.index)

    def explain(self, detector, rows, max_reasons: int = MAX_REASONS) -> None:
        """Reasons for the declarations at positions ``rows`` that have none yet (a lane selected
        them beyond the model's flag), from the features the scoring read: every declaration an
        analyst is sent to inspect says why."""
        reason = self.columns.get("reason_1")
        rows = np.asarray([r for r in rows if reason is not None and not reason[r]], dtype=np.int64)
        if not len(rows) or self.features is None or self.declarations is None:
            return
        texts = detector.reasons(self.declarations, self.features, max_reasons, rows=rows)
        for k in range(max_reasons):
            column = self.columns.get(f"reason_{k + 1}")
            if column is not None:
                column[rows] = [t[k] if k < len(t) else "" for t in texts]

    def frame(self) -> pd.DataFrame:
        out = pd.DataFrame(self.columns, index=self.index)
        out.attrs["flag_rule"] = self.flag_rule
        return out


def scores(detector, declarations, history, *, budget: float = 0.05, exploration: float = 0.1,
           seed: int = 0, mode: str = "random", flag_by: str = "auto", record: bool = True, source: str = "score",
           max_reasons: int = MAX_REASONS) -> Scores:
    """:func:`score` as arrays (no frame built): what a service answering one request uses."""
    _check(budget, exploration, mode, flag_by)
    # read once: recording, features and reasons share it (a frame, or the loader's Columns)
    columns = declarations.without(truth_columns(declarations.names)) if isinstance(declarations, Columns) \
        else Columns(without_truth(declarations))
    refused = _no_refusals()
    if record and len(columns):
        report = history.ingest(columns, source=source)
        if len(report.refused):  # not recorded, so not scored: the caller rejects them with the reason
            columns, refused = _without_refused(columns, report.refused)
    n = len(columns)
    if not n:
        empty = {"risk_score": np.zeros(0), "rank": np.zeros(0, dtype=np.int64), "flagged": np.zeros(0, dtype=bool),
                 "exploration": np.zeros(0, dtype=bool),
                 **{f"reason_{k + 1}": np.zeros(0, dtype=object) for k in range(max_reasons)}}
        return Scores(columns.index, empty, choose_rule(detector, 0, flag_by), refused)
    features, margin = margins(detector, columns, history)
    rule = choose_rule(detector, n, flag_by)
    ids = columns.cells("declaration_id") if "declaration_id" in columns else np.arange(n)
    rank, flagged, explored = _listing(margin, ids, budget, exploration, seed, mode, rule, detector.budget_threshold)
    out = scored_columns(detector, columns, margin, rank, flagged, explored, max_reasons, features=features)
    return Scores(columns.index, out, rule, refused, features, columns)


_NO_REFUSALS = pd.DataFrame(columns=["row", "declaration_id", "reason"])


def _no_refusals() -> pd.DataFrame:
    return _NO_REFUSALS.copy()  # each caller its own (empty) frame, at a twentieth of the cost of building one


def _without_refused(columns: Columns, refused: pd.DataFrame) -> tuple[Columns, pd.DataFrame]:
    """The declarations the store recorded, and the refused ones' row labels with their reasons."""
    from contraband.data.columns import take

    ids = columns.cells("declaration_id")
    reason = dict(zip(refused["declaration_id"], refused["reason"]))
    out = np.array([i in reason for i in ids], dtype=bool)
    rows = pd.DataFrame({"row": np.asarray(columns.index)[out], "declaration_id": ids[out],
                         "reason": [reason[i] for i in ids[out]]})
    return take(columns, ~out), rows


def reason_columns(n: int, rows: np.ndarray, texts: list[list[str]], explored: np.ndarray,
                   max_reasons: int = MAX_REASONS) -> dict[str, np.ndarray]:
    """``reason_1..k`` for ``n`` rows: ``texts`` at the flagged ``rows``, empty elsewhere, and
    the exploration mark in front of an exploration pick's first reason."""
    out = {f"reason_{k + 1}": np.full(n, "", dtype=object) for k in range(max_reasons)}
    for k in range(max_reasons):
        column = out[f"reason_{k + 1}"]
        for i, t in zip(rows, texts):
            if k < len(t):
                column[i] = t[k]
    first = out["reason_1"]
    picks = np.flatnonzero(explored)
    first[picks] = [EXPLORATION_PREFIX + t for t in first[picks]]
    return out


def margins(detector, declarations, history) -> tuple[np.ndarray, np.ndarray]:
    """The point-in-time feature matrix of ``declarations`` (a frame or :class:`Columns`) read
    from ``history``, and their margins: the one way every entry point (scoring, batch, Dask,
    evaluation, training's comparisons, drift, the budget reference) turns declarations into
    the model's raw scores."""
    features = detector.features_.matrix(declarations, history)
    return features, detector.margin(features)


def reasons_of(detector, declarations, history, max_reasons: int = MAX_REASONS) -> list[list[str]]:
    """The reasons of ``declarations`` (a frame or :class:`Columns`, recorded or not), their
    features read from ``history`` as of each one's day: what a list written without them (a lane
    chose them beyond the model's flag) is completed with."""
    chosen = declarations if isinstance(declarations, Columns) else Columns(declarations)
    return detector.reasons(chosen, detector.features_.matrix(chosen, history), max_reasons)


def scored_columns(detector, declarations, margin: np.ndarray, rank: np.ndarray, flagged: np.ndarray,
                   explored: np.ndarray, max_reasons: int = MAX_REASONS, history=None,
                   features: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The output columns of scored declarations (:class:`Columns`, or a frame): risk score,
    rank, flag, exploration mark and reasons for the flagged rows only. Their features are
    ``features`` when the caller has them (all rows), else read from ``history`` for the
    flagged rows alone."""
    rows = np.flatnonzero(flagged)
    texts = []
    if len(rows) and features is not None:
        texts = detector.reasons(declarations, features, max_reasons, rows=rows)
    elif len(rows):
        frame = declarations.X if isinstance(declarations, Columns) else declarations
        texts = reasons_of(detector, frame.iloc[rows].reset_index(drop=True), history, max_reasons)
    return {"risk_score": detector.calibrate(margin), "rank": rank, "flagged": flagged, "exploration": explored,
            **reason_columns(len(margin), rows, texts, explored, max_reasons)}


def score(detector, declarations, history, **kwargs) -> pd.DataFrame:
    """Risk score, rank, flag, exploration mark and reasons for every declaration.

    ``declarations`` is a frame of canonical declarations or :class:`Columns`. With ``record``
    (the default) the declarations are first recorded in ``history`` (a scored manifest is
    history for the next day's). The result is indexed like ``declarations``; its
    ``attrs["flag_rule"]`` says which rule flagged them. Keyword arguments: ``budget``,
    ``exploration``, ``seed``, ``mode``, ``flag_by``, ``record``, ``source``, ``max_reasons``."""
    return scores(detector, declarations, history, **kwargs).frame()


def refresh_budget_reference(detector, history, days: int = REFERENCE_DAYS, rows: int = REFERENCE_ROWS,
                             before_day: int | None = None) -> int:
    """Recompute the model's budget reference from the last ``days`` days of the history (at
    most ``rows`` declarations, a fixed sample by id), or of the days before ``before_day``.
    Returns the rows used (0: left as it was)."""
    _, last = history.day_range()
    if last is None:
        return 0
    if before_day is not None:
        last = min(last, before_day - 1)
    recent = history.declarations(start_day=last - days + 1, end_day=last + 1)
    if not len(recent):
        return 0
    if len(recent) > rows:
        keep = smallest(exploration_draws(recent["declaration_id"].to_numpy(dtype=object), 0), rows)
        recent = recent.iloc[np.sort(keep)]
    detector.set_budget_reference(margins(detector, recent, history)[1])
    return len(recent)
