"""The selection policy: how many declarations each lane takes per day, and the random control.

A lane's capacity is a count per day (and per office, where the manifest names one), shared by
every selection of that day, or a share of the declarations of that day and office in one
selection (rounded to the nearest whole declaration). These are the places the model's risk rank
fills. The random control sends exactly its share of each day's declarations (rounded) to the
red lane, the smallest draws of a keyed hash of the declaration id: independent of the risk
score and of the rows' order, so that what the control finds estimates the prevalence and the
model's recall without bias. The control's draws, like the rules' hits, are inspected beside
the lanes' places, never in them (:mod:`~contraband.desk.lanes`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field

from contraband.models.selection import share_count


class PolicyError(ValueError):
    """A policy that cannot be applied (the message says which field and why)."""


@dataclass(frozen=True)
class Capacity:
    """A lane's capacity per day: ``count`` declarations (across the day's selections), or
    ``share`` of the declarations of the day in one selection."""

    count: int | None = None
    share: float | None = None

    def __post_init__(self):
        if (self.count is None) == (self.share is None):
            raise PolicyError("a lane's capacity is either a count or a share, not both or neither")
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0):
            raise PolicyError(f"a lane's count must be a whole number >= 0, not {self.count!r}")
        if self.share is not None and not (isinstance(self.share, (int, float)) and 0 <= self.share <= 1):
            raise PolicyError(f"a lane's share must be between 0 and 1, not {self.share!r}")

    def of(self, declarations: int, taken: int) -> int:
        """The declarations this lane may still take among ``declarations`` of one day and
        office, ``taken`` having been taken by earlier selections of that day."""
        if self.share is not None:
            return share_count(declarations, self.share)
        return max(0, self.count - taken)

    def describe(self) -> str:
        return f"{self.count} a day" if self.count is not None else f"{self.share:.1%} of the day's declarations"


@dataclass(frozen=True)
class Policy:
    """Capacities of the red and yellow lanes, the random control's share, the column that names
    the office (capacity per office where present), and the key of the control's draws."""

    red: Capacity = Capacity(share=0.03)
    yellow: Capacity = Capacity(share=0.05)
    control_share: float = 0.01
    office_column: str = "x_office_id"
    salt: str = field(default="default-policy", repr=False)
    version: int = 0  # 0: the product's default, before any supervisor set one
    author: str = "default"
    created_at: str = ""
    note: str = ""

    def __post_init__(self):
        if not (isinstance(self.control_share, (int, float)) and 0 <= self.control_share <= 1):
            raise PolicyError(f"control_share must be between 0 and 1, not {self.control_share!r}")
        if not isinstance(self.office_column, str):
            raise PolicyError("office_column must be a column name")

    @classmethod
    def from_dict(cls, body: dict, **meta) -> "Policy":
        """A policy from its JSON body (``red``/``yellow``: {"count": n} or {"share": s})."""
        unknown = set(body) - {"red", "yellow", "control_share", "office_column", "salt", "note"}
        if unknown:
            raise PolicyError(f"unknown policy fields: {', '.join(sorted(unknown))}")
        try:
            lanes = {lane: Capacity(**body[lane]) if lane in body else getattr(cls, lane) for lane in ("red", "yellow")}
        except TypeError as exc:
            raise PolicyError(f"a lane's capacity takes count or share: {exc}") from None
        rest = {k: body[k] for k in ("control_share", "office_column", "salt", "note") if k in body}
        return cls(**lanes, **rest, **meta)

    def to_dict(self) -> dict:
        """The body that is stored (and shown, without the control's key)."""
        return {"red": {k: v for k, v in asdict(self.red).items() if v is not None},
                "yellow": {k: v for k, v in asdict(self.yellow).items() if v is not None},
                "control_share": self.control_share, "office_column": self.office_column, "salt": self.salt}

    def shown(self) -> dict:
        body = {k: v for k, v in self.to_dict().items() if k != "salt"}
        return {"version": self.version, "author": self.author, "created_at": self.created_at, "note": self.note,
                **body, "lanes": {"red": self.red.describe(), "yellow": self.yellow.describe(),
                                  "control": f"{self.control_share:.1%} of each day's declarations, drawn at random "
                                                         "and inspected beside the red lane's places"}}

    def json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def new_salt() -> str:
    """A fresh key for the control's draws (a new policy version draws anew: nobody can learn
    which declarations the control will pick from the ones it picked)."""
    return secrets.token_hex(16)
