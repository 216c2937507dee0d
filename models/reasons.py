"""Reasons in the analyst's words, from the model's own per-feature contributions.

A reason is checkable evidence with its comparison ("2.9 kg per piece, 3.4x the usual 0.85 for
HS 9618.00 (mannequin)"), never a fact true of a whole trade. Each :class:`Template` names the
features it explains, a condition on the row's own evidence that must hold before it is said
(a value at least 3x off its goods' median *and* outside their usual spread, an earlier seizure,
a document contradicting itself), and its sentence. Generic facts (how long ago a control took
effect, that goods are routed through a hub, that an HS chapter is risky) are context: no
template says them. The conditions are chosen so that each holds for under 10 % of a day's
unflagged declarations (tested on a generated day).

For a flagged row, contributions are grouped by feature family; in each family that pushed the
risk up, the strongest features are tried in turn and the first whose template holds gives the
family's reason. Checkable evidence about the declaration itself (a value off its goods' usual,
a document contradicting itself, seizures of its traders or routes) is said first; what is only
new or unusual about a trader or a route (a first-time exporter, a declarant taking on new
exporters, a controlled HS code) follows it. Up to three reasons, one per family, strongest
family first within each of the two kinds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from contraband.data import reference as ref
from contraband.data.contract import MASS_UNITS
from contraband.features.consistency import locode_country
from contraband.models.vocabulary import OWN_MEASURES

MAX_REASONS = 3
#: the declaration fields reasons quote
RECORD_COLUMNS = ("hs_code", "goods_description", "origin_country", "export_country", "transit_countries",
                  "destination_country", "transport_mode", "quantity_unit", "declared_value_usd", "net_weight_kg",
                  "gross_weight_kg", "incoterm", "port_of_loading", "port_of_discharge")
#: for a flagged row none of whose pushing features has evidence that holds: followed by the
#: strongest of those weaker signals, each in words with how far it is from usual
NO_EVIDENCE = "no single piece of checkable evidence; inside the budget on weaker signals"
#: signals named after NO_EVIDENCE, and the families never named (context, not evidence)
WEAK_SIGNALS, CONTEXT_FAMILIES = 3, ("policy",)


def _hs(code: str) -> str:
    code = str(code)
    return f"{code[:4]}.{code[4:6]}" if len(code) >= 6 else code


@lru_cache(maxsize=4096)
def _hs_label(code: str) -> str:
    """'HS 3810.10 (solder paste SAC305)': the goods as traders name them where the reference
    table knows the code, else the start of the HS 2022 description."""
    goods = ref.goods()
    code6 = str(code)[:6]
    if code6 in goods.index:
        short = goods.at[code6, "goods_descriptions"].split("|")[0]
    else:
        short = (ref.hs_description(code6) or "").split(";")[0].split(",")[0].strip().lower()
    return f"HS {_hs(code)}" + (f" ({short[:40]})" if short else "")


def _num(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "?"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _route(row) -> str:
    parts = [row.get("origin_country"), row.get("export_country")]
    transit = row.get("transit_countries")
    if isinstance(transit, str) and transit:
        parts += transit.split(";")
    parts.append(row.get("destination_country"))
    out = []
    for p in parts:
        if isinstance(p, str) and p and (not out or out[-1] != p):
            out.append(p)
    return " -> ".join(out)


def _unit(row) -> str:
    return {"M2": "m2", "L": "litre", "PCS": "piece", "PR": "pair", "SET": "set", "KG": "kg"}.get(
        str(row.get("quantity_unit")), "unit")


#: a value at least this many times off its goods' median (either way) ...
FAR = 3.0
#: ... and at least this many spreads (robust z) outside their usual range, where known
OUTSIDE = 3.0
#: a weight per unit or per package this many times off the median, outside the usual range
HEAVY = 1.25
#: a gross weight heavier than the net weight declared by this much, and this many spreads above
#: its goods' usual ratio: the net weight is the cover's normal one, the consignment is heavier
GROSS_RATIO, GROSS_Z = 1.15, 4.0
#: an exporter or consignee never seen, or first seen at most this many days before with at most
#: this many earlier declarations, is new
NEW_DAYS, NEW_DECLARATIONS = 14, 3
#: a seizure one hop away is named for a trader with at most this many partners (a large
#: importer's hundreds of suppliers include a seized one by chance), or for two seizures or more
SMALL_CIRCLE = 20
#: a shared entity (declarant, HS code, route) is named for its seizures when it has at least
#: this many, at this multiple of the average seizure rate among inspections
SHARED_SEIZURES, RATE_MULTIPLE = 2, 5.0
#: a declarant or route whose new exporters are at least this share of its declarations in the
#: window, and at least this many
CHURN_SHARE, CHURN_EXPORTERS = 0.5, 5
#: a description this unlike (TF-IDF cosine) the descriptions usually declared under its code
UNLIKE = 0.1
#: the exporter's own norm: said for an exporter with at least this many earlier declarations of
#: the code, none within a bin of this one, and this many of its own spreads away
OWN_DECLARATIONS, OWN_Z = 10, 3.0


class _Table:
    """Column arrays by name, for every row at once (``get``) or one row (``row``)."""

    def __init__(self, columns: dict[str, np.ndarray], n: int):
        self.columns, self.n = columns, n

    def get(self, name: str) -> np.ndarray:
        col = self.columns.get(name)
        return np.full(self.n, np.nan) if col is None else np.asarray(col, dtype="float64")

    def text(self, name: str) -> np.ndarray:
        col = self.columns.get(name)
        return np.full(self.n, "", dtype=object) if col is None else np.asarray(col, dtype=object).astype(str)

    def row(self, i: int) -> "_Row":
        return _Row(self.columns, i)


@dataclass(frozen=True)
class Template:
    """One kind of reason: the features it explains, when its evidence holds (rows at once:
    features, records, context -> bool array) and its sentence (one row)."""

    name: str
    features: tuple[str, ...]
    holds: Callable[[_Table, _Table, dict], np.ndarray]
    text: Callable[["_Row", "_Row", dict], str]
    #: checkable evidence about the declaration (said first); False for what is only new or
    #: unusual about a trader, a route or the goods' controls (said after the evidence)
    evidence: bool = True


def _off(log_ratio: np.ndarray, z: np.ndarray, ratio: float) -> np.ndarray:
    """At least ``ratio`` times off the median either way, and outside the usual spread where
    the spread is known (without it, twice as far off)."""
    with np.errstate(invalid="ignore"):
        far = np.abs(log_ratio) >= math.log(ratio)
        spread = np.where(np.isfinite(z), np.abs(z) >= OUTSIDE, np.abs(log_ratio) >= math.log(ratio) * 2)
    return np.nan_to_num(far & spread).astype(bool)


def _counted(R: _Table) -> np.ndarray:
    """Rows whose quantity counts pieces, pairs, litres...: per-unit evidence only means
    something there (in kilograms it repeats the value or weight per kg)."""
    return ~np.isin(R.text("quantity_unit"), MASS_UNITS)


def _against_median(value: float, log_ratio: float, unit: str, code) -> str:
    usual = value / math.exp(log_ratio)
    return f"{_num(value)} {unit}, {_times(log_ratio)} the usual {_num(usual)} for {_hs_label(code)}"


def _times(log_ratio: float) -> str:
    r = math.exp(log_ratio)
    if r >= 1:
        return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x"
    return f"1/{1 / r:.0f} of" if 1 / r >= 10 else f"1/{1 / r:.1f} of"


def _count(log_count: float) -> int:
    return int(round(math.expm1(log_count))) if math.isfinite(log_count) else 0


def _n(count: float, noun: str) -> str:
    """'1 earlier seizure', '3 earlier seizures'."""
    count = int(round(count))
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _flag(F: _Table, name: str) -> np.ndarray:
    return F.get(name) == 1


def _contradiction(name: str, text) -> Template:
    """A document contradicting itself: the consistency family's flag is the evidence."""
    return Template(name, (name,), lambda F, R, ctx: _flag(F, name), text)


