"""The quick yes/no check and jsonschema agree, and valid rosters never need jsonschema."""

from __future__ import annotations

import copy

from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.load import load_text
from generator.schema import quick, validator

EXAMPLE = load_text((ROOT / "roster.example.yaml").read_text("utf-8"), "roster.example.yaml")[0].data
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.sampled_from(
    ["", "jim", "101", "101\n", "admin\n", "ENGLISH", "english", "09:00-17:00", "cc:5e:f8:41:b7:95", "x" * 70,
     "0c38.3e63.fee8", "+15551234", "voicemail", "{{ name }}", "v22", "v22\n", "GLOBAL"]))


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _paths(inner, (*path, i))


PATHS = [p for p in _paths(EXAMPLE) if p]


def _set(data, path, value):
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), SCALARS), min_size=1, max_size=3))
def test_quick_and_jsonschema_agree_on_mutated_rosters(changes):
    data = copy.deepcopy(EXAMPLE)
    for path, value in changes:
        try:
            _set(data, path, value)
        except (KeyError, IndexError, TypeError):
            continue
    assert quick()(data) == validator().is_valid(data)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "extension_number", "language", "mac", "email", "role", "blfs",
                                        "sms", "office_hours", "bogus"]), SCALARS, max_size=5))
def test_quick_and_jsonschema_agree_on_random_users(user):
    assert quick("user")(user) == validator("user").is_valid(user)


def test_a_valid_roster_never_reaches_jsonschema(monkeypatch):
    from generator import schema
    from generator.commands.generate import generate

    def slow_path(*args, **kwargs):
        raise AssertionError("the quick check was not taken for a valid roster")

    monkeypatch.setattr(schema, "validator", slow_path)
    assert generate(ROOT / "roster.example.yaml").count == 7
