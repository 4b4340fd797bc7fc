"""The one Jinja environment: sandboxed, strict about undefined names, and
bounded in what one template may cost.

Computed defaults and column templates both run here. Roster values never
become template source unless they come from `defaults`, a profile or
`phone_models`, where the docs say strings are templates.

Defence in depth against sandbox escapes (CVE-2024-56326, CVE-2025-27516):
the environment has no globals but Python's C-level `range` (cycler, joiner,
lipsum... are Python functions whose __globals__ lead to `os`), and only
filters whose output is bounded (not `attr` and `format`, which those escapes
went through). What a template sees is plain data.
"""

from __future__ import annotations

import atexit
import signal
import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from generator.cells import pick, pick_each, to_json

MAX_TEXT = 100_000  # characters a template may make; the longest field takes 1,024
MAX_NUMBER = 10**6  # the largest repeat count or call argument a template may use
SECONDS = 2.0  # wall-clock time one template may take
# Characters and items one evaluation may make in all, counted as filters,
# calls and operators give their results (and per item, where a filter gives
# them one by one): `range(10**6)|map('center', 99990)|list` is stopped after
# some 10 items, not at 100 GB. Ten times what a value may finally hold; it
# also bounds the time spent weighing results (_weight) to well under SECONDS.
MAX_WORK = 1_000_000
# Filters whose output is at most a small multiple of their input; the ones
# that can grow text without bound are wrapped below with an estimate made
# before any work is done. Every other filter (attr and format, which past
# sandbox escapes went through; random, which would make output differ run to
# run; safe) is removed.
_BOUNDED_FILTERS = frozenset({
    "abs", "batch", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "groupby",
    "int", "items", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse",
    "round", "select", "selectattr", "slice", "sort", "string", "striptags", "title", "tojson", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount",
})
# Statements a computed value may use: no macros (a recursive one can double a
# text at every call), no set, include, import or recursive loops.
_ALLOWED_STATEMENTS = (nodes.Output, nodes.If, nodes.For)
_STATEMENT_WORDS = {"Assign": "set", "AssignBlock": "set", "CallBlock": "call", "FilterBlock": "filter",
                    "ExprStmt": "do", "FromImport": "from"}


class TemplateLimit(Exception):
    """A template asked for more than a roster value can need."""


def _too_big(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > MAX_NUMBER
    return isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_TEXT


def _refuse_if(size: int, what: str = "a value") -> None:
    if size > MAX_TEXT:
        raise TemplateLimit(f"{what} of more than {MAX_TEXT:,} characters or items is refused")


def _length(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, dict)) else len(str(value))


def _repeat_size(left: Any, right: Any) -> int | None:
    """The size `left * right` would have, for a text or list times a count."""
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and not isinstance(count, bool):
            return len(seq) * max(count, 0)
    return None


def _replace_size(text: Any, old: Any, new: Any, count: Any = None) -> int:
    text, old, new = str(text), str(old), str(new)
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    return len(text) + times * len(new)


def _join_size(items: Any, separator: Any = "") -> int:
    items = list(items) if not isinstance(items, (str, list, tuple)) else items
    _refuse_if(len(items), "a list")
    return sum(_length(item) for item in items) + len(str(separator)) * max(len(items) - 1, 0)


def _guarded(filter_function: Callable, estimate: Callable[..., int]) -> Callable:
    """`filter_function`, refused before it runs when `estimate` (same
    arguments, without the evaluation context) says the result is too big."""
    def guarded(*args, **kwargs):
        plain = args[1:] if args and not isinstance(args[0], (str, list, tuple, dict, int, float)) else args
        _refuse_if(estimate(*plain, **kwargs))
        return filter_function(*args, **kwargs)

    for attribute in ("jinja_pass_arg",):  # keep how Jinja passes the evaluation context
        if hasattr(filter_function, attribute):
            setattr(guarded, attribute, getattr(filter_function, attribute))
    return guarded


def _width_size(text: Any, width: Any = 80, *rest, **kwargs) -> int:
    width = width if isinstance(width, int) and not isinstance(width, bool) else len(str(width))
    lines = str(text).count("\n") + 1
    return len(str(text)) + max(width, 0) * lines


