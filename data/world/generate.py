"""Assemble a world: population, background trade, contraband, inspections -> one frame.

Columns follow the declaration contract, plus ``truth_contraband``, ``truth_typology``,
``truth_material`` and ``truth_value_usd`` (hidden ground truth; never a feature), and in a world
with decoys ``truth_decoy``. Rows are in date order. The same config (seed included) always
gives the same frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.data.contract import SEA_ONLY_INCOTERMS
from contraband.data.world import calendar, decoys, entities, inspection, smuggling, trade
from contraband.data.world.config import WorldConfig
from contraband.data.world.entities import _choice
from contraband.data.world.trade import INCOTERM_WEIGHTS, INCOTERMS, MODES

NO_TYPOLOGY = "none"
#: kg per package by transport mode: pallets by sea, road and rail; cartons by air; parcels by express
PACKAGE_KG = {"sea": (300, 900), "road": (300, 900), "rail": (300, 900), "air": (15, 150),
              "post": (2, 20), "courier": (2, 25)}
#: honest traders who use a sea-only Incoterm for any transport, out of habit
HONEST_INCOTERM_HABIT = 0.1
#: honest declarations that give kilograms for goods traded by the piece, litre or m2
HONEST_UNIT_DODGE = 0.015
#: honest declarations whose port of loading is a clerk's slip (another country's port)
HONEST_PORT_SLIP = 0.003
PORT_CLASS = {"sea": "sea", "rail": "sea", "road": "road", "air": "air", "post": "air", "courier": "air"}


def _categorical(codes: np.ndarray, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype="str"))


def _descriptions(rng: np.random.Generator, good: np.ndarray, vague: np.ndarray) -> pd.Categorical:
    """One of the good's trade descriptions, sometimes shouted, sometimes vague."""
    options = ref.goods()["goods_descriptions"].str.split("|")
    flat = [d.strip() for opts in options for d in opts]
    start = np.r_[0, np.cumsum(options.str.len())[:-1]]
    count = options.str.len().to_numpy()
    pick = start[good] + (rng.random(len(good)) * count[good]).astype(np.int64)
    n_flat = len(flat)
    shout = rng.random(len(good)) < 0.2
    pick = np.where(shout, pick + n_flat, pick)
    vague_pick = 2 * n_flat + rng.integers(0, len(smuggling.VAGUE_WORDS), len(good))
    pick = np.where(vague, vague_pick, pick)
    categories = flat + [d.upper() for d in flat] + list(smuggling.VAGUE_WORDS)
    codes, uniques = pd.factorize(np.array(categories, dtype=object)[pick])
    return _categorical(codes, uniques)


def _ports(rng: np.random.Generator, country: np.ndarray, mode: np.ndarray) -> pd.Categorical:
    """A port of the country suited to the mode (UN/LOCODE), else any port of the country."""
    table = ref.ports()
    names = table["port"].to_numpy()
    by_key: dict[tuple[str, str], np.ndarray] = {}
    for i, row in table.iterrows():
        for m in row["modes"].split(";"):
            by_key.setdefault((row["country"], m), []).append(i)
    by_country = table.groupby("country").indices
    klass = np.array([PORT_CLASS[m] for m in MODES])[mode]
    codes = np.full(len(country), -1, dtype=np.int64)
    key = pd.MultiIndex.from_arrays([country, klass])
    for (c, k), rows in pd.Series(np.arange(len(country))).groupby(key).indices.items():
        pool = np.asarray(by_key.get((c, k), by_country.get(c, [])))
        if len(pool):
            codes[rows] = pool[rng.integers(0, len(pool), len(rows))]
    return _categorical(codes, names)


def _incoterms(rng: np.random.Generator, honest: np.ndarray, mode: np.ndarray, any_term: np.ndarray) -> np.ndarray:
    """Incoterms: honest traders mostly pick one that suits the transport mode (FOB, CFR and CIF
    are for sea freight), now and then out of habit; a smuggler's term is often picked at random."""
    n_bg = len(honest)
    term = np.concatenate([honest, _choice(rng, INCOTERM_WEIGHTS, len(any_term))])
    sea_only = np.isin(INCOTERMS[term], SEA_ONLY_INCOTERMS)
    not_sea = MODES[mode] != "sea"
    careless = np.concatenate([rng.random(n_bg) < HONEST_INCOTERM_HABIT, any_term])
    redraw = np.flatnonzero(sea_only & not_sea & ~careless)
    other = np.flatnonzero(~np.isin(INCOTERMS, SEA_ONLY_INCOTERMS))
    term[redraw] = other[_choice(rng, INCOTERM_WEIGHTS[other], len(redraw))]
    random_term = np.flatnonzero(np.r_[np.zeros(n_bg, bool), any_term])
    term[random_term] = rng.integers(0, len(INCOTERMS), len(random_term))
    return term


