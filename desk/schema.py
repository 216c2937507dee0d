"""The desk's tables, in the history store's database (SQLAlchemy Core; SQLite and PostgreSQL).

- ``desk_policies``: every version of the selection policy (its body as JSON), never changed
  once written: setting a policy adds a version;
- ``desk_rules``: every version of every analysts' rule (its body as JSON); a change adds a
  version, retiring adds a retired version, nothing is deleted;
- ``desk_selections``: each application of the policy to a scored manifest or file: which
  policy and model, who asked, when, how many declarations went to each lane;
- ``desk_decisions``: one row per declaration selected (every lane): its lane, where the
  decision came from (model rank, rule, random control, override) and why, in words; a
  declaration is decided once (scored again, it keeps its decision), an override changes it
  and the audit keeps what it was;
- ``desk_cases``: the red and yellow declarations as cases, open -> inspected -> closed, with
  the outcome recorded from the queue (structured fields);
- ``desk_retrains``: each retraining run's verdict and drift figures (the performance view
  shows the latest), written by the retraining job into the store it trained from;
- ``desk_manifests``: the last manifest each API key scored (its JSON answer, gzipped), so a
  page reload finds it again; one row per key, replaced by the key's next manifest;
- ``desk_audit``: every change of state (who, when, what, before, after), append-only: the
  database refuses to update or delete its rows, or to insert over one (SQLite's ``INSERT OR
  REPLACE`` deletes without firing delete triggers, PostgreSQL's ``ON CONFLICT DO UPDATE`` is an
  update): triggers on each database.

:func:`upgrade` brings a store written by an earlier version up to these tables (columns added,
triggers created), idempotently.
"""

from __future__ import annotations

from sqlalchemy import DDL, Column, Float, Index, Integer, LargeBinary, MetaData, Table, Text, event, inspect, text

metadata = MetaData()

policies = Table(
    "desk_policies", metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("note", Text),
    Column("body", Text, nullable=False),  # JSON: Policy.to_dict()
)

rules = Table(
    "desk_rules", metadata,
    Column("rule_id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created_at", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("note", Text),
    Column("retired", Integer, nullable=False),
    Column("body", Text, nullable=False),  # JSON: Rule.body()
)

selections = Table(
    "desk_selections", metadata,
    Column("selection", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("source", Text),  # the manifest or file
    Column("policy_version", Integer, nullable=False),
    Column("model", Text),
    Column("declarations", Integer, nullable=False),
    Column("red", Integer, nullable=False),
    Column("yellow", Integer, nullable=False),
    Column("green", Integer, nullable=False),
    Column("kept", Integer, nullable=False),  # declared before: their earlier decision kept
)

decisions = Table(
    "desk_decisions", metadata,
    Column("declaration_id", Text, primary_key=True),
    Column("selection", Integer, nullable=False),
    Column("day", Integer, nullable=False),
    Column("office", Text, nullable=False),  # "" where the manifest names no office
    Column("lane", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("rule_id", Text),
    Column("model_rank", Integer),  # rank by risk among the day's (and office's) declarations
    Column("model_pick", Integer, nullable=False),  # 1: by its rank alone the model would have inspected it
    Column("model_lane", Text),  # the model's own lane (its places in the lane's capacity); older rows: NULL
    Column("rules_hit", Text),  # every rule in force that matched, strongest first, ';'-separated
    Column("risk_score", Float),
    Column("why", Text, nullable=False),
    Column("decided_at", Text, nullable=False),
    Column("actor", Text, nullable=False),
)
Index("desk_decisions_day", decisions.c.day, decisions.c.office, decisions.c.lane)

cases = Table(
    "desk_cases", metadata,
    Column("case_id", Integer, primary_key=True, autoincrement=True),
    Column("declaration_id", Text, nullable=False, unique=True),
    Column("state", Text, nullable=False),
    Column("opened_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("contraband_found", Integer),
    Column("material", Text),
    Column("concealment", Text),
    Column("hs_code_found", Text),
    Column("seized_quantity_kg", Float),
    Column("seized_value_usd", Float),
    Column("note", Text),
    Column("inspected_by", Text),
)
Index("desk_cases_state", cases.c.state)

retrains = Table(
    "desk_retrains", metadata,
    Column("run_id", Text, primary_key=True),
    Column("at", Text, nullable=False),
    Column("cut_off", Text, nullable=False),
    Column("status", Text, nullable=False),  # promoted / kept
    Column("reason", Text),
    Column("version", Text),
    Column("drift", Text),  # JSON: the score's and flag rate's PSI, the shifted features
)

manifests = Table(
    "desk_manifests", metadata,
    Column("key_id", Text, primary_key=True),  # the API key that scored it
    Column("at", Text, nullable=False),
    Column("source", Text),  # the uploaded file's name
    Column("body", LargeBinary, nullable=False),  # gzip (level 1) of the JSON answer's bytes
)

audit = Table(
    "desk_audit", metadata,
    Column("event", Integer, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("before", Text),  # JSON
    Column("after", Text),  # JSON
)

_REFUSE = "the audit trail is append-only"
#: SQLite: an UPDATE or DELETE refused, and an INSERT over an existing event (INSERT OR REPLACE
#: removes the old row without firing the delete trigger)
_SQLITE_TRIGGERS = {
    f"desk_audit_no_{what.lower()}": f"CREATE TRIGGER IF NOT EXISTS desk_audit_no_{what.lower()} BEFORE {what} "
                                     f"ON desk_audit BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
    for what in ("UPDATE", "DELETE")}
_SQLITE_TRIGGERS["desk_audit_no_overwrite"] = (
    "CREATE TRIGGER IF NOT EXISTS desk_audit_no_overwrite BEFORE INSERT ON desk_audit "
    "WHEN EXISTS (SELECT 1 FROM desk_audit WHERE event = NEW.event) "
    f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END")
#: PostgreSQL: a statement trigger refuses UPDATE (ON CONFLICT DO UPDATE included), DELETE, TRUNCATE
_PG_FUNCTION = ("CREATE OR REPLACE FUNCTION desk_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$")
_PG_TRIGGER = ("CREATE TRIGGER desk_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON desk_audit "
               "FOR EACH STATEMENT EXECUTE FUNCTION desk_audit_refuse()")
for _sql in _SQLITE_TRIGGERS.values():
    event.listen(audit, "after_create", DDL(_sql).execute_if(dialect="sqlite"))
event.listen(audit, "after_create", DDL(_PG_FUNCTION).execute_if(dialect="postgresql"))
event.listen(audit, "after_create", DDL(_PG_TRIGGER).execute_if(dialect="postgresql"))

#: columns added since the first desk: (table, column, SQL type)
_ADDED = (("desk_decisions", "model_lane", "TEXT"), ("desk_decisions", "rules_hit", "TEXT"))


def upgrade(conn) -> None:
    """Bring an existing store's desk tables up to this schema (after ``create_all``)."""
    found = inspect(conn)
    for table, column, kind in _ADDED:
        if column not in {c["name"] for c in found.get_columns(table)}:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
    if conn.dialect.name == "sqlite":
        for sql in _SQLITE_TRIGGERS.values():
            conn.execute(text(sql))
