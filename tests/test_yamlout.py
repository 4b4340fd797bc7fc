"""generator/yamlout.py: every value it writes reads back, through the
roster loader and through PyYAML's own reader, as the same data; the layout
is the one a person would write."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.load import load_text
from generator.model import FROM_FILE
from generator.yamlout import to_yaml

# Text as a tenant may hold it: any character but a lone surrogate, which
# neither UTF-8 nor YAML can carry (adoption drops those first).
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
WORDS = ["", " ", "yes", "No", "ON", "off", "y", "N", "true", "False", "null", "~", "<<", "-", "- x", "? x",
         "a: b", "a #b", "a#b", "x:", ":x", "&a", "*a", "!tag", "|", ">", "%x", "@x", "`x", "'q'", '"q"',
         "{a}", "[a]", "a, b", "0101", "093514", "+15550100", "1e3", "0x1F", ".inf", ".nan", "12:30:00",
         "80:5E:C0:11:22:33", "1_000", "2026-12-02", "Dr. Who", "ann@example.com", "Ünïcødé", "tab\there",
         "line\nbreak", "\u202eevil", "\x85", "\u2028", "\x1b[31m", "\x7f", "a\\b", "trailing ", " leading"]


def _read_back(data):
    text = to_yaml(data)
    document, problems = load_text(text, "out.yaml")
    assert problems == [], (text, problems)
    return text, document.data


def test_every_awkward_word_reads_back_as_itself():
    data = {"values": WORDS, "keyed": {w or "empty": w for w in WORDS}, "flow": [{"a": w} for w in WORDS]}
    text, back = _read_back(data)
    assert back == data
    assert yaml.load(text, Loader=yaml.CSafeLoader) == data  # another reader agrees


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-10**9, 10**9) | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12))
def test_any_value_reads_back_as_itself(value):
    data = {"users": [{"name": "ann", "value": value}]}
    assert _read_back(data)[1] == data


def test_identifiers_are_quoted_for_yaml_1_2_readers_too():
    text = to_yaml({"extension_number": "0101", "pin": "093514", "mac": "AB:5E:C0:11:22:33", "count": 7})
    assert text == "extension_number: '0101'\npin: '093514'\nmac: 'AB:5E:C0:11:22:33'\ncount: 7\n"


def test_the_layout_is_what_a_person_writes():
    data = {"pbx_version": "v22", "defaults": {"office_hours": {"mode": "GLOBAL"}, "tags": ["a", "b"]},
            "users": [{"name": "ann", "extension_number": "101", "pin": FROM_FILE,
                       "phones": [{"mac": "80:5E:C0:11:22:33", "model": "T54W"}]},
                      {"name": "bob", "long": ["x" * 50, "y" * 50]}]}
    assert to_yaml(data, "Made by a test.\nTwo lines.") == (
        "# Made by a test.\n# Two lines.\n"
        "pbx_version: v22\n"
        "defaults:\n  office_hours: {mode: GLOBAL}\n  tags: [a, b]\n"
        "users:\n"
        "  - name: ann\n    extension_number: '101'\n    pin: {secrets_file: true}\n"
        "    phones:\n      - {mac: '80:5E:C0:11:22:33', model: T54W}\n"
        "\n"
        "  - name: bob\n    long:\n      - " + "x" * 50 + "\n      - " + "y" * 50 + "\n")


def test_what_other_yaml_readers_take_for_booleans_or_numbers_is_quoted():
    # PyYAML reads these as text, YAML 1.1's y/n and YAML 1.2's numbers do not.
    for word in ("y", "N", "1e3", "0x1F", "0o17", ".inf", "-.5"):
        assert to_yaml({"v": word}) == f"v: '{word}'\n", word


def test_a_question_mark_in_a_flow_collection_is_quoted_for_every_reader():
    # PyYAML's pure-Python reader ends a plain value at '?' inside [ ] or { }.
    data = {"tags": ["a?b", "x?"], "rule": {"note": "why?"}}
    text = to_yaml(data)
    assert yaml.load(text, Loader=yaml.SafeLoader) == data
    assert _read_back(data)[1] == data


def test_what_cannot_read_back_the_same_is_refused_not_written():
    # A lone surrogate has no UTF-8 form and no YAML escape; a key that is not
    # text reads back as text; a whole number of 19 digits reads back as text.
    for data, words in (({"k": "a\ud800b"}, "surrogate"), ({"\udc00": 1}, "surrogate"),
                        ({1: "a"}, "key"), ({None: "a"}, "key"), ({"k": 10**18}, "number"),
                        ({"k": -10**30}, "number")):
        with pytest.raises((TypeError, ValueError), match=words):
            to_yaml(data)
    assert _read_back({"k": 10**18 - 1, "m": -(10**18 - 1)})[1] == {"k": 10**18 - 1, "m": -(10**18 - 1)}


def test_a_json_cell_the_roster_cannot_hold_is_left_out_of_an_import_not_a_traceback(tmp_path):
    import csv
    import io

    from conftest import read_csv, run_module

    header, first, *rest = read_csv(run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8"))
    for cell, words in (('[{"key": 1.5}]', "a fraction"), ('[{"key": "\\ud800"}]', "a lone surrogate"),
                        ('[{"key": 100000000000000000000000}]', "more than 18 digits")):
        first[header.index("blfs")] = cell
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows([header, first, *rest])
        (tmp_path / "export.csv").write_text(out.getvalue(), encoding="utf-8")
        result = run_module("import", "export.csv", "-o", "roster.yaml", "--force", cwd=tmp_path)
        assert "row 2: blfs holds " in result.stderr and words in result.stderr, result.stderr
        assert load_text((tmp_path / "roster.yaml").read_text("utf-8"), "roster.yaml")[1] == []


def test_the_shared_from_file_marker_is_written_as_it_is():
    text = to_yaml({"users": [{"name": "ann", "password": FROM_FILE}]})
    assert text == "users:\n  - {name: ann, password: {secrets_file: true}}\n"  # it was a TypeError
