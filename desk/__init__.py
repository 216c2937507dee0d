"""The targeting desk: which declarations are sent for inspection, why, by whom, and what was found.

Owns the desk's state, kept beside the history in the store's database (SQLite embedded,
PostgreSQL in production) through the same SQLAlchemy layer:

- ``schema``    the desk's tables, and the audit trail made append-only by the database itself;
- ``vocabulary`` the lanes, the decisions' sources, the outcome fields, in the analyst's words;
- ``policy``    the selection policy (each lane's capacity per day and office, the random control
  share), validated and versioned;
- ``lanes``     a policy applied to scored declarations: red, yellow or green for each, with why;
- ``rules``     the analysts' targeting rules: conditions, a lane, a rationale, instructions;
- ``figures``   rates with their 95 % interval (Wilson);
- ``performance`` live figures by week, lane and source; prevalence and recall from the control;
- ``imports``   outcomes of many cases from one file;
- ``lists``     lanes added to a scored list already written (``contraband score --queue``);
- ``audit``     the append-only trail of every change: who, when, what, before and after;
- ``desk``      :class:`Desk`: a store's policy, selections, cases (open -> inspected -> closed),
  overrides and the outcomes recorded from the queue (which feed the history, as every outcome).

The desk never changes a risk score: a score depends on the declaration and the history before
its day; a lane also depends on the day's capacity and on what else was selected that day.
"""

from contraband.desk.desk import CaseError, Desk
from contraband.desk.policy import Capacity, Policy, PolicyError

__all__ = ["Capacity", "CaseError", "Desk", "Policy", "PolicyError"]
