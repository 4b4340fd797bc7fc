"""What `apply` would do: the roster's users against the PBX's, compared
field by field (inside JSON values too), as the one plan of compare/plan.py
in a sync's words; it prints through compare/formats.py and can be saved for
`apply --plan`.

A plan never reads a secret back from the PBX: a secret is "set" when its
user or phone is made, and "change" only where the roster says so (a new
source, rotation or MAC since --base).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from generator.check import targets_of
from generator.compare.changes import Change, Entry, PhoneEntry, field_changes
from generator.compare.plan import DEFAULT_LIMITS, Plan, Words
from generator.model import SECRET_ORDER, ResolvedUser, counted, dotted, first_of, mac_key, owner, printable
from generator.pbx.base import Target, in_name_order

# A plan's entries are the comparison core's (a saved plan's JSON keeps their fields and order).
PhonePlan, UserPlan = PhoneEntry, Entry


# A sync's words: users in plan order, counted by what apply does to each.
SYNC = Words("PortSIP apply plan")


class StateDigest:
    """The SHA-256 of json.dumps(actual, sort_keys=True, default=str), fed a
    user at a time in name order: the same digest without the whole tenant's
    JSON (tens of MB at 5,000 users), or the tenant itself, held at once."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256(b"{")
        self._last: str | None = None

    def add(self, name: str, user: dict) -> None:
        if self._last is not None and not name > self._last:  # a Target's each_user breaking its word
            raise ValueError(f"the PBX's users came out of name order ({self._last!r}, then {name!r})")
        one = json.dumps(user, sort_keys=True, default=str)
        self._digest.update(f"{'' if self._last is None else ', '}{json.dumps(name)}: {one}".encode())
        self._last = name

    def hexdigest(self) -> str:
        whole = self._digest.copy()
        whole.update(b"}")
        return whole.hexdigest()


def state_digest(actual: dict[str, dict]) -> str:
    """The digest of the PBX's users as read (StateDigest), from all of them at once."""
    digest = StateDigest()
    for name in sorted(actual):
        digest.add(name, actual[name])
    return digest.hexdigest()


@dataclass
class PbxIndex:
    """What a plan keeps of the PBX's users once each is compared, its detail
    and phones dropped: who holds which name (in any case), extension and
    MAC, the first listed where several do (the conflict checks, the
    targets a forward or BLF may name); and the whole of each user the plan
    deletes or replaces (what deleting it loses is read for those)."""

    places: dict[str, int] = field(default_factory=dict)  # name -> its place in the PBX's listing
    lower: dict[str, str | list[str]] = field(default_factory=dict)  # lower case -> the name, or names
    extensions: dict[str, str] = field(default_factory=dict)  # str(extension) -> name
    macs: dict[str, str] = field(default_factory=dict)  # mac_key -> name
    no_extension: bool = False  # some user has none (a target "None" is then on the PBX, as str(None) was)
    doomed: dict[str, dict] = field(default_factory=dict)  # name -> {id, detail, phones} as read

    @property
    def count(self) -> int:
        return len(self.places)

    def add(self, place: int, name: str, user: dict) -> None:
        """One user as read, at its place in the PBX's listing."""
        self.places[name] = place
        low = name.lower()
        low = name if low == name else low  # most names are lower case already: the same text, held once
        have = self.lower.get(low)
        if have is None:
            self.lower[low] = name
        elif isinstance(have, list):  # appended in place: a PBX sending many cases of one name costs no copies
            have.append(name)
        else:
            self.lower[low] = [have, name]
        extension = user["detail"].get("extension_number")
        if extension is None:
            self.no_extension = True
        else:
            self._first(self.extensions, str(extension), name)
        for phone in user["phones"]:
            self._first(self.macs, mac_key(str(phone.get("mac", ""))), name)

    def _first(self, index: dict[str, str], key: str, name: str) -> None:
        """Who holds `key`: the first listed, whatever order the users were read in."""
        if key not in index or self.places[name] < self.places[index[key]]:
            index[key] = name

    def has(self, name: str) -> bool:
        return name in self.places

    def same_name(self, name: str) -> list[str]:
        """The PBX's users whose name is `name` in any case, in listing order."""
        have = self.lower.get(name.lower())
        if have is None:
            return []
        return sorted(have if isinstance(have, list) else [have], key=self.places.__getitem__)

    def extension_holder(self, extension: str) -> str | None:
        return self.extensions.get(extension)

    def mac_holder(self, mac: str) -> str | None:
        return self.macs.get(mac)

    def all_extensions(self) -> set[str]:
        return set(self.extensions) | ({"None"} if self.no_extension else set())


def _secret_changes(prefix: tuple, fields: dict, changed: set[tuple]) -> list[Change]:
    return [Change(dotted((*prefix, key)), secret=True, new="change") for key in SECRET_ORDER
            if key in fields and (*prefix, key) in changed]


def _differs(key: str, wanted: object, actual: object) -> bool:
    """A MAC is the same however it is written (80:5E:C0:.. is 80:5e:c0:..)."""
    if key == "mac":
        return mac_key(str(wanted)) != mac_key(str(actual))
    return str(wanted) != str(actual)


def _phone_plans(target: Target, wanted: list[dict] | None, actual: list[dict], changed: set[tuple],
                 prune: bool = False) -> list[PhonePlan]:
    """The phones of a user on the PBX against the roster's. `wanted` None:
    the roster gives the user no `phones:` key, so it does not manage them and
    none is touched. A phone the list lacks is deleted only with `prune`."""
    if wanted is None:
        return []
    have = {mac_key(str(p.get("mac", ""))): p for p in actual}
    plans = []
    for phone in wanted:
        mac = mac_key(str(phone.get("mac", "")))
        current = have.pop(mac, None)
        body = target.phone_body(phone)
        made = _new_phone(phone)
        if current is None:
            plans.append(made)
            continue
        secrets = made.changes
        moved = [k for k in target.replace_keys if k in body and _differs(k, body[k], current.get(k))]
        if moved:
            changes = [Change(f"phones[{mac}].{k}", current.get(k), body[k]) for k in moved]
            plans.append(PhonePlan("replace", mac, changes + secrets, current.get("id")))
            continue
        changes = [c for key in sorted(target.updatable("phone") & body.keys())
                   for c in field_changes(key, current.get(key), body[key])]
        changes = [Change(f"phones[{mac}].{c.field}", c.old, c.new) for c in changes]
        changes += _secret_changes((f"phones[{mac}]",), phone, changed)
        if changes:
            plans.append(PhonePlan("update", mac, changes, current.get("id")))
    if prune:
        plans += [PhonePlan("delete", mac, [], p.get("id")) for mac, p in have.items()]
    return plans


def _new_phone(phone: dict) -> PhonePlan:
    """A phone apply makes: its password said as set, as for any user."""
    mac = mac_key(str(phone.get("mac", "")))
    return PhonePlan("create", mac, [Change(f"phones[{mac}].password", secret=True, new="set")]
                     if phone.get("password") else [])


def managed_phones(fields: dict) -> list[dict] | None:
    """The phones a roster user lists, or None when it has no `phones:` key
    (see roster_fields): the roster then leaves that user's phones alone."""
    if "phones" not in fields:
        return None
    return [p for p in fields.get("phones") or [] if isinstance(p, dict)]


def roster_fields(user: ResolvedUser) -> dict:
    """A roster user's fields as a sync compares them: without `phones` when
    only the built-in default (an empty list) gives it, so that a user
    written without `phones:` keeps the phones it has on the PBX; `phones: []`
    (in the user, a profile or `defaults`) is a list like any other."""
    if owner(user.layers[1:], ("phones",)) is None:  # layers[0] is the built-in defaults (resolve.py)
        return {k: v for k, v in user.fields.items() if k != "phones"}
    return user.fields


def kept_phones(fields: dict, actual: dict | None, found: UserPlan | None, prune: bool,
                name: str) -> tuple[Counter, list[str]]:
    """The PBX phones of one roster user that apply leaves alone although the
    roster does not list them: "unmanaged" (the user has no `phones:` key)
    or "unlisted" (its list lacks them; without --prune), and the unlisted
    ones named ("ann (0c:38:3e:00:00:09)"): a phone dropped from a list is
    most likely one meant to go. A replace's phones are not counted: its
    `loses:` names those the remake drops."""
    if actual is None or (found is not None and found.kind == "replace"):
        return Counter(), []
    listed = managed_phones(fields)
    if listed is None:
        return Counter(unmanaged=len(actual["phones"])), []
    if prune:
        return Counter(), []
    macs = {mac_key(str(p.get("mac", ""))) for p in listed}
    left = [mac for mac in (mac_key(str(p.get("mac", ""))) for p in actual["phones"]) if mac not in macs]
    return Counter(unlisted=len(left)), [f"{name} ({mac[:40]})" for mac in left]


SHOWN_PHONES = 10  # unlisted phones named in the note; the rest counted


def phone_notes(kept: Counter, unlisted: list[str] = ()) -> list[str]:
    """Said once: how many phones on the PBX the roster does not list and
    apply leaves alone (the unlisted ones named), and what would delete them."""
    notes = []
    if kept["unlisted"]:
        notes.append(f"{counted(kept['unlisted'], 'phone')} on the PBX not in their user's `phones:` list: left "
                     f"alone (--prune deletes them): {first_of(sorted(unlisted), SHOWN_PHONES)}")
    if kept["unmanaged"]:
        notes.append(f"{counted(kept['unmanaged'], 'phone')} on the PBX of users with no `phones:` key: left alone, "
                     f"the roster does not manage them (`phones: []` with --prune deletes them)")
    return notes


def held_reason(found: UserPlan, replace: Collection[str] | bool) -> str:
    """Why apply holds back this user, and the flag to pass: a replace (of
    the user, or of one of its phones) that `replace` does not let it do."""
    if replace is True or (replace and found.name in replace):
        return ""
    flag = f"pass --replace {found.name} (or --allow-replace) to let apply do it"
    if found.kind == "replace":
        return f"a replace deletes the user and what the roster does not hold; {flag}"
    moved = [p for p in found.phones if p.kind == "replace"]
    if not moved:
        return ""
    keys = sorted({c.field.rsplit(".", 1)[-1] for p in moved for c in p.changes if not c.secret})
    phones, them, their = ("phone", "it", "its") if len(moved) == 1 else ("phones", "them", "their")
    return (f"a phone replace deletes {phones} {_and([p.mac for p in moved])} and makes {them} again ({their} "
            f"{_and(keys)} cannot be changed in place); nothing of this user is sent until then; {flag}")


def _and(words: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return " and ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


def user_plan(target: Target, name: str, fields: dict, actual: dict | None, changed: set[tuple],
              prune: bool = False) -> UserPlan | None:
    """What to do for one roster user; None when the PBX has it as the roster
    says. `prune`: delete the phones its `phones:` list lacks."""
    body = target.user_body(fields)
    extension = str(fields.get("extension_number", ""))
    phones = managed_phones(fields)
    if actual is None:
        secrets = [Change(k, secret=True, new="set") for k in SECRET_ORDER if body.get(k)]
        return UserPlan("create", name, extension, secrets, [_new_phone(p) for p in phones or []])
    detail, actual_phones = actual["detail"], actual["phones"]
    reason = target.replace_reason(detail, fields)
    if reason:
        return UserPlan("replace", name, extension,
                        [Change("extension_number", detail.get("extension_number"), extension)],
                        [_new_phone(p) for p in phones or []], actual["id"],
                        reason)
    keys = sorted((target.updatable("user") | set(target.separate)) & body.keys())
    changes = [c for key in keys for c in field_changes(key, detail.get(key), body[key])]
    changes += _secret_changes((), fields, changed)
    phone_plans = _phone_plans(target, phones, actual_phones, changed, prune)
    if not changes and not phone_plans:
        return None
    return UserPlan("update", name, extension, changes, phone_plans, actual["id"])


def make_plan(target: Target, wanted: dict[str, dict], actual: dict[str, dict], changed: set[tuple],
              prune: bool, replace: Collection[str] | bool = False, percent: dict[str, int] | None = None) -> Plan:
    """compare_users() of the PBX's users read whole (`actual`: Target.read_users)."""
    return compare_users(target, wanted, in_name_order(actual), changed, prune, replace, percent)[0]


def compare_users(target: Target, wanted: dict[str, dict], actual: Iterable[tuple[int, str, dict]],
                  changed: set[tuple], prune: bool, replace: Collection[str] | bool = False,
                  percent: dict[str, int] | None = None) -> tuple[Plan, PbxIndex]:
    """The plan, and what it keeps of the PBX for the checks after it.
    `target`: the PBX, for its shapes and label; `wanted`: roster users'
    fields by name; `actual`: the PBX's users one at a time, in name order,
    each with its place in the listing ((place, name, {id, detail, phones}):
    Target.each_user), each compared as it comes and then dropped but for
    what PbxIndex keeps; `changed`: (user, path) of secrets the roster
    changed since --base; `prune`: delete PBX users the roster does not
    name, and phones a user's `phones:` list lacks; `replace`: the users a
    replace may delete and make again, or whose phones it may (True: all;
    the rest are held back); `percent`: the thresholds.
    Users are planned in roster order, then deletes in name order."""
    index, digest = PbxIndex(), StateDigest()
    kept: Counter = Counter()  # phones left alone, for one note
    unlisted: list[str] = []  # those a user's list lacks, named in it
    found: dict[str, UserPlan | None] = {}
    deletes, left_alone = [], []
    for place, name, user in actual:
        digest.add(name, user)
        index.add(place, name, user)
        if name in wanted:
            found[name] = user_plan(target, name, wanted[name], user, _mine(changed, name), prune)
            counts, named = kept_phones(wanted[name], user, found[name], prune, name)
            kept += counts
            unlisted += named
            if found[name] is not None and found[name].kind == "replace":
                index.doomed[name] = user
        elif prune:
            deletes.append(UserPlan("delete", name, str(user["detail"].get("extension_number", "")), id=user["id"]))
            index.doomed[name] = user
        else:
            left_alone.append(name)
    plan = Plan(SYNC, pbx=target.label, state=digest.hexdigest(), existing=index.count,
                percent={**DEFAULT_LIMITS, **(percent or {})})
    for name, fields in wanted.items():
        entry = found[name] if name in found else user_plan(target, name, fields, None, _mine(changed, name), prune)
        if entry is not None:
            entry.held = held_reason(entry, replace)
            plan.users.append(entry)
    plan.notes += phone_notes(kept, unlisted)
    hold_waiting(plan, wanted)
    plan.users += deletes
    plan.left_alone += left_alone
    return plan, index


def _mine(changed: set[tuple], name: str) -> set[tuple]:
    return {path[1:] for path in changed if path[0] == name}


def hold_waiting(plan: Plan, wanted: dict[str, dict]) -> None:
    """Hold back every user whose forward or BLF names the new extension of
    a held-back replace: only that replace makes the extension, and the PBX
    refuses a target that is no extension. Again for those the holding
    keeps from being made, until none is left."""
    waiting = {u.extension: u.name for u in plan.users if u.held and u.kind == "replace"}
    while waiting:
        found = {}
        for entry in plan.users:
            if entry.held or entry.kind == "delete":
                continue
            named = sorted({number for _, number in targets_of(wanted.get(entry.name) or {})} & waiting.keys())
            if named:
                owner = waiting[named[0]]
                entry.held = (f"waits for {owner}'s replace, which makes extension {named[0]} it names; pass "
                              f"--replace {owner} (or --allow-replace) to let apply do both")
                if entry.kind in ("create", "replace"):
                    found[entry.extension] = owner
        waiting = found


@dataclass(frozen=True)
class Conflict:
    """A create or replace the PBX would refuse: what it asks for is another
    PBX user's already. `path` is into the roster user's fields."""

    user: str
    path: tuple
    message: str


def _holder(name: str, wanted: dict[str, dict], plan: Plan) -> str:
    """Who holds a value on the PBX, and what this plan does to them."""
    kind = next((u.kind for u in plan.users if u.name == name and not u.held), "")
    if name not in wanted:
        doing = "whom this plan deletes only after its creates" if kind == "delete" else "not in the roster, left alone"
    else:
        doing = f"whom this plan {kind}s in parallel" if kind in ("replace", "update") else "in the roster"
    return f"user {_safe(name)} ({doing})"


def conflicts(plan: Plan, wanted: dict[str, dict], actual: PbxIndex,
              others: dict[str, str] | None = None) -> list[Conflict]:
    """Every name (in any case), extension and phone MAC that a create or
    replace of `plan` asks for and another user on the PBX has already, left
    alone users included: the PBX would refuse it, and a replace would have
    deleted the user first. Checked before any write. `actual`: what the
    plan kept of the PBX's users (compare_users). `others`: extensions of what is
    not a user (call queues, ring groups: "call queue Sales (8000)"), read
    only when a plan replaces someone, and checked for them."""
    found = []
    fix = "choose another, or free it on the PBX first (a separate run)"
    for user in plan.users:
        if user.kind in ("create", "replace"):
            for other in actual.same_name(user.name):
                if other != user.name:
                    found.append(Conflict(user.name, ("name",), f"the PBX has {_holder(other, wanted, plan)}, the same "
                                          f"name in another case, and PortSIP compares names in any case: {fix}"))
            holder = actual.extension_holder(user.extension)
            if holder is not None and holder != user.name:
                found.append(Conflict(user.name, ("extension_number",), f"extension {user.extension} is taken on the "
                                      f"PBX by {_holder(holder, wanted, plan)}: {fix}"))
            elif user.kind == "replace" and user.extension in (others or {}):
                found.append(Conflict(user.name, ("extension_number",), f"extension {user.extension} is taken on the "
                                      f"PBX by {_safe(others[user.extension])}: {fix}"))
        macs_wanted = [mac_key(str(p.get("mac", ""))) for p in (wanted.get(user.name) or {}).get("phones") or []
                       if isinstance(p, dict)]
        for phone in user.phones:
            holder = actual.mac_holder(phone.mac)
            if phone.kind == "create" and holder not in (None, user.name) and phone.mac in macs_wanted:
                found.append(Conflict(user.name, ("phones", macs_wanted.index(phone.mac), "mac"),
                                      f"MAC {phone.mac} is on a phone of {_holder(holder, wanted, plan)} on the PBX: "
                                      f"{fix}"))
    return found


def _safe(text: object) -> str:
    """A name or value as printed: the PBX's answers are input too, and a name
    holding ESC or a bidi override would otherwise drive the terminal (or the
    reader) showing the plan."""
    return printable(text)
