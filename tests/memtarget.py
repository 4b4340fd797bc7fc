"""A PBX in memory behind the Target interface: the seam's second
implementation, with no HTTP at all. It checks what a real PBX would: a name
unique in any case, an extension and a phone MAC unique, a BLF or forward
number naming an extension it has, and no field it does not know (a body
apply failed to shape). Its own shape differs from PortSIP's on purpose: it
knows fewer fields, replaces a phone only for a new MAC or model, and
changes password and role through their own call."""

from __future__ import annotations

import threading
from typing import Any

from generator.model import mac_key
from generator.pbx.base import Groups, PbxError, Target

USER_FIELDS = frozenset({"name", "extension_number", "display_name", "email", "role", "password",
                         "extension_password", "voicemail_pin", "blfs", "enable_dnd",
                         "offline_office_hours_forward_rule"})
PHONE_FIELDS = frozenset({"mac", "vendor", "model", "filename", "password", "timezone"})
SECRETS = frozenset({"password", "extension_password", "voicemail_pin"})


class MemTarget(Target):
    label = "memory://tenant"
    replace_keys = ("mac", "model")
    separate = ("password", "role")

    def __init__(self) -> None:
        self.users: dict[str, dict] = {}  # id -> {"fields": {...}, "phones": {phone id: {...}}}
        self.groups: dict[str, str] = {}  # a call queue's extension -> its words, as the PBX's groups
        self.count = 0
        self.calls: list[tuple[str, str]] = []  # (what, user name) of every change, in order
        self.opened = False
        self._lock = threading.Lock()
        self._next = 0

    # ---- what the tests set up ---------------------------------------------------

    def add(self, name: str, extension: str, macs: tuple[str, ...] = (), **fields: Any) -> str:
        user_id = self._id()
        self.users[user_id] = {"fields": {"name": name, "extension_number": extension, **fields},
                               "phones": {self._id(): {"mac": mac, "model": "T31", "vendor": "Yealink"}
                                          for mac in macs}}
        return user_id

    def by_name(self, name: str) -> dict:
        return next(u for u in self.users.values() if u["fields"]["name"] == name)

    def _id(self) -> str:
        self._next += 1
        return f"m{self._next}"

    # ---- the interface -------------------------------------------------------------

    @property
    def requests(self) -> int:
        return self.count

    def open(self) -> None:
        self.opened = True

    def list_users(self) -> list[dict]:
        return [{"id": user_id, "name": u["fields"]["name"]} for user_id, u in self.users.items()]

    def read_users(self, parallel: int) -> dict[str, dict]:
        assert self.opened, "read before open"
        with self._lock:
            self.count += 1
            return {u["fields"]["name"]: {"id": user_id,
                                          "detail": {k: v for k, v in u["fields"].items() if k not in SECRETS},
                                          "phones": [{"id": pid, **{k: v for k, v in p.items() if k not in SECRETS}}
                                                     for pid, p in u["phones"].items()]}
                    for user_id, u in self.users.items()}

    def user_body(self, fields: dict) -> dict:
        return {k: v for k, v in fields.items() if k in USER_FIELDS}

    def phone_body(self, phone: dict) -> dict:
        return {k: v for k, v in phone.items() if k in PHONE_FIELDS}

    def updatable(self, kind: str) -> frozenset[str]:
        if kind == "user":
            return USER_FIELDS - {"name", "extension_number", *self.separate}
        return PHONE_FIELDS - set(self.replace_keys)

    def refusals(self, users: list[Any]) -> list[Any]:
        # its API has no custom forward rules: a roster that sets them is refused, located, before any request
        return [user.problem(("custom_forward_rules",), "api-unsupported", "this PBX has no custom forward rules")
                for user in users if user.fields.get("custom_forward_rules")]

    def create_user(self, name: str, body: dict) -> str:
        with self._lock:
            self._known(body, USER_FIELDS)
            if body.get("name") != name:
                raise PbxError(422, "the body's name is not the user's", "/users")
            self._unique(name, str(body.get("extension_number")))
            self._references(body)
            user_id = self._id()
            self.users[user_id] = {"fields": dict(body), "phones": {}}
            self._done("create", name)
            return user_id

    def update_user(self, name: str, user_id: str, body: dict) -> None:
        with self._lock:
            user = self._user(user_id)
            self._known(body, self.updatable("user"))
            self._references(body)
            user["fields"].update(body)
            self._done("update", name)

    def set_field(self, name: str, user_id: str, key: str, value: Any) -> None:
        with self._lock:
            if key not in self.separate:
                raise PbxError(400, f"no call sets {key}", "/users")
            self._user(user_id)["fields"][key] = value
            self._done(f"set {key}", name)

    def delete_user(self, name: str, user_id: str) -> None:
        with self._lock:
            self._user(user_id)
            del self.users[user_id]
            self._done("delete", name)

    def create_phone(self, name: str, user_id: str, body: dict) -> None:
        with self._lock:
            user = self._user(user_id)
            self._known(body, PHONE_FIELDS)
            mac = mac_key(str(body.get("mac", "")))
            if any(mac_key(p["mac"]) == mac for u in self.users.values() for p in u["phones"].values()):
                raise PbxError(409, f"MAC {mac} is taken", "/phones")
            user["phones"][self._id()] = dict(body)
            self._done("create phone", name)

    def update_phone(self, name: str, user_id: str, phone_id: str, body: dict) -> None:
        with self._lock:
            phone = self._phone(user_id, phone_id)
            self._known(body, self.updatable("phone"))
            phone.update(body)
            self._done("update phone", name)

    def delete_phone(self, name: str, user_id: str, phone_id: str) -> None:
        with self._lock:
            self._phone(user_id, phone_id)
            del self._user(user_id)["phones"][phone_id]
            self._done("delete phone", name)

    def read_groups(self, doomed: list[Any], replacing: bool, parallel: int) -> Groups | None:
        return Groups(extensions=dict(self.groups))

    def read_losses(self, doomed: list[Any], actual: dict[str, dict], groups: Groups | None, parallel: int) -> None:
        for user in doomed:
            user.loses = [f"{len(actual[user.name]['phones'])} phones"]

    # ---- what a real PBX checks ----------------------------------------------------

    def _done(self, what: str, name: str) -> None:
        self.count += 1
        self.calls.append((what, name))

    def _user(self, user_id: Any) -> dict:
        if not isinstance(user_id, str) or user_id not in self.users:
            raise PbxError(404, f"no user {user_id!r}", "/users")
        return self.users[user_id]

    def _phone(self, user_id: Any, phone_id: Any) -> dict:
        phones = self._user(user_id)["phones"]
        if not isinstance(phone_id, str) or phone_id not in phones:
            raise PbxError(404, f"no phone {phone_id!r}", "/phones")
        return phones[phone_id]

    @staticmethod
    def _known(body: dict, known: frozenset[str]) -> None:
        unknown = sorted(set(body) - known)
        if unknown:
            raise PbxError(400, f"unknown field {unknown[0]}", "/users")

    def _unique(self, name: str, extension: str) -> None:
        for user in self.users.values():
            if str(user["fields"]["name"]).casefold() == name.casefold():
                raise PbxError(409, f"the name {name} is taken", "/users")
            if str(user["fields"].get("extension_number")) == extension:
                raise PbxError(409, f"extension {extension} is taken", "/users")
        if extension in self.groups:
            raise PbxError(409, f"extension {extension} is a group's", "/users")

    def _references(self, body: dict) -> None:
        have = {str(u["fields"].get("extension_number")) for u in self.users.values()}
        have.add(str(body.get("extension_number")))
        rules = [v for k, v in body.items() if k.endswith("_forward_rule") and isinstance(v, dict)]
        named = [str(b.get("value")) for b in body.get("blfs") or []] + [str(r["number"]) for r in rules
                                                                           if r.get("number")]
        missing = [number for number in named if number not in have]
        if missing:
            raise PbxError(422, f"no extension {missing[0]}", "/users")
