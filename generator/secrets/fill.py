"""Stage 3b, fill: every secret source replaced by its value.

Users come in and new users go out: a user whose secrets are filled gets a
new fields mapping (and new phone mappings where a phone's secret is
filled), since the values it merged are shared with the layers and with
other users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from generator.model import PHONE_SECRETS, USER_SECRETS, Problem, ResolvedUser, SecretRef, mac_key
from generator.policy import Policy
from generator.progress import Progress
from generator.secrets.derive import derive
from generator.secrets.sources import SecretSources, master_key


def secret_paths(fields: dict) -> Iterator[tuple[tuple, str]]:
    """(path, kind) for every secret field a user has."""
    for key, kind in USER_SECRETS.items():
        if key in fields:
            yield (key,), kind
    for i, phone in enumerate(fields.get("phones") or []):
        for key, kind in PHONE_SECRETS.items():
            if isinstance(phone, dict) and key in phone:
                yield ("phones", i, key), kind


def secret_at(fields: dict, path: tuple):
    return fields[path[0]] if len(path) == 1 else fields["phones"][path[1]][path[2]]


def _derivation_field(path: tuple, fields: dict) -> str | None:
    """A phone's secrets are tied to its MAC, so reordering phones changes nothing."""
    if path[0] != "phones":
        return path[0]
    mac = fields["phones"][path[1]].get("mac")
    return f"phones[{mac_key(mac)}].{path[2]}" if isinstance(mac, str) else None


def _from_file(given: SecretSources, user: str, path: tuple, fields: dict) -> str | None:
    entry = given.file.entries.get(user, {})
    if path[0] != "phones":
        return entry.get(path[0])
    mac = fields["phones"][path[1]].get("mac")
    return entry.get("phones", {}).get(mac_key(mac), {}).get(path[2]) if isinstance(mac, str) else None


@dataclass(frozen=True)
class Wanted:
    """One secret to read: whose, where, of what kind, and what the run has."""

    ref: SecretRef
    user: ResolvedUser
    path: tuple
    kind: str  # password, pin, phone or door (model.USER_SECRETS, PHONE_SECRETS)
    given: SecretSources
    policy: Policy
    key: bytes | None


def _from_env(wanted: Wanted) -> tuple[str | None, str]:
    value = wanted.given.environ.get(wanted.ref.name)
    return (value, "") if value else (None, f"environment variable {wanted.ref.name} is not set")


def _from_secrets_file(wanted: Wanted) -> tuple[str | None, str]:
    given = wanted.given
    if given.file is None:
        return None, "it comes from the secrets file, but no --secrets FILE was given"
    if not given.file.readable:
        return None, f"the secrets file {given.file.name} could not be read (its problem is shown above)"
    value = _from_file(given, wanted.user.name, wanted.path, wanted.user.fields)
    return (value, "") if value else (None, f"the secrets file {given.file.name} has no entry for it")


def _generated(wanted: Wanted) -> tuple[str | None, str]:
    if wanted.key is None:
        return None, (f"it is generated, but there is no master key: set the {wanted.given.key_origin} or "
                      "pass --key-file")
    user = wanted.user
    field = _derivation_field(wanted.path, user.fields)
    if field is None:
        return None, "it is generated from the phone's MAC address, which is missing"
    rotate = user.fields.get("rotate", 0)
    return derive(wanted.key, user.name, field, rotate, wanted.kind, wanted.policy, user.fields), ""


# How each kind of source (model.SOURCE_KINDS) is read: the secret, or None and
# why not (a reason that never depends on a secret's value).
READERS: Mapping[str, Callable[[Wanted], tuple[str | None, str]]] = MappingProxyType({
    "generate": _generated,
    "env": _from_env,
    "secrets_file": _from_secrets_file,
})


def _value(ref: SecretRef, user: ResolvedUser, path: tuple, kind: str, given: SecretSources, policy: Policy,
           key: bytes | None) -> tuple[str | None, str]:
    return READERS[ref.kind](Wanted(ref, user, path, kind, given, policy, key))


STAND_IN = "<not at hand: "  # how every stand-in starts (commands.tables tells them by it)


