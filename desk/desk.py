""":class:`Desk`: a store's selection policy, its selections, the case queue and overrides, the
analysts' rules (and their previews), and the last manifest each API key scored.

Every change is written under the store's writers' lock, in one transaction with its audit
event. Outcomes, by whatever path, go through :mod:`~contraband.desk.outcomes`: into the history
and the case in one transaction.
"""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select

from contraband.data.history.connection import _select_in, _tuples
from contraband.data.keys import date_of, day_numbers
from contraband.desk import audit, outcomes
from contraband.desk import schema as S
from contraband.desk.figures import wilson
from contraband.desk.lanes import assign
from contraband.desk.policy import Policy, PolicyError, new_salt
from contraband.desk.rules import Rule, RuleError, hits
from contraband.desk.vocabulary import CONCEALMENTS, INSPECTED_LANES, LANES

#: the columns of the queue as it is listed and exported
CASE_COLUMNS = ["case_id", "declaration_id", "state", "lane", "source", "rule_id", "model_rank", "risk_score", "why",
                "day", "office", "opened_at", "updated_at", "contraband_found", "material", "concealment", "hs_code_found",
                "seized_quantity_kg", "seized_value_usd", "note", "inspected_by"]
#: what the queue's list adds to each case from its declaration
GOODS_COLUMNS = ["hs_code", "goods_description", "route"]
#: the queue's order of lanes: the physical examinations first
_LANE_ORDER = {"red": 0, "yellow": 1, "green": 2}
#: how many declaration ids a rule's preview shows of its hits
PREVIEW_SAMPLE = 20
#: the preview's window of recent history, in days (the store's last declaration day included)
PREVIEW_DAYS = 30
_TEXT_LIMIT = {"material": 200, "hs_code_found": 10, "note": 2000}
_INSERT_ROWS = 10_000
#: a rule whose last this many inspections found nothing is flagged for review
REVIEW_AFTER = 30


class CaseError(ValueError):
    """What the desk refuses, with its kind: ``not_found``, ``conflict`` (the case's state does
    not allow it) or ``invalid`` (``field`` and the message name the field)."""

    def __init__(self, kind: str, message: str, field: str = ""):
        super().__init__(message)
        self.kind, self.field = kind, field