def _loading_countries(rng: np.random.Generator, export_country: np.ndarray, declared: np.ndarray) -> np.ndarray:
    """The country of the port of loading: the export country, except for Hong Kong exporters who
    load at Shenzhen or another Chinese port (a third of the time), a clerk's slip now and then, and
    the smugglers whose documents contradict themselves (``declared``, non-empty)."""
    out = np.where(declared != "", declared, export_country).astype(object)
    honest = declared == ""
    out[honest & (export_country == "HK") & (rng.random(len(out)) < 0.35)] = "CN"
    slip = np.flatnonzero(honest & (rng.random(len(out)) < HONEST_PORT_SLIP))
    countries = np.array(sorted(set(ref.ports()["country"])), dtype=object)
    out[slip] = countries[rng.integers(0, len(countries), len(slip))]
    return out


def _strings(values: np.ndarray) -> pd.Categorical:
    codes, uniques = pd.factorize(values)
    return _categorical(codes, uniques)


def _countries(*columns: np.ndarray) -> list[pd.Categorical]:
    """Country columns sharing one set of categories, so they compare with each other."""
    categories = pd.Index(sorted(set().union(*(np.unique(c) for c in columns))), dtype="str")
    return [pd.Categorical(c, categories=categories) for c in columns]


def generate(config: WorldConfig | None = None, log=None) -> pd.DataFrame:
    """A synthetic world of ``config.rows`` declarations (contract columns plus ``truth_*``);
    ``log(message)``, if given, hears of each step as it ends."""
    config = config or WorldConfig()
    say = log or (lambda message: None)
    rng = np.random.default_rng(config.seed)
    day_index = calendar.days(config)
    horizon = len(day_index)
    pressure, materials = calendar.smuggling_pressure(day_index)
    n_smuggle = round(config.prevalence * config.rows) if pressure.sum() > 0 else 0

    pop = entities.build(rng, config.rows, horizon, config.rows_per_exporter)
    if config.fronts_in_cover:
        smuggling.recruit_fronts(rng, pop, horizon)
    say(f"traders: {len(pop.exporter_country):,} exporters, {len(pop.consignee_country):,} consignees")
    n_exp, n_con = len(pop.exporter_country), len(pop.consignee_country)
    bg = trade.background(rng, config.rows - n_smuggle, pop, calendar.trade_seasonality(day_index))
    sm, nets = smuggling.contraband(rng, n_smuggle, pop, pressure, materials, n_exp, n_con,
                                    config.shift_day, config.shift, new_share=config.new_typology_share,
                                    front_share=config.front_share, fronts_in_cover=config.fronts_in_cover,
                                    physics=config.physics, physics_strength=config.physics_strength,
                                    normal_net_share=config.normal_net_share)
    n_bg, n_sm = len(bg["day"]), len(sm["day"])
    say(f"shipments: {n_bg:,} honest, {n_sm:,} carrying contraband")
    decoy = None
    if config.decoys > 0:
        covers = ref.goods().index.get_indexer(decoys.decoy_codes())
        under_covers = int(np.isin(sm["good"], covers).sum()) if n_sm else 0
        decoy = np.r_[decoys.add_decoys(rng, bg, round(config.decoys * under_covers)), np.zeros(n_sm, bool)]
        say(f"decoys: {int(decoy.sum()):,} honest declarations of the cover goods with an oddity "
            f"({under_covers:,} contraband declarations under the same goods)")

    def both(key, default=None):
        other = sm.get(key, np.full(n_sm, default)) if n_sm else np.zeros(0)
        return np.concatenate([bg.get(key, np.full(n_bg, default)), other])

    day = both("day")
    exporter = both("exporter").astype(np.int64)
    consignee = both("consignee").astype(np.int64)
    good = both("good").astype(np.int64)
    mode = both("mode").astype(np.int64)
    net_kg = both("net_weight_kg").astype(float)
    goods = ref.goods()

    # entity tables, extended with the networks' shells and consignees
    n_shells = max(0, int(exporter.max() + 1 - n_exp)) if n_sm else 0
    exporter_ids = entities.make_ids("EX", n_exp + n_shells, rng)
    consignee_country = np.concatenate([pop.consignee_country, nets.new_consignee_country if n_sm else []])
    consignee_ids = entities.make_ids("CS", len(consignee_country), rng)
    first_day = np.concatenate([pop.exporter_first_day, np.zeros(n_shells, np.int64)])
    if n_shells:
        shells = smuggling.shell_first_days(sm, n_exp)
        first_day[shells.index.to_numpy()] = shells.to_numpy()

    destination = np.concatenate([consignee_country[bg["consignee"]], sm["destination"]]) if n_sm \
        else consignee_country[bg["consignee"]]
    export_country = both("export_country")
    transit = both("transit", "")

    unit = goods["unit"].to_numpy()[good]
    # kilograms declared for goods traded by the piece, litre or m2: an honest clerk's habit now
    # and then, a smuggler's way to hide an impossible weight per unit more often
    unit_dodge = np.concatenate([rng.random(n_bg) < HONEST_UNIT_DODGE, sm["unit_dodge"] if n_sm else np.zeros(0, bool)])
    unit = np.where(unit_dodge, "KG", unit)
    kg_per_unit = both("kg_per_unit", np.nan).astype(float)
    quantity = np.where(unit == "KG", net_kg, np.maximum(np.round(net_kg / kg_per_unit), 1.0))
    # the gross weight follows what was shipped (mild physics may declare a lower net weight),
    # with the packaging's weight (heavier for a decoy's glass bottles)
    shipped_kg = np.concatenate([bg["net_weight_kg"], sm["true_net_kg"]]).astype(float) if n_sm else net_kg
    tare = np.exp(rng.normal(np.log(0.06), 0.5, len(day)))
    if "tare_factor" in bg:
        tare = tare * np.r_[bg["tare_factor"], np.ones(n_sm)]
    gross_kg = np.round(shipped_kg * (1.0 + tare), 1)
    lo = np.array([PACKAGE_KG[m][0] for m in MODES])[mode]
    hi = np.array([PACKAGE_KG[m][1] for m in MODES])[mode]
    package_kg = both("package_kg", np.nan).astype(float)
    package_kg = np.where(np.isnan(package_kg), lo + (hi - lo) * rng.random(len(day)), package_kg)
    packages = np.maximum(np.ceil(gross_kg / package_kg), 1.0)

    hs6 = goods["hs_code"].to_numpy()[good]
    national = rng.random(len(day)) < 0.4
    suffix = np.array(["00", "10", "90"])[rng.integers(0, 3, len(day))]
    hs_code = np.where(national, np.char.add(hs6.astype(str), suffix), hs6)

    origin, export, dest = _countries(both("origin_country"), export_country, destination)
    vague = np.concatenate([rng.random(n_bg) < 0.02, sm["vague"] if n_sm else np.zeros(0, bool)])
    incoterm = _incoterms(rng, bg["incoterm"], mode, sm["incoterm_any"] if n_sm else np.zeros(0, bool))
    truth = np.r_[np.zeros(n_bg, np.int8), np.ones(n_sm, np.int8)]

    frame = pd.DataFrame({
        "declaration_date": (day_index[0] + pd.to_timedelta(day, unit="D")).astype("datetime64[us]"),
        "hs_code": _strings(hs_code),
        "goods_description": _descriptions(rng, good, vague),
        "origin_country": origin,
        "export_country": export,
        "destination_country": dest,
        "net_weight_kg": net_kg,
        "declared_value_usd": np.round(both("declared_value_usd").astype(float), 2),
        "gross_weight_kg": gross_kg,
        "quantity": quantity,
        "quantity_unit": _strings(unit),
        "packages": packages,
        "transit_countries": pd.Categorical(np.where(transit == "", None, transit)),
        "port_of_loading": _ports(rng, _loading_countries(rng, export_country, both("loading_country", "")), mode),
        "port_of_discharge": _ports(rng, destination, mode),
        "transport_mode": _categorical(mode, MODES),
        "exporter_id": _categorical(exporter, exporter_ids),
        "consignee_id": _categorical(consignee, consignee_ids),
        "declarant_id": _categorical(both("forwarder").astype(np.int64), pop.forwarder_id),
        "incoterm": _categorical(incoterm, INCOTERMS),
        "truth_contraband": truth,
        "truth_typology": _strings(both("truth_typology", NO_TYPOLOGY).astype(str)),
        "truth_material": _strings(both("truth_material", NO_TYPOLOGY).astype(str)),
        "truth_value_usd": both("truth_value_usd", 0.0).astype(float),
        **({"truth_decoy": decoy.astype(np.int8)} if decoy is not None else {}),
    })
    age = day - first_day[exporter]
    order = np.lexsort((rng.random(len(frame)), day))
    frame = frame.iloc[order].reset_index(drop=True)
    age = age[order]
    frame.insert(0, "declaration_id", pd.Series(np.arange(1, len(frame) + 1)).map("DCL{:09d}".format).astype("str"))

    say(f"declarations: {len(frame):,} rows")
    outcomes = inspection.inspect(
        rng, frame, age, frame["truth_contraband"].to_numpy(), frame["truth_value_usd"].to_numpy(),
        config.inspection_rate, config.random_inspection_share, config.detection_rate, config.inspection_policy,
    )
    for name, values in outcomes.items():
        frame.insert(frame.columns.get_loc("truth_contraband"), name, values)
    say(f"inspections: {int(frame['inspected'].sum()):,}")
    fronts = None
    if config.fronts_in_cover and n_sm:  # a burnt front is replaced by another established exporter
        fronts = exporter_ids[np.unique(nets.infiltrated[nets.infiltrated >= 0])]
    _rename_after_seizure(frame, rng, "exporter_id", "EX", start=n_exp + n_shells, successors=fronts)
    _rename_after_seizure(frame, rng, "consignee_id", "CS", start=len(consignee_ids), share=0.5)
    # categories in sorted order: the order of first appearance (honest rows were generated
    # first) would let a category's code betray the hidden truth
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype) and not c.startswith("truth_"):
            frame[c] = frame[c].cat.set_categories(sorted(frame[c].cat.categories))
    return frame