def _entity_seized(entity: str, label: str) -> Template:
    def text(f, r, ctx):
        return (f"{label} linked to {_n(_count(f[f'{entity}_prior_seizures']), 'earlier seizure')} in "
                f"{_n(_count(f[f'{entity}_prior_inspections']), 'inspection')}")
    return Template(f"{entity}_seized", (f"{entity}_prior_seizures", f"{entity}_seizure_rate"),
                    lambda F, R, ctx: F.get(f"{entity}_prior_seizures") >= math.log1p(1), text)


def _shared_seized(entity: str, label) -> Template:
    """A declarant, HS code or route: named for seizures only well above the average rate."""
    def holds(F, R, ctx):
        average = ctx.get("seizure_rate", np.nan)
        with np.errstate(invalid="ignore"):
            return (F.get(f"{entity}_prior_seizures") >= math.log1p(SHARED_SEIZURES)) & \
                (F.get(f"{entity}_seizure_rate") >= RATE_MULTIPLE * average)

    def text(f, r, ctx):
        seizures, inspections = _count(f[f"{entity}_prior_seizures"]), _count(f[f"{entity}_prior_inspections"])
        share = seizures / inspections if inspections else float("nan")
        average = ctx.get("seizure_rate", float("nan"))
        return (f"{label(r)}: {_n(seizures, 'seizure')} in {_n(inspections, 'earlier inspection')} "
                f"({share:.0%}, against {average:.1%} on average)")
    return Template(f"{entity}_seized", (f"{entity}_prior_seizures", f"{entity}_seizure_rate"), holds, text)


