"""Selection: which declarations a budget, a capacity or a random draw takes.

The one implementation that the scoring (the budget's flags and exploration picks), the
metrics and the gate (precision and recall at a budget), the desk's lanes (capacity, the random
control) and the backtest call, so that "the top 5 %" or "3 a day at random" mean the same thing
everywhere:

- :func:`budget_count`: how many a budget takes of ``n``: ``ceil(budget x n)`` in exact decimal
  arithmetic (7 % of 100 is 7, not 8);
- :func:`share_count`: a share rounded to the nearest whole declaration, half up (a lane's
  share of the day, the control's expected count);
- :func:`by_risk` and :func:`top`: the order by risk (highest first; ties by declaration id,
  else by position) and the ``k`` riskiest;
- :func:`keyed_draws` and :func:`smallest`: one uniform draw per declaration from a keyed hash
  of its id alone (SipHash; independent of the score, of the other rows and of their order),
  and the ``k`` smallest draws: an exact-size random sample.
"""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import numpy as np
import pandas as pd

_UNIT = float(1 << 53)


def exact(x: float) -> Fraction:
    """A share as the decimal a person typed (0.07 is 7/100, not 0.07000000000000000666)."""
    return Fraction(repr(float(x)))


def budget_count(n: int, budget: float) -> int:
    """Declarations a budget takes of ``n``: ceil(budget x n), exactly, at most ``n``."""
    return min(n, math.ceil(exact(budget) * n))


def share_count(n: int, share: float) -> int:
    """``share`` of ``n`` rounded to the nearest whole, half up, exactly, at most ``n``."""
    return min(n, int(math.floor(exact(share) * n + Fraction(1, 2))))


def by_risk(score, ids=None) -> np.ndarray:
    """Positions from the highest score to the lowest; equal scores by declaration id (code point
    order) when ``ids`` are given, else by position. NaN ranks last."""
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf)
    if ids is None:
        return np.argsort(-score, kind="stable")
    ids = np.asarray([str(i) for i in np.asarray(ids, dtype=object)], dtype=object)
    return np.lexsort((ids.astype(str), -score))


def top(score, k: int, ids=None) -> np.ndarray:
    """A mask of the ``k`` highest scores (ties as :func:`by_risk`)."""
    chosen = np.zeros(len(np.asarray(score)), dtype=bool)
    if k > 0:
        chosen[by_risk(score, ids)[:k]] = True
    return chosen


def keyed_draws(ids, key: str) -> np.ndarray:
    """One uniform draw in [0, 1) per declaration id, fixed by the id and the key (16 characters
    are used) alone."""
    values = np.asarray([str(i) for i in np.asarray(ids, dtype=object)], dtype=object)
    hashed = pd.util.hash_array(values, hash_key=_hash_key(str(key)), categorize=False)
    return (hashed >> np.uint64(11)).astype(np.float64) / _UNIT


def _hash_key(key: str) -> str:
    """SipHash's 16-byte key: an ASCII key's first 16 characters (zero-padded), any other key's
    SHA-256 digest (a supervisor may type any text)."""
    if key.isascii():
        return (key + "0" * 16)[:16]
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def smallest(draws: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest draws, smallest first (equal draws by position)."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.argsort(np.asarray(draws, dtype=np.float64), kind="stable")[:k]
