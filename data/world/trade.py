"""Background trade: honest declarations over the reference goods, on the real routes.

Volumes follow each exporter's size and activity window and the calendar's seasonality; net
weights and unit values are log-normal around the good's reference figures (so their medians sit
inside the reference range) with long tails and a small share of legitimate outliers (samples,
discounts, premium goods). Quantities follow the exporter's own product weight per unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.data.world.entities import Population, _choice

#: z-score of the 90th percentile: a reference range [low, high] is taken as the central 80 %
Z80 = 1.2816
INCOTERMS = np.array(["FOB", "CIF", "EXW", "FCA", "DAP", "DDP", "CFR"])
INCOTERM_WEIGHTS = np.array([40, 20, 10, 12, 10, 4, 4], dtype=float)
MODES = np.array(["sea", "air", "road", "rail", "post", "courier"])


def heavy_tile_goods() -> np.ndarray:
    """Reference rows of floor and porcelain tiles, the ones that come in heavy formats."""
    return ref.goods().index.get_indexer(["690721", "690722"])


OCCASIONAL_SHARE = 0.15
#: share of the unit-value variance that is the exporter's own price level
EXPORTER_PRICE_SHARE = 0.15


def lognormal_in_range(rng: np.random.Generator, low: np.ndarray, high: np.ndarray,
                       level: np.ndarray | None = None) -> np.ndarray:
    """Draws whose central 80 % spans [low, high] (median = geometric mean of the range).

    ``level`` (a z-score per row, e.g. the exporter's price level) takes a fixed share of the
    spread, so that the whole distribution still spans the range.
    """
    mu = 0.5 * (np.log(low) + np.log(high))
    sigma = (np.log(high) - np.log(low)) / (2 * Z80)
    z = rng.standard_normal(len(low))
    if level is not None:
        z = np.sqrt(EXPORTER_PRICE_SHARE) * level + np.sqrt(1 - EXPORTER_PRICE_SHARE) * z
    return np.exp(mu + sigma * z)


def _mode_table(goods: pd.DataFrame) -> np.ndarray:
    """Goods x modes probabilities: the first listed mode 70 %, the others share the rest."""
    table = np.zeros((len(goods), len(MODES)))
    for i, modes in enumerate(goods["transport"].str.split(";")):
        idx = [int(np.flatnonzero(MODES == m)[0]) for m in modes]
        table[i, idx[0]] += 0.7 if len(idx) > 1 else 1.0
        for j in idx[1:]:
            table[i, j] += 0.3 / (len(idx) - 1)
    return table


def sample_days(rng: np.random.Generator, n: int, first: np.ndarray, last: np.ndarray,
                seasonality: np.ndarray) -> np.ndarray:
    """Days uniform in [first, last] thinned by seasonality (rejection sampling)."""
    horizon = len(seasonality)
    accept_p = seasonality / seasonality.max()
    out = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    while len(todo):
        lo, hi = first[todo], last[todo]
        d = lo + (rng.random(len(todo)) * (hi - lo + 1)).astype(np.int64)
        d = np.clip(d, 0, horizon - 1)
        ok = rng.random(len(todo)) < accept_p[d]
        out[todo[ok]] = d[ok]
        todo = todo[~ok]
    return out


def background(rng: np.random.Generator, n: int, pop: Population, seasonality: np.ndarray) -> dict:
    """``n`` honest declarations as a dict of column arrays (goods as reference row indices)."""
    goods = ref.goods()
    horizon = len(seasonality)
    # exporters active inside the world, weighted by size and by how long they are active in it
    first = np.clip(pop.exporter_first_day, 0, horizon - 1)
    last = np.clip(pop.exporter_last_day, 0, horizon - 1)
    active = np.maximum(last - first + 1, 0) * (pop.exporter_last_day >= 0) * (pop.exporter_first_day < horizon)
    # the long tail of occasional traders lodges about one declaration line in six
    occasional = rng.random(n) < OCCASIONAL_SHARE
    exporter = np.where(occasional, _choice(rng, active * pop.exporter_occasional, n),
                        _choice(rng, pop.exporter_size * active * ~pop.exporter_occasional, n))
    day = sample_days(rng, n, first[exporter], last[exporter], seasonality)

    slot = (rng.random(n) * pop.exporter_n_goods[exporter]).astype(np.int64)
    good = pop.exporter_goods[exporter, slot]
    kg_per_unit = pop.exporter_kg_per_unit[exporter, slot] * np.exp(rng.normal(0, 0.03, n))
    # heavy but honest tiles: thick porcelain slabs and outdoor pavers weigh 25-45 kg per m2
    heavy = np.isin(good, heavy_tile_goods()) & (rng.random(n) < 0.12)
    kg_per_unit[heavy] = rng.uniform(25, 45, heavy.sum())
    # a consignee is chosen among the exporter's consignees already active on that day
    slots = pop.exporter_consignees[exporter]
    usable = (np.arange(slots.shape[1])[None, :] < pop.exporter_n_consignees[exporter][:, None]) & (
        pop.consignee_first_day[slots] <= day[:, None])
    active = np.maximum(usable.sum(axis=1), 1)
    consignee = slots[np.arange(n), (rng.random(n) * active).astype(np.int64)]
    forwarder = pop.exporter_forwarder[exporter, (rng.random(n) < 0.2).astype(np.int64)]

    median_kg = goods["consignment_kg_median"].to_numpy(float)[good]
    exporter_scale = pop.exporter_size[exporter] ** 0.25  # big exporters ship larger lots
    net_kg = median_kg * exporter_scale * np.exp(rng.normal(0.0, 1.0, n))
    # e-commerce parcels and samples: small light-goods consignments by express and post
    parcel = (median_kg < 2000) & (rng.random(n) < 0.08)
    net_kg[parcel] = np.exp(rng.normal(np.log(4.0), 1.0, parcel.sum()))
    net_kg = np.maximum(np.round(net_kg, 1), 0.1)

    low = goods["usd_per_kg_low"].to_numpy(float)[good]
    high = goods["usd_per_kg_high"].to_numpy(float)[good]
    usd_per_kg = lognormal_in_range(rng, low, high, pop.exporter_price[exporter])
    outlier = rng.random(n) < 0.02  # samples, discounts, mis-keyed decimals: honest but odd
    usd_per_kg[outlier] *= np.exp(rng.normal(0.0, 1.6, outlier.sum()))
    value = net_kg * usd_per_kg
    rounded = rng.random(n) < 0.15
    value[rounded] = np.maximum(np.round(value[rounded], -2), 100.0)

    modes = _mode_table(goods)[good]
    mode = (modes.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
    small = net_kg < 30
    mode = np.where(small & (rng.random(n) < 0.85), _choice(rng, np.array([0, 2, 0, 0, 1, 4.0]), n), mode)

    exporter_country = pop.exporter_country[exporter]
    origin = np.where(pop.exporter_cn_origin[exporter], "CN", exporter_country)
    transit = np.where(MODES[mode] == "sea", pop.exporter_transit[exporter], "")
    transit = np.where(transit == pop.consignee_country[consignee], "", transit)

    return {
        "day": day,
        "exporter": exporter,
        "consignee": consignee,
        "forwarder": forwarder,
        "good": good,
        "kg_per_unit": kg_per_unit,
        "net_weight_kg": net_kg,
        "declared_value_usd": value,
        "mode": mode,
        "export_country": exporter_country,
        "origin_country": origin,
        "transit": transit,
        "incoterm": _choice(rng, INCOTERM_WEIGHTS, n),
    }