def _new(entity: str) -> Template:
    def holds(F, R, ctx):
        age, prior = F.get(f"{entity}_age_days"), F.get(f"{entity}_prior_declarations")
        with np.errstate(invalid="ignore"):
            return (prior == 0) | ((age <= NEW_DAYS) & (prior <= math.log1p(NEW_DECLARATIONS)))

    def text(f, r, ctx):
        if f[f"{entity}_prior_declarations"] == 0:
            return f"{entity} never seen before" + _how_common(entity, r, ctx)
        return (f"{entity} first seen {_n(f[f'{entity}_age_days'], 'day')} ago "
                f"({_n(_count(f[f'{entity}_prior_declarations']), 'earlier declaration')})")
    return Template(f"{entity}_new", (f"{entity}_age_days", f"{entity}_prior_declarations"), holds, text,
                    evidence=False)


def _own(measure: str) -> Template:
    def holds(F, R, ctx):
        return ((F.get("exporter_hs6_prior_declarations") >= math.log1p(OWN_DECLARATIONS))
                & (F.get(f"own_{measure}_share") == 0) & (np.abs(F.get(f"own_{measure}_z")) >= OWN_Z))

    def text(f, r, ctx):
        z = f[f"own_{measure}_z"]
        return (f"{OWN_MEASURES[measure]} {abs(z):.0f} spreads {'above' if z > 0 else 'below'} this exporter's own "
                f"{_n(_count(f['exporter_hs6_prior_declarations']), 'earlier declaration')} of "
                f"{_hs_label(r.get('hs_code'))}, none of them near it")
    names = (f"own_{measure}_z", f"own_{measure}_share") + ((f"own_{measure}_excess",) if measure != "value" else ())
    return Template(f"own_{measure}", names, holds, text)


#: a chapter's own share of first-time traders is quoted from this many sampled declarations on
NOVELTY_ROWS = 30


def novelty_rates(features, chapters) -> dict:
    """The share of declarations lodged by a first-time exporter or consignee (no earlier
    declaration), overall and per HS chapter with at least :data:`NOVELTY_ROWS` declarations,
    from feature rows (``features``: a frame) and their rows' HS chapters."""
    import pandas as pd

    out = {}
    for entity in ("exporter", "consignee"):
        name = f"{entity}_prior_declarations"
        if name not in features:
            continue
        values = features[name].to_numpy(dtype="float64")
        known = np.isfinite(values)
        new = pd.Series((values == 0)[known], index=np.asarray(chapters, dtype=object)[known])
        if not len(new):
            continue
        by = new.groupby(level=0).agg(["mean", "size"])
        out[entity] = {"all": float(new.mean()), "rows": int(len(new)),
                       "chapters": {str(c): float(m) for c, m, n in zip(by.index, by["mean"], by["size"])
                                    if n >= NOVELTY_ROWS}}
    return out


