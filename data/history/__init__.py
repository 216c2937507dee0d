"""The history store: what the product has seen and learned, in one place.

Owns every declaration the product has seen (training data, scored manifests, single
declarations), every inspection outcome with the time it was recorded (corrections kept as
versions), and the per-entity daily aggregates that point-in-time features read. The fitted
model holds none of this: it reads the store as of the day before each declaration.

- ``series``         per-entity packed cumulative daily counts, merged incrementally, read as of a day;
- ``versions``       declaration versions (amendments): the days each version counts;
- ``contributions``  what a declaration's versions and its outcome versions add to the series;
- ``schema``         the tables (SQLAlchemy Core);
- ``opening``        what a store location holds before it is opened (new, damaged, foreign);
- ``liveness``       whether the writer of an unfinished batch recording is still at work;
- ``store``          :class:`HistoryStore`, made of one part per job:
  - ``connection``   URLs, the engine, opening and upgrading, the writers' turn, readers' snapshots;
  - ``rows``         stored rows and their hashes, outcome versions, days, the ingest reports;
  - ``ingest``       declarations in (idempotent, amendments as versions, a scoring request's lean path);
  - ``recording``    a batch in rounds of short transactions, and the recovery of a killed one;
  - ``outcomes``     inspection outcomes in (an analyst's lean path, the general one);
  - ``moves``        the series moved by what was recorded, and the rebuild;
  - ``reads``        as-of reads: series, declarations as they stood, versions, outcomes, labels.
- ``kept``           a large batch's series reads: every kind read whole once, kept within a budget.

Declarations are versioned, never overwritten: an identical re-send changes nothing, a re-send
with other values is an amendment that counts from the day it arrives (the past stays as it
was), and a declaration with a recorded inspection is amended only by an admin.
"""

from contraband.data.keys import DAY0, date_of, day_numbers, day_of
from contraband.data.history.store import (
    BATCH_MEMORY_MAP,
    DEFAULT_LOCATION,
    DEFAULT_OUTCOME_LAG_DAYS,
    ENV,
    HistoryStore,
    HistoryView,
    IngestReport,
    OutcomeReport,
    StoreError,
    history_url,
    open_history,
)

__all__ = ["BATCH_MEMORY_MAP", "DAY0", "DEFAULT_LOCATION", "DEFAULT_OUTCOME_LAG_DAYS", "ENV", "HistoryStore", "HistoryView",
           "IngestReport", "OutcomeReport", "StoreError", "date_of", "day_numbers", "day_of", "history_url", "open_history"]
