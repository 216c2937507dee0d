"""The store's tables (SQLAlchemy Core), the same on SQLite and on a server database.

- ``declarations``: the current version of every declaration the product has seen, one row per
  ``declaration_id``, with the contract's fields (the date as its day number), mapped ``x_*``
  extras (JSON), a hash of the row to recognise an unchanged re-send, its version number (1 for
  the first copy), the day it was recorded and the ingest that brought it (who sent it, when);
- ``declaration_versions``: the earlier versions of amended declarations, as they were (same
  columns): an amendment moves the current row here and writes the new one, nothing is lost;
- ``ingests``: each write: its source (who sent it: ``api:<key id>``, ``score:<file>``,
  ``amend:<admin>``...), time, size, an admin's note (why an inspected declaration was amended),
  and its state (``recording`` while a batch's rows are written and their series not yet all
  moved; ``progress`` says how far the series are);
- ``outcomes``: every version of every inspection outcome, keyed by declaration and record
  time, with the ingest that recorded it: a correction is a new version, earlier versions stay;
- ``series``: per entity (kind, key), the packed daily cumulative counts (derived from the
  two tables above, kept in step with them in the same transaction; stored uncompressed). Keys
  compare byte by byte on every database (PostgreSQL: collation "C"), so that the pairs of one
  owner are one key range;
- ``meta``: the schema version, and the version of the series' kinds (when a new product
  counts more kinds, an older store's series are rebuilt once when it is opened).
"""

from __future__ import annotations

from sqlalchemy import DDL, BigInteger, Column, Float, Index, Integer, LargeBinary, MetaData, Table, Text, event

from contraband.data.contract import FEATURE_FIELDS, FIELD_BY_NAME

SCHEMA_VERSION = "2"  # 2: declaration versions, ingest states and notes, the outcome's ingest
#: the entity kinds counted in ``series`` (:mod:`contraband.data.keys`); raised with each change
SERIES_VERSION = "3"  # 3: the exporter's own norm (exporter_hs6 and its measures' bins)

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



def _declaration_columns(versioned: bool) -> list[Column]:
    columns = [_field_column(n) for n in COLUMN_FIELDS]
    if versioned:  # every version of a declaration is a row: the key is the id and the version
        columns[0] = Column("declaration_id", Text, primary_key=True)
    return [*columns,
            Column("day", Integer, nullable=False, index=not versioned),
            Column("extras", Text),
            Column("row_hash", BigInteger, nullable=False),
            Column("ingest", Integer, nullable=False),
            Column("version", Integer, nullable=False, server_default="1", primary_key=versioned),
            Column("recorded_day", Integer)]


declarations = Table("declarations", metadata, *_declaration_columns(False))
declaration_versions = Table("declaration_versions", metadata, *_declaration_columns(True))
#: the columns of a stored declaration row, in table order (both tables)
DECLARATION_COLUMNS = [c.name for c in declarations.columns]

ingests = Table(
    "ingests", metadata,
    Column("ingest", Integer, primary_key=True, autoincrement=True),
    Column("source", Text),
    Column("recorded_at", Text, nullable=False),
    Column("declarations", Integer, nullable=False),
    Column("outcome_versions", Integer, nullable=False),
    Column("note", Text),
    Column("state", Text),  # NULL: complete; "recording": its series are still being moved
    Column("progress", Text),  # JSON {kind: last key whose series moved} while recording
)
RECORDING = "recording"
#: the unfinished recordings are looked up on every amendment and outcome: by an index (one
#: ingest a scoring request makes the table long)
ingests_state = Index("ingests_state", ingests.c.state)

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
    Column("ingest", Integer),
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

#: what an older schema lacks, added in place when it is opened (ALTER TABLE ... ADD COLUMN);
#: its new tables are created as for a new store
UPGRADES = {
    "1": [("declarations", "version INTEGER NOT NULL DEFAULT 1"), ("declarations", "recorded_day INTEGER"),
          ("ingests", "note TEXT"), ("ingests", "state TEXT"), ("ingests", "progress TEXT"),
          ("outcomes", "ingest INTEGER")],
}
