"""The trading population: exporters, consignees and forwarders, each with a history.

Exporters have a country, a first and last day of activity (many predate the world), a size
drawn from a heavy-tailed law, a handful of goods from one trade sector with their own product
specifications (kg per piece, litre or m2) and price level, a set of regular consignees and
forwarders, and sometimes a habitual transit hub. Consignees have a country of destination.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contraband.data import reference as ref

MAX_GOODS = 4
#: goods that always have honest specialist traders: the look-alikes of the smuggling modes
SPECIALIST_CODES = (
    "381010", "850511", "284690", "690721", "690722", "321490", "382450", "961800", "392690",
    "220190", "750400", "720449", "720610", "790112", "970390", "330499", "282580", "811292",
    "810110", "280530", "811010",
)
MAX_CONSIGNEES = 6
#: transit hubs legitimate sea freight passes through (transshipment ports)
TRANSIT_HUBS = np.array(["SG", "MY", "HK", "KR", "TH", "VN", "AE", "MX"])
TRANSIT_WEIGHTS = np.array([6, 4, 4, 2, 2, 2, 1, 2], dtype=float)


@dataclass
class Population:
    exporter_country: np.ndarray
    exporter_occasional: np.ndarray  # bool: one of the long tail of small, short-lived traders
    exporter_first_day: np.ndarray  # day offset from the world's start (negative: existed before)
    exporter_last_day: np.ndarray
    exporter_size: np.ndarray
    exporter_goods: np.ndarray  # E x MAX_GOODS, row index into reference goods
    exporter_n_goods: np.ndarray
    exporter_kg_per_unit: np.ndarray  # E x MAX_GOODS, the product's own weight per unit
    exporter_price: np.ndarray  # price level: z-score within the good's unit-value spread
    exporter_cn_origin: np.ndarray  # bool: a hub exporter re-exporting Chinese-made goods
    exporter_transit: np.ndarray  # transit hub code or ""
    exporter_consignees: np.ndarray  # E x MAX_CONSIGNEES
    exporter_n_consignees: np.ndarray
    exporter_forwarder: np.ndarray  # E x 2
    consignee_country: np.ndarray
    consignee_first_day: np.ndarray
    forwarder_id: np.ndarray


def make_ids(prefix: str, n: int, rng: np.random.Generator, start: int = 0) -> np.ndarray:
    """Opaque identifiers such as 'EX7F3A20', unique and stable for a seed."""
    numbers = rng.permutation(np.arange(start, start + n) * 7919 % 16**6 + 16**6)
    return np.array([f"{prefix}{v:07X}"[: len(prefix) + 7] for v in numbers])


def _entry_days(rng: np.random.Generator, n: int, horizon_days: int) -> np.ndarray:
    """First day of activity: half before the world starts (negative), half during it."""
    existing = rng.random(n) < 0.5
    return np.where(existing, -rng.integers(30, 3 * 365, n), rng.integers(0, horizon_days, n))


def _choice(rng: np.random.Generator, weights: np.ndarray, size) -> np.ndarray:
    cdf = np.cumsum(weights, dtype=float)
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), len(weights) - 1)


def sample_goods(rng: np.random.Generator, goods: pd.DataFrame, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per exporter, 1-4 goods from one sector: a primary good, then others of its HS chapter."""
    weights = goods["trade_weight"].to_numpy(float)
    chapter = goods["hs_code"].str[:2].to_numpy()
    by_chapter = {c: np.flatnonzero(chapter == c) for c in np.unique(chapter)}
    primary = _choice(rng, weights, n)
    n_goods = rng.choice([1, 2, 3, 4], size=n, p=[0.35, 0.3, 0.2, 0.15])
    table = np.repeat(primary[:, None], MAX_GOODS, axis=1)
    for i in np.flatnonzero(n_goods > 1):
        same = by_chapter[chapter[primary[i]]]
        for k in range(1, n_goods[i]):
            pool = same if rng.random() < 0.7 and len(same) > 1 else None
            table[i, k] = rng.choice(pool) if pool is not None else _choice(rng, weights, 1)[0]
    return table, n_goods


