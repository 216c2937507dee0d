"""Contraband declarations: every smuggling mode from the reports, with its fingerprints.

Smuggling pressure comes from the calendar (after each control date, not while a measure is
suspended). Each shipment belongs to a network that specialises in one typology, ships to a
small pool of its own consignees through one forwarder on a habitual route, and uses shell
exporters that are replaced by new names every few dozen shipments (or an established exporter
it has infiltrated). Each typology leaves some of the fingerprints a real one would, each with a
probability, so that no single rule catches them all:

- value: declared USD/kg far from the cover good's norm (the concealed material's value shows);
- physical: kg per m2, litre, piece or package impossible for the declared good;
- route: Chinese goods declared with a hub's origin, routed through Thailand, Mexico, Vietnam,
  Malaysia or Hong Kong;
- entities: new exporters and consignees, linked through shared consignees and forwarders;
- small repeated courier consignments for the high-value materials;
- documents that contradict themselves: a port of loading in another country than the declared
  export country, a Chinese-made good's unit hidden by declaring kilograms, a sea-only Incoterm
  on an air or courier consignment.

A shifted world (``WorldConfig.shift``) changes the smugglers' ways from ``shift_from`` on: other
transshipment hubs, other cover goods with values matched to the cover's norm, and typologies
nobody has reported (oxides declared as cerium compounds, HS 2846.10; magnets and metals
declared as motor parts or ferrite magnets, HS 8503.00 / 8505.19, at ordinary unit values),
known only here and not in the reference tables the features read.

Harder worlds (docs/data.md, "Hard worlds") keep only the tells an administration has:

- fronts (``front_share``, ``fronts_in_cover``): networks ship through established exporters
  with long, clean histories in the cover good itself, at their own product specifications;
- mild physics (``physics="mild"``): the concealed material makes the cover only a little heavier
  than usual (1.05-1.3x per m2 or litre, up to 2.2x per piece), and a third of the consignments
  declare a normal net weight, so that only the gross weight and the packages show the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.data.world.entities import Population, _choice
from contraband.data.world.trade import MODES, lognormal_in_range

TYPOLOGY_WEIGHTS = {
    "solder_paste": 0.17, "ceramic_tiles": 0.12, "tile_adhesive": 0.06, "mannequins": 0.08,
    "bottled_water": 0.06, "non_controlled": 0.21, "origin_relabel": 0.30,
}
TYPOLOGIES = tuple(TYPOLOGY_WEIGHTS)
#: the typology of a shifted world: controlled oxides declared as cerium compounds (not controlled)
NEW_TYPOLOGY = "cerium_compounds"
#: a second one (the shift "motor_parts"): magnets and metals declared as motor parts or ferrite magnets
MOTOR_PARTS = "motor_parts"
#: each new typology's cover codes and the materials it hides, and the shift that brings it
NEW_TYPOLOGIES = {
    NEW_TYPOLOGY: {"hs_codes": ("284610",), "materials": ("Dy2O3", "Tb4O7", "Gd2O3", "Y2O3", "Sm2O3"),
                   "shift": "typology"},
    MOTOR_PARTS: {"hs_codes": ("850300", "850519"), "materials": ("NdFeB-magnet", "Dy-metal", "Tb-metal", "Dy2O3"),
                  "shift": "motor_parts"},
}
ALL_TYPOLOGIES = TYPOLOGIES + tuple(NEW_TYPOLOGIES)
#: after a "cover" shift: the physical covers and the catch-all non-controlled goods gain share
SHIFTED_TYPOLOGY_WEIGHTS = {
    "solder_paste": 0.10, "ceramic_tiles": 0.08, "tile_adhesive": 0.10, "mannequins": 0.14,
    "bottled_water": 0.10, "non_controlled": 0.28, "origin_relabel": 0.20,
}
#: share of the shipments the new typologies take after the shift (``WorldConfig.new_typology_share``)
NEW_TYPOLOGY_SHARE = 0.15
#: after a "cover" shift: other cover codes for a typology (mannequins become plastic figurines,
#: declared by weight), and declared values that betray the hidden material this much less often
SHIFTED_COVER_CODES = {"mannequins": ["392640"], "bottled_water": ["220110"], "ceramic_tiles": ["690723"]}
SHIFTED_VALUE_OFF = 0.3


@dataclass(frozen=True)
class Profile:
    """How one typology ships and which fingerprints it leaves (probabilities)."""

    kg_median: float
    kg_sigma: float
    modes: dict[str, float]
    concealed: tuple[float, float]  # share of the net weight that is contraband
    p_value_off: float  # declared value reflects the hidden material
    p_physical: float  # weight per unit or package impossible for the cover good
    p_hub: float  # routed through a transshipment hub
    p_origin_lie: float  # a hub country declared as origin of goods shipped from China
    p_vague: float  # vague goods description
    p_port_lie: float = 0.1  # port of loading in another country than the declared export country
    p_unit_dodge: float = 0.0  # kilograms declared for a good traded by the piece, litre or m2
    p_incoterm_any: float = 0.6  # Incoterm picked with no regard to the transport mode


PROFILES = {
    "solder_paste": Profile(25, 0.7, {"courier": 0.5, "air": 0.35, "post": 0.15}, (0.8, 1.0), 0.35, 0.35, 0.35, 0.15, 0.2),
    "ceramic_tiles": Profile(12000, 0.5, {"sea": 1.0}, (0.1, 0.35), 0.3, 0.55, 0.35, 0.2, 0.15, p_unit_dodge=0.25),
    "tile_adhesive": Profile(9000, 0.7, {"sea": 1.0}, (0.5, 1.0), 0.45, 0.0, 0.35, 0.2, 0.2),
    "mannequins": Profile(900, 0.6, {"sea": 0.6, "air": 0.4}, (0.3, 0.7), 0.3, 0.55, 0.35, 0.2, 0.15, p_unit_dodge=0.25),
    "bottled_water": Profile(9000, 0.5, {"sea": 0.8, "road": 0.2}, (0.1, 0.3), 0.3, 0.55, 0.35, 0.2, 0.1, p_unit_dodge=0.25),
    "non_controlled": Profile(300, 1.0, {"sea": 0.4, "air": 0.3, "courier": 0.3}, (0.8, 1.0), 0.45, 0.3, 0.35, 0.2, 0.25),
    "origin_relabel": Profile(2500, 1.0, {"sea": 0.7, "air": 0.3}, (1.0, 1.0), 0.1, 0.0, 1.0, 0.0, 0.1, p_port_lie=0.35),
    NEW_TYPOLOGY: Profile(400, 0.8, {"sea": 0.5, "air": 0.3, "courier": 0.2}, (0.7, 1.0), 0.4, 0.0, 0.35, 0.2, 0.2),
    MOTOR_PARTS: Profile(1500, 0.7, {"sea": 0.7, "air": 0.3}, (0.2, 0.5), 0.1, 0.0, 0.35, 0.2, 0.05),
}
#: mild physics: how much heavier than usual per unit the concealed material makes a cover
#: (tiles and water: the oxide is a small share of a dense good; a mannequin is hollow)
MILD_EXCESS = {"690721": (1.05, 1.3), "690722": (1.05, 1.3), "690723": (1.05, 1.3), "220190": (1.05, 1.3),
               "220110": (1.05, 1.3), "961800": (1.2, 2.2), "970390": (1.2, 2.2)}
#: mild physics: of the rest (goods traded by weight), how much heavier the gross weight is than a
#: normal net weight would make it, when the net weight declared is the cover's normal one
MILD_HIDDEN_WEIGHT = (1.1, 1.4)
#: mild physics: share of the consignments that declare a normal net weight for the cover
NORMAL_NET_SHARE = 1 / 3

#: impossible weight per declared unit, by cover HS code: (low, high) kg per unit
IMPOSSIBLE_KG_PER_UNIT = {
    "690721": (28, 40), "690722": (27, 38), "690723": (24, 34),
    "961800": (25, 60), "220190": (1.3, 2.2), "220110": (1.3, 2.2), "970390": (60, 150),
}
VAGUE_WORDS = np.array([
    "samples", "industrial material", "general merchandise", "goods", "raw materials",
    "spare parts", "chemical product", "building materials", "gift", "mixed goods",
])
DESTINATIONS = {"US": 40, "JP": 10, "DE": 10, "KR": 8, "IN": 8, "NL": 6, "GB": 6, "FR": 4, "TR": 4, "AE": 4}
HUBS = {"TH": 35, "MX": 20, "VN": 20, "MY": 15, "HK": 10}
#: after a "hubs" shift: transshipment through countries the reference tables do not call hubs
SHIFTED_HUBS = {"AE": 30, "SG": 25, "TR": 15, "ID": 15, "PH": 15}


@dataclass
class Networks:
    """Smuggling networks and the entities they add to the population."""

    typology: np.ndarray
    destination: np.ndarray
    hub: np.ndarray  # "" for direct routes
    shifted_hub: np.ndarray  # the hub after a "hubs" shift ("" for direct routes)
    ships_from_china: np.ndarray  # origin relabellers: probability of shipping from a Chinese port
    forwarder: np.ndarray
    consignees: np.ndarray  # network x 6 consignee indices (new ones numbered after the population's)
    n_consignees: np.ndarray
    new_consignee_country: np.ndarray  # destination country of each new consignee, in numbering order
    infiltrated: np.ndarray  # index of an established exporter used as cover, or -1
    shipments_per_shell: np.ndarray
    shell_life_days: np.ndarray


def compatibility(materials: list[str]) -> np.ndarray:
    """Typology x material matrix: 1 where reporting shows the material hidden that way.

    Origin relabelling works for every controlled material (declared under its own HS code).
    """
    cover = ref.cover_goods()
    out = np.zeros((len(ALL_TYPOLOGIES), len(materials)))
    for i, typ in enumerate(ALL_TYPOLOGIES):
        named = set(NEW_TYPOLOGIES[typ]["materials"]) if typ in NEW_TYPOLOGIES else \
            set(";".join(cover.loc[cover["typology"] == typ, "materials"]).split(";"))
        out[i] = [typ == "origin_relabel" or m in named for m in materials]
    return out


def cover_codes(typology: str, material: str) -> list[str]:
    """HS codes a material is declared under in a typology."""
    if typology == "origin_relabel":
        return [ref.controlled_materials().loc[material, "hs_code"]]
    if typology in NEW_TYPOLOGIES:
        return list(NEW_TYPOLOGIES[typology]["hs_codes"])
    cover = ref.cover_goods()
    rows = cover[(cover["typology"] == typology) & cover["materials"].str.split(";").apply(lambda m: material in m)]
    return rows["hs_code"].tolist()


def typology_codes(typology: str) -> list[str]:
    """Every HS code a typology declares its shipments under (any material)."""
    if typology in NEW_TYPOLOGIES:
        return list(NEW_TYPOLOGIES[typology]["hs_codes"])
    cover = ref.cover_goods()
    return sorted(cover.loc[cover["typology"] == typology, "hs_code"])


def _pick(rng: np.random.Generator, table: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(table))
    return keys[_choice(rng, np.array(list(table.values()), dtype=float), n)]


def typology_weights(shift: tuple[str, ...] = (), new_share: float = NEW_TYPOLOGY_SHARE
                     ) -> tuple[dict[str, float], dict[str, float]]:
    """Each typology's share of the shipments before and after the shift: the new typologies the
    shift brings share ``new_share`` of the shipments after it equally."""
    before = {**TYPOLOGY_WEIGHTS, **dict.fromkeys(NEW_TYPOLOGIES, 0.0)}
    after = dict(SHIFTED_TYPOLOGY_WEIGHTS if "cover" in shift else TYPOLOGY_WEIGHTS)
    new = [t for t, spec in NEW_TYPOLOGIES.items() if spec["shift"] in shift]
    if new:
        after = {t: w * (1 - new_share) for t, w in after.items()}
    for t in NEW_TYPOLOGIES:
        after[t] = new_share / len(new) if t in new else 0.0
    return before, after


def _trades(pop: Population, exporters: np.ndarray, goods: np.ndarray) -> np.ndarray:
    """Which of ``exporters`` have one of ``goods`` (reference row indices) among their own."""
    slots = np.arange(pop.exporter_goods.shape[1])[None, :] < pop.exporter_n_goods[exporters][:, None]
    return (np.isin(pop.exporter_goods[exporters], goods) & slots).any(axis=1)


def plan_networks(rng: np.random.Generator, n_shipments: int, pop: Population, first_new_consignee: int,
                  shift: tuple[str, ...] = (), new_share: float = NEW_TYPOLOGY_SHARE, front_share: float = 0.25,
                  fronts_in_cover: bool = False) -> Networks:
    before, after = typology_weights(shift, new_share)
    share = {t: max(before[t], after[t]) for t in ALL_TYPOLOGIES}  # a typology's larger share sizes its networks
    counts = {t: max(2, round(max(20, n_shipments / 50) * w)) if w else 0 for t, w in share.items()}
    typology = np.repeat(np.array(ALL_TYPOLOGIES), [counts[t] for t in ALL_TYPOLOGIES])
    n = len(typology)
    destination = _pick(rng, DESTINATIONS, n)
    hub = _pick(rng, HUBS, n)
    p_hub = np.array([PROFILES[t].p_hub for t in typology])
    routed = rng.random(n) < p_hub
    shifted_hub = np.where(routed, _pick(rng, SHIFTED_HUBS, n), "")
    hub = np.where(routed, hub, "")
    destination = np.where(hub == "MX", "US", destination)  # Mexico is the door to the US
    # each network's consignees: new companies, or (for two in five) established importers
    size = rng.integers(2, 7, n)
    consignees = np.full((n, 6), -1)
    new_country = []
    next_new = first_new_consignee
    for i in range(n):
        local = np.flatnonzero((pop.consignee_country == destination[i]) & (pop.consignee_first_day < -180))
        if rng.random() < 0.4 and len(local) >= size[i]:
            consignees[i, : size[i]] = rng.choice(local, size[i], replace=False)
        else:
            consignees[i, : size[i]] = np.arange(next_new, next_new + size[i])
            new_country += [destination[i]] * size[i]
            next_new += size[i]
    # some networks work through an established exporter instead of shells (``front_share``): in
    # China for cover goods, in the hub for origin relabelling (a Thai firm whose volume suddenly
    # multiplies); with ``fronts_in_cover`` they are chosen once the shipments are known
    # (:func:`choose_fronts`)
    infiltrated = np.full(n, -1)
    for i in np.flatnonzero(rng.random(n) < front_share) if not fronts_in_cover else ():
        home = hub[i] if typology[i] == "origin_relabel" and hub[i] else "CN"
        established = np.flatnonzero((pop.exporter_country == home) & (pop.exporter_first_day < -180))
        if len(established):
            infiltrated[i] = rng.choice(established)
    return Networks(
        typology=typology,
        destination=destination,
        hub=hub,
        shifted_hub=shifted_hub,
        # relabellers ship from a Chinese port under a hub's origin, or re-export from the hub;
        # each network has a habit (mostly one, sometimes the other)
        ships_from_china=np.where(typology == "origin_relabel", np.where(np.arange(n) % 2 == 0, 0.75, 0.25), 0.0),
        forwarder=_choice(rng, np.bincount(pop.exporter_forwarder.ravel(), minlength=len(pop.forwarder_id)) + 1.0, n),
        consignees=consignees,
        n_consignees=size,
        new_consignee_country=np.array(new_country, dtype=object),
        infiltrated=infiltrated,
        shipments_per_shell=rng.integers(6, 40, n),
        shell_life_days=rng.integers(45, 150, n),
    )


def sample_shipments(rng: np.random.Generator, n: int, pressure: np.ndarray, materials: list[str],
                     shift_day: int | None = None, shift: tuple[str, ...] = (),
                     new_share: float = NEW_TYPOLOGY_SHARE) -> tuple:
    """Days, typologies and materials of ``n`` smuggling shipments.

    Drawn from day x typology x material weights: the calendar's pressure on each material,
    times the typology's share (before or after the shift), spread over the materials the
    typology can hide, so that each typology keeps its share whenever its materials are controlled.
    """
    compat = compatibility(materials)
    demand = pressure.max(axis=0) + 1e-12
    spread = compat / np.maximum((compat * demand).sum(axis=1, keepdims=True), 1e-12)
    before, after = typology_weights(shift, new_share)
    weights = np.array([[w[t] for t in ALL_TYPOLOGIES] for w in (before, after)])
    period = np.zeros(len(pressure), dtype=np.int64)
    if shift_day is not None:
        period[max(shift_day, 0):] = 1
    cube = pressure[:, None, :] * (weights[:, :, None] * spread[None, :, :])[period]
    flat = cube.ravel()
    if n == 0 or flat.sum() == 0:
        return np.zeros(0, np.int64), np.zeros(0, dtype=object), np.zeros(0, dtype=object)
    cell = _choice(rng, flat, n)
    day, rest = np.divmod(cell, cube.shape[1] * cube.shape[2])
    typ, mat = np.divmod(rest, cube.shape[2])
    return day, np.array(ALL_TYPOLOGIES, dtype=object)[typ], np.array(materials, dtype=object)[mat]


def contraband(rng: np.random.Generator, n: int, pop: Population, pressure: np.ndarray, materials: list[str],
               n_exporters: int, n_consignees: int, shift_day: int | None = None,
               shift: tuple[str, ...] = (), new_share: float = NEW_TYPOLOGY_SHARE, front_share: float = 0.25,
               fronts_in_cover: bool = False, physics: str = "impossible", physics_strength: float = 1.0,
               normal_net_share: float = NORMAL_NET_SHARE) -> tuple[dict, Networks]:
    """``n`` contraband declarations as column arrays, plus the networks behind them.

    New shell exporters are numbered from ``n_exporters``; new consignees from ``n_consignees``.
    ``net_weight_kg`` is the net weight declared, ``true_net_kg`` the one shipped (they differ
    where mild physics declares a normal net weight for the cover).
    """
    goods = ref.goods()
    mats = ref.controlled_materials()
    day, typology, material = sample_shipments(rng, n, pressure, materials, shift_day, shift, new_share)
    n = len(day)
    shifted = np.zeros(n, dtype=bool) if shift_day is None else day >= shift_day
    cover_hs = np.empty(n, dtype=object)
    for typ, mat in sorted(set(zip(typology, material))):
        rows = np.flatnonzero((typology == typ) & (material == mat))
        codes = cover_codes(typ, mat)
        cover_hs[rows] = np.array(codes, dtype=object)[rng.integers(0, len(codes), len(rows))]
    if "cover" in shift:
        for typ, codes in SHIFTED_COVER_CODES.items():
            rows = np.flatnonzero(shifted & (typology == typ))
            cover_hs[rows] = np.array(codes, dtype=object)[rng.integers(0, len(codes), len(rows))]

    nets = plan_networks(rng, n, pop, n_consignees, shift, new_share, front_share, fronts_in_cover)
    network = np.empty(n, dtype=np.int64)
    for t in ALL_TYPOLOGIES:
        rows = np.flatnonzero(typology == t)
        members = np.flatnonzero(nets.typology == t)
        if not len(rows):
            continue
        network[rows] = members[_choice(rng, rng.pareto(1.0, len(members)) + 1.0, len(rows))]
    if fronts_in_cover:
        nets.infiltrated = choose_fronts(rng, pop, nets, network, front_share, len(pressure))

    # shells: within a network, a new exporter name every few dozen shipments
    order = np.lexsort((day, network))
    rank = np.empty(n, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(network[order])) + 1]
    sizes = np.diff(np.r_[starts, n])
    rank[order] = np.arange(n) - np.repeat(starts, sizes)
    # a shell is dropped after a few dozen shipments or a few months, whichever comes first
    network_start = np.full(len(nets.typology), np.iinfo(np.int64).max)
    np.minimum.at(network_start, network, day)
    period = (day - network_start[network]) // nets.shell_life_days[network]
    shell_key = (network * 1_000 + rank // nets.shipments_per_shell[network]) * 1_000 + period
    _, shell = np.unique(shell_key, return_inverse=True)
    exporter = n_exporters + shell
    infiltrated = nets.infiltrated[network]
    exporter = np.where(infiltrated >= 0, infiltrated, exporter)
    # a front in the cover good declares its own good, at its own product specification
    own_kg_per_unit = np.full(n, np.nan)
    if fronts_in_cover:
        cover_hs, own_kg_per_unit = _fronts_own_goods(rng, pop, infiltrated, typology, cover_hs)
    consignee = nets.consignees[network, (rng.random(n) * nets.n_consignees[network]).astype(np.int64)]
    forwarder = nets.forwarder[network]

    # route: Chinese goods, some routed or relabelled through a hub
    hub = nets.hub[network]
    if "hubs" in shift:
        hub = np.where(shifted, nets.shifted_hub[network], hub)
    relabel = typology == "origin_relabel"
    from_china = ~relabel | (rng.random(n) < nets.ships_from_china[network]) | (hub == "")
    export_country = np.where(from_china, "CN", hub)
    lie = ~relabel & (hub != "") & (rng.random(n) < np.array([PROFILES[t].p_origin_lie for t in typology]))
    origin = np.where((relabel & (hub != "")) | lie, hub, "CN")
    transit = np.where(from_china & ~relabel & (hub != ""), hub, "")

    prof = [PROFILES[t] for t in typology]
    net_kg = np.array([p.kg_median for p in prof]) * np.exp(rng.normal(0, 1, n) * np.array([p.kg_sigma for p in prof]))
    small_lots = np.isin(material, ["gallium", "germanium", "GeO2", "Sc2O3", "Lu2O3", "Tb4O7", "Tb-metal"])
    net_kg = np.where(small_lots & (typology != "ceramic_tiles") & (typology != "bottled_water"),
                      np.minimum(net_kg, rng.uniform(20, 250, n)), net_kg)  # ~200 kg a month per buyer
    net_kg = np.maximum(np.round(net_kg, 1), 1.0)
    mode = np.empty(n, dtype=np.int64)
    for t in ALL_TYPOLOGIES:
        rows = np.flatnonzero(typology == t)
        mode[rows] = pd.Index(MODES).get_indexer(_pick(rng, PROFILES[t].modes, len(rows)))

    good = goods.index.get_indexer(cover_hs.astype(str))
    material_low = mats.loc[material, "usd_per_kg_low"].to_numpy(float)
    material_high = mats.loc[material, "usd_per_kg_high"].to_numpy(float)
    material_usd_kg = np.sqrt(material_low * material_high)
    share = np.array([rng.uniform(*p.concealed) for p in prof])
    truth_value = net_kg * share * material_usd_kg

    # declared value: the cover good's norm, or a value that betrays the hidden material
    cover_usd_kg = lognormal_in_range(rng, goods["usd_per_kg_low"].to_numpy(float)[good],
                                      goods["usd_per_kg_high"].to_numpy(float)[good])
    p_off = np.array([p.p_value_off for p in prof])
    if "cover" in shift:
        p_off = np.where(shifted, p_off * SHIFTED_VALUE_OFF, p_off)
    off = rng.random(n) < p_off
    betrayed = material_usd_kg * share * rng.uniform(0.3, 1.0, n)
    usd_per_kg = np.where(off, np.maximum(betrayed, cover_usd_kg), cover_usd_kg)
    usd_per_kg = np.where(relabel, material_usd_kg * rng.uniform(0.6, 1.0, n), usd_per_kg)
    value = np.round(net_kg * usd_per_kg, 2)

    # physical fingerprint: weight per declared unit impossible for the good
    kg_low = goods["kg_per_unit_low"].to_numpy(float)[good]
    kg_high = goods["kg_per_unit_high"].to_numpy(float)[good]
    kg_per_unit = kg_low + (kg_high - kg_low) * rng.random(n)
    kg_per_unit = np.where(np.isfinite(own_kg_per_unit), own_kg_per_unit, kg_per_unit)
    physical = rng.random(n) < np.array([p.p_physical for p in prof])
    true_net_kg = net_kg
    if physics == "mild":
        kg_per_unit, net_kg = _mild_physics(rng, kg_per_unit, net_kg, cover_hs, typology, physics_strength,
                                            normal_net_share)
        value = np.round(net_kg * usd_per_kg, 2)  # on the net weight declared
        package_kg = np.full(n, np.nan)
    else:
        for code, (lo, hi) in IMPOSSIBLE_KG_PER_UNIT.items():
            rows = physical & (cover_hs == code)
            kg_per_unit[rows] = rng.uniform(lo, hi, rows.sum())
        # solder paste and loose powders: packages of an impossible weight for jars of paste
        package_kg = np.where(physical & (typology != "ceramic_tiles") & np.isnan(kg_low),
                              np.where(rng.random(n) < 0.5, rng.uniform(35, 60, n), rng.uniform(0.5, 2, n)), np.nan)

    vague = rng.random(n) < np.array([p.p_vague for p in prof])
    # documents that contradict themselves: loaded in China when the export country is a hub,
    # or in the hub when it is China; kilograms declared for goods traded by the unit
    port_lie = (hub != "") & (rng.random(n) < np.array([p.p_port_lie for p in prof]))
    loading_country = np.where(port_lie, np.where(export_country == "CN", hub, "CN"), export_country)
    unit_dodge = rng.random(n) < np.array([p.p_unit_dodge for p in prof])
    incoterm_any = rng.random(n) < np.array([p.p_incoterm_any for p in prof])
    return {
        "day": day,
        "exporter": exporter,
        "consignee": consignee,
        "forwarder": forwarder,
        "good": good,
        "kg_per_unit": kg_per_unit,
        "package_kg": package_kg,
        "net_weight_kg": net_kg,
        "true_net_kg": true_net_kg,
        "declared_value_usd": value,
        "mode": mode,
        "export_country": export_country.astype(str),
        "origin_country": origin.astype(str),
        "transit": transit.astype(str),
        "destination": nets.destination[network],
        "vague": vague,
        "loading_country": loading_country.astype(str),
        "unit_dodge": unit_dodge,
        "incoterm_any": incoterm_any,
        "truth_typology": typology.astype(str),
        "truth_material": material.astype(str),
        "truth_value_usd": np.round(truth_value, 2),
        "network": network,
    }, nets


#: established Chinese exporters given a cover good of each typology (``recruit_fronts``)
FRONTS_PER_TYPOLOGY = 4


def _veterans(pop: Population, horizon: int) -> np.ndarray:
    """Regular exporters with over a year of trade before the world, trading through all of it
    (``horizon`` days): those a ring can use as a front."""
    return (pop.exporter_first_day < -365) & (pop.exporter_last_day >= horizon - 1) & ~pop.exporter_occasional


def recruit_fronts(rng: np.random.Generator, pop: Population, horizon: int) -> None:
    """Make sure each typology has fronts to recruit: established Chinese exporters (over a year of
    trade before the world, trading through all of it, the larger the likelier) whose main good,
    at their own specification, is one of the typology's cover goods. In place, before the
    background trade is drawn, so that they trade the cover good honestly all along."""
    goods = ref.goods()
    pool = np.flatnonzero(_veterans(pop, horizon) & (pop.exporter_country == "CN"))
    pool = pool[rng.permutation(len(pool))]
    taken = np.zeros(len(pop.exporter_country), dtype=bool)
    for typ in ALL_TYPOLOGIES:
        if typ == "origin_relabel":
            continue
        free = pool[~taken[pool]]
        if not len(free):
            return
        size = pop.exporter_size[free]
        chosen = free[rng.choice(len(free), min(FRONTS_PER_TYPOLOGY, len(free)), replace=False, p=size / size.sum())]
        taken[chosen] = True
        codes = goods.index.get_indexer(typology_codes(typ))
        good = codes[rng.integers(0, len(codes), len(chosen))]
        pop.exporter_goods[chosen, 0] = good
        lo, hi = goods["kg_per_unit_low"].to_numpy(float)[good], goods["kg_per_unit_high"].to_numpy(float)[good]
        pop.exporter_kg_per_unit[chosen, 0] = lo + (hi - lo) * rng.random(len(chosen))


def choose_fronts(rng: np.random.Generator, pop: Population, nets: Networks, network: np.ndarray,
                  front_share: float, horizon: int) -> np.ndarray:
    """Fronts for each typology's networks, taken in a random order until they carry
    ``front_share`` of the typology's shipments: an established exporter trading through the
    world (``horizon`` days), the larger the likelier; in China one that trades one of the
    typology's cover goods, in the hub (origin relabelling) any. Returns each network's front, or -1."""
    goods = ref.goods()
    out = np.full(len(nets.typology), -1)
    shipments = np.bincount(network, minlength=len(out))
    veteran = _veterans(pop, horizon)
    for typ in ALL_TYPOLOGIES:
        members = np.flatnonzero(nets.typology == typ)
        carried, total = 0, int(shipments[members].sum())
        for i in members[rng.permutation(len(members))]:
            if carried >= front_share * total or not shipments[i]:
                continue
            home = nets.hub[i] if typ == "origin_relabel" and nets.hub[i] else "CN"
            candidates = np.flatnonzero(veteran & (pop.exporter_country == home))
            if home == "CN":
                candidates = candidates[_trades(pop, candidates, goods.index.get_indexer(typology_codes(typ)))]
            if len(candidates):
                out[i] = candidates[_choice(rng, pop.exporter_size[candidates], 1)[0]]
                carried += shipments[i]
    return out


def _fronts_own_goods(rng: np.random.Generator, pop: Population, front: np.ndarray, typology: np.ndarray,
                      cover_hs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shipments of a front (``front`` >= 0) that trades one of its typology's cover codes are
    declared as that good of its own, at the front's own weight per unit: the HS codes, and each
    shipment's own weight per unit (NaN where the front has no such good)."""
    goods = ref.goods()
    cover_hs = cover_hs.copy()
    own = np.full(len(front), np.nan)
    for typ in sorted(set(typology[front >= 0])):
        codes = goods.index.get_indexer(typology_codes(typ))
        for i in np.flatnonzero((front >= 0) & (typology == typ)):
            e = front[i]
            slots = np.flatnonzero(np.isin(pop.exporter_goods[e, :pop.exporter_n_goods[e]], codes))
            if len(slots):
                slot = slots[rng.integers(0, len(slots))]
                cover_hs[i] = goods.index[pop.exporter_goods[e, slot]]
                own[i] = pop.exporter_kg_per_unit[e, slot]
    return cover_hs, own


