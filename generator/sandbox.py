"""The one Jinja environment: sandboxed, strict about undefined names, and
bounded in what one template may cost.

Computed defaults and column templates both run here. Roster values never
become template source unless they come from `defaults`, a profile or
`phone_models`, where the docs say strings are templates.

Defence in depth against sandbox escapes (CVE-2024-56326, CVE-2025-27516):
the environment has no globals at all (cycler, joiner, lipsum... are Python
functions whose __globals__ lead to `os`), and not the `attr` and `format`
filters those escapes went through. What a template sees is plain data.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

from generator.cells import pick, pick_each, to_json

MAX_TEXT = 100_000  # characters a template may make; the longest field takes 1,024
MAX_NUMBER = 10**6  # the largest repeat count or call argument a template may use
SECONDS = 2.0  # wall-clock time one template may take
_REMOVED_FILTERS = ("attr", "format", "xmlattr", "pprint", "urlize", "filesizeformat")


class TemplateLimit(Exception):
    """A template asked for more than a roster value can need."""


def _too_big(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > MAX_NUMBER
    return isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_TEXT


class BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "//", "+"})

    def call_binop(self, context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise TemplateLimit("a power above 64 is refused")
        if operator_name == "*" and any(isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_NUMBER
                                        for v in (left, right)):
            raise TemplateLimit(f"a repeat count above {MAX_NUMBER:,} is refused")
        if operator_name == "%" and isinstance(left, str):
            raise TemplateLimit("%-formatting of text is refused in templates")
        result = super().call_binop(context, operator_name, left, right)
        if _too_big(result) and not isinstance(result, int):
            raise TemplateLimit(f"a value of more than {MAX_TEXT:,} characters is refused")
        return result

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        if any(_too_big(v) for v in (*args, *kwargs.values()) if isinstance(v, int)):
            raise TemplateLimit(f"a number above {MAX_NUMBER:,} is refused as an argument")
        result = super().call(__context, __obj, *args, **kwargs)
        if _too_big(result) and not isinstance(result, int):
            raise TemplateLimit(f"a value of more than {MAX_TEXT:,} characters is refused")
        return result


def _environment() -> BoundedSandbox:
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    for name in _REMOVED_FILTERS:
        env.filters.pop(name, None)
    env.filters.update({"pick": pick, "pick_each": pick_each, "json": to_json})
    return env


ENV = _environment()


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@lru_cache(maxsize=4096)
def compiled(source: str) -> Template:
    return ENV.from_string(source)


@lru_cache(maxsize=256)
def expression(cell: str) -> Callable[..., Any]:
    return ENV.compile_expression(cell, undefined_to_none=False)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise TemplateLimit in this thread once `seconds` have passed. Only the
    main thread can take a signal; elsewhere the other limits still hold."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(_signum, _frame):
        raise TemplateLimit(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def render(source: str, context: dict) -> str:
    """`source` rendered with `context`, within the limits: the text is made
    piece by piece and refused as soon as it grows past MAX_TEXT."""
    template = compiled(source)
    made, size, started = [], 0, time.monotonic()
    with _deadline(SECONDS):
        for piece in template.generate(context):
            size += len(piece)
            if size > MAX_TEXT:
                raise TemplateLimit(f"made more than {MAX_TEXT:,} characters")
            made.append(piece)
    if time.monotonic() - started > SECONDS:  # off the main thread, at least report it
        raise TemplateLimit(f"took longer than {SECONDS:g} s")
    return "".join(made)

