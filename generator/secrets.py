"""Stage 3b, secrets: each password and PIN from where the roster says it comes.

A secret field holds a literal, or a source:

  {generate: true}      derived from the master key with HMAC-SHA256 over the
                        user's name, the field and the user's `rotate` counter;
  {env: NAME}           the value of an environment variable;
  {secrets_file: true}  the user's entry in the file given with --secrets.

A source is a value like any other: it merges by layer (a user's own source
replaces the default's) and is filled in here, after resolve and before check,
so generated and fetched values meet the same policy checks as literals.
No message here or anywhere else quotes a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from generator import progress
from generator.errors import Problem, UsageError
from generator.load import Document, read_yaml
from generator.policy import (
    DOOR_POLICY,
    SPECIALS,
    PasswordPolicy,
    Policy,
    account_words,
    password_faults,
)
from generator.policy import faults as policy_faults

# Field -> kind, which decides how a value is generated and checked.
USER_SECRETS = {"password": "password", "extension_password": "password", "voicemail_pin": "pin"}
PHONE_SECRETS = {"password": "phone", "door_password1": "door", "door_password2": "door"}
SECRET_KEYS = frozenset(USER_SECRETS) | frozenset(PHONE_SECRETS)
MASK = "********"
KEY_ENV = "PORTSIP_ROSTER_KEY"
MIN_KEY_LENGTH = 16
GENERATED_PASSWORD_LENGTH = 16
GENERATED_DOOR_LENGTH = 6
_DERIVATION = b"portsip-roster/1"  # changing this changes every generated secret


@dataclass(frozen=True)
class SecretRef:
    """A secret's source, standing in for its value until this stage."""

    kind: str  # generate, env or secrets_file
    name: str = ""  # the variable, for env

    def __str__(self) -> str:
        if self.kind == "env":
            return f"environment variable {self.name}"
        return "the secrets file" if self.kind == "secrets_file" else "generated from the master key"


