"""The one Jinja environment: sandboxed, and strict about undefined names.

Computed defaults and column templates both run here. Roster values never
become template source unless they come from `defaults`, a profile or
`phone_models`, where the README documents that strings are templates.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@lru_cache(maxsize=4096)
def compiled(source: str) -> Template:
    return ENV.from_string(source)
