"""Parameters of a synthetic world. Every default is documented in docs/data.md."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


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

    @property
    def start_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.start).normalize()

    @property
    def end_date(self) -> pd.Timestamp:
        """First day after the world."""
        return self.start_date + pd.DateOffset(months=self.months)
