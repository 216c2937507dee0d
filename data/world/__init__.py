"""The synthetic customs world: declarations with hidden ground truth, deterministic per seed.

No labelled rare-earth smuggling data is public, so the product generates its own world from
the reference tables: a population of exporters, consignees and forwarders with histories;
background trade on the real routes; every smuggling mode from the reports, each leaving the
fingerprints a real one would; legitimate look-alikes; smuggling that follows the export-control
timeline; and an inspection policy that decides which rows carry labels.

``generate(WorldConfig(...))`` returns a frame in the declaration contract plus ``truth_*``
columns that no feature may read. Modules: ``config`` (parameters), ``calendar`` (days,
seasonality, control intensity), ``entities`` (traders), ``trade`` (background declarations),
``smuggling`` (contraband declarations), ``decoys`` (honest oddities of the cover goods),
``inspection`` (who gets inspected), ``generate`` (assembly and writing). ``hard_world(...)`` is
the hard setting: few labels, established fronts, mild physics, decoys and drift.
"""

from contraband.data.world.config import WorldConfig, hard_world
from contraband.data.world.generate import generate, summarise, write

__all__ = ["WorldConfig", "generate", "hard_world", "summarise", "write"]
