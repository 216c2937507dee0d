"""A family of worlds: each seed draws its world's mechanics from ranges, so that a gain is
measured over many ways smuggling and trade can work, not on one generator's settings.

:func:`family_world` turns a seed into a :class:`~contraband.data.world.config.WorldConfig`
whose mechanics are drawn from :data:`RANGES` (docs/data.md, "A family of worlds"):

- labels: how many declarations are inspected, by which policy, how often an inspection finds
  the contraband;
- fronts: the share of networks shipping through established exporters, and whether those trade
  the cover good itself;
- physics: impossible weights or a mild excess, its strength, and the share declaring the
  cover's normal net weight;
- decoys: honest oddities of the cover goods;
- drift: from the test window on, which of other hubs, other covers and new typologies happen,
  and the share the new typologies take;
- the traders: how many declarations an exporter lodges (how long a record each has) and how
  rare contraband is.

The family's seeds are split in two (:data:`TUNING_SEEDS`, :data:`HELD_BACK_SEEDS`): choices are
tuned on the first half only, and the second is looked at when a step is done.
"""

from __future__ import annotations

import numpy as np

from contraband.data.world.config import SHIFTS, WorldConfig

#: seeds whose worlds choices may be tuned on
TUNING_SEEDS = tuple(range(1, 13))
#: seeds looked at only when a step is done: a gain counts if it holds here
HELD_BACK_SEEDS = tuple(range(101, 113))

#: each mechanic's range: (low, high) drawn uniformly, log-uniformly where marked, or choices
RANGES = {
    "inspection_rate": ("log", 0.005, 0.03),
    "inspection_policy": ("choice", "rules", "value", "random"),
    "detection_rate": ("uniform", 0.6, 0.95),
    "front_share": ("uniform", 0.1, 0.8),
    "fronts_in_cover": ("chance", 0.6),
    "physics": ("choice", "mild", "mild", "impossible"),
    "physics_strength": ("uniform", 0.5, 1.5),
    "normal_net_share": ("uniform", 0.1, 0.6),
    "decoys": ("uniform", 0.0, 12.0),
    "shift": ("subset", 0.5),  # each of SHIFTS with this chance
    "new_typology_share": ("uniform", 0.1, 0.4),
    "rows_per_exporter": ("log", 60, 300),
    "prevalence": ("log", 0.0015, 0.005),
}


def _draw(rng: np.random.Generator, spec: tuple):
    kind, *args = spec
    if kind == "uniform":
        return float(rng.uniform(*args))
    if kind == "log":
        return float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    if kind == "chance":
        return bool(rng.random() < args[0])
    if kind == "subset":
        return tuple(s for s in SHIFTS if rng.random() < args[0])
    raise ValueError(f"unknown range kind {kind!r}")


def family_mechanics(seed: int) -> dict:
    """The mechanics the family draws for ``seed`` (each in :data:`RANGES`' order, so that adding
    a mechanic at the end leaves the earlier ones of every seed as they were)."""
    rng = np.random.default_rng([seed, 41])
    drawn = {name: _draw(rng, spec) for name, spec in RANGES.items()}
    drawn["rows_per_exporter"] = int(round(drawn["rows_per_exporter"]))
    return drawn


def family_world(seed: int, rows: int = 200_000, start: str = "2025-01-01", months: int = 24,
                 shift_from: str = "2026-07-01") -> WorldConfig:
    """The family's world for ``seed``: its drawn mechanics, ``rows`` declarations from ``start``
    over ``months``, the drift (if any) from ``shift_from``."""
    drawn = family_mechanics(seed)
    return WorldConfig(rows=rows, seed=seed, start=start, months=months,
                       shift_from=shift_from if drawn["shift"] else None, **drawn)


def describe(config: WorldConfig) -> str:
    """A world's drawn mechanics in one line (for a benchmark's table)."""
    shift = "+".join(config.shift) or "none"
    physics = config.physics if config.physics == "impossible" else (
        f"mild x{config.physics_strength:.2f}, {config.normal_net_share:.0%} normal net")
    return (f"inspected {config.inspection_rate:.2%} by {config.inspection_policy} (finds {config.detection_rate:.0%}), "
            f"fronts {config.front_share:.0%}{' in the cover' if config.fronts_in_cover else ''}, {physics}, "
            f"decoys x{config.decoys:.1f}, drift {shift}, {config.rows_per_exporter} rows per exporter, "
            f"prevalence {config.prevalence:.2%}")