class Desk:
    """The targeting desk of one history store (its tables are created on first use)."""

    def __init__(self, store):
        self.store, self.engine = store, store.engine
        with store.writing() as conn:
            S.metadata.create_all(conn)
            S.upgrade(conn)

    # --- the policy --------------------------------------------------------------------
    def policy(self) -> Policy:
        """The current policy: the latest version set, or the product's default."""
        with self.engine.connect() as conn:
            row = conn.execute(select(*S.policies.c).order_by(S.policies.c.version.desc()).limit(1)).first()
        return Policy() if row is None else _policy(row)

    def policy_versions(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*S.policies.c).order_by(S.policies.c.version)).all()
        return [_policy(r).shown() for r in rows]

    def set_policy(self, body: dict, actor: str, note: str = "") -> Policy:
        """A new version of the policy (``body`` as :meth:`Policy.from_dict` reads it); the control
        draws anew under a fresh key unless the body gives one."""
        body = dict(body)
        note = str(body.pop("note", note) or "")
        body.setdefault("salt", new_salt())
        Policy.from_dict(body)  # refuse before anything is written
        at = audit.now()
        with self.store.writing() as conn:
            before = self._policy_in(conn)
            version = conn.execute(S.policies.insert().values(created_at=at, author=actor, note=note,
                                                              body=json.dumps(body, sort_keys=True))
                                   .returning(S.policies.c.version)).scalar_one()
            policy = Policy.from_dict(body, version=int(version), author=actor, created_at=at, note=note)
            audit.record(conn, actor, "policy.set", f"policy:{version}", before.shown(), policy.shown(), at=at)
        return policy

    def _policy_in(self, conn) -> Policy:
        row = conn.execute(select(*S.policies.c).order_by(S.policies.c.version.desc()).limit(1)).first()
        return Policy() if row is None else _policy(row)

    # --- analysts' rules --------------------------------------------------------------
    def rules(self, *, retired: bool = False) -> list[Rule]:
        """The current version of every rule (the retired ones too with ``retired``), by id."""
        with self.engine.connect() as conn:
            return [r for r in self._rules_in(conn) if retired or not r.retired]

    def rule(self, rule_id: str) -> Rule:
        with self.engine.connect() as conn:
            found = self._rule_in(conn, rule_id)
        if found is None:
            raise CaseError("not_found", f"no rule {rule_id}")
        return found

    def rule_versions(self, rule_id: str) -> list[Rule]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*S.rules.c).where(S.rules.c.rule_id == rule_id)
                                .order_by(S.rules.c.version)).all()
        if not rows:
            raise CaseError("not_found", f"no rule {rule_id}")
        return [_rule(r) for r in rows]

    @staticmethod
    def draft_rule(body: dict) -> Rule:
        """A rule's body checked as a rule, nothing written (``RuleError`` names what is wrong):
        what adding or changing a rule checks first, and what a preview matches with."""
        return Rule(**_rule_body(body))

    def add_rule(self, body: dict, actor: str, note: str = "") -> Rule:
        """A new rule (version 1), numbered R-1, R-2, ... in the order they are written."""
        self.draft_rule(body)  # refuse before anything is written
        at = audit.now()
        with self.store.writing() as conn:
            n = conn.execute(select(func.count(func.distinct(S.rules.c.rule_id)))).scalar_one()
            rule_id = f"R-{int(n) + 1}"
            rule = self._write_rule(conn, rule_id, 1, body, actor, note, at, retired=False)
            audit.record(conn, actor, "rule.add", f"rule:{rule_id}", None, rule.shown(), at=at)
        return rule

    def change_rule(self, rule_id: str, body: dict, actor: str, note: str = "") -> Rule:
        """A new version of a rule (what it selects from now on; its earlier decisions stay)."""
        self.draft_rule(body)
        return self._new_version(rule_id, body, actor, note, retire=False)

    def retire_rule(self, rule_id: str, actor: str, reason: str) -> Rule:
        """The rule stops selecting; it stays, with every version, in the store and its figures."""
        if not str(reason or "").strip():
            raise CaseError("invalid", "retiring a rule needs a reason", "reason")
        return self._new_version(rule_id, None, actor, str(reason).strip(), retire=True)

    def _new_version(self, rule_id: str, body: dict | None, actor: str, note: str, retire: bool) -> Rule:
        at = audit.now()
        with self.store.writing() as conn:
            current = self._rule_in(conn, rule_id)
            if current is None:
                raise CaseError("not_found", f"no rule {rule_id}")
            if current.retired:
                raise CaseError("conflict", f"rule {rule_id} is retired")
            rule = self._write_rule(conn, rule_id, current.version + 1, body or current.body(), actor, note, at,
                                    retired=retire)
            audit.record(conn, actor, "rule.retire" if retire else "rule.change", f"rule:{rule_id}",
                         current.shown(), rule.shown(), at=at)
        return rule

    @staticmethod
    def _write_rule(conn, rule_id: str, version: int, body: dict, actor: str, note: str, at: str,
                    retired: bool) -> Rule:
        body = _rule_body(body)
        conn.execute(S.rules.insert().values(rule_id=rule_id, version=version, created_at=at, author=actor,
                                             note=note or None, retired=int(retired),
                                             body=json.dumps(body, sort_keys=True)))
        return Rule(**body, rule_id=rule_id, version=version, author=actor, created_at=at, retired=retired,
                    note=note or "")

    @staticmethod
    def _rule_in(conn, rule_id: str) -> Rule | None:
        """The current version of one rule (None: no such rule)."""
        row = conn.execute(select(*S.rules.c).where(S.rules.c.rule_id == rule_id)
                           .order_by(S.rules.c.version.desc()).limit(1)).first()
        return None if row is None else _rule(row)

    @staticmethod
    def _rules_in(conn) -> list[Rule]:
        latest = select(S.rules.c.rule_id, func.max(S.rules.c.version).label("version")).group_by(
            S.rules.c.rule_id).subquery()
        rows = conn.execute(select(*S.rules.c).join(latest, (latest.c.rule_id == S.rules.c.rule_id)
                                                    & (latest.c.version == S.rules.c.version))).all()
        return sorted((_rule(r) for r in rows), key=lambda r: int(r.rule_id.split("-")[1]))

    def preview_rule(self, rule: Rule, manifest_ids: list[str]) -> dict:
        """What ``rule`` would hit, nothing saved: among the declarations of a manifest (by id,
        read back from the history, in the manifest's order) and among the history's last
        :data:`PREVIEW_DAYS` days of declarations (up to the latest day recorded). Each:
        ``declarations``, ``hits`` and a ``sample`` of the hits' ids (at most
        :data:`PREVIEW_SAMPLE`; the manifest's highest risk first, the history's latest first)."""
        manifest = self.store.declarations(ids=list(manifest_ids)) if manifest_ids else None
        if manifest is not None:
            where = {d: i for i, d in enumerate(manifest_ids)}
            manifest = manifest.iloc[np.argsort([where.get(d, len(where)) for d in manifest["declaration_id"]],
                                                kind="stable")]
        _, last_day = self.store.day_range()
        recent = None if last_day is None else self.store.declarations(start_day=int(last_day) - (PREVIEW_DAYS - 1))
        if recent is not None:
            recent = recent.iloc[::-1]  # the latest first
        return {"manifest": _hits_among(rule, manifest), "last_30_days": _hits_among(rule, recent)}

    def rule_figures(self, review_after: int = REVIEW_AFTER) -> list[dict]:
        """Per rule (current version): declarations it hit (``hits``, those a stronger rule or
        the model decided included) and those whose lane it decided (``decided``), inspections of
        its hits with a result, seizures, the seizure rate with its 95 % interval (Wilson), and
        whether it is due for review (its last ``review_after`` inspections found nothing)."""
        d, c = S.decisions, S.cases
        with self.engine.connect() as conn:
            rules = self._rules_in(conn)
            rows = conn.execute(select(d.c.rule_id, d.c.rules_hit, d.c.source, c.c.contraband_found, c.c.updated_at,
                                       c.c.case_id).select_from(d.outerjoin(c, c.c.declaration_id == d.c.declaration_id))
                                .where(d.c.rule_id.is_not(None))).all()
        hit: dict[str, int] = {}
        decided: dict[str, int] = {}
        results: dict[str, list[tuple]] = {}
        for rule_id, rules_hit, source, found, updated, case_id in rows:
            if source == "rule":
                decided[rule_id] = decided.get(rule_id, 0) + 1
            for each in (rules_hit or rule_id).split(";"):
                hit[each] = hit.get(each, 0) + 1
                if found is not None:
                    results.setdefault(each, []).append((updated, case_id, int(found)))
        out = []
        for rule in rules:
            seen = [f for _, _, f in sorted(results.get(rule.rule_id, []))]
            rate, low, high = wilson(sum(seen), len(seen))
            out.append({"rule_id": rule.rule_id, "name": rule.name, "lane": rule.lane, "retired": rule.retired,
                        "hits": hit.get(rule.rule_id, 0), "decided": decided.get(rule.rule_id, 0),
                        "inspections": len(seen), "seizures": sum(seen),
                        "seizure_rate": rate, "rate_low": low, "rate_high": high,
                        "review": len(seen) >= review_after and not any(seen[-review_after:])})
        return out

    # --- the last manifest each key scored -------------------------------------------
    def keep_manifest(self, key_id: str, source: str, body: bytes) -> None:
        """Keep ``body`` (a scored manifest's JSON answer, as sent) as the key's last manifest,
        in place of the one it kept before (one transaction)."""
        packed = gzip.compress(body, compresslevel=1)
        m = S.manifests
        with self.store.writing() as conn:
            conn.execute(m.delete().where(m.c.key_id == key_id))
            conn.execute(m.insert().values(key_id=key_id, at=audit.now(), source=source, body=packed))

    def last_manifest(self, key_id: str) -> bytes | None:
        """The JSON answer of the last manifest the key scored, as it was sent (None: none yet)."""
        m = S.manifests
        with self.engine.connect() as conn:
            packed = conn.execute(select(m.c.body).where(m.c.key_id == key_id)).scalar_one_or_none()
        return None if packed is None else gzip.decompress(packed)

    # --- selections --------------------------------------------------------------------
    def select(self, scored: pd.DataFrame, *, actor: str, source: str = "", model: str | None = None,
               rule_hits: pd.DataFrame | None = None) -> pd.DataFrame:
        """Lanes for scored declarations (``declaration_id``, ``declaration_date``, ``risk_score``,
        optionally the model's ``flagged`` and the policy's office column), recorded with their
        cases (:mod:`~contraband.desk.lanes` says how).

        A declaration the desk decided before keeps its decision (``kept``); the others are
        decided under the current policy, within what earlier selections of their day left of
        each lane. Returns one row per declaration in the frame's order: ``lane``, ``source``,
        ``rule_id``, ``model_rank``, ``model_lane``, ``why``, ``case_id`` (red and yellow) and
        ``kept``; ``attrs["rules_skipped"]`` lists the rules that failed on this manifest (each
        skipped, the others applied, and an audit event for each).

        The analysts' rules in force hit the declarations they match (``rule_hits`` given: those
        instead)."""
        ids = scored["declaration_id"].astype(str).to_numpy(dtype=object)
        if len(set(ids)) != len(ids):
            raise CaseError("invalid", "a selection takes each declaration once")
        at = audit.now()
        failures: list = []
        with self.store.writing() as conn:
            policy = self._policy_in(conn)
            frame = pd.DataFrame({
                "declaration_id": ids,
                "day": day_numbers(pd.to_datetime(scored["declaration_date"])).astype(np.int64),
                "office": (scored[policy.office_column].astype(object).where(scored[policy.office_column].notna(), "")
                           .astype(str).to_numpy(dtype=object)
                           if policy.office_column in scored.columns else np.full(len(ids), "", dtype=object)),
                "risk_score": pd.to_numeric(scored["risk_score"], errors="coerce").to_numpy(dtype=np.float64),
            })
            if "flagged" in scored.columns:
                frame["flagged"] = scored["flagged"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
            known = self._decisions(conn, ids)
            new = ~frame["declaration_id"].isin(known["declaration_id"]).to_numpy() if len(known) \
                else np.ones(len(frame), dtype=bool)
            fresh = frame[new].reset_index(drop=True)
            if rule_hits is None:
                rules = [r for r in self._rules_in(conn) if not r.retired]
                rule_hits = hits(rules, scored[new], failures) if rules and len(fresh) else None
            decided = assign(fresh, policy, self._taken(conn, fresh), rule_hits)
            counts = decided["lane"].value_counts()
            selection = conn.execute(S.selections.insert().values(
                created_at=at, actor=actor, source=source, policy_version=policy.version, model=model,
                declarations=len(frame), kept=int((~new).sum()),
                **{lane: int(counts.get(lane, 0)) for lane in LANES}).returning(S.selections.c.selection)).scalar_one()
            rows = pd.concat([fresh.drop(columns="flagged", errors="ignore"), decided.drop(columns="declaration_id")],
                             axis=1).assign(selection=int(selection), decided_at=at, actor=actor,
                                            model_pick=decided["model_pick"].to_numpy(dtype=np.int64))
            self._insert(conn, S.decisions, rows[[c.name for c in S.decisions.c]])
            opened = rows.loc[rows["lane"].isin(INSPECTED_LANES), ["declaration_id"]].assign(
                state="open", opened_at=at, updated_at=at)
            self._insert(conn, S.cases, opened)
            audit.record(conn, actor, "select", f"selection:{selection}", None, {
                "source": source, "policy_version": policy.version, "model": model, "declarations": len(frame),
                "kept": int((~new).sum()), **{lane: int(counts.get(lane, 0)) for lane in LANES},
                "rules_skipped": [f.shown() for f in failures]}, at=at)
            for failure in failures:
                audit.record(conn, actor, "rule.skipped", f"rule:{failure.rule_id}", None,
                             {**failure.shown(), "selection": int(selection), "source": source}, at=at)
            out = pd.concat([part for part in (known, self._with_cases(conn, rows, opened["declaration_id"]))
                             if len(part)]) if len(known) or len(rows) else known
        out = out.set_index("declaration_id").loc[ids].reset_index()
        out = out.assign(kept=~new)[["declaration_id", "lane", "source", "rule_id", "model_rank", "model_lane", "why",
                                     "case_id", "kept"]]
        out.attrs["rules_skipped"] = [f.shown() for f in failures]
        return out

    @staticmethod
    def _insert(conn, table, frame: pd.DataFrame) -> None:
        """Rows of ``frame`` (its columns are ``table``'s) through the driver's executemany, a
        missing value as NULL (SQLAlchemy's per-row dictionaries cost more than the writes)."""
        columns = list(frame.columns)
        rows = _tuples(frame.astype(object), columns)  # every column through _none: missing as None
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        for start in range(0, len(rows), _INSERT_ROWS):
            conn.exec_driver_sql(sql, rows[start:start + _INSERT_ROWS])

    @staticmethod
    def _taken(conn, frame: pd.DataFrame) -> dict:
        """Per (day, office, lane): the model's places earlier selections took there (rules, the
        control and overrides are beside the capacity; a decision of an earlier version without
        its model lane counts where it went, unless it was overridden)."""
        days = sorted({int(d) for d in frame["day"]})
        if not days:
            return {}
        d = S.decisions
        lane = func.coalesce(d.c.model_lane, case((d.c.source != "override", d.c.lane), else_=None))
        rows = conn.execute(select(d.c.day, d.c.office, lane, func.count())
                            .where(d.c.day.in_(days)).group_by(d.c.day, d.c.office, lane)).all()
        return {(int(day), office, lane): int(n) for day, office, lane, n in rows}

    @staticmethod
    def _with_cases(conn, rows: pd.DataFrame, opened) -> pd.DataFrame:
        """Decisions just written (``rows``) with the numbers of the cases just opened for them
        (read back for those alone, not every decision again)."""
        found = dict(_select_in(conn, f"SELECT declaration_id, case_id FROM {S.cases.name} WHERE declaration_id",
                                [str(i) for i in opened]))
        out = rows[[c.name for c in S.decisions.c]]
        return out.assign(case_id=out["declaration_id"].map(found))

    @staticmethod
    def _decisions(conn, ids) -> pd.DataFrame:
        """The decisions of ``ids`` with their case number, read through the driver in batches (a
        re-sent manifest of thousands: SQLAlchemy's per-value compilation cost more than the reads)."""
        d = S.decisions
        names = [x.name for x in d.c]
        rows = _select_in(conn, f"SELECT {', '.join('d.' + n for n in names)}, c.case_id FROM {d.name} d "
                                f"LEFT JOIN {S.cases.name} c ON c.declaration_id = d.declaration_id "
                                "WHERE d.declaration_id", [str(i) for i in ids])
        return pd.DataFrame([tuple(r) for r in rows], columns=[*names, "case_id"])

    # --- the queue ---------------------------------------------------------------------
    def cases(self, *, state: str | None = None, lane: str | None = None, limit: int | None = None,
              after: int = 0) -> pd.DataFrame:
        """The queue: cases with their decision, by case number (``after`` one, ``limit`` of them)."""
        d, c = S.decisions, S.cases
        query = (select(*c.c, d.c.lane, d.c.source, d.c.rule_id, d.c.model_rank, d.c.risk_score, d.c.why, d.c.day,
                        d.c.office).select_from(c.join(d, d.c.declaration_id == c.c.declaration_id))
                 .where(c.c.case_id > after).order_by(c.c.case_id))
        if state:
            query = query.where(c.c.state == state)
        if lane:
            query = query.where(d.c.lane == lane)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame([r._mapping for r in rows], columns=[*(x.name for x in c.c), "lane", "source", "rule_id",
                                                                  "model_rank", "risk_score", "why", "day", "office"])
        frame["day"] = [f"{date_of(int(v)):%Y-%m-%d}" for v in frame["day"]]
        return frame[CASE_COLUMNS]

    def with_goods_and_route(self, cases: pd.DataFrame) -> pd.DataFrame:
        """The cases (rows of :meth:`cases`) with their declaration's HS code, goods description and
        route (:func:`route_in_words`), read from the history in one go (missing: None)."""
        cases = cases.copy()
        ids = [str(d) for d in cases["declaration_id"]]
        found = self.store.declarations(ids=ids) if ids else pd.DataFrame(columns=["declaration_id"])
        found = found.drop_duplicates("declaration_id").set_index("declaration_id")
        for column in ("hs_code", "goods_description"):
            values = found[column] if column in found else pd.Series(dtype=object)
            cases[column] = [_text_or_none(values.get(d)) for d in ids]
        routes = {d: route_in_words(row) for d, row in zip(found.index, found.to_dict("records"))}
        cases["route"] = [routes.get(d) for d in ids]
        return cases

    def case(self, case_id: int) -> dict:
        with self.engine.connect() as conn:
            return self._case(conn, case_id)

    def _case(self, conn, case_id: int) -> dict:
        d, c = S.decisions, S.cases
        row = conn.execute(select(*c.c, d.c.lane, d.c.source, d.c.rule_id, d.c.model_rank, d.c.risk_score, d.c.why,
                                  d.c.day, d.c.office).select_from(c.join(d, d.c.declaration_id == c.c.declaration_id))
                           .where(c.c.case_id == int(case_id))).first()
        if row is None:
            raise CaseError("not_found", f"no case {case_id}")
        out = {k: _plain(v) for k, v in row._mapping.items()}
        out["day"] = f"{date_of(int(out['day'])):%Y-%m-%d}"
        rule = self._rule_in(conn, out["rule_id"]) if out["rule_id"] else None
        out["instructions"] = rule.instructions if rule else None  # the officer's, from the rule that hit
        return out

    def record_outcome(self, case_id: int, outcome: dict, actor: str, role: str = "analyst",
                       reason: str | None = None) -> dict:
        """The inspection's outcome for a case, into the history and the case (which becomes
        ``inspected``), audited (:mod:`~contraband.desk.outcomes`). A different result for a case
        with its outcome is a correction: a supervisor's, with a reason (``forbidden`` otherwise)."""
        done = outcomes.record(self, [(case_id, check_outcome(outcome))], actor, role=role, reason=reason)
        if done.refused:
            raise CaseError(*done.refused[0][1:])
        return done.cases[0] if done.cases else self.case(case_id)

    def record_outcomes(self, results: list[tuple[int, dict]], actor: str, declaration_ids: bool = False,
                        recorded_at=None, role: str = "analyst",
                        reason: str | None = None) -> tuple[list[dict], list[tuple[int, str, str]]]:
        """Checked outcomes (:func:`check_outcome`) for cases, by case number (or, with
        ``declaration_ids``, by declaration id), through :func:`~contraband.desk.outcomes.record`.
        Returns the cases as they are now, and the refused ones as (position in ``results``,
        kind, reason): an unknown or closed case, a case twice, a correction without a
        supervisor's role and reason, an outcome the history refuses. The others are recorded
        all the same. ``recorded_at``: when the results were known (default: now; a replay of
        the past gives its own days)."""
        done = outcomes.record(self, results, actor, role=role, reason=reason, declaration_ids=declaration_ids,
                               recorded_at=recorded_at)
        return done.cases, done.refused

    def amend(self, frame, by: str, reason: str, actor: str | None = None):
        """An admin's amendment of recorded declarations (:meth:`HistoryStore.amend`), each
        declaration it changes an audit event (``declaration.amend``: the version before and
        after, and the reason) in the transaction that writes it. ``by``: who, as the history
        keeps it; ``actor``: who, as the audit trail names it (default ``by``)."""
        at = audit.now()
        reason = str(reason or "").strip()

        def then(conn, written: pd.DataFrame) -> None:
            for declaration_id, version in zip(written["declaration_id"], written["version"]):
                version = int(version)
                audit.record(conn, actor or by, "declaration.amend", f"declaration:{declaration_id}",
                             {"version": version - 1}, {"version": version, "reason": reason}, at=at)

        return self.store.amend(frame, by=by, reason=reason, then=then)

    def close(self, case_id: int, actor: str, note: str | None = None) -> dict:
        at = audit.now()
        with self.store.writing() as conn:
            before = self._case(conn, case_id)
            if before["state"] != "inspected":
                raise CaseError("conflict", f"case {case_id} is {before['state']}: a case is closed once its "
                                            "outcome is recorded")
            values = {"state": "closed", "updated_at": at}
            if note:
                values["note"] = _text("note", note) if not before["note"] else f"{before['note']}\n{_text('note', note)}"
            conn.execute(S.cases.update().where(S.cases.c.case_id == int(case_id)).values(**values))
            after = self._case(conn, case_id)
            audit.record(conn, actor, "case.close", f"case:{case_id}", before, after, at=at)
        return after

    def override(self, declaration_id: str, lane: str, reason: str, actor: str) -> dict:
        """An analyst's lane for a decided declaration, with the reason (required). Into red or
        yellow it opens a case if there is none; into green it closes an open case. A case
        already inspected keeps its lane (its outcome stands)."""
        if lane not in LANES:
            raise CaseError("invalid", f"lane must be one of {', '.join(LANES)}, not {lane!r}")
        reason = str(reason or "").strip()
        if not reason:
            raise CaseError("invalid", "an override needs a reason")
        reason = _text("note", reason)
        at = audit.now()
        with self.store.writing() as conn:
            found = self._decisions(conn, [declaration_id])
            if not len(found):
                raise CaseError("not_found", f"declaration {declaration_id} has no lane: score its manifest first")
            before = {k: _plain(v) for k, v in found.iloc[0].to_dict().items()}
            if before["lane"] == lane:
                raise CaseError("conflict", f"declaration {declaration_id} is already in the {lane} lane")
            case = conn.execute(select(S.cases.c.case_id, S.cases.c.state)
                                .where(S.cases.c.declaration_id == declaration_id)).first()
            if case is not None and case.state != "open":
                raise CaseError("conflict", f"case {case.case_id} is {case.state}: its lane stays")
            conn.execute(S.decisions.update().where(S.decisions.c.declaration_id == declaration_id).values(
                lane=lane, source="override", why=f"override by {actor}: {reason}", decided_at=at, actor=actor))
            if lane in INSPECTED_LANES and case is None:
                conn.execute(S.cases.insert().values(declaration_id=declaration_id, state="open", opened_at=at,
                                                     updated_at=at))
            elif lane == "green" and case is not None:
                conn.execute(S.cases.update().where(S.cases.c.case_id == case.case_id).values(
                    state="closed", updated_at=at, note=f"released by override: {reason}"))
            after = {k: _plain(v) for k, v in self._decisions(conn, [declaration_id]).iloc[0].to_dict().items()}
            audit.record(conn, actor, "override", f"declaration:{declaration_id}", before, after, at=at)
        return after

    def overrides(self) -> pd.DataFrame:
        """Every declaration whose lane an analyst overrode (a supervisor's review)."""
        d = S.decisions
        with self.engine.connect() as conn:
            rows = conn.execute(select(*d.c).where(d.c.source == "override").order_by(d.c.decided_at)).all()
        return pd.DataFrame(rows, columns=[c.name for c in d.c])

    def audit(self, **kwargs) -> list[dict]:
        return audit.events(self.engine, **kwargs)

    def performance(self) -> dict:
        """Live performance by week, lane and source, with the control's estimates
        (:mod:`~contraband.desk.performance`)."""
        from contraband.desk.performance import performance

        return performance(self.engine)

    def audit_frame(self) -> pd.DataFrame:
        return audit.frame(self.engine)


def in_queue_order(cases: pd.DataFrame) -> pd.DataFrame:
    """The cases as the queue is worked: red first, then yellow (then green), the highest risk
    first within a lane (a case without a risk score last), then by case number."""
    lane = cases["lane"].map(_LANE_ORDER).fillna(len(_LANE_ORDER))
    risk = pd.to_numeric(cases["risk_score"], errors="coerce")
    # lexsort's last key sorts first; a missing score, negated from -inf, goes after every other
    order = np.lexsort((cases["case_id"].to_numpy(dtype=np.int64), -risk.fillna(-np.inf).to_numpy(dtype=np.float64),
                        lane.to_numpy(dtype=np.float64)))
    return cases.iloc[order].reset_index(drop=True)


def route_in_words(declaration: dict) -> str | None:
    """A declaration's route: origin, where it was shipped from (if elsewhere), each transit
    country, destination, joined with " → " (a missing stop left out; None when none is known)."""
    origin = _text_or_none(declaration.get("origin_country"))
    shipped_from = _text_or_none(declaration.get("export_country"))
    transit = _text_or_none(declaration.get("transit_countries")) or ""
    stops = [origin, shipped_from if shipped_from != origin else None,
             *(t.strip() for t in transit.split(";")), _text_or_none(declaration.get("destination_country"))]
    stops = [s for s in stops if s]
    return " → ".join(stops) or None


def _text_or_none(value) -> str | None:
    """A cell as text (None: missing or blank)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value).strip() or None


def _hits_among(rule: Rule, declarations: pd.DataFrame | None) -> dict:
    """How many of ``declarations`` the rule hits (:meth:`Rule.matches`), with the first ids hit."""
    if declarations is None or not len(declarations):
        return {"declarations": 0, "hits": 0, "sample": []}
    hit = np.asarray(rule.matches(declarations), dtype=bool)
    ids = declarations["declaration_id"].to_numpy(dtype=object)[hit]
    return {"declarations": len(declarations), "hits": int(hit.sum()), "sample": [str(d) for d in ids[:PREVIEW_SAMPLE]]}


def lane_counts(lanes: pd.DataFrame) -> dict[str, int]:
    """What a selection (:meth:`Desk.select`) sent to each lane, and how many kept an earlier lane."""
    counts = lanes.loc[~lanes["kept"], "lane"].value_counts()
    return {**{lane: int(counts.get(lane, 0)) for lane in LANES}, "kept": int(lanes["kept"].sum())}


def check_outcome(outcome: dict) -> dict:
    """An outcome's fields checked (``CaseError("invalid")`` names the field): ``found`` is
    required; what was found (material, concealment, HS code, quantity, value) only if found."""
    unknown = set(outcome) - {"contraband_found", "material", "concealment", "hs_code_found", "seized_quantity_kg", "seized_value_usd", "note"}
    if unknown:
        raise CaseError("invalid", f"unknown outcome fields: {', '.join(sorted(unknown))}", sorted(unknown)[0])
    found = outcome.get("contraband_found")
    if not isinstance(found, bool):
        raise CaseError("invalid", "contraband_found: say whether contraband was found (true or false)", "contraband_found")
    fields = {"contraband_found": int(found), "note": _text("note", outcome.get("note"))}
    fields["material"] = _text("material", outcome.get("material"))
    concealment = outcome.get("concealment")
    if concealment not in (None, "") and concealment not in CONCEALMENTS:
        raise CaseError("invalid", f"concealment must be one of {', '.join(CONCEALMENTS)}, not {concealment!r}",
                        "concealment")
    fields["concealment"] = concealment or None
    code = _text("hs_code_found", outcome.get("hs_code_found"))
    if code is not None and not (code.isdigit() and len(code) in (4, 6, 8, 10)):
        raise CaseError("invalid", f"hs_code_found must be 4, 6, 8 or 10 digits, not {code!r}", "hs_code_found")
    fields["hs_code_found"] = code
    for name in ("seized_quantity_kg", "seized_value_usd"):
        value = outcome.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            raise CaseError("invalid", f"{name} must be a number >= 0, not {value!r}", name)
        fields[name] = None if value is None else float(value)
    if not found and any(fields[n] not in (None, 0.0) for n in ("material", "concealment", "hs_code_found",
                                                                "seized_quantity_kg", "seized_value_usd")):
        raise CaseError("invalid", "contraband_found is false: leave material, concealment, HS code, quantity and value empty",
                        "contraband_found")
    return fields


def _text(name: str, value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, str):
        raise CaseError("invalid", f"{name} must be text", name)
    value = value.strip()
    if len(value) > _TEXT_LIMIT[name]:
        raise CaseError("invalid", f"{name} is longer than {_TEXT_LIMIT[name]} characters", name)
    return value or None


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    return value


def _rule_body(body: dict) -> dict:
    """A rule's body with only a rule's fields (``RuleError`` for others)."""
    fields = ("name", "lane", "conditions", "rationale", "instructions", "valid_from", "valid_to")
    unknown = set(body) - set(fields)
    if unknown:
        raise RuleError(f"unknown rule fields: {', '.join(sorted(unknown))}")
    out = {k: body.get(k, "" if k == "instructions" else None) for k in fields}
    for bound in ("valid_from", "valid_to"):  # an empty date: no bound
        if isinstance(out[bound], str) and not out[bound].strip():
            out[bound] = None
    return out


def _rule(row) -> Rule:
    return Rule(**json.loads(row.body), rule_id=row.rule_id, version=int(row.version), author=row.author,
                created_at=row.created_at, retired=bool(row.retired), note=row.note or "")


def _policy(row) -> Policy:
    try:
        return Policy.from_dict(json.loads(row.body), version=int(row.version), author=row.author,
                                created_at=row.created_at, note=row.note or "")
    except (PolicyError, ValueError) as exc:  # written by this code, so only a damaged row gets here
        raise PolicyError(f"policy version {row.version} in the store cannot be read: {exc}") from None