def _rename_after_seizure(frame: pd.DataFrame, rng: np.random.Generator, column: str, prefix: str,
                          start: int, share: float = 1.0, successors: np.ndarray | None = None) -> None:
    """A network caught through one of its traders carries on under a new name: later contraband
    shipments of that exporter (or, for ``share`` of them, that consignee) get a fresh id, or,
    for a front among ``successors`` (ids), another of those established exporters."""
    smuggled = np.flatnonzero(frame["truth_contraband"].to_numpy() == 1)
    if not len(smuggled):
        return
    entity = frame[column].to_numpy()[smuggled].astype(str)
    found = (frame["contraband"].to_numpy()[smuggled] == 1).astype(int)
    seizures_before = pd.Series(found).groupby(entity).cumsum().to_numpy() - found
    key = pd.Series(entity) + "#" + pd.Series(seizures_before).astype(str)
    codes, uniques = pd.factorize(key)
    moves = (seizures_before > 0) & (rng.random(len(uniques)) < share)[codes]
    if not moves.any():
        return
    new_ids = entities.make_ids(prefix, len(uniques), rng, start=start)
    if successors is not None and len(successors) > 1:
        owner = np.array([u.rsplit("#", 1)[0] for u in uniques], dtype=object)
        burnt = np.isin(owner, successors)
        for k in np.flatnonzero(burnt):
            others = successors[successors != owner[k]]
            new_ids[k] = others[rng.integers(0, len(others))]
    ids = frame[column].astype("object").to_numpy().copy()
    ids[smuggled[moves]] = new_ids[codes[moves]]
    frame[column] = pd.Categorical(ids)