_GROWING = {
    "replace": _replace_size,
    "join": lambda items, d="", attribute=None: _join_size(items, d),
    "center": _width_size,
    "indent": _width_size,
    "sum": lambda items, attribute=None, start=0: _join_size(items) if any(
        isinstance(i, (str, list, tuple)) for i in items) else 0,
}
# str methods that can grow their text, by the size they would give.
_GROWING_METHODS = {
    "replace": _replace_size,
    "join": lambda separator, items: _join_size(items, separator),
    "center": lambda text, width, *rest: _width_size(text, width),
    "ljust": lambda text, width, *rest: _width_size(text, width),
    "rjust": lambda text, width, *rest: _width_size(text, width),
    "zfill": lambda text, width: _width_size(text, width),
    "expandtabs": lambda text, size=8: len(text) * max(size, 1) if isinstance(size, int) else len(text),
}


class _Budget(threading.local):
    """The evaluation running in this thread: when it must end, and how much
    it may still make. deadline None: none is running (a template compiled,
    its constants folded, costs nothing here)."""

    deadline: float | None = None
    left: int = 0
    source: str = ""


_BUDGET = _Budget()


def _weight(value: Any, limit: int) -> int:
    """Characters and items in `value` at every depth, counted up to just past
    `limit`: `[x] * 1000` holding one large x a thousand times weighs a
    thousand x's, as its text would. Without recursion."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, (list, tuple, dict, set, frozenset)):
        return 0
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            stack += item.keys()
            stack += item.values()
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += len(item)
            stack += item
    return total


def _pay_for(value: Any, extra: int = 0) -> None:
    """Charge what `value` weighs (plus `extra`) to the running evaluation."""
    if _BUDGET.deadline is not None:
        _spend(extra + _weight(value, _BUDGET.left))


def _spend(amount: int) -> None:
    """Charge the running evaluation; checked at every filter, call and
    operator, so a long chain of them stops by itself, in any thread."""
    budget = _BUDGET
    if budget.deadline is None:
        return
    budget.left -= amount
    if budget.left < 0:
        raise TemplateLimit(f"made more than {MAX_WORK:,} characters or items in all")
    if time.monotonic() > budget.deadline:
        raise TemplateLimit(f"took longer than {SECONDS:g} s")


def _counted(items: Iterator) -> Iterator:
    """A filter's lazy result, charged item by item as it is used up."""
    for item in items:
        _pay_for(item, 1)
        yield item


def _charged(function: Callable) -> Callable:
    """`function` (a filter or a test) charging its result to the evaluation."""
    def charged(*args, **kwargs):
        _spend(1)
        result = function(*args, **kwargs)
        if isinstance(result, Iterator):
            return _counted(result)
        _pay_for(result)
        return result

    if hasattr(function, "jinja_pass_arg"):  # keep how Jinja passes the evaluation context
        charged.jinja_pass_arg = function.jinja_pass_arg
    return charged


class _Timer:
    """One SIGALRM timer for a whole run, not one per evaluation (which cost
    every user of a large roster two system calls and two handler swaps). It
    is armed when an evaluation starts and none is pending; when it fires, the
    evaluation then running is stopped if past its deadline, else the timer
    waits out that deadline; with none running it puts the old handler back
    and stays off until the next evaluation. Main thread only: elsewhere the
    checks in _spend stand in."""

    pending = False
    previous: Any = None
    at_exit = False

    def arm(self) -> None:
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
            return
        if not self.at_exit:
            # Python puts SIGALRM back to its default (end the process) while
            # it shuts down: a timer still pending then would kill a run that
            # ended well, or one ended by Ctrl-C, with SIGALRM.
            atexit.register(self.cancel)
            self.at_exit = True
        self.previous = signal.signal(signal.SIGALRM, self.expire)
        self.pending = True
        signal.setitimer(signal.ITIMER_REAL, SECONDS)

    def cancel(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.pending = False
        if signal.getsignal(signal.SIGALRM) == self.expire:
            signal.signal(signal.SIGALRM, self.previous if self.previous is not None else signal.SIG_DFL)

    def expire(self, _signum, _frame) -> None:
        deadline = _BUDGET.deadline
        if deadline is not None and (left := deadline - time.monotonic()) > 0:
            signal.setitimer(signal.ITIMER_REAL, left + 0.01)
            return
        self.pending = False
        if signal.getsignal(signal.SIGALRM) == self.expire:
            signal.signal(signal.SIGALRM, self.previous if self.previous is not None else signal.SIG_DFL)
        if deadline is not None:
            raise TemplateLimit(f"took longer than {SECONDS:g} s")


_TIMER = _Timer()


def begin() -> tuple:
    """Start a bounded evaluation in this thread; give what `end` restores."""
    budget = _BUDGET
    saved = (budget.deadline, budget.left)
    budget.deadline, budget.left = time.monotonic() + SECONDS, MAX_WORK
    if not _TIMER.pending:
        _TIMER.arm()
    return saved


def end(saved: tuple) -> None:
    _BUDGET.deadline, _BUDGET.left = saved


class BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "//", "+"})

    def call_binop(self, context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise TemplateLimit("a power above 64 is refused")
        if operator_name == "*" and any(isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_NUMBER
                                        for v in (left, right)):
            raise TemplateLimit(f"a repeat count above {MAX_NUMBER:,} is refused")
        if operator_name == "*" and (size := _repeat_size(left, right)) is not None:
            _refuse_if(size)
        if operator_name == "%" and isinstance(left, str):
            raise TemplateLimit("%-formatting of text is refused in templates")
        result = super().call_binop(context, operator_name, left, right)
        if _too_big(result) and not isinstance(result, int):
            raise TemplateLimit(f"a value of more than {MAX_TEXT:,} characters is refused")
        _pay_for(result, 1)
        return result

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        if any(_too_big(v) for v in (*args, *kwargs.values())):
            raise TemplateLimit(f"an argument above {MAX_NUMBER:,}, or of more than {MAX_TEXT:,} characters, "
                                f"is refused")
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str) and name in _GROWING_METHODS:
            _refuse_if(_GROWING_METHODS[name](owner, *args, **kwargs))
        _spend(1)
        result = super().call(__context, __obj, *args, **kwargs)
        if _too_big(result) and not isinstance(result, int):
            raise TemplateLimit(f"a value of more than {MAX_TEXT:,} characters is refused")
        _pay_for(result)
        return result