def as_ref(value: Any) -> Any:
    """A source mapping as a SecretRef (so that merging replaces it whole); else the value."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (kind, arg), = value.items()
    if kind == "env" and isinstance(arg, str):
        return SecretRef("env", arg)
    if kind in ("generate", "secrets_file") and arg is True:
        return SecretRef(kind)
    return value


# ---- where values come from -------------------------------------------------

@dataclass
class Sources:
    """What this run may read secrets from."""

    environ: Mapping[str, str]
    key_text: str | None  # the master key as given
    key_origin: str  # where the key comes from, for messages
    file: SecretsFile | None = None


@dataclass
class SecretsFile:
    """The --secrets file: user name -> {field: value, phones: {mac: {field: value}}}."""

    name: str
    entries: dict[str, dict]
    document: Document


def sources(document: Document, key_file: Path | None, secrets_file: SecretsFile | None = None,
            environ: Mapping[str, str] | None = None) -> Sources:
    environ = os.environ if environ is None else environ
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the key file {key_file}: {getattr(exc, 'strerror', None) or exc}") from exc
        return Sources(environ, text, f"key file {key_file}", secrets_file)
    name = (document.data.get("secrets") or {}).get("key_env") or KEY_ENV
    return Sources(environ, environ.get(name) or None, f"environment variable {name}", secrets_file)


def _master_key(given: Sources) -> bytes | None:
    if given.key_text is None:
        return None
    if len(given.key_text) < MIN_KEY_LENGTH:
        raise UsageError(f"the master key in the {given.key_origin} is too short: use at least {MIN_KEY_LENGTH} "
                         f"characters, e.g. from `portsip-roster keygen`")
    return given.key_text.encode("utf-8")


def load_secrets_file(path: Path, display: str | None = None) -> tuple[SecretsFile, list[Problem]]:
    document, problems = read_yaml(path, "secrets file", display)
    secrets = SecretsFile(document.file, {}, document)
    if problems:
        return secrets, problems
    data = document.data if document.data is not None else {}
    if not isinstance(data, dict):
        return secrets, [_file_problem(document, (), "must be a mapping of user names to their secrets")]
    for user, entry in data.items():
        fields, entry_problems = _file_entry(document, user, entry)
        secrets.entries[str(user)] = fields
        problems += entry_problems
    return secrets, problems


def _file_entry(document: Document, key: Any, entry: Any) -> tuple[dict, list[Problem]]:
    user = str(key)
    if not isinstance(entry, dict):
        return {}, [_file_problem(document, (key,), "must be a mapping of fields to secrets", user)]
    fields, problems = {}, []
    for name, value in entry.items():
        if name == "phones" and isinstance(value, dict):
            phones = {}
            for mac, phone in value.items():
                shaped = _secret_values(document, (key, name, mac), phone, PHONE_SECRETS, problems, user)
                phones[mac_key(str(mac))] = shaped
            fields["phones"] = phones
        elif name in USER_SECRETS and _is_text(value):
            fields[name] = str(value)
        else:
            problems.append(_file_problem(document, (key, name), _file_hint(name), user))
    return fields, problems


def _secret_values(document, path, value, allowed, problems, user) -> dict:
    if not isinstance(value, dict):
        problems.append(_file_problem(document, path, "must be a mapping such as {password: ...}", user))
        return {}
    out = {}
    for key, secret in value.items():
        if key in allowed and _is_text(secret):
            out[key] = str(secret)
        else:
            problems.append(_file_problem(document, (*path, key), _file_hint(key, allowed), user))
    return out


def _file_hint(key: Any, allowed: Mapping = USER_SECRETS) -> str:
    if key == "phones" and allowed is USER_SECRETS:
        return "must be a mapping of MAC addresses to phone secrets"
    if key in allowed:
        return "must be text"
    names = [*allowed, "phones"] if allowed is USER_SECRETS else list(allowed)
    return f"not a secret field (expected one of: {', '.join(names)})"


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _file_problem(document: Document, path: tuple, message: str, user: str | None = None,
                  warning: bool = False, at_key: bool = False) -> Problem:
    line, col = document.where(path, key=at_key or not path or path[-1] not in SECRET_KEYS)
    field = ".".join(str(p) for p in path[1:]) or None
    return Problem(document.file, line, col, user, field, message, warning)


def mac_key(mac: str) -> str:
    digits = "".join(c for c in mac.lower() if c in string.hexdigits)
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


# ---- generating -------------------------------------------------------------

# No look-alikes (I O l o 0 1): people read these passwords aloud and retype them.
_CLASSES = ("ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz", "23456789", SPECIALS)
_ALL = "".join(_CLASSES)
_ALNUM = "".join(_CLASSES[:3])


@cache
def _table(alphabet: str) -> tuple[bytes, bytes]:
    """bytes.translate arguments mapping a random byte to a character of
    `alphabet`, deleting the bytes above the last whole multiple of its
    length, so every character is equally likely."""
    limit = 256 - 256 % len(alphabet)
    table = bytes(ord(alphabet[b % len(alphabet)]) if b < limit else 0 for b in range(256))
    return table, bytes(range(limit, 256))


class _Stream:
    """HMAC-SHA256(key, message || block number) for block 0, 1, 2...: an
    endless, reproducible run of bytes, drawn from as uniform choices."""

    def __init__(self, key: bytes, message: bytes):
        self.key, self.message, self.count = key, message, 0

    def block(self) -> bytes:
        self.count += 1
        return hmac.digest(self.key, self.message + self.count.to_bytes(4, "big"), hashlib.sha256)

    def pick(self, alphabet: str, length: int) -> str:
        """`length` characters of `alphabet`, each uniform and independent."""
        table, delete = _table(alphabet)
        out = ""
        while len(out) < length:
            out += self.block().translate(table, delete).decode("ascii")
        return out[:length]


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def derive(key: bytes, user: str, field: str, rotate: int, kind: str, policy: Policy, fields: dict) -> str:
    """The same key, user, field and rotation always give the same value, one
    that passes the policy: candidates are drawn until one does."""
    message = b"\0".join([_DERIVATION, user.encode(), field.encode(), str(rotate).encode()])
    stream = _Stream(key, message)
    account = account_words(fields) if kind == "password" else []
    for _ in range(10_000):
        value = _candidate(stream, kind, policy)
        if not generated_faults(value, kind, policy, account):
            return value
    raise AssertionError(f"no generated {kind} met the policy")  # a satisfiable policy never gets here


def _candidate(stream: _Stream, kind: str, policy: Policy) -> str:
    """Uniform over the alphabet; `derive` keeps drawing until one passes, so
    the result is uniform over the values that meet the policy."""
    if kind == "pin":
        return stream.pick(string.digits, policy.voicemail_pin.min_length)
    if kind == "door":
        return stream.pick(string.digits, _clamp(GENERATED_DOOR_LENGTH, DOOR_POLICY.min_length,
                                                 DOOR_POLICY.max_length))
    rules = policy.password if kind == "password" else PasswordPolicy()
    length = _clamp(GENERATED_PASSWORD_LENGTH, rules.min_length, rules.max_length)
    # Never a leading symbol: start at the first letter or digit. That one is
    # uniform over letters and digits, the rest over the whole alphabet.
    drawn = stream.pick(_ALL, length + 4)
    start = next((i for i, c in enumerate(drawn) if c in _ALNUM), len(drawn))
    return drawn[start : start + length] if start + length <= len(drawn) else ""  # "" is refused: draw again


def generated_faults(value: str, kind: str, policy: Policy, account: list[str]) -> list[str]:
    """What a generated value must pass: the policy, and no leading character
    that a spreadsheet reads as the start of a formula."""
    if kind in ("pin", "door"):
        return policy_faults(kind, value, policy, account)
    leading = [] if value[:1].isalnum() else ["starts with a symbol"]
    if kind == "password":
        return leading + policy_faults(kind, value, policy, account)
    return leading + password_faults(value, PasswordPolicy(), [])  # a phone's: the default policy, to be safe


# ---- filling in -------------------------------------------------------------

def secret_paths(fields: dict) -> Iterator[tuple[tuple, str, dict]]:
    """(path, kind, the mapping holding it) for every secret field a user has."""
    for key, kind in USER_SECRETS.items():
        if key in fields:
            yield (key,), kind, fields
    for i, phone in enumerate(fields.get("phones") or []):
        for key, kind in PHONE_SECRETS.items():
            if isinstance(phone, dict) and key in phone:
                yield ("phones", i, key), kind, phone


def _derivation_field(path: tuple, fields: dict) -> str | None:
    """A phone's secrets are tied to its MAC, so reordering phones changes nothing."""
    if path[0] != "phones":
        return path[0]
    mac = fields["phones"][path[1]].get("mac")
    return f"phones[{mac_key(mac)}].{path[2]}" if isinstance(mac, str) else None


