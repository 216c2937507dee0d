"""Parameters of a synthetic world. Every default is documented in docs/data.md."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


INSPECTION_POLICIES = ("rules", "value", "random")
#: ways the smugglers can change at ``shift_from`` (docs/data.md, "Shifted worlds"):
#: "hubs": other transshipment countries; "cover": other cover goods, values matched to the cover's
#: norm; "typology": a new typology nobody has reported (rare earths declared as cerium compounds)
#: "motor_parts": a second new typology (magnets and metals declared as motor parts or ferrite magnets)
SHIFTS = ("hubs", "cover", "typology", "motor_parts")
#: how the concealed material shows in the cover's weight (docs/data.md, "Hard worlds")
PHYSICS = ("impossible", "mild")


#: the hard setting (docs/data.md, "Hard worlds"): few labels from weak rules, established fronts,
#: mild physics, decoys, and after the shift other hubs, covers and two new typologies
HARD = {"inspection_rate": 0.008, "inspection_policy": "value", "detection_rate": 0.7, "front_share": 0.75,
        "fronts_in_cover": True, "physics": "mild", "decoys": 10.0,
        "shift": ("hubs", "cover", "typology", "motor_parts"), "new_typology_share": 0.35}
#: months of a hard world before its shift (its training and validation windows)
HARD_SHIFT_MONTHS = 18


def hard_world(**overrides) -> "WorldConfig":
    """A world in the hard setting (``HARD``), the shift :data:`HARD_SHIFT_MONTHS` after its start
    unless ``shift_from`` is given; ``overrides`` set anything else (rows, seed, start...)."""
    settings = {**HARD, **overrides}
    if "shift_from" not in settings:
        start = pd.Timestamp(settings.get("start", WorldConfig.start))
        settings["shift_from"] = f"{start + pd.DateOffset(months=HARD_SHIFT_MONTHS):%Y-%m-%d}"
    return WorldConfig(**settings)


@dataclass(frozen=True)
class WorldConfig:
    rows: int = 200_000
    seed: int = 0
    start: str = "2024-11-01"
    months: int = 24
    #: share of all declarations that carry contraband (real rates are far below general fraud's 1-8 %)
    prevalence: float = 0.003
    #: share of declarations inspected
    inspection_rate: float = 0.03
    #: share of the inspections picked at random (the rest by risk rules)
    random_inspection_share: float = 0.25
    #: chance that an inspection of a contraband shipment finds it
    detection_rate: float = 0.95
    #: background declarations per exporter, on average
    rows_per_exporter: int = 150
    #: how inspections are chosen: "rules" (the legacy risk rules plus the random share),
    #: "value" (rules on declared value and weight only) or "random" (every inspection at random)
    inspection_policy: str = "rules"
    #: from this date on the smugglers change their ways (``shift`` says how); None: never
    shift_from: str | None = None
    #: what changes at ``shift_from``: any of SHIFTS
    shift: tuple[str, ...] = ()
    #: share of the shipments after the shift that the new typologies take (split equally)
    new_typology_share: float = 0.15
    #: share of the smuggling networks that ship through an established exporter (a front)
    front_share: float = 0.25
    #: a Chinese front has traded the cover good itself for over a year, and declares its own good
    fronts_in_cover: bool = False
    #: "impossible": a weight per unit or package no such good has (for a share of the shipments);
    #: "mild": a little over the usual, and a third declare a normal net weight
    physics: str = "impossible"
    #: honest cover-good declarations with a legitimate oddity, as a multiple of the contraband
    #: under the same goods (0: none)
    decoys: float = 0.0
    #: mild physics: the concealed material's excess weight over the cover's usual, scaled
    #: (0.5: half as heavy an excess; 1: the reference ranges)
    physics_strength: float = 1.0
    #: mild physics: share of the cover goods' consignments that declare the cover's normal net weight
    normal_net_share: float = 1 / 3

    def __post_init__(self):
        if self.rows < 1000:
            raise ValueError("a world needs at least 1,000 rows")
        if not 0 <= self.prevalence < 0.2:
            raise ValueError("prevalence must be in [0, 0.2)")
        if not 0 < self.inspection_rate <= 1:
            raise ValueError("inspection_rate must be in (0, 1]")
        if self.months < 1:
            raise ValueError("months must be at least 1")
        pd.Timestamp(self.start)  # raises on a bad date
        if self.inspection_policy not in INSPECTION_POLICIES:
            raise ValueError(f"inspection_policy must be one of {', '.join(INSPECTION_POLICIES)}")
        unknown = set(self.shift) - set(SHIFTS)
        if unknown:
            raise ValueError(f"unknown shift {sorted(unknown)}; choose from {', '.join(SHIFTS)}")
        if self.shift and self.shift_from is None:
            raise ValueError("a shift needs shift_from, the day the smugglers change")
        if self.shift_from is not None:
            pd.Timestamp(self.shift_from)
        if not 0 <= self.new_typology_share < 1:
            raise ValueError("new_typology_share must be in [0, 1)")
        if not 0 <= self.front_share <= 1:
            raise ValueError("front_share must be in [0, 1]")
        if self.physics not in PHYSICS:
            raise ValueError(f"physics must be one of {', '.join(PHYSICS)}")
        if not 0 <= self.decoys <= 100:
            raise ValueError("decoys must be in [0, 100]")
        if not 0 < self.physics_strength <= 3:
            raise ValueError("physics_strength must be in (0, 3]")
        if not 0 <= self.normal_net_share <= 1:
            raise ValueError("normal_net_share must be in [0, 1]")

    @property
    def shift_day(self) -> int | None:
        """Day number (from the world's start) of the shift, or None."""
        if self.shift_from is None or not self.shift:
            return None
        return int((pd.Timestamp(self.shift_from).normalize() - self.start_date).days)

    @property
    def start_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.start).normalize()

    @property
    def end_date(self) -> pd.Timestamp:
        """First day after the world."""
        return self.start_date + pd.DateOffset(months=self.months)
