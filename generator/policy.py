"""The tenant's rules for passwords and PINs, and the tests a value must pass.

The same tests judge literal secrets (in check) and accept generated ones (in
secrets), so a generated value can never break the policy the roster states.
Messages never quote the value: it is a secret.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, fields, replace

from generator.load import Document
from generator.model import Problem

SPECIALS = "~!@#$%^&*()_+="  # the special characters PortSIP's policy names
RUN = 3  # how long a run counts as repeating or sequential (the PIN rule's examples: 111, 012)


@dataclass(frozen=True)
class PasswordPolicy:
    """PortSIP's tenant_password_policy; every rule is on by default."""

    min_length: int = 6
    max_length: int = 32
    contains_letters: bool = True
    contains_numbers: bool = True
    contains_special_letters: bool = True
    disable_sequential_characters: bool = True
    disable_repeating_characters: bool = True
    disable_account_information: bool = True


@dataclass(frozen=True)
class PinPolicy:
    min_length: int = 6
    max_length: int = 10
    disable_sequential_digits: bool = True
    disable_repeating_digits: bool = True


# Door phone passwords (v22): 4-8 digits, by the API schema, and no more:
# no PortSIP source applies the PIN rules (runs, sequences) to them.
DOOR_POLICY = PinPolicy(min_length=4, max_length=8, disable_sequential_digits=False, disable_repeating_digits=False)


@dataclass(frozen=True)
class Policy:
    password: PasswordPolicy
    voicemail_pin: PinPolicy


_RUN = re.compile(rf"(.)\1{{{RUN - 1}}}", re.S)


def has_run(text: str) -> bool:
    return _RUN.search(text) is not None


# Every ascending and descending run of printable ASCII: a set lookup per
# position is much cheaper than comparing character codes in Python.
_ASCII_RUNS = frozenset(
    "".join(chr(c + step * i) for i in range(RUN))
    for c in range(32, 127) for step in (1, -1) if 32 <= c + step * (RUN - 1) < 127
)
_LETTERS = frozenset(string.ascii_letters)
_DIGITS = frozenset(string.digits)
_PLAIN = frozenset(string.ascii_lowercase + string.digits)  # neither upper case nor special


def has_sequence(text: str, length: int = RUN) -> bool:
    """Whether `length` characters in a row each step by +1, or each by -1 (abc, 321)."""
    if length == RUN and text.isascii():
        return not _ASCII_RUNS.isdisjoint(map("".join, zip(*(text[i:] for i in range(RUN)))))
    run, last = 1, 0
    for a, b in zip(text, text[1:]):
        step = ord(b) - ord(a)
        if step not in (1, -1):
            run, last = 1, 0
            continue
        run = run + 1 if step == last else 2
        last = step
        if run >= length:
            return True
    return False


def account_words(fields: dict) -> list[str]:
    """What a password must not contain: name, extension, the email's local part."""
    email = str(fields.get("email") or "").partition("@")[0]
    words = [fields.get("name"), fields.get("extension_number"), email]
    return [w.casefold() for w in words if isinstance(w, str) and len(w) >= RUN]


def password_faults(value: str, policy: PasswordPolicy, account: list[str]) -> list[str]:
    """Every rule the value breaks, not only the first: an admin fixes them in one go."""
    faults = []
    if len(value) < policy.min_length:
        faults.append(f"must be at least {policy.min_length} characters")
    if len(value) > policy.max_length:
        faults.append(f"must be at most {policy.max_length} characters")
    chars = set(value)
    if policy.contains_letters and _LETTERS.isdisjoint(chars):
        faults.append("must contain a letter")
    if policy.contains_numbers and _DIGITS.isdisjoint(chars):
        faults.append("must contain a digit")
    if policy.contains_special_letters and chars <= _PLAIN:
        faults.append("must contain an upper-case letter or a special character")
    folded = value.casefold()
    if policy.disable_repeating_characters and has_run(folded):
        faults.append("must not repeat a character three times in a row (like aaa)")
    if policy.disable_sequential_characters and has_sequence(folded):
        faults.append("must not hold three sequential characters (like abc or 321)")
    if policy.disable_account_information and any(word in folded for word in account):
        faults.append("must not contain the user's name, extension number or email name")
    return faults


def digits_faults(value: str, policy: PinPolicy) -> list[str]:
    faults = []
    if not value.isascii() or not value.isdigit():
        faults.append("must be digits only")
    if not policy.min_length <= len(value) <= policy.max_length:
        faults.append(f"must be {policy.min_length}-{policy.max_length} digits")
    if policy.disable_repeating_digits and has_run(value):
        faults.append("must not repeat a digit three times in a row (like 111)")
    if policy.disable_sequential_digits and has_sequence(value):
        faults.append("must not hold three sequential digits (like 012 or 987)")
    return faults


def faults(kind: str, value: str, policy: Policy, account: list[str]) -> list[str]:
    """What is wrong with a secret of this kind (see secrets.USER_SECRETS and
    PHONE_SECRETS). A phone's web UI password is the phone's business, not
    the PBX's policy; an empty door password is one not set."""
    if kind == "password":
        return password_faults(value, policy.password, account)
    if kind == "pin":
        return digits_faults(value, policy.voicemail_pin)
    if kind == "door" and value:
        return digits_faults(value, DOOR_POLICY)
    return []


def _apply(default, given: dict | None):
    known = {f.name for f in fields(default)}
    return replace(default, **{k: v for k, v in (given or {}).items() if k in known})


def from_roster(document: Document, version: str, min_password_length: int) -> tuple[Policy, list[Problem]]:
    """The roster's `policy` over PortSIP's defaults for `version`. The schema
    has checked each value; what it cannot say (min above max, a minimum the
    PBX version does not allow) is a problem located at the value, and the
    rules in question fall back to the defaults so the run can go on."""
    given = document.data.get("policy") or {}
    password = _apply(PasswordPolicy(min_length=min_password_length), given.get("password"))
    pin = _apply(PinPolicy(), given.get("voicemail_pin"))
    problems = []
    if password.min_length > password.max_length:
        problems.append(_min_above_max(document, "password", password))
        password = PasswordPolicy(min_length=min_password_length)
    if pin.min_length > pin.max_length:
        problems.append(_min_above_max(document, "voicemail_pin", pin))
        pin = PinPolicy()
    if password.min_length < min_password_length:
        problems.append(_problem(document, ("policy", "password", "min_length"),
                                 f"PBX {version} needs passwords of at least {min_password_length} characters"))
    return Policy(password, pin), problems


def _min_above_max(document: Document, name: str, rules) -> Problem:
    return _problem(document, ("policy", name, "min_length"),
                    f"min_length {rules.min_length} is above max_length {rules.max_length}")


def _problem(document: Document, path: tuple, message: str) -> Problem:
    line, col = document.where(path)
    return Problem(file=document.file, line=line, col=col, code="policy", field=".".join(path), message=message)