def _from_file(given: Sources, user: str, path: tuple, fields: dict) -> str | None:
    entry = given.file.entries.get(user, {})
    if path[0] != "phones":
        return entry.get(path[0])
    mac = fields["phones"][path[1]].get("mac")
    return entry.get("phones", {}).get(mac_key(mac), {}).get(path[2]) if isinstance(mac, str) else None


def _value(ref: SecretRef, user, path: tuple, kind: str, given: Sources, policy: Policy,
           key: bytes | None) -> tuple[str | None, str]:
    """The secret, or None and why not."""
    if ref.kind == "env":
        value = given.environ.get(ref.name)
        return (value, "") if value else (None, f"environment variable {ref.name} is not set")
    if ref.kind == "secrets_file":
        if given.file is None:
            return None, "it comes from the secrets file, but no --secrets FILE was given"
        value = _from_file(given, user.name, path, user.fields)
        return (value, "") if value else (None, f"the secrets file {given.file.name} has no entry for it")
    if key is None:
        return None, f"it is generated, but there is no master key: set the {given.key_origin} or pass --key-file"
    field = _derivation_field(path, user.fields)
    if field is None:
        return None, "it is generated from the phone's MAC address, which is missing"
    rotate = user.fields.get("rotate", 0)
    return derive(key, user.name, field, rotate, kind, policy, user.fields), ""


def stand_in(ref: SecretRef, user) -> str:
    """What a secret that cannot be had is compared as, where only changes
    matter (diff, a redacted copy): a new source or rotation still shows."""
    rotate = f" rotate {user.fields.get('rotate', 0)}" if ref.kind == "generate" else ""
    return f"<{ref}{rotate}>"


