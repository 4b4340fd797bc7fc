"""Work done once per shared object in a run.

Users share the values of the layers they merged: a default's office hours
are one object for every user. A result worked out for such an object is
remembered by its identity (not its value, which would cost as much to
compare as to work out again), holding the object so that its id stays its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ByIdentity:
    def __init__(self, work: Callable[[Any], Any]):
        self.work = work
        self.seen: dict[int, tuple[Any, Any]] = {}

    def __call__(self, value: Any) -> Any:
        hit = self.seen.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        result = self.work(value)
        self.seen[id(value)] = (value, result)
        return result
