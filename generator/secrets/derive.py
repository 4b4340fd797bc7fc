"""Generated secrets: HMAC-SHA256 of the master key over the user's name, the
field and the user's `rotate` counter, drawn until a value passes the policy."""

from __future__ import annotations

import hashlib
import hmac
import string
from functools import cache

from generator.policy import (
    DOOR_POLICY,
    SPECIALS,
    PasswordPolicy,
    Policy,
    account_words,
    has_run,
    has_sequence,
    password_faults,
)
from generator.policy import faults as policy_faults

GENERATED_PASSWORD_LENGTH = 16
GENERATED_DOOR_LENGTH = 6
_DERIVATION = b"portsip-roster/1"  # changing this changes every generated secret

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


class Unsatisfiable(Exception):
    """No value can meet the policy (a column set or policy asks the impossible)."""


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
    raise Unsatisfiable(f"no generated {kind} can meet the policy")


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
        return policy_faults(kind, value, policy, account) or (["no sequence"] if kind == "door" and
                                                                 _weak_door(value) else [])
    leading = [] if value[:1].isalnum() else ["starts with a symbol"]
    if kind == "password":
        return leading + policy_faults(kind, value, policy, account)
    return leading + password_faults(value, PasswordPolicy(), [])  # a phone's: the default policy, to be safe


def _weak_door(value: str) -> bool:
    """Generated door codes still avoid runs and sequences, although the PBX accepts them."""
    return has_run(value) or has_sequence(value)
