"""The store's tables (SQLAlchemy Core), the same on SQLite and on a server database.

- ``declarations``: every declaration the product has seen, one row per ``declaration_id``
  (a re-sent declaration replaces its row), with the contract's fields (the date as its day
  number), mapped ``x_*`` extras (JSON), a hash of the row to recognise an unchanged re-send,
  and the ingest that brought the current copy;
- ``ingests``: each write (its source, e.g. ``train:history.parquet``, time and size);
- ``outcomes``: every version of every inspection outcome, keyed by declaration and record
  time: a correction is a new version, earlier versions stay;
- ``series``: per entity (kind, key), the packed daily cumulative counts (derived from the
  two tables above, kept in step with them in the same transaction; stored uncompressed). Keys
  compare byte by byte on every database (PostgreSQL: collation "C"), so that the pairs of one
  owner are one key range;
- ``meta``: the schema version, and the version of the series' kinds (when a new product
  counts more kinds, an older store's series are rebuilt once when it is opened).
"""

from __future__ import annotations

from sqlalchemy import DDL, BigInteger, Column, Float, Integer, LargeBinary, MetaData, Table, Text, event

from contraband.data.contract import FEATURE_FIELDS, FIELD_BY_NAME

SCHEMA_VERSION = "1"
#: the entity kinds counted in ``series`` (:mod:`contraband.data.keys`); raised with each change
SERIES_VERSION = "2"

#: the contract fields a stored declaration keeps (outcomes live in their own table; the date
#: is kept as the day number)
STORED_FIELDS = tuple(FEATURE_FIELDS)
COLUMN_FIELDS = tuple(f for f in STORED_FIELDS if f != "declaration_date")

metadata = MetaData()


def _field_column(name: str) -> Column:
    kind = FIELD_BY_NAME[name].kind
    if name == "declaration_id":
        return Column(name, Text, primary_key=True)
    return Column(name, Float if kind in ("number", "flag") else Text)


declarations = Table(
    "declarations", metadata,
    *(_field_column(n) for n in COLUMN_FIELDS),
    Column("day", Integer, nullable=False, index=True),
    Column("extras", Text),
    Column("row_hash", BigInteger, nullable=False),
    Column("ingest", Integer, nullable=False),
)

ingests = Table(
    "ingests", metadata,
    Column("ingest", Integer, primary_key=True, autoincrement=True),
    Column("source", Text),
    Column("recorded_at", Text, nullable=False),
    Column("declarations", Integer, nullable=False),
    Column("outcome_versions", Integer, nullable=False),
)

outcomes = Table(
    "outcomes", metadata,
    Column("declaration_id", Text, primary_key=True),
    Column("recorded_at", Text, primary_key=True),
    Column("recorded_day", Integer, nullable=False),
    Column("inspected", Integer, nullable=False),
    Column("contraband", Integer),
    Column("seized_value_usd", Float),
    Column("material", Text),
    Column("note", Text),
    Column("source", Text),
)

series = Table(
    "series", metadata,
    Column("kind", Text, primary_key=True),
    Column("key", Text().with_variant(Text(collation="C"), "postgresql"), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)
# PostgreSQL would compress a long series each time it is rewritten (every request rewrites a
# dozen): kept uncompressed, a request's write takes half the time
event.listen(series, "after_create", DDL("ALTER TABLE series ALTER COLUMN data SET STORAGE EXTERNAL")
             .execute_if(dialect="postgresql"))

meta = Table(
    "meta", metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

OUTCOME_COLUMNS = [c.name for c in outcomes.columns]