def _mild_physics(rng: np.random.Generator, kg_per_unit: np.ndarray, net_kg: np.ndarray, cover_hs: np.ndarray,
                  typology: np.ndarray, strength: float = 1.0,
                  normal_net_share: float = NORMAL_NET_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """The weight per unit the concealed material gives a cover (a little over its usual, the
    excess scaled by ``strength``), and the net weight declared: the one shipped, or for a share
    ``normal_net_share`` of the cover goods' consignments the cover's normal one (the gross
    weight, from the weight shipped, shows the difference)."""
    n = len(net_kg)
    excess = np.ones(n)
    for code, (lo, hi) in MILD_EXCESS.items():
        rows = cover_hs == code
        excess[rows] = rng.uniform(lo, hi, rows.sum())
    per_unit = excess > 1
    hides = typology != "origin_relabel"
    excess = np.where(hides & ~per_unit, rng.uniform(*MILD_HIDDEN_WEIGHT, n), excess)
    if strength != 1.0:  # (the default leaves every draw as it was)
        excess = np.where(excess > 1, 1 + strength * (excess - 1), excess)
    normal_net = hides & (rng.random(n) < normal_net_share)
    shown = np.where(normal_net, 1.0, excess)  # the weight per unit declared, against the cover's own
    declared = np.where(normal_net, net_kg / excess, net_kg)
    return kg_per_unit * np.where(per_unit, shown, 1.0), np.maximum(np.round(declared, 1), 1.0)


def shell_first_days(rows: dict, n_exporters: int) -> pd.Series:
    """First day each new shell exporter appears (it has no history before)."""
    shells = rows["exporter"] >= n_exporters
    return pd.Series(rows["day"][shells]).groupby(rows["exporter"][shells]).min()