def _how_common(entity: str, r, ctx) -> str:
    """The comparison a novelty reason gives: how often the declarations of its HS chapter (or
    all declarations) come from a first-time trader of that kind."""
    rates = (ctx.get("novelty") or {}).get(entity)
    if not rates:
        return ""
    chapter = str(r.get("hs_code") or "")[:2]
    if chapter in rates["chapters"]:
        return f"; {rates['chapters'][chapter]:.0%} of HS chapter {chapter} declarations come from first-time {entity}s"
    return f"; {rates['all']:.0%} of declarations come from first-time {entity}s"


def _churn(owner: str, label: str) -> Template:
    new, share = f"{owner}_new_exporters_90d", f"{owner}_new_exporter_share"

    def holds(F, R, ctx):
        with np.errstate(invalid="ignore"):
            return (F.get(share) >= CHURN_SHARE) & (F.get(new) >= CHURN_EXPORTERS)

    def text(f, r, ctx):
        return (f"{label(r)} went through {_n(f[new], 'exporter')} new to it in the last 90 days, "
                f"{f[share]:.0%} of its declarations")
    return Template(f"{owner}_churn", (new, share), holds, text, evidence=False)


def _one_hop(F: _Table, seizures: str, partners: str | None) -> np.ndarray:
    count = F.get(seizures)
    with np.errstate(invalid="ignore"):
        small = F.get(partners) <= SMALL_CIRCLE if partners else np.ones(F.n, dtype=bool)
        return ((count >= math.log1p(1)) & small) | (count >= math.log1p(2))


def _times_count(log_count: float) -> str:
    n = _count(log_count)
    return "once" if n == 1 else f"{n} times"


def _circle(f, partners: str, noun: str) -> str:
    n = f[partners]
    return f" (it received from {_n(n, noun)})" if math.isfinite(n) and n > 0 else ""


def _port(r, name: str) -> str:
    port = str(r.get(name) or "")
    return f"{port} ({locode_country(port) or '?'})"


