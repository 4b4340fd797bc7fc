"""The PBX seam: plan and apply drive a second Target, in memory
(tests/memtarget.py), with no HTTP at all; and the layers keep their
direction (nothing below the commands imports a command, nothing
vendor-neutral imports PortSIP)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import HEAD
from memtarget import MemTarget

from generator.commands.sync import plan, refusal
from generator.errors import RosterInvalid
from generator.pipeline import Options
from generator.sync.apply import apply


def user(name: str, extension: str, *lines: str, display: str = "") -> str:
    return "".join(f"  {line}\n" for line in (f"- name: {name}", f"  display_name: {display or name.title()}",
                                               f'  extension_number: "{extension}"', *(f"  {x}" for x in lines)))


def phone(mac: str, model: str = "T31", filename: str = "y.xml") -> str:
    return (f'- {{mac: "{mac}", model: {model}, vendor: Yealink, filename: {filename}, '
            f'password: {{generate: true}}, timezone: GMT}}')


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("PORTSIP_ROSTER_KEY", "seam-test-master-key-" + "k" * 24)


def sync(tmp_path: Path, target: MemTarget, *users: str, prune: bool = False, replacing=False, percent=None):
    """plan, then apply: the plan and the outcome, as the CLI runs them."""
    roster = tmp_path / "roster.yaml"
    roster.write_text(HEAD + "".join(users), "utf-8")
    options = Options()
    made = plan(roster, options, target, prune=prune, replacing=replacing, percent=percent)
    from generator.commands.sync import read_roster

    outcome = apply(made, target, read_roster(roster, options).wanted)
    return made, outcome


def kinds(made) -> dict[str, str]:
    return {u.name: u.kind + (" held" if u.held else "") for u in made.users}


def test_create_with_references_between_new_users_converges_in_one_run(tmp_path):
    target = MemTarget()
    ann = user("ann", "0101", 'blfs: [{key: "0102", value: "0102"}]', "phones:", "  " + phone("0c:38:3e:00:00:01"))
    bob = user("bob", "0102", 'blfs: [{key: "0101", value: "0101"}]')
    made, outcome = sync(tmp_path, target, ann, bob)
    assert kinds(made) == {"ann": "create", "bob": "create"} and made.pbx == "memory://tenant"
    assert outcome.failures == [] and sorted(outcome.done) == ["ann", "bob"]
    stored = target.by_name("ann")
    assert [b["value"] for b in stored["fields"]["blfs"]] == ["0102"]
    assert stored["fields"]["password"] and [p["mac"] for p in stored["phones"].values()] == ["0c:38:3e:00:00:01"]
    again, _ = sync(tmp_path, target, ann, bob)
    assert again.empty


def test_update_in_place_and_the_targets_own_replace_keys(tmp_path):
    target = MemTarget()
    sync(tmp_path, target, user("ann", "0101", "phones:", "  " + phone("0c:38:3e:00:00:01")))
    before = target.by_name("ann")
    # a new file is an update for this target (PortSIP would replace the phone), a new model a replace
    made, outcome = sync(tmp_path, target, user("ann", "0101", "phones:", "  " + phone("0c:38:3e:00:00:01",
                                                                                      filename="z.xml"),
                                                display="Ann Lee"))
    assert kinds(made) == {"ann": "update"} and [p.kind for p in made.users[0].phones] == ["update"]
    assert {c.field for c in made.users[0].changes} == {"display_name"}
    assert outcome.failures == [] and target.by_name("ann") is before
    assert before["fields"]["display_name"] == "Ann Lee"
    assert [p["filename"] for p in before["phones"].values()] == ["z.xml"]
    made, outcome = sync(tmp_path, target, user("ann", "0101", "phones:", "  " + phone("0c:38:3e:00:00:01", "T46",
                                                                                      "z.xml"), display="Ann Lee"),
                         replacing=["ann"])
    assert [p.kind for p in made.users[0].phones] == ["replace"] and outcome.failures == []
    assert [p["model"] for p in before["phones"].values()] == ["T46"]


def test_a_replace_is_held_back_unless_allowed(tmp_path):
    target = MemTarget()
    sync(tmp_path, target, user("ann", "0101"))
    old_id = next(iter(target.users))
    made, outcome = sync(tmp_path, target, user("ann", "0201"))
    assert kinds(made) == {"ann": "replace held"} and outcome.held == ["ann"] and not outcome.done
    assert target.by_name("ann")["fields"]["extension_number"] == "0101"
    made, outcome = sync(tmp_path, target, user("ann", "0201"), replacing=True)
    assert kinds(made) == {"ann": "replace"} and made.users[0].loses == ["0 phones"] and outcome.failures == []
    assert list(target.users) != [old_id] and target.by_name("ann")["fields"]["extension_number"] == "0201"


def test_delete_only_with_prune(tmp_path):
    target = MemTarget()
    target.add("old.user", "0300", macs=("0c:38:3e:00:00:09",))
    made, _ = sync(tmp_path, target, user("ann", "0101"))
    assert made.left_alone == ["old.user"] and len(target.users) == 2
    made, outcome = sync(tmp_path, target, user("ann", "0101"), prune=True)
    assert kinds(made) == {"old.user": "delete"} and outcome.failures == []
    assert [u["fields"]["name"] for u in target.users.values()] == ["ann"]


def test_thresholds_count_the_targets_users(tmp_path):
    target = MemTarget()
    sync(tmp_path, target, *(user(f"u{i}", f"05{i:02}") for i in range(10)))
    roster = tmp_path / "roster.yaml"
    roster.write_text(HEAD + "".join(user(f"u{i}", f"05{i:02}") for i in range(5)), "utf-8")
    made = plan(roster, Options(), target, prune=True)
    assert made.existing == 10 and made.count("delete") == 5 and made.over == ["delete"]
    assert "past its thresholds" in (refusal(made) or "")
    assert plan(roster, Options(), target, prune=True, percent={"delete": 50}).over == []


def test_a_clash_with_the_targets_users_is_refused_before_any_change(tmp_path):
    target = MemTarget()
    target.add("Ann", "0300")
    target.groups["0400"] = "call queue Sales (0400)"
    with pytest.raises(RosterInvalid) as raised:
        sync(tmp_path, target, user("ann", "0101"))
    assert "another case" in str(raised.value.problems[0].message)
    target.add("bob", "0101")
    with pytest.raises(RosterInvalid):
        sync(tmp_path, target, user("bob", "0400"), replacing=True)  # a group's extension
    assert target.calls == []


def test_the_memory_target_refuses_what_a_pbx_would():
    from generator.pbx.base import PbxError

    target = MemTarget()
    ann = target.add("ann", "0101", macs=("0c:38:3e:00:00:01",))
    body = {"name": "x", "extension_number": "0102"}
    for bad, status in (({**body, "name": "ANN"}, 409), ({**body, "extension_number": "0101"}, 409),
                        ({**body, "blfs": [{"key": "0999", "value": "0999"}]}, 422), ({**body, "phones": []}, 400)):
        with pytest.raises(PbxError) as raised:
            target.create_user("ANN" if bad["name"] == "ANN" else "x", bad)
        assert raised.value.status == status
    with pytest.raises(PbxError):
        target.create_phone("ann", ann, {"mac": "0C-38-3E-00-00-01"})
    with pytest.raises(PbxError):
        target.update_user("ann", ann, {"extension_number": "0103"})  # not changeable in place
    with pytest.raises(PbxError):
        target.delete_user("ann", None)


PACKAGE = Path(__file__).resolve().parent.parent / "generator"


def _imports(folder: Path) -> dict[str, set[str]]:
    found = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
        found[str(path.relative_to(PACKAGE))] = names
    return found


def test_the_layers_keep_their_direction():
    below = {**_imports(PACKAGE / "sync"), **_imports(PACKAGE / "compare"), **_imports(PACKAGE / "pbx")}
    assert not {f: m for f, m in below.items() if any(n.startswith("generator.commands") for n in m)}
    neutral = {**_imports(PACKAGE / "sync"), **_imports(PACKAGE / "compare")}
    neutral["pbx/base.py"] = _imports(PACKAGE / "pbx")["pbx/base.py"]
    assert not {f: m for f, m in neutral.items() if any(n.startswith("generator.pbx.portsip") for n in m)}


def test_a_saved_plans_fingerprint_survives_the_move_to_one_change_model():
    """The digest of a fixed plan, as the code before the comparison core
    computed it: a plan saved by it still applies (`apply --plan`)."""
    from generator.compare.changes import Change, Entry, PhoneEntry
    from generator.compare.plan import Plan
    from generator.sync.plan import SYNC

    plan = Plan(SYNC, pbx="https://pbx.example.com:8887/api", state="s", existing=3, left_alone=["zed"],
                users=[Entry("update", "ann", "0101", [Change("display_name", "A", "B"),
                                                       Change("password", secret=True, new="change")],
                             [PhoneEntry("update", "0c:38:3e:00:00:01",
                                         [Change("phones[0c:38:3e:00:00:01].filename", "a.xml", "b.xml")], "p1")],
                             "u1"),
                       Entry("replace", "bob", "0202", [Change("extension_number", "0102", "0202")], [], "u2",
                             "why", "held", ["2 speed dials"])])
    assert plan.fingerprint == "4e4248a3af4936429ec58156e6bdad2e48745de57142503f0300a874256d357e"


def test_diff_and_plan_share_one_entry_model(tmp_path):
    from generator.commands.tables import Table, compare
    from generator.compare.changes import Entry

    old = Table("old", ["name", "extension_number", "display_name"],
                {"ann": {"name": "ann", "extension_number": "0101", "display_name": "Ann"},
                 "bob": {"name": "bob", "extension_number": "0102", "display_name": "Bob"}})
    new = Table("new", old.columns, {"ann": {"name": "ann", "extension_number": "0101", "display_name": "Ann Lee"},
                                     "cy": {"name": "cy", "extension_number": "0103", "display_name": "Cy"}})
    made = compare(old, new)
    assert [(type(u), u.kind, u.name) for u in made.added + made.removed + made.changed] == [
        (Entry, "create", "cy"), (Entry, "delete", "bob"), (Entry, "update", "ann")]


def test_diff_import_and_plan_print_through_one_registry_of_renderers():
    """One plan container and one renderer per format: the CLI's --format
    choices are the registry's names; diff, import's round trip and a sync
    differ only in their words."""
    import typer

    from generator import cli
    from generator.commands.importing import ROUND_TRIP
    from generator.commands.tables import DIFF, Table, compare
    from generator.compare import formats
    from generator.compare.plan import Plan
    from generator.sync.plan import SYNC

    assert list(formats.FORMATS) == ["text", "markdown", "json"]
    assert [member.value for member in cli.DiffFormat] == list(formats.FORMATS)
    group = typer.main.get_group(cli.app)
    for command in ("diff", "plan"):
        option = next(p for p in group.commands[command].params if p.name == "output_format")
        assert option.default is cli.DiffFormat.text, command
    old = Table("old", ["name", "extension_number"], {"bob": {"name": "bob", "extension_number": "0102"}})
    new = Table("new", old.columns, {"cy": {"name": "cy", "extension_number": "0103"}})
    for words, heading in ((DIFF, "Added: importing the CSV creates them:"),
                           (ROUND_TRIP, "Only in the roster (not in the export):")):
        made = compare(old, new, words)
        assert type(made) is Plan and heading in formats.as_text(made)
    synced = Plan(SYNC, users=compare(old, new).users, pbx="https://pbx")
    assert formats.as_text(synced).startswith("plan for https://pbx: 1 to create, 0 to update, 0 to replace, "
                                              "1 to delete")


def test_what_the_targets_api_cannot_express_is_refused_before_any_request(tmp_path):
    target = MemTarget()
    with pytest.raises(RosterInvalid) as refused:
        sync(tmp_path, target, user("ann", "101", "custom_forward_rules:",
                                    "  - {action: FORWARD_TO_NUMBER, number: '102', type: ALL_HOURS}"),
             user("bob", "102"))
    assert [(p.code, p.user) for p in refused.value.problems] == [("api-unsupported", "ann")]
    assert target.requests == 0
