"""Where secret values come from: the master key, the environment, the --secrets file."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import UsageError
from generator.load import Document, read_yaml
from generator.model import PHONE_SECRETS, SOURCE_KINDS, USER_SECRETS, Problem, SecretRef, mac_key

KEY_ENV = "PORTSIP_ROSTER_KEY"
# A roster may read only variables meant for it: this prefix, or names the person
# running the tool allows with --allow-env. The tool's own credentials never.
ROSTER_ENV_PREFIX = "ROSTER_SECRET_"
TOOL_ENV_PREFIX = "PORTSIP_"  # PORTSIP_PASSWORD, PORTSIP_ROSTER_KEY, PORTSIP_URL...
MIN_KEY_LENGTH = 16
DEMO_KEY = "demo-key-for-the-example-only"  # the README's, for roster.example.yaml only
# The shipped roster.example.yaml, by content (line ends made \n): the one
# roster `generate` runs with the demo key unwarned, for the README's quick
# start. A file of that name with other content is any roster.
EXAMPLE_SHA256 = "4c2b6068a218272071840a1a8daa40998a95b3f5761345a65c9c00db55b7665e"


def as_ref(value: Any) -> Any:
    """A source mapping as a SecretRef (so that merging replaces it whole); else the value."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (kind, arg), = value.items()
    source = SOURCE_KINDS.get(kind) if isinstance(kind, str) else None
    if source is None:
        return value
    if source.takes_name and isinstance(arg, str):
        return SecretRef(kind, arg)
    if not source.takes_name and arg is True:
        return SecretRef(kind)
    return value


@dataclass(frozen=True)
class SecretsFile:
    """The --secrets file: user name -> {field: value, phones: {mac: {field: value}}}."""

    name: str
    entries: Mapping[str, dict]
    document: Document
    readable: bool = True  # False: it did not parse, so no entry in it can be read


@dataclass(frozen=True)
class SecretSources:
    """What this run may read secrets from."""

    environ: Mapping[str, str]
    key_text: str | None  # the master key as given
    key_origin: str  # where the key comes from, for messages
    file: SecretsFile | None = None
    allowed_env: frozenset[str] = frozenset()  # --allow-env NAME, beyond the ROSTER_SECRET_ prefix
    key_env: str = KEY_ENV  # the variable holding the master key: never a roster's to read
    reads_env: bool = True  # False: stand-ins only, nothing is read, so nothing is refused

    def env_refusal(self, name: str) -> str | None:
        """Why a roster may not read variable `name`, or None. Never looks at
        the environment: whether the variable is set is not the roster's to learn."""
        if not self.reads_env:
            return None
        if name.startswith(TOOL_ENV_PREFIX) or name == self.key_env:
            return (f"environment variable {name} holds this tool's own credentials and may never be read by a "
                    f"roster: put the secret in a variable named {ROSTER_ENV_PREFIX}...")
        if name.startswith(ROSTER_ENV_PREFIX) or name in self.allowed_env:
            return None
        return (f"environment variable {name} is not meant for a roster: name it {ROSTER_ENV_PREFIX}..., or "
                f"pass --allow-env {name}")


def _key_env(document: Document) -> str:
    data = document.data if isinstance(document.data, dict) else {}
    block = data.get("secrets") if isinstance(data.get("secrets"), dict) else {}
    return block.get("key_env") if isinstance(block.get("key_env"), str) and block.get("key_env") else KEY_ENV


def key_env_refusal(name: str, allowed_env: frozenset[str] = frozenset()) -> str | None:
    """Why a roster may not name `name` as its master key's variable, or None:
    the rule of {env: NAME}, and never another of the tool's own (a roster
    naming PORTSIP_PASSWORD would make the sign-in password the key). Never
    looks at the environment."""
    if name == KEY_ENV:
        return None
    if name.startswith(TOOL_ENV_PREFIX):
        return (f"secrets.key_env may not name {name}: it holds this tool's own credentials; leave key_env out "
                f"(the key is then read from {KEY_ENV}) or name a variable {ROSTER_ENV_PREFIX}...")
    if name.startswith(ROSTER_ENV_PREFIX) or name in allowed_env:
        return None
    return (f"secrets.key_env may not name {name}: a master key comes from {KEY_ENV}, a variable named "
            f"{ROSTER_ENV_PREFIX}..., or one the person running the tool passes with --allow-env {name}")


def key_env_problems(document: Document, allowed_env: frozenset[str] = frozenset()) -> list[Problem]:
    """The roster's key_env refused, located at the key (nothing said of the variable's value)."""
    refusal = key_env_refusal(_key_env(document), allowed_env)
    if refusal is None:
        return []
    return [_file_problem(document, ("secrets", "key_env"), refusal, code="secret-refused")]


def secret_sources(document: Document, key_file: Path | None, secrets_file: SecretsFile | None = None,
                   environ: Mapping[str, str] | None = None, allowed_env: frozenset[str] = frozenset()
                   ) -> SecretSources:
    environ = os.environ if environ is None else environ
    name = _key_env(document)
    if key_file is not None:
        text = read_key_file(key_file)
        return SecretSources(environ, text, f"key file {key_file}", secrets_file, allowed_env, name)
    if key_env_refusal(name, allowed_env) is not None:  # key_env_problems says so; nothing is read
        return SecretSources(environ, None, "roster's secrets.key_env to a variable it may name", secrets_file,
                             allowed_env, name)
    return SecretSources(environ, environ.get(name) or None, f"environment variable {name}", secrets_file,
                         allowed_env, name)