def write(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a world as Parquet or CSV, chosen by the file extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif suffix.endswith(".csv") or suffix.endswith(".csv.gz"):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        out = frame.copy()
        out["declaration_date"] = out["declaration_date"].dt.strftime("%Y-%m-%d")
        table = pa.Table.from_pandas(out, preserve_index=False)
        table = table.cast(pa.schema([
            pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f for f in table.schema
        ]))
        if suffix.endswith(".gz"):
            with pa.CompressedOutputStream(str(path), "gzip") as stream:
                pacsv.write_csv(table, stream)
        else:
            pacsv.write_csv(table, path)
    else:
        raise ValueError(f"{path}: choose a .csv, .csv.gz or .parquet file")
    return path


def summarise(frame: pd.DataFrame) -> str:
    """A short account of a world: size, time span, traders, inspections and each typology."""
    n = len(frame)
    inspected = frame["inspected"].fillna(0).astype(bool)
    lines = [
        f"{n:,} declarations, {frame['declaration_date'].min():%Y-%m-%d} to {frame['declaration_date'].max():%Y-%m-%d}",
        f"{frame['exporter_id'].nunique():,} exporters, {frame['consignee_id'].nunique():,} consignees, "
        f"{frame['declarant_id'].nunique():,} declarants, {frame['hs_code'].str[:6].nunique():,} HS6 codes",
        f"routed through a transit country: {frame['transit_countries'].notna().mean():.1%}; "
        f"origin differs from export country: {(frame['origin_country'] != frame['export_country']).mean():.1%}",
        f"contraband (hidden truth): {int(frame['truth_contraband'].sum()):,} ({frame['truth_contraband'].mean():.2%})",
        f"inspected: {int(inspected.sum()):,} ({inspected.mean():.1%}); contraband found: "
        f"{int(frame['contraband'].fillna(0).sum()):,} ({frame.loc[inspected, 'contraband'].mean():.1%} of inspections)",
        "typology          rows  first seen   inspected  found",
    ]
    smuggled = frame[frame["truth_contraband"] == 1]
    for typ, grp in smuggled.groupby("truth_typology", observed=True):
        lines.append(
            f"  {typ:<15}{len(grp):>6,}  {grp['declaration_date'].min():%Y-%m-%d}  "
            f"{int(grp['inspected'].sum()):>9,}  {int(grp['contraband'].fillna(0).sum()):>5,}"
        )
    return "\n".join(lines)