TEMPLATES: tuple[Template, ...] = (
    Template("value", ("value_vs_hs6", "value_vs_hs4", "value_vs_hs2", "usd_per_kg", "log_value_usd", "value_z"),
             lambda F, R, ctx: _off(F.get("value_vs_hs6"), F.get("value_z"), FAR),
             lambda f, r, ctx: "declared " + _against_median(f["usd_per_kg"], f["value_vs_hs6"], "USD/kg", r.get("hs_code"))),
    Template("unit_value", ("unit_value_vs_hs6", "usd_per_unit", "unit_value_z"),
             lambda F, R, ctx: _off(F.get("unit_value_vs_hs6"), F.get("unit_value_z"), FAR) & _counted(R),
             lambda f, r, ctx: "declared " + _against_median(f["usd_per_unit"], f["unit_value_vs_hs6"],
                                                              f"USD per {_unit(r)}", r.get("hs_code"))),
    Template("kg_per_unit", ("kg_per_unit", "kg_per_unit_vs_hs6", "kg_per_unit_over_reference", "kg_per_unit_z",
                             "kg_per_unit_excess"),
             lambda F, R, ctx: _off(F.get("kg_per_unit_vs_hs6"), F.get("kg_per_unit_z"), HEAVY) & _counted(R),
             lambda f, r, ctx: _against_median(f["kg_per_unit"], f["kg_per_unit_vs_hs6"], f"kg per {_unit(r)}",
                                               r.get("hs_code"))),
    Template("kg_per_package", ("kg_per_package", "kg_per_package_vs_hs6", "kg_per_package_z"),
             lambda F, R, ctx: _off(F.get("kg_per_package_vs_hs6"), F.get("kg_per_package_z"), HEAVY),
             lambda f, r, ctx: _against_median(f["kg_per_package"], f["kg_per_package_vs_hs6"], "kg gross per package",
                                               r.get("hs_code"))),
    Template("gross_to_net", ("gross_to_net", "gross_to_net_z"),
             lambda F, R, ctx: (F.get("gross_to_net_z") >= GROSS_Z) & (F.get("gross_to_net") >= GROSS_RATIO),
             lambda f, r, ctx: (f"gross weight {_num(r.get('gross_weight_kg'))} kg, {f['gross_to_net']:.2f}x the "
                                f"{_num(r.get('net_weight_kg'))} kg net declared ({f['gross_to_net_z']:.0f} spreads "
                                f"above the usual for {_hs_label(r.get('hs_code'))})")),
    *(_own(m) for m in OWN_MEASURES),
    _contradiction("loading_port_not_export",
                   lambda f, r, ctx: f"loaded at {_port(r, 'port_of_loading')}, declared exported from {r.get('export_country')}"),
    _contradiction("loading_port_unstated",
                   lambda f, r, ctx: f"loaded at {_port(r, 'port_of_loading')}, a country the declaration names nowhere"),
    _contradiction("loading_port_in_transit",
                   lambda f, r, ctx: (f"loaded at {_port(r, 'port_of_loading')} in a transit country, declared exported "
                                f"from {r.get('export_country')}")),
    _contradiction("discharge_port_not_destination",
                   lambda f, r, ctx: (f"discharged at {_port(r, 'port_of_discharge')}, declared destined for "
                                f"{r.get('destination_country')}")),
    _contradiction("incoterm_mode_misfit",
                   lambda f, r, ctx: f"Incoterm {r.get('incoterm')}, a sea-only term, on a shipment by {r.get('transport_mode')}"),
    _contradiction("unit_misfit",
                   lambda f, r, ctx: f"quantity in {r.get('quantity_unit')}, not the unit {_hs_label(r.get('hs_code'))} is counted in"),
    Template("origin_relabelled", ("hub_origin_shipped_from_china", "origin_not_export"),
             lambda F, R, ctx: _flag(F, "hub_origin_shipped_from_china"),
             lambda f, r, ctx: f"declared origin {r.get('origin_country')}, shipped from {r.get('export_country')}"),
    _entity_seized("exporter", "exporter"),
    _entity_seized("consignee", "consignee"),
    _shared_seized("declarant", lambda r: "declarant"),
    _shared_seized("hs6", lambda r: f"HS {_hs(r.get('hs_code', ''))}"),
    _shared_seized("route", lambda r: f"route {_route(r)}"),
    _shared_seized("hs4_route", lambda r: f"route {_route(r)} for HS heading {str(r.get('hs_code', ''))[:4]}"),
    _new("exporter"),
    _new("consignee"),
    Template("exporter_route_new", ("exporter_route_new",),
             lambda F, R, ctx: _flag(F, "exporter_route_new") & (F.get("exporter_prior_declarations") > 0),
             lambda f, r, ctx: (f"first shipment on route {_route(r)} of an exporter with "
                                f"{_n(_count(f['exporter_prior_declarations']), 'earlier declaration')}"),
             evidence=False),
    Template("exporter_hs6_new", ("exporter_hs6_new",),
             lambda F, R, ctx: _flag(F, "exporter_hs6_new"),
             lambda f, r, ctx: (f"first declaration of {_hs_label(r.get('hs_code'))} by an exporter with "
                                f"{_n(_count(f['exporter_prior_declarations']), 'earlier declaration')} of other goods"),
             evidence=False),
    Template("exporter_consignee_new", ("exporter_consignee_new",),
             lambda F, R, ctx: _flag(F, "exporter_consignee_new"),
             lambda f, r, ctx: (f"first shipment to this consignee of an exporter with "
                                f"{_n(_count(f['exporter_prior_declarations']), 'earlier declaration')}"),
             evidence=False),
    Template("hs4_route_rare", ("hs4_route_prior_declarations",),
             lambda F, R, ctx: F.get("hs4_route_prior_declarations") <= math.log1p(NEW_DECLARATIONS),
             lambda f, r, ctx: (f"route {_route(r)} for HS heading {str(r.get('hs_code', ''))[:4]}: "
                                f"{_n(_count(f['hs4_route_prior_declarations']), 'earlier declaration')}"),
             evidence=False),
    Template("consignee_network", ("consignee_network_seizures",),
             lambda F, R, ctx: _one_hop(F, "consignee_network_seizures", "consignee_exporters"),
             lambda f, r, ctx: (f"consignee's other exporters seized {_times_count(f['consignee_network_seizures'])} "
                                f"before{_circle(f, 'consignee_exporters', 'exporter')}")),
    Template("exporter_network", ("exporter_network_seizures",),
             lambda F, R, ctx: _one_hop(F, "exporter_network_seizures", None),
             lambda f, r, ctx: (f"exporter's other consignees seized {_times_count(f['exporter_network_seizures'])} "
                                "before")),
    _churn("declarant", lambda r: "declarant"),
    _churn("route", lambda r: f"route {_route(r)}"),
    Template("description_unlike", ("description_vs_typical", "description_vs_hs_text"),
             lambda F, R, ctx: F.get("description_vs_typical") < UNLIKE,
             lambda f, r, ctx: (f"description '{r.get('goods_description')}' is unlike what is declared under "
                                f"{_hs_label(r.get('hs_code'))}")),
    Template("vague_description", ("vague_description",),
             lambda F, R, ctx: _flag(F, "vague_description"),
             lambda f, r, ctx: f"vague description '{r.get('goods_description')}'"),
    Template("controlled", ("controlled_hs", "control_in_force"),
             lambda F, R, ctx: _flag(F, "controlled_hs") & _flag(F, "control_in_force"),
             lambda f, r, ctx: f"{_hs_label(r.get('hs_code'))} is a controlled material: its export needs a licence",
             evidence=False),
)
#: the templates that can explain each feature, in order
BY_FEATURE: dict[str, tuple[Template, ...]] = {}
for _t in TEMPLATES:
    for _f in _t.features:
        BY_FEATURE[_f] = BY_FEATURE.get(_f, ()) + (_t,)
