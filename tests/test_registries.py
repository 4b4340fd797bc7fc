"""The registries and what is made from them: problem codes (model.CODES) and
docs/problems.md's table."""

import ast
import re
from pathlib import Path

import generator
from generator.docs import codes_table, with_codes_table
from generator.model import CODES

PACKAGE = Path(generator.__file__).parent
PROBLEMS_MD = PACKAGE.parent / "docs" / "problems.md"
CODE_LIKE = re.compile(r"[a-z]+(-[a-z]+)*")
# Calls whose positional string arguments include a problem's code.
MAKERS = {"problem", "stop", "_at", "_problem", "_column_set_problem", "_secrets_problem"}


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _codes_in(tree: ast.AST) -> list[tuple[str, int, str | None]]:
    """(code, line, level) for every code written as a literal where a problem
    is made or tested: code="...", problem(path, "...", ...), a yielded
    (path, "code", message), p.code == "...", a code's default, a table of codes."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            level = next((k.value.value for k in node.keywords if k.arg == "level"
                          and isinstance(k.value, ast.Constant)), None)
            for k in node.keywords:
                if k.arg == "code" and isinstance(k.value, ast.Constant):
                    found.append((k.value.value, node.lineno, level))
            if _name(node.func) in MAKERS:
                found += [(a.value, node.lineno, level) for a in node.args
                          if isinstance(a, ast.Constant) and isinstance(a.value, str) and CODE_LIKE.fullmatch(a.value)]
        elif isinstance(node, (ast.Yield, ast.Return)) and isinstance(node.value, ast.Tuple) \
                and len(node.value.elts) in (2, 3):
            code = node.value.elts[-2]  # yield (path, code, message) or (code, message)
            if isinstance(code, ast.Constant) and isinstance(code.value, str) and CODE_LIKE.fullmatch(code.value):
                found.append((code.value, node.lineno, None))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) \
                and any(isinstance(t, ast.Name) and t.id.endswith("CODES") for t in node.targets):
            found += [(v.value, node.lineno, None) for v in node.value.values if isinstance(v, ast.Constant)]
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "code":
            found += [(c.value, node.lineno, None) for c in node.comparators if isinstance(c, ast.Constant)]
        elif isinstance(node, ast.arguments):
            names = [a.arg for a in [*node.posonlyargs, *node.args]][-len(node.defaults):] if node.defaults else []
            found += [(d.value, d.lineno, None) for n, d in zip(names, node.defaults)
                      if n == "code" and isinstance(d, ast.Constant)]
    return found


def _all_codes() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "model.py":
            continue
        for code, line, level in _codes_in(ast.parse(path.read_text(encoding="utf-8"))):
            place = f"{path.relative_to(PACKAGE.parent)}:{line}"
            out.setdefault(code, []).append(f"{place} {level}" if level else place)
    return out


def test_the_docs_table_of_codes_is_the_registry():
    text = PROBLEMS_MD.read_text(encoding="utf-8")
    assert codes_table() in text, "docs/problems.md differs from model.CODES: run python -m generator.docs"
    assert with_codes_table(text) == text


def test_every_code_made_in_generator_is_registered_and_documented():
    used = _all_codes()
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", PROBLEMS_MD.read_text(encoding="utf-8"), re.MULTILINE))
    unregistered = {code: where for code, where in used.items() if code not in CODES}
    assert not unregistered, f"codes used but not in model.CODES: {unregistered}"
    assert set(used) <= documented
    # Every registered code is made somewhere (else it is dead, or made in a way this scan misses).
    assert set(CODES) - set(used) == set()


def test_a_literal_level_agrees_with_the_registry():
    for code, places in _all_codes().items():
        for place in places:
            level = place.split(" ")[1] if " " in place else None
            if level is not None:
                assert level == CODES[code].level, f"{place}: {code} is a {CODES[code].level} in model.CODES"


# ---- the check rules ------------------------------------------------------------------

ROSTER = Path(__file__).parent / "cases" / "minimal-v22" / "roster.yaml"


def test_a_field_rule_added_to_the_registry_is_run_on_every_user(monkeypatch):
    from conftest import run_module

    from generator import check

    def no_jims(user, run):
        if user.fields["name"].startswith("jim"):
            yield ("name",), "reserved-name", "no jims here"

    monkeypatch.setattr(check, "FIELD_RULES", {**check.FIELD_RULES, "no-jims": no_jims})
    ran = run_module("validate", str(ROSTER))
    assert ran.returncode == 1
    assert "user jim1: name: no jims here [reserved-name]" in ran.stderr


def test_a_cross_user_rule_added_to_the_registry_is_run(monkeypatch):
    from conftest import run_module

    from generator import check
    from generator.model import Problem

    def one_user_only(users, run):
        if len(users) < 2:
            yield Problem(file="roster.yaml", line=1, col=1, code="duplicate", message="lonely")

    monkeypatch.setattr(check, "CROSS_USER_RULES", {**check.CROSS_USER_RULES, "lonely": one_user_only})
    ran = run_module("validate", str(ROSTER))
    assert ran.returncode == 1 and "lonely [duplicate]" in ran.stderr


def test_rule_ids_are_unique_across_both_registries():
    from generator.check import CROSS_USER_RULES, FIELD_RULES

    assert not set(FIELD_RULES) & set(CROSS_USER_RULES)


# ---- the kinds of secret source ------------------------------------------------------

def test_every_source_kind_has_a_reader_and_a_description():
    from generator.model import SOURCE_KINDS, SecretRef
    from generator.secrets.fill import READERS

    assert set(READERS) == set(SOURCE_KINDS)
    for kind, source in SOURCE_KINDS.items():
        assert str(SecretRef(kind, "NAME")).strip()
        assert ("NAME" in str(SecretRef(kind, "NAME"))) == source.takes_name


def test_a_source_kind_added_to_the_registry_is_parsed_and_described(monkeypatch):
    from generator import model
    from generator.model import SecretRef, SourceKind
    from generator.secrets import sources

    kinds = {**model.SOURCE_KINDS, "vault": SourceKind("vault entry {name}", takes_name=True)}
    monkeypatch.setattr(model, "SOURCE_KINDS", kinds)
    monkeypatch.setattr(sources, "SOURCE_KINDS", kinds)
    assert sources.as_ref({"vault": "pbx/jim"}) == SecretRef("vault", "pbx/jim")
    assert str(SecretRef("vault", "pbx/jim")) == "vault entry pbx/jim"
    assert sources.as_ref({"vault": True}) == {"vault": True}  # it takes a name
    assert sources.as_ref({"env": "ROSTER_SECRET_X"}) == SecretRef("env", "ROSTER_SECRET_X")


def test_secrets_are_read_through_the_readers(monkeypatch, tmp_path):
    from conftest import run_module

    from generator.secrets import fill

    def fixed(wanted):
        return "Fixed-Pa55word!", ""

    monkeypatch.setattr(fill, "READERS", {**fill.READERS, "env": fixed})
    roster = tmp_path / "roster.yaml"
    roster.write_text(ROSTER.read_text(encoding="utf-8").replace('"Pa55word!x"', "{env: ROSTER_SECRET_PW}"),
                      encoding="utf-8")
    ran = run_module("generate", str(roster), env={"ROSTER_SECRET_PW": ""})
    assert ran.returncode == 0, ran.stderr
    assert "Fixed-Pa55word!" in ran.stdout
