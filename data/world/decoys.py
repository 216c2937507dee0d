"""Decoys: honest declarations of the cover goods with a legitimate oddity.

Real trade in the cover goods has its own oddities, and a detector that flags every odd cover
consignment spends the budget on them: water in heavy glass bottles (more kg per litre, a heavy
gross weight), dense industrial or outdoor tiles (more kg per m2), solid-metal mannequin stands,
premium silver-rich solder paste (several times the usual value per kg). Most such oddities are
an exporter's own product, shipped that way every time (``PERSISTENT_SHARE`` of the decoy rows);
the rest are one-off consignments.

``WorldConfig.decoys`` sets how many: that many times the contraband declared under the same
cover goods. Decoy rows are marked in ``truth_decoy`` (hidden truth, never a feature).
"""

from __future__ import annotations

import numpy as np

from contraband.data import reference as ref

#: per cover code: (weight per unit factor, tare factor, value per kg factor), each a (low, high)
#: range drawn once per exporter for a persistent oddity, once per row for a one-off
ODDITIES = {
    "220190": ((1.1, 1.5), (4.0, 8.0), (1.0, 1.0)),  # heavy glass bottles
    "220110": ((1.1, 1.5), (4.0, 8.0), (1.0, 1.0)),
    "690721": ((1.1, 1.45), (1.0, 1.5), (1.0, 1.0)),  # dense industrial and outdoor tiles
    "690722": ((1.1, 1.45), (1.0, 1.5), (1.0, 1.0)),
    "690723": ((1.1, 1.45), (1.0, 1.5), (1.0, 1.0)),
    "961800": ((1.3, 2.3), (1.0, 1.5), (1.0, 1.5)),  # mannequins on solid metal stands
    "381010": ((1.0, 1.0), (1.0, 1.5), (2.0, 5.0)),  # premium silver-rich solder paste
}
#: share of the decoy rows that are an exporter's own product (the rest: one-off consignments)
PERSISTENT_SHARE = 0.8


def decoy_codes() -> list[str]:
    return sorted(ODDITIES)


def add_decoys(rng: np.random.Generator, honest: dict, target: int) -> np.ndarray:
    """Give about ``target`` of the ``honest`` declarations (column arrays, as
    :func:`~contraband.data.world.trade.background` returns them) of the cover goods an oddity,
    in place: ``kg_per_unit``, ``declared_value_usd`` and a ``tare_factor`` (the packaging's
    weight against the usual). Returns which rows are decoys."""
    goods = ref.goods()
    good = honest["good"]
    n = len(good)
    decoy = np.zeros(n, dtype=bool)
    honest.setdefault("tare_factor", np.ones(n))
    codes = goods.index.get_indexer(decoy_codes())
    candidates = np.flatnonzero(np.isin(good, codes))
    if target <= 0 or not len(candidates):
        return decoy
    # persistent: whole (exporter, good) lines, taken in a random order while they fit their share
    lines = honest["exporter"][candidates].astype(np.int64) * len(goods) + good[candidates]
    unique, inverse, counts = np.unique(lines, return_inverse=True, return_counts=True)
    chosen = np.zeros(len(unique), dtype=bool)
    room = PERSISTENT_SHARE * target
    for line in rng.permutation(len(unique)):
        if counts[line] <= room:
            chosen[line] = True
            room -= counts[line]
    draws = {k: rng.random(len(unique)) for k in ("kg", "tare", "value")}
    rows = candidates[chosen[inverse]]
    _apply(honest, rows, {k: v[inverse[chosen[inverse]]] for k, v in draws.items()})
    decoy[rows] = True
    # one-off consignments among the rest
    rest = candidates[~chosen[inverse]]
    k = min(len(rest), max(int(round(target - len(rows))), 0))
    once = rng.choice(rest, k, replace=False) if k else np.zeros(0, dtype=np.int64)
    _apply(honest, once, {key: rng.random(len(once)) for key in ("kg", "tare", "value")})
    decoy[once] = True
    return decoy


def _apply(honest: dict, rows: np.ndarray, u: dict[str, np.ndarray]) -> None:
    """Scale the rows' weight per unit, tare and value per kg by their code's ranges, at ``u``."""
    goods = ref.goods()
    code = goods.index.to_numpy()[honest["good"][rows]]
    factor = {"kg": np.ones(len(rows)), "tare": np.ones(len(rows)), "value": np.ones(len(rows))}
    for c, ranges in ODDITIES.items():
        at = code == c
        for (key, (lo, hi)) in zip(("kg", "tare", "value"), ranges):
            factor[key][at] = lo + (hi - lo) * u[key][at]
    honest["kg_per_unit"][rows] = honest["kg_per_unit"][rows] * factor["kg"]
    honest["tare_factor"][rows] = honest["tare_factor"][rows] * factor["tare"]
    honest["declared_value_usd"][rows] = honest["declared_value_usd"][rows] * factor["value"]