#: a summary feature stands for the evidence it sums
BY_FEATURE["deviation_score"] = tuple(t for t in TEMPLATES if t.name in ("value", "unit_value", "kg_per_unit",
                                                                            "kg_per_package"))


def evidence_holds(features: dict[str, np.ndarray], records: dict[str, np.ndarray], n: int,
                   context: dict | None = None) -> dict[str, np.ndarray]:
    """For every template, the rows whose evidence holds (bool arrays by template name)."""
    F, R = _Table(features, n), _Table(records, n)
    return {t.name: np.asarray(t.holds(F, R, context or {}), dtype=bool) for t in TEMPLATES}


def record_columns(records) -> list[str]:
    """The declaration fields reasons quote that ``records`` (a frame or Columns) has."""
    names = records.names if hasattr(records, "names") else records.columns
    return [c for c in RECORD_COLUMNS if c in names] + [c for c in names if c.startswith("x_")]


def reasons(contributions: np.ndarray, feature_names: list[str], feature_family: dict[str, str],
            features: dict[str, np.ndarray], records: dict[str, np.ndarray], max_reasons: int = MAX_REASONS,
            context: dict | None = None) -> list[list[str]]:
    """Up to ``max_reasons`` reasons per row, one per family (positive pushes only): checkable
    evidence first, then novelty, each kind strongest family first; a family whose pushing
    features have no evidence that holds gives none.

    ``features`` holds the rows' feature values by name, ``records`` the same rows' declaration
    fields by name (object arrays), ``context`` what the comparisons need beyond the row (the
    average seizure rate among inspections, ``seizure_rate``)."""
    n = len(contributions)
    context = context or {}
    holds = evidence_holds(features, records, n, context)
    families = sorted(set(feature_family.get(name, "other") for name in feature_names))
    fam_index = np.array([families.index(feature_family.get(name, "other")) for name in feature_names])
    members = [np.flatnonzero(fam_index == k) for k in range(len(families))]
    indicator = np.zeros((len(feature_names), len(families)))
    indicator[np.arange(len(feature_names)), fam_index] = 1.0
    by_family = contributions @ indicator
    order = np.argsort(-by_family, axis=1)
    feats, recs = _Table(features, n), _Table(records, n)
    out = []
    for i in range(n):
        found: list[Template] = []
        for fam in order[i]:
            if by_family[i, fam] <= 0 or sum(t.evidence for t in found) >= max_reasons:
                break
            group = members[fam]
            for j in group[np.argsort(-contributions[i, group], kind="stable")]:
                if contributions[i, j] <= 0:
                    break
                template = next((t for t in BY_FEATURE.get(feature_names[j], ())
                                 if t not in found and holds[t.name][i]), None)
                if template is not None:
                    found.append(template)
                    break
        f = feats.row(i)
        if found:
            r = recs.row(i)
            chosen = ([t for t in found if t.evidence] + [t for t in found if not t.evidence])[:max_reasons]
            out.append([t.text(f, r, context) for t in chosen])
        else:
            out.append([_weak_signals(contributions[i], feature_names, feature_family, f)])
    return out


