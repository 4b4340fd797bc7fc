"""Secrets hidden in what people read: a --redact CSV, diffs, explain."""

from __future__ import annotations

from generator.model import MASK, PHONE_SECRETS, USER_SECRETS


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
