"""What a sync asks of a PBX, whichever it is: `plan` and `apply`
(generator/sync/) speak only to a Target, so a second PBX is one more folder
beside generator/pbx/portsip/, and adoption (reading every user into a
roster) reads through the same `read_users`.

Shapes, in the roster's words where they meet the plan:
  read_users() -> {name: {"id": str, "detail": dict, "phones": [dict]}}
    `detail` in the target's own shape, holding at least `extension_number`;
    each phone holding at least `id` and `mac`.
  each_user() -> (place in the listing, name, that user), in name order: the
    same users one at a time, for a plan to compare each as it arrives.
  user_body(fields) / phone_body(phone): roster fields -> the target's shape,
    what a plan compares with `detail` and apply sends.
Everything a target reads is hostile input: an id goes into a request only
as `checked_id` gave it, and a failure is a PbxError with the PBX's words
(no secret in them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from generator.model import printable


class PbxError(Exception):
    """A request the PBX refused, or that could not be made: never retried further."""

    def __init__(self, status: int | None, message: str, path: str):
        self.status, self.message, self.path = status, message, path
        super().__init__(f"{status or 'no answer'}: {message}")


class Refusing(PbxError):
    """The PBX kept refusing (429, 5xx, no answer) past the run's limits: no
    request is sent any more, so the run stops rather than try each user."""

    def __init__(self, message: str, path: str):
        super().__init__(None, message, path)


def in_name_order(users: dict[str, dict]) -> Iterator[tuple[int, str, dict]]:
    """read_users' answer as each_user gives it: (place listed, name, user), in name order."""
    places = {name: place for place, name in enumerate(users)}
    for name in sorted(users):
        yield places[name], name, users[name]


@dataclass
class Groups:
    """What is not a user but holds extensions or users, read only when a plan
    deletes or replaces someone: whose extensions a replace must not take,
    and whose members a delete drops."""

    extensions: dict[str, str] = field(default_factory=dict)  # extension -> "call queue Sales (8000)"
    members: dict[str, list[dict]] = field(default_factory=dict)  # member's extension -> its groups (name, extension)
    unread: str = ""  # why they could not be read


@dataclass(frozen=True)
class Note:
    """What a roster could not take from the PBX, or will set that the PBX did not answer."""

    user: str
    field: str
    message: str

    def __str__(self) -> str:
        field = self.field if len(self.field) <= 64 else f"{self.field[:64]}..."  # the PBX's key: any length
        return printable(f"user {self.user}: {field}: {self.message}")


@dataclass
class Adopted:
    """One PBX user as roster fields (Target.roster_fields). `fields` is None
    when the user cannot be in a roster at all (its name or extension does
    not fit); `secrets`: what the PBX answered, as a --secrets file entry
    ({password, ..., phones: {mac: {door_password1}}}); `unanswered`: the
    secrets the roster generates, as paths ("password", "phones[mac].password")."""

    name: str
    fields: dict | None
    secrets: dict = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