def read_key_file(path: Path, what: str = "key file") -> str:
    """The key in `path` (or, `what`, the password): any readable file, a pipe
    from a password manager included."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4096).decode("utf-8").strip()
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:  # its text would quote a byte of the key: said without it
        raise UsageError(f"cannot read the {what} {path}: it is not UTF-8 text") from None


def master_key(given: SecretSources) -> bytes | None:
    if given.key_text is None:
        return None
    if len(given.key_text) < MIN_KEY_LENGTH:
        raise UsageError(f"the master key in the {given.key_origin} is too short: use at least {MIN_KEY_LENGTH} "
                         f"characters, e.g. from `portsip-roster keygen`")
    return given.key_text.encode("utf-8")


def load_secrets_file(path: Path, display: str | None = None) -> tuple[SecretsFile, list[Problem]]:
    document, problems = read_yaml(path, "secrets file", display)
    if document.data is None and problems:
        return SecretsFile(document.file, {}, document, readable=False), problems
    data = document.data if document.data is not None else {}
    if not isinstance(data, dict):
        return SecretsFile(document.file, {}, document), [
            _file_problem(document, (), "must be a mapping of user names to their secrets")]
    entries = {}
    for user, entry in data.items():
        fields, entry_problems = _file_entry(document, user, entry)
        entries[str(user)] = fields
        problems += entry_problems
    return SecretsFile(document.file, entries, document), problems


def _file_entry(document: Document, key: Any, entry: Any) -> tuple[dict, list[Problem]]:
    user = str(key)
    if not isinstance(entry, dict):
        return {}, [_file_problem(document, (key,), "must be a mapping of fields to secrets", user)]
    fields, problems = {}, []
    for name, value in entry.items():
        if name == "phones" and isinstance(value, dict):
            phones = {}
            for mac, phone in value.items():
                shaped, found = _secret_values(document, (key, name, mac), phone, PHONE_SECRETS, user)
                phones[mac_key(str(mac))] = shaped
                problems += found
            fields["phones"] = phones
        elif name in USER_SECRETS and _is_text(value):
            fields[name] = str(value)
        else:
            problems.append(_file_problem(document, (key, name), _file_hint(name), user))
    return fields, problems


def _secret_values(document, path, value, allowed, user) -> tuple[dict, list[Problem]]:
    if not isinstance(value, dict):
        return {}, [_file_problem(document, path, "must be a mapping such as {password: ...}", user)]
    out, problems = {}, []
    for key, secret in value.items():
        if key in allowed and _is_text(secret):
            out[key] = str(secret)
        else:
            problems.append(_file_problem(document, (*path, key), _file_hint(key, allowed), user))
    return out, problems


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
                  code: str = "secrets-file", level: str = "error") -> Problem:
    # Located at the key, never at a value: the value may be a secret.
    line, col = document.where(path, key=True)
    field = ".".join(str(p) for p in path[1:]) or None
    return Problem(file=document.file, line=line, col=col, code=code, message=message, user=user, field=field,
                   level=level)


def unused_entries(names: set[str], given: SecretSources) -> list[Problem]:
    """A name in the secrets file that no user has is likely a typo or a leaver."""
    if given.file is None:
        return []
    document = given.file.document
    keys = document.data if isinstance(document.data, dict) else {}
    return [_file_problem(document, (key,), "in the secrets file but not in the roster", str(key),
                          code="secrets-file-unused", level="warning")
            for key in keys if str(key) not in names]



def is_example(roster: Path) -> bool:
    """Whether `roster` is the shipped example, byte for byte (but line ends)."""
    try:
        with open(roster, "rb") as handle:
            data = handle.read(1_000_001)
    except OSError:
        return False
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest() == EXAMPLE_SHA256


def key_warnings(roster: Path, given: SecretSources, key_file: Path | None, secrets_file: Path | None,
                 uses_key: bool, example_exempt: bool = True) -> list[Problem]:
    """The README's demo key (anyone can work its passwords out) on any roster
    but the shipped example (`example_exempt`: generate and the like; plan
    and apply warn always: a PBX gets those passwords), and key or secrets
    files that others can read, as ssh warns."""
    warnings = []
    if uses_key and given.key_text == DEMO_KEY and not (example_exempt and is_example(roster)):
        warnings.append(Problem(file=str(roster), line=1, col=1, code="key-file", level="warning",
                                message="the master key is the README's demo key, which anyone can read: its "
                                        "passwords are public; make a key with `portsip-roster keygen -o FILE`"))
    for path, what in ((key_file, "key file"), (secrets_file, "secrets file")):
        warnings += open_to_others(path, what)
    return warnings


def open_to_others(path: Path | None, what: str) -> list[Problem]:
    """A warning when the regular file `path` (a key, a password) can be read
    or written by others, as ssh warns; none for a pipe or a device."""
    mode = _mode(path)
    if mode is None or not mode & 0o077:
        return []
    return [Problem(file=str(path), line=1, col=1, code="key-file", level="warning",
                    message=f"the {what} can be read by others (mode {mode & 0o777:o}): chmod 600 {path}")]


def _mode(path: Path | None) -> int | None:
    """The permission bits of a regular file; None for none, a pipe or a device."""
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mode if stat.S_ISREG(info.st_mode) else None