def build(rng: np.random.Generator, n_rows: int, horizon_days: int, rows_per_exporter: int) -> Population:
    goods = ref.goods()
    countries = ref.countries()
    n_regular = max(200, n_rows // rows_per_exporter)
    n_occasional = max(100, n_rows // 30)  # the long tail: traders with a handful of declarations
    n_exp = n_regular + n_occasional
    n_con = max(300, n_rows // 60)
    n_fwd = max(40, n_rows // 4000)

    origin_w = countries["origin_weight"].to_numpy(float)
    exp_country = countries.index.to_numpy()[_choice(rng, origin_w, n_exp)]
    occasional = np.zeros(n_exp, dtype=bool)
    occasional[rng.permutation(n_exp)[:n_occasional]] = True
    # half the regular exporters predate the world; the rest enter during it, and many leave
    # again; occasional traders appear during the world and trade for a few weeks or months
    first = np.where(occasional, rng.integers(0, horizon_days, n_exp), _entry_days(rng, n_exp, horizon_days))
    lifetime = np.where(occasional, rng.integers(20, 240, n_exp), rng.exponential(2 * 365, n_exp).astype(int) + 60)
    last = first + lifetime
    size = np.exp(rng.normal(0.0, 1.3, n_exp))  # log-normal: a long tail, no single giant
    goods_idx, n_goods = sample_goods(rng, goods, n_exp)

    # every look-alike good has honest specialists (genuine solder paste and magnet traders, ...)
    # half of them in the hub countries: Thai and Vietnamese tiles, Malaysian solder, Mexican water
    per_code = max(4, n_exp // 100)
    hub = countries.loc[exp_country, "hub"].to_numpy() == 1
    in_hubs, elsewhere = rng.permutation(np.flatnonzero(hub)), rng.permutation(np.flatnonzero(~hub))
    n_hub = min(len(in_hubs), per_code * len(SPECIALIST_CODES) // 2)
    specialists = np.concatenate([in_hubs[:n_hub], elsewhere[: per_code * len(SPECIALIST_CODES) - n_hub]])
    specialists = rng.permutation(specialists)
    codes = np.repeat(goods.index.get_indexer(list(SPECIALIST_CODES)), per_code)
    goods_idx[specialists, 0] = codes[: len(specialists)]
    # real rare-earth producers in Thailand and Malaysia trade rare-earth goods legitimately
    producer = countries.loc[exp_country, "re_producer"].to_numpy() == 1
    producer &= np.isin(exp_country, ["TH", "MY"]) & (rng.random(n_exp) < 0.12)
    re_goods = goods.index.get_indexer(["284690", "280530", "850511"])
    goods_idx[producer, 0] = rng.choice(re_goods, producer.sum())

    lo = goods["kg_per_unit_low"].to_numpy(float)[goods_idx]
    hi = goods["kg_per_unit_high"].to_numpy(float)[goods_idx]
    kg_per_unit = lo + (hi - lo) * rng.random(goods_idx.shape)

    price = np.clip(rng.standard_normal(n_exp), -2.5, 2.5)  # price level, z-units of its goods' spread
    cn_origin = (hub & (rng.random(n_exp) < 0.35)) | (exp_country == "HK")
    transit = np.where(
        (exp_country == "CN") & (rng.random(n_exp) < 0.12),
        TRANSIT_HUBS[_choice(rng, TRANSIT_WEIGHTS, n_exp)],
        "",
    )

    con_country = countries.index.to_numpy()[_choice(rng, countries["destination_weight"].to_numpy(float), n_con)]
    popularity = np.exp(rng.normal(0.0, 1.5, n_con))
    us_idx = np.flatnonzero(con_country == "US")
    consignees = _choice(rng, popularity, (n_exp, MAX_CONSIGNEES))
    # Mexican exporters and Mexico-routed lanes serve the US market
    to_us = (exp_country == "MX") | (transit == "MX")
    consignees[to_us] = us_idx[_choice(rng, popularity[us_idx], (to_us.sum(), MAX_CONSIGNEES))]
    # an exporter never ships to its own country
    own = con_country[consignees] == exp_country[:, None]
    consignees[own] = us_idx[_choice(rng, popularity[us_idx], own.sum())]
    n_consignees = rng.integers(1, MAX_CONSIGNEES + 1, n_exp)
    con_first = _entry_days(rng, n_con, horizon_days)
    # half the occasional traders sell to a buyer as new as they are
    one_off = np.flatnonzero(occasional & (rng.random(n_exp) < 0.5))
    new_buyers = n_con + np.arange(len(one_off))
    consignees[one_off, 0] = new_buyers
    n_consignees[one_off] = 1
    con_country = np.concatenate([con_country, con_country[consignees[one_off, 1]]])
    con_country[new_buyers[con_country[new_buyers] == exp_country[one_off]]] = "US"
    con_first = np.concatenate([con_first, first[one_off] - rng.integers(0, 30, len(one_off))])
    # consignees come and go too: each exporter's list is ordered oldest first
    consignees = np.take_along_axis(consignees, np.argsort(con_first[consignees], axis=1), axis=1)
    fwd_pop = np.exp(rng.normal(0.0, 1.2, n_fwd))
    forwarders = _choice(rng, fwd_pop, (n_exp, 2))

    return Population(
        exporter_country=exp_country,
        exporter_occasional=occasional,
        exporter_first_day=first,
        exporter_last_day=last,
        exporter_size=size,
        exporter_goods=goods_idx,
        exporter_n_goods=n_goods,
        exporter_kg_per_unit=kg_per_unit,
        exporter_price=price,
        exporter_cn_origin=cn_origin,
        exporter_transit=transit,
        exporter_consignees=consignees,
        exporter_n_consignees=n_consignees,
        exporter_forwarder=forwarders,
        consignee_country=con_country,
        consignee_first_day=con_first,
        forwarder_id=make_ids("FW", n_fwd, rng),
    )
