"""The one plan: what a comparison found, for `diff` (two rosters or CSVs),
`import`'s round trip (an export against the roster made from it) and `plan`
/ `apply` (a roster against a PBX). Its users are the comparison's entries;
the other parts are there when the source has them: diff's columns and the
secrets it could not compare, a sync's users left alone, notes, thresholds,
the PBX's state and the fingerprint a saved plan is held to. What a source
calls things (headings, the markdown title) comes in as its Words.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from generator.compare.changes import Entry
from generator.model import counted

FORMAT_VERSION = 1  # of a saved plan's JSON

# Percent of the users on the PBX a plan may delete, replace or update without --force.
DEFAULT_LIMITS = {"delete": 30, "replace": 30, "update": 30}
LIMIT_FLOOR = 1  # whatever the tenant's size, one user may be deleted, replaced or updated (unless 0%)
PHONES_WEIGHED = ("delete", "replace")  # a phone deleted or replaced counts against these thresholds as a user does


@dataclass(frozen=True)
class Words:
    """What a source calls its plan: the markdown title; and, to list users
    grouped by kind, each group's (kind, heading, name): the name counts them
    in the summary ("2 added") and keys them in JSON. No groups: users in plan
    order, counted by what apply does ("2 to create")."""

    title: str
    groups: tuple[tuple[str, str, str], ...] = ()


@dataclass
class Plan:
    words: Words
    users: list[Entry] = field(default_factory=list)
    old: str = ""  # a comparison's two sides, by label (diff, import)
    new: str = ""
    pbx: str = ""  # the PBX a sync targets, by label
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    uncompared: int = 0  # secrets that could be worked out on one side only
    left_alone: list[str] = field(default_factory=list)  # on the PBX, not in the roster (kept without --prune)
    state: str = ""  # digest of the PBX's users as read
    notes: list[str] = field(default_factory=list)  # said once: how the roster was sent, what was not compared
    existing: int = 0  # users on the PBX as read: what the thresholds are a share of
    percent: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))

    @property
    def empty(self) -> bool:
        return not (self.users or self.columns_added or self.columns_removed)

    def of_kind(self, kind: str) -> list[Entry]:
        return [u for u in self.users if u.kind == kind]

    @property
    def added(self) -> list[Entry]:
        return self.of_kind("create")

    @property
    def removed(self) -> list[Entry]:
        return self.of_kind("delete")

    @property
    def changed(self) -> list[Entry]:
        return self.of_kind("update")

    def count(self, kind: str) -> int:
        """Users apply will `kind` (a held-back replace is not one)."""
        return sum(u.kind == kind and not u.held for u in self.users)

    def phones(self, kind: str) -> int:
        """Phones apply will `kind` (of users it updates; none of a held-back user)."""
        return sum(p.kind == kind for u in self.users if not u.held for p in u.phones)

    def weighed(self, kind: str) -> int:
        """What a threshold holds to: users apply will `kind` and, for a delete
        or a replace, phones too (each can lose what the roster does not hold)."""
        return self.count(kind) + (self.phones(kind) if kind in PHONES_WEIGHED else 0)

    def split(self, kind: str) -> str:
        """A threshold's count in users and phones ("1 user, 2 phones") when it holds phones, else ""."""
        phones = self.phones(kind) if kind in PHONES_WEIGHED else 0
        return f"{counted(self.count(kind), 'user')}, {counted(phones, 'phone')}" if phones else ""

    @property
    def held(self) -> list[Entry]:
        return [u for u in self.users if u.held]

    def limit(self, kind: str) -> int:
        if self.percent[kind] <= 0:
            return 0  # 0% asks for --force on any such change
        return max(LIMIT_FLOOR, self.existing * self.percent[kind] // 100)

    @property
    def over(self) -> list[str]:
        """The kinds of change past their threshold: apply refuses the plan without --force."""
        return [kind for kind in DEFAULT_LIMITS if self.weighed(kind) > self.limit(kind)]

    def thresholds(self) -> dict:
        kinds = {kind: self._threshold(kind) for kind in DEFAULT_LIMITS}
        return {"users_on_pbx": self.existing, **kinds, "within": not self.over}

    def _threshold(self, kind: str) -> dict:
        """One kind's threshold: `count`, phones included (then how many are
        `phones`: a plan without any has the shape, and the fingerprint, it
        had before phones counted), `limit`, `percent`."""
        phones = {"phones": self.phones(kind)} if kind in PHONES_WEIGHED and self.phones(kind) else {}
        return {"count": self.weighed(kind), **phones, "limit": self.limit(kind), "percent": self.percent[kind]}

    def as_data(self) -> dict:
        """A sync's plan as saved (what its fingerprint is of)."""
        return {"format": FORMAT_VERSION, "pbx": self.pbx, "state": self.state,
                "users": [asdict(u) for u in self.users], "left_alone": self.left_alone,
                "thresholds": self.thresholds()}

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.as_data())


# What a plan's fingerprint covers: as_data's keys (a saved plan holds notes and the fingerprint besides).
FINGERPRINTED = ("format", "pbx", "state", "users", "left_alone", "thresholds")


def fingerprint(data: dict) -> str:
    """The digest of a sync plan's data (Plan.as_data, or a saved plan read
    back: the same for both, so an edit to a saved plan's body shows)."""
    body = {key: data.get(key) for key in FINGERPRINTED}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