def stand_in(ref: SecretRef, user: ResolvedUser, path: tuple) -> str:
    """What a secret that cannot be had is compared as, where only changes
    matter (diff, a redacted copy): a new source, rotation, or (for a phone's
    generated secret) MAC address still shows as a change."""
    if not ref.source_kind.made_here:
        return f"{STAND_IN}{ref}>"
    derived = _derivation_field(path, user.fields)
    return f"{STAND_IN}{ref}, {derived}, rotate {user.fields.get('rotate', 0)}>"


def _with_values(fields: dict, values: dict[tuple, str]) -> dict:
    """A copy of `fields` with the secrets at `values`' paths set; only what changes is copied."""
    out = dict(fields)
    phones = None
    for path, value in values.items():
        if len(path) == 1:
            out[path[0]] = value
            continue
        if phones is None:
            phones = list(out["phones"])
        index = path[1]
        if phones[index] is fields["phones"][index]:
            phones[index] = dict(phones[index])
        phones[index][path[2]] = value
    if phones is not None:
        out["phones"] = phones
    return out


def _sources_of(user: ResolvedUser) -> list[tuple[tuple, str, SecretRef]]:
    """(path, kind, source) of each secret of `user` still given by its source."""
    return [(path, kind, ref) for path, kind in secret_paths(user.fields)
            if isinstance(ref := secret_at(user.fields, path), SecretRef)]


def fill(users: list[ResolvedUser], given: SecretSources, policy: Policy, lenient: bool = False,
         progress: Progress | None = None) -> tuple[list[ResolvedUser], list[Problem]]:
    """Every user with each source replaced by its value. A value that cannot
    be had is a problem naming the user and field, located where the source is
    written. `lenient`: such a secret gets a stand-in instead, never checked or
    shown, and one warning per cause.

    `users` is emptied as it goes: each user is let go once its filled copy
    is made, so that a large roster is not held twice at once."""
    total, generates = 0, False
    for user in users:
        for _, _, ref in _sources_of(user):
            total += 1
            generates = generates or ref.source_kind.made_here
    key = master_key(given) if generates else None
    done = 0
    by_cause: dict[tuple[str, str], list] = {}  # one problem per cause, with how many values it affects
    out = []
    alike: dict[tuple, Mapping] = {}  # users with the same sources (most of a roster) share one mapping
    users.reverse()
    while users:
        user = users.pop()
        paths = _sources_of(user)
        if not paths:
            out.append(user)
            continue
        values, sources, stand_ins = {}, dict(user.secret_sources), set(user.stand_ins)
        for path, kind, ref in paths:
            if progress:
                progress.tick("making secrets", done, total)
            done += 1
            sources[path] = ref
            refused = given.env_refusal(ref.name) if ref.source_kind.reads_env else None
            if refused:  # an error even when lenient: the roster asks for what it may not have
                values[path] = stand_in(ref, user, path)
                stand_ins.add(path)
                by_cause.setdefault(("error", refused), [user.problem(path, "secret-refused", refused), 0])[1] += 1
                continue
            value, why = _value(ref, user, path, kind, given, policy, key)
            if value is not None:
                values[path] = value
            elif lenient:
                values[path] = stand_in(ref, user, path)
                stand_ins.add(path)
                by_cause.setdefault(("warning", why), [user.problem(path, "secret-unchecked", f"not checked: {why}",
                                                                    level="warning"), 0])[1] += 1
            else:
                by_cause.setdefault(("error", why), [user.problem(path, "secret-missing", why), 0])[1] += 1
        # Built directly: dataclasses.replace costs several times more, once per user.
        shared = alike.setdefault(tuple(sources.items()), MappingProxyType(sources))
        out.append(ResolvedUser(user.index, user.name, _with_values(user.fields, values), user.layers,
                                user.phone_layers, user.computed, shared,
                                frozenset(stand_ins) if stand_ins else user.stand_ins))
    return out, [_and_more(first, count) for first, count in by_cause.values()]


def _and_more(problem: Problem, count: int) -> Problem:
    """The first place a cause was met, standing for all of them."""
    if count == 1:
        return problem
    return replace(problem, message=f"{problem.message} ({count:,} secrets in all, the first shown here)")
