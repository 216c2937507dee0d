"""The history store: what the product has seen and learned, in one place.

Owns every declaration the product has seen (training data, scored manifests, single
declarations), every inspection outcome with the time it was recorded (corrections kept as
versions), and the per-entity daily aggregates that point-in-time features read. The fitted
model holds none of this: it reads the store as of the day before each declaration.

- ``series``         per-entity packed cumulative daily counts, merged incrementally, read as of a day;
- ``contributions``  what a declaration and its outcome versions add to the series;
- ``schema``         the tables (SQLAlchemy Core);
- ``store``          :class:`HistoryStore`: ingest, record outcomes, read series and declarations.
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
    history_url,
    open_history,
)

__all__ = ["BATCH_MEMORY_MAP", "DAY0", "DEFAULT_LOCATION", "DEFAULT_OUTCOME_LAG_DAYS", "ENV", "HistoryStore", "HistoryView",
           "IngestReport", "OutcomeReport", "date_of", "day_numbers", "day_of", "history_url", "open_history"]
