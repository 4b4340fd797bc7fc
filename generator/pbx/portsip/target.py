"""PortSIP v22 as a Target: its paths, its paging, its bodies (api.py) and
what deleting one of its users loses, over the REST client (client.py)."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from generator.model import printable
from generator.pbx.base import Adopted, Groups, PbxError, Target
from generator.pbx.portsip.adopt import adopt
from generator.pbx.portsip.api import (
    BUSY_NOTE,
    PHONE_KEYS,
    SEPARATE,
    busy_mapped,
    phone_body,
    refusals,
    schemas,
    shape,
    updatable,
    user_body,
)
from generator.pbx.portsip.client import Client, checked_id

# What deleting a PortSIP user drops that the API lets us see, read per user
# only for the users a plan deletes or replaces: (path under /users/{id}, words).
LOSS_READS = (("call_queues", "call queue"), ("greetings", "voicemail greeting"), ("holidays", "personal holiday"),
              ("speed_dial_8", "speed dial"), ("speed_dial_100", "speed dial"))
UNSEEN = "voicemail messages and any setting the roster does not hold (the API does not list them)"
MAX_NAMED = 20  # memberships named one by one; a hostile PBX's thousand names are counted instead


def in_order(pool: Executor, work: Callable[[Any], Any], items: Iterable[Any], ahead: int) -> Iterator[Any]:
    """work(item) for each item, run in `pool`, the results given back in
    order, at most `ahead` started beyond the one awaited: pool.map starts
    them all at once (a future for every user of the tenant, and each answer
    held until the consumer takes it)."""
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:  # an error, or the consumer gone: start no more
            future.cancel()


def _membership(kind: str, item: dict) -> str:
    return f"{kind} {str(item.get('name', ''))[:64]} ({str(item.get('extension_number', ''))[:64]})"


def _named(kind: str, items: list[dict]) -> list[str]:
    names = [_membership(f"member of {kind}", item) for item in items[:MAX_NAMED]]
    return names + ([f"member of {len(items) - MAX_NAMED} more {kind}s"] if len(items) > MAX_NAMED else [])


def _counted(words: str, count: int) -> list[str]:
    return [f"{count} {words}{'' if count == 1 else 's'}"] if count else []


def _valid(value: Any) -> str:
    """An id as the PBX gave it, once checked fit for a path: ids cross the
    Target raw, and only a path gets the escaped form (checked_id)."""
    checked_id(value)
    return value


def _check_detail(detail: Any, name: str) -> None:
    """A user's detail as a plan compares it: an object naming the user and
    its extension. Anything else (an empty answer from a proxy, a PBX under
    load) would read as every field changed, the extension too: a replace."""
    if not isinstance(detail, dict) or detail.get("name") != name \
            or not isinstance(detail.get("extension_number"), (str, int)) or isinstance(detail.get("extension_number"),
                                                                                         bool):
        raise PbxError(None, f"the PBX's answer for user {printable(name[:60])!r} is not that user's detail (no name "
                             f"or extension number in it): nothing was changed", "/users")


class PortSip(Target):
    replace_keys = PHONE_KEYS
    separate = tuple(SEPARATE)
    roster_version = "v22"

    def __init__(self, client: Client):
        self.client = client
        self.label = client.base

    @property
    def requests(self) -> int:
        return self.client.requests

    def sleep(self, seconds: float) -> None:
        self.client.sleep(seconds)

    def close(self) -> None:
        self.client.close()

    # ---- reading -----------------------------------------------------------------

    def open(self) -> None:
        self.client.sign_in()

    def list_users(self) -> list[dict]:
        return self.client.users()

    def _listed(self) -> list[dict]:
        """The users as listed. A user listed without a name, or a name listed
        twice, is refused: one of the two would otherwise vanish from the plan
        unseen."""
        listed = self.client.users()
        names = [item.get("name") for item in listed]
        for name in names:
            if not isinstance(name, str) or not name:
                raise PbxError(None, "the PBX listed a user without a name", "/users")
        twice = sorted(name for name, times in Counter(names).items() if times > 1)
        if twice:
            raise PbxError(None, f"the PBX lists the user {printable(twice[0][:60])!r} twice", "/users")
        return listed

    def _read(self, item: dict) -> tuple[str, dict]:
        """One listed user's detail and phones."""
        user_id = checked_id(item.get("id"))  # escaped, for the paths
        detail = self.client.call("GET", f"/users/{user_id}", user=item["name"])
        _check_detail(detail, item["name"])
        phones = self.client.call("GET", f"/users/{user_id}/phones", user=item["name"])
        items = phones.get("items") if isinstance(phones, dict) else None
        if not isinstance(items, list):
            raise PbxError(None, f"the PBX's phones of user {printable(item['name'][:60])!r} are not a list",
                           f"/users/{user_id}/phones")
        return item["name"], {"id": _valid(item.get("id")), "detail": detail,
                              "phones": [p for p in items or [] if isinstance(p, dict)]}

    def read_users(self, parallel: int) -> dict[str, dict]:
        """The PBX's users by name, read in parallel."""
        listed = self._listed()
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            return dict(pool.map(self._read, listed))

    def each_user(self, parallel: int) -> Iterator[tuple[int, str, dict]]:
        """The PBX's users read in parallel and given one at a time, in name
        order: only those in flight or waiting for an earlier one are held."""
        # names are unique (_listed): sorted by name alone; the listing's other fields are not kept
        jobs = sorted((item["name"], place, item.get("id")) for place, item in enumerate(self._listed()))

        def read(job: tuple[str, int, Any]) -> tuple[int, str, dict]:
            return job[1], *self._read({"id": job[2], "name": job[0]})

        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            yield from in_order(pool, read, jobs, 4 * max(1, parallel))

    def _items(self, path: str, user: str | None = None) -> list[dict]:
        answer = self.client.call("GET", path, user=user)
        items = answer.get("items") if isinstance(answer, dict) else None
        return [item for item in items or [] if isinstance(item, dict)] if isinstance(items, list) else []

    def _paged(self, path: str, pages: int = 100) -> list[dict]:
        found: list[dict] = []
        for _ in range(pages):
            items = self._items(f"{path}?top=100&skip={len(found)}")
            found += items
            if len(items) < 100:
                break
        return found

    # ---- shapes ------------------------------------------------------------------

    def user_body(self, fields: dict) -> dict:
        return user_body(fields)

    def phone_body(self, phone: dict) -> dict:
        return phone_body(phone)

    def updatable(self, kind: str) -> frozenset[str]:
        return updatable(kind)

    def replace_reason(self, detail: dict, fields: dict) -> str:
        if str(detail.get("extension_number")) != str(fields.get("extension_number", "")):
            return "the API cannot change an extension number: the user is deleted and made again"
        return ""

    def notes(self, wanted: dict[str, dict]) -> list[str]:
        return [BUSY_NOTE] if any(busy_mapped(fields) for fields in wanted.values()) else []

    def refusals(self, users: list[Any]) -> list[Any]:
        return refusals(users)

    def roster_fields(self, detail: dict, phones: list[dict]) -> Adopted:
        return adopt(detail, phones)

    # ---- changes -----------------------------------------------------------------

    def create_user(self, name: str, body: dict) -> str:
        answer = self.client.call("POST", "/users", body, name)
        return _valid(answer.get("id") if isinstance(answer, dict) else None)

    def update_user(self, name: str, user_id: str, body: dict) -> None:
        self.client.call("POST", f"/users/{checked_id(user_id)}", shape(body, schemas()["update_user"]), name)

    def set_field(self, name: str, user_id: str, key: str, value: Any) -> None:
        field = "role" if key == "role" else "password"
        self.client.call("POST", f"/users/{checked_id(user_id)}/{SEPARATE[key]}", {field: value}, name)

    def delete_user(self, name: str, user_id: str) -> None:
        self.client.call("POST", f"/users/{checked_id(user_id)}/destroy", None, name)

    def create_phone(self, name: str, user_id: str, body: dict) -> None:
        self.client.call("POST", f"/users/{checked_id(user_id)}/phones", body, name)

    def update_phone(self, name: str, user_id: str, phone_id: str, body: dict) -> None:
        self.client.call("POST", f"/users/{checked_id(user_id)}/phones/{checked_id(phone_id)}",
                         shape(body, schemas()["update_phone"]), name)

    def delete_phone(self, name: str, user_id: str, phone_id: str) -> None:
        self.client.call("POST", f"/users/{checked_id(user_id)}/phones/{checked_id(phone_id)}/destroy", None, name)

    # ---- what a delete loses -------------------------------------------------------

    def read_groups(self, doomed: list[Any], replacing: bool, parallel: int) -> Groups | None:
        """The API lists a ring group's members but not a user's ring groups: one
        list and one request per ring group (and one list of call queues, for a
        replace's new extension)."""
        found = Groups()
        if replacing:
            try:
                for queue in self._paged("/call_queues", pages=10):
                    found.extensions.setdefault(str(queue.get("extension_number")), _membership("call queue", queue))
            except PbxError as exc:  # a replace then cannot be checked: plan refuses it (commands/sync.py)
                found.unread = f"call queues not read ({exc.status or 'no answer'}: {exc.message[:80]})"
        try:
            groups = self._paged("/ring_groups", pages=10)  # 1,000 at most: a hostile PBX's endless pages end
            with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
                members = list(pool.map(lambda g: self._items(f"/ring_groups/{checked_id(g.get('id'))}/agents"),
                                        groups))
        except PbxError as exc:
            found.unread = "; ".join(filter(None, (found.unread, f"ring groups not read ({exc.status or 'no answer'}: "
                                                                 f"{exc.message[:80]})")))
            return found
        for group, agents in zip(groups, members):
            found.extensions.setdefault(str(group.get("extension_number")), _membership("ring group", group))
            for agent in agents:
                found.members.setdefault(str(agent.get("extension_number")), []).append(group)
        return found

    def read_losses(self, doomed: list[Any], actual: dict[str, dict], groups: Groups | None,
                    parallel: int) -> None:
        if groups is None:
            return

        def one(user: Any) -> None:
            user_id = checked_id(user.id)
            counts: dict[str, int] = {}
            loses: list[str] = []
            for path, words in LOSS_READS:
                try:
                    items = self._items(f"/users/{user_id}/{path}", user.name)
                except PbxError as exc:
                    loses.append(f"{words}s not read ({exc.status or 'no answer'}: {exc.message[:80]})")
                    continue
                if path == "call_queues":
                    loses += _named("call queue", items)
                else:
                    counts[words] = counts.get(words, 0) + len(items)
            extension = str(actual[user.name]["detail"].get("extension_number"))
            loses += [groups.unread] if groups.unread else _named("ring group", groups.members.get(extension, []))
            for words, count in counts.items():
                loses += _counted(words, count)
            user.loses = [*loses, UNSEEN]

        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            list(pool.map(one, doomed))