def _weak_signals(contributions: np.ndarray, feature_names: list[str], feature_family: dict[str, str], f) -> str:
    """NO_EVIDENCE, then the features that pushed the risk up most (context left out), each in
    the analyst's words with what it measured: a distance from usual, a count, "k seizures in n
    inspections" for a rate, a yes-or-no in its own words. A feature without words of its own
    (a category's code, a model's internal) is never named."""
    from contraband.models.vocabulary import described

    said: list[str] = []
    for j in np.argsort(-contributions, kind="stable"):
        if len(said) >= WEAK_SIGNALS or contributions[j] <= 0:
            break
        name = feature_names[j]
        if feature_family.get(name, "other") in CONTEXT_FAMILIES or not described(name):
            continue
        text = signal(name, f)
        if text is not None and text not in said:
            said.append(text)
    return f"{NO_EVIDENCE}: {'; '.join(said)}" if said else NO_EVIDENCE


def signal(name: str, f) -> str | None:
    """A feature of a row (``f[name]``: its features by name) in the analyst's words, or None
    where there is nothing to say (a yes-or-no that is no, a rate with no figures behind it)."""
    from contraband.models.vocabulary import ENTITIES, FLAGS, NO_FIGURE, label

    value = float(f[name])
    if name in FLAGS:
        return label(name) if math.isfinite(value) and value >= 0.5 else None
    if name in NO_FIGURE:
        return label(name)
    entity = next((name[:-len(s)] for s in ("_seizure_rate", "_prior_seizures", "_prior_inspections")
                   if name.endswith(s) and name[:-len(s)] in ENTITIES), None)
    if entity is not None:  # a rate and its counts say the same: "k seizures in n earlier inspections"
        seizures, inspections = float(f[f"{entity}_prior_seizures"]), float(f[f"{entity}_prior_inspections"])
        if not (math.isfinite(seizures) and math.isfinite(inspections)):
            return None
        inspections = _count(inspections)
        if inspections == 0:
            return f"{ENTITIES[entity]}: never inspected before"
        return f"{ENTITIES[entity]}: {_n(_count(seizures), 'seizure')} in {_n(inspections, 'earlier inspection')}"
    return f"{label(name)}: {_signal(name, value)}"


def _signal(name: str, value) -> str:
    """A feature's value as a distance from usual, as the feature measures it."""
    value = float(value)
    if name.endswith(("_prior_declarations", "_prior_inspections", "_prior_seizures", "_network_seizures")):
        return "none before" if not math.isfinite(value) or value <= 0 else f"{_count(value):,}"
    if name.endswith("_age_days"):
        return "never seen before" if not math.isfinite(value) else f"first seen {value:,.0f} days before"
    if not math.isfinite(value):
        return "not known"
    if name.startswith("log_") and name.endswith("_kg"):
        return f"{math.exp(value):,.0f} kg"
    if "_vs_" in name or name.endswith("_over_reference"):
        return f"{math.exp(value):.2f}x the usual"
    if name.endswith(("_z", "_score")):
        return f"{value:+.1f} spreads from usual"
    if name.endswith("_excess"):
        return f"{value:.1f} spreads above usual"
    if name.endswith(("_rate", "_share")):
        return f"{value:.1%}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return _num(value)


class _Row:
    __slots__ = ("columns", "i")

    def __init__(self, columns, i):
        self.columns, self.i = columns, i

    def get(self, name, default=None):
        col = self.columns.get(name)
        return default if col is None else col[self.i]

    def __getitem__(self, name):
        col = self.columns.get(name)
        return float("nan") if col is None else col[self.i]