def _environment() -> BoundedSandbox:
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    # Python's own range: a C type, with nothing that leads to a module's
    # globals; call() bounds its arguments like any other call's.
    env.globals["range"] = range
    kept = {name: f for name, f in env.filters.items() if name in _BOUNDED_FILTERS}
    kept.update({name: _guarded(env.filters[name], size) for name, size in _GROWING.items()})
    env.filters.clear()
    env.filters.update(kept)
    env.filters.update({"pick": pick, "pick_each": pick_each, "json": to_json})
    env.filters = {name: _charged(function) for name, function in env.filters.items()}
    env.tests = {name: _charged(function) for name, function in env.tests.items()}
    return env


ENV = _environment()


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def holds_template(value: object) -> bool:
    """A template anywhere in `value`, nested mappings and lists included."""
    if isinstance(value, dict):
        return any(holds_template(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_template(v) for v in value)
    return is_template(value)


def _statements_allowed(source: str) -> None:
    for statement in ENV.parse(source).find_all(nodes.Stmt):
        if not isinstance(statement, _ALLOWED_STATEMENTS) or getattr(statement, "recursive", False):
            kind = type(statement).__name__
            word = "recursive for" if kind == "For" else _STATEMENT_WORDS.get(kind, kind.lower())
            raise TemplateSyntaxError(f"{{% {word} %}} is not allowed here: a computed value may use expressions, "
                                      f"if and for", statement.lineno)


@lru_cache(maxsize=4096)
def compiled(source: str) -> Template:
    _statements_allowed(source)
    return ENV.from_string(source)


@lru_cache(maxsize=256)
def expression(cell: str) -> Callable[..., Any]:
    return ENV.compile_expression(cell, undefined_to_none=False)


def render(source: str, context: dict, exhausted: dict[str, str] | None = None) -> str:
    """`source` rendered with `context`, within the limits: bounded in time and
    in what it makes (see _spend); a text that grows past MAX_TEXT is refused
    as soon as it does. `exhausted` (one per run): templates that ran out of
    time or work for an earlier user, refused at once for the others, so a
    hostile roster costs SECONDS per template, not per user."""
    if exhausted is not None and source in exhausted:
        raise TemplateLimit(exhausted[source])
    saved = begin()
    try:
        return _render(source, context)
    except TemplateLimit as exc:
        if exhausted is not None and ("took longer" in str(exc) or "in all" in str(exc)):
            exhausted[source] = f"{exc} (for an earlier user)"
        raise
    finally:
        end(saved)


def _render(source: str, context: dict) -> str:
    template = compiled(source)
    if "{%" not in source:  # no loop: the text is made in one piece, bounded above
        text = template.render(context)
        _refuse_if(len(text), "a computed value")
        return text
    made, size = [], 0
    for piece in template.generate(context):
        size += len(piece)
        if size > MAX_TEXT:
            raise TemplateLimit(f"made more than {MAX_TEXT:,} characters")
        _spend(1)  # a loop with a plain body calls no hook: its output counts here
        made.append(piece)
    return "".join(made)