class Target(ABC):
    """A PBX tenant as a sync sees it. Methods may be called from several
    threads at once (apply runs users in parallel)."""

    label: str = ""  # where: shown in a plan and part of its fingerprint
    roster_version: str = ""  # the roster's pbx_version for this target (adoption); "" cannot adopt
    replace_keys: tuple[str, ...] = ()  # phone fields the target cannot change in place: a new value replaces it
    separate: Collection[str] = ()  # user fields changed through their own call (set_field), never in an update

    # ---- reading -----------------------------------------------------------------

    @abstractmethod
    def open(self) -> None:
        """Sign in; before any other call."""

    def close(self) -> None:  # noqa: B027 - a target without connections has nothing to let go
        """Let go of what the target holds open (connections); after the last call."""

    @abstractmethod
    def list_users(self) -> list[dict]:
        """Every user as listed: [{"id", "name", ...}] (one listing, no details)."""

    @abstractmethod
    def read_users(self, parallel: int) -> dict[str, dict]:
        """Every user by name with its detail and phones (the shape above);
        a user without a name, or a name listed twice, is a PbxError."""

    def each_user(self, parallel: int) -> Iterator[tuple[int, str, dict]]:
        """The users of read_users one at a time, in name order, each with its
        place in the listing. A target that reads a user at a time gives each
        as it is read, so that a plan holds one user's answers, not the
        tenant's; this default reads them all first. A generator: the plan
        closes it when it stops early, which must stop the reads ahead."""
        yield from in_name_order(self.read_users(parallel))

    @property
    @abstractmethod
    def requests(self) -> int:
        """Requests made so far, for the summary."""

    # ---- shapes ------------------------------------------------------------------

    @abstractmethod
    def user_body(self, fields: dict) -> dict:
        """A roster user's fields in the target's shape (its phones go separately)."""

    @abstractmethod
    def phone_body(self, phone: dict) -> dict:
        """A roster phone in the target's shape."""

    @abstractmethod
    def updatable(self, kind: str) -> frozenset[str]:
        """The fields of a "user" or "phone" the target changes in place."""

    def replace_reason(self, detail: dict, fields: dict) -> str:
        """Why this user cannot be updated in place but must be deleted and made
        again, or "". The default: a new extension number."""
        if str(detail.get("extension_number")) != str(fields.get("extension_number", "")):
            return "the PBX cannot change an extension number: the user is deleted and made again"
        return ""

    def notes(self, wanted: dict[str, dict]) -> list[str]:
        """What a plan says once about how the target is sent the roster."""
        return []

    @abstractmethod
    def refusals(self, users: list[Any]) -> list[Any]:
        """What the roster's resolved users say that this PBX's API cannot
        express: problems located at the roster (api-unsupported), checked
        before any request."""

    def roster_fields(self, detail: dict, phones: list[dict]) -> Adopted:
        """Adoption: one user as read_users gave it, back to roster fields,
        its secrets apart (never in the fields), what could not be taken said
        in notes. Everything read is hostile: a value the roster cannot take is
        left out and said, never passed through."""
        raise NotImplementedError(f"{type(self).__name__} cannot adopt a tenant")

    # ---- changes -----------------------------------------------------------------

    @abstractmethod
    def create_user(self, name: str, body: dict) -> str:
        """Make the user from a user_body; its id."""

    @abstractmethod
    def update_user(self, name: str, user_id: str, body: dict) -> None:
        """Change in place what `body` (part of a user_body) holds."""

    @abstractmethod
    def set_field(self, name: str, user_id: str, key: str, value: Any) -> None:
        """Change one of `separate` (a password, a role) through its own call."""

    @abstractmethod
    def delete_user(self, name: str, user_id: str) -> None: ...

    @abstractmethod
    def create_phone(self, name: str, user_id: str, body: dict) -> None: ...

    @abstractmethod
    def update_phone(self, name: str, user_id: str, phone_id: str, body: dict) -> None: ...

    @abstractmethod
    def delete_phone(self, name: str, user_id: str, phone_id: str) -> None: ...

    def sleep(self, seconds: float) -> None:
        """Wait before trying again (a target in memory need not)."""
        return None

    # ---- what a delete loses -------------------------------------------------------

    def read_groups(self, doomed: list[Any], replacing: bool, parallel: int) -> Groups | None:
        """What holds extensions or users besides users; read only when a plan
        deletes or replaces (`doomed`: those entries; `replacing`: a replace among
        them). None: the target has nothing such."""
        return None

    def read_losses(self, doomed: list[Any], actual: dict[str, dict], groups: Groups | None,
                    parallel: int) -> None:
        """Set `loses` on each entry of `doomed`: what deleting the user drops, as
        far as the target shows it (a read it refuses is said, not fatal). The
        default: nothing is known, nothing set."""
        return None