def fill(users: list, given: Sources, policy: Policy, lenient: bool = False) -> list[Problem]:
    """Replace every source with its value; a value that cannot be had is a
    problem naming the user and field, located where the source is written.
    `lenient`: such a secret gets a stand-in instead, never checked or shown,
    and a warning, one per place and reason."""
    wanted = [(u, p, k, holder) for u in users for p, k, holder in secret_paths(u.fields)
              if isinstance(holder[p[-1]], SecretRef)]
    generates = any(holder[p[-1]].kind == "generate" for _, p, _, holder in wanted)
    key = _master_key(given) if generates else None
    problems: list[Problem] = []
    unchecked: dict[tuple, list] = {}
    for done, (user, path, kind, holder) in enumerate(wanted):
        progress.tick("making secrets", done, len(wanted))
        ref = holder[path[-1]]
        value, why = _value(ref, user, path, kind, given, policy, key)
        if value is None and lenient:
            holder[path[-1]] = stand_in(ref, user)
            user.secret_sources[path] = ref
            user.stand_ins.add(path)
            first = user.problem(path, f"not checked: {why}", warning=True)
            unchecked.setdefault((first.file, first.line, first.col, first.field, why), [first, 0])[1] += 1
            continue
        if value is None:
            problems.append(user.problem(path, why))
            continue
        holder[path[-1]] = value
        user.secret_sources[path] = ref
    return problems + [_and_more(first, count) for first, count in unchecked.values()]


def _and_more(problem: Problem, count: int) -> Problem:
    if count == 1:
        return problem
    return replace(problem, user=f"{problem.user} (and {count - 1:,} more)")


def unused_entries(names: set[str], given: Sources) -> list[Problem]:
    """A name in the secrets file that no user has is likely a typo or a leaver."""
    if given.file is None:
        return []
    document = given.file.document
    keys = document.data if isinstance(document.data, dict) else {}
    return [_file_problem(document, (key,), "in the secrets file but not in the roster", str(key), warning=True,
                          at_key=True)
            for key in keys if str(key) not in names]


# ---- masking and linting ----------------------------------------------------

def masked(fields: dict) -> dict:
    """A copy of a user's fields with every secret that is set replaced by MASK."""
    out = dict(fields)
    for key in USER_SECRETS:
        if out.get(key) not in (None, ""):
            out[key] = MASK
    out["phones"] = [
        {k: (MASK if k in PHONE_SECRETS and v not in (None, "") else v) for k, v in phone.items()}
        for phone in fields.get("phones") or []
    ]
    return out


def literal_problems(document: Document) -> list[Problem]:
    """Every secret written in the roster itself, for --no-literal-secrets."""
    data = document.data
    places: list[tuple[tuple, dict, Mapping]] = []
    layers = [(("defaults",), data.get("defaults"))]
    layers += [(("profiles", n), p) for n, p in (data.get("profiles") or {}).items()]
    layers += [(("users", i), u) for i, u in enumerate(data.get("users") or [])]
    for base, layer in layers:
        if not isinstance(layer, dict):
            continue
        places.append((base, layer, USER_SECRETS))
        if isinstance(layer.get("phone_defaults"), dict):
            places.append(((*base, "phone_defaults"), layer["phone_defaults"], PHONE_SECRETS))
        for i, phone in enumerate(layer.get("phones") or []):
            if isinstance(phone, dict):
                places.append(((*base, "phones", i), phone, PHONE_SECRETS))
    places += [(("phone_models", n), m, PHONE_SECRETS) for n, m in (data.get("phone_models") or {}).items()
               if isinstance(m, dict)]
    problems = []
    for base, holder, keys in places:
        for key in keys:
            if _is_text(holder.get(key)) and holder[key] != "":
                line, col = document.where((*base, key))
                user = str(holder.get("name")) if base[0] == "users" else None
                problems.append(Problem(document.file, line, col, user, key,
                                        "a literal secret in the roster; use {generate: true}, "
                                        "{env: NAME} or {secrets_file: true}"))
    return problems
