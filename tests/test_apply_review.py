"""What a review of `plan`/`apply` found (its issues 15 and 16): a lost
answer, a hostile answer, a reference the PBX lacks, a signal, an edited
saved plan never cost a user unsaid."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import DEMO_KEY, ROOT, run_module
from fakepbx import ACCOUNT, FakeServer, Handler
from memtarget import MemTarget
from test_seam import HEAD, phone, sync, user

from generator.commands.sync import plan
from generator.compare.formats import as_text
from generator.errors import RosterInvalid
from generator.pbx.base import PbxError
from generator.pbx.portsip.client import Client
from generator.pbx.portsip.target import PortSip
from generator.pipeline import Options


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("PORTSIP_ROSTER_KEY", "review-test-master-key-" + "k" * 24)


class LostAnswers(MemTarget):
    """A PBX whose answer to a delete is lost: the delete is done, the retry gets 404."""

    def delete_user(self, name: str, user_id: str) -> None:
        super().delete_user(name, user_id)
        raise PbxError(404, "no such user", "/users")

    def delete_phone(self, name: str, user_id: str, phone_id: str) -> None:
        super().delete_phone(name, user_id, phone_id)
        raise PbxError(404, "no such phone", "/phones")


def test_a_delete_answered_404_is_done_and_a_replace_makes_the_user_again(tmp_path: Path):
    target = LostAnswers()
    target.add("ann", "0101")
    target.add("old.user", "0300")
    made, outcome = sync(tmp_path, target, user("ann", "0201"), prune=True, replacing=True,
                         percent={"delete": 100, "replace": 100})
    assert {u.name: u.kind for u in made.users} == {"ann": "replace", "old.user": "delete"}
    assert outcome.failures == [] and sorted(outcome.done) == ["ann", "old.user"]
    assert [u["fields"]["extension_number"] for u in target.users.values()] == ["0201"]


def test_a_phone_delete_answered_404_is_done(tmp_path: Path):
    target = LostAnswers()
    sync(tmp_path, target, user("ann", "0101", "phones:", "  " + phone("0c:38:3e:00:00:01")))
    made, outcome = sync(tmp_path, target, user("ann", "0101", "phones: []"), prune=True)
    assert [p.kind for p in made.users[0].phones] == ["delete"] and outcome.failures == []


class StillThere(MemTarget):
    """A delete answered 404 while the user is still listed: not done."""

    def delete_user(self, name: str, user_id: str) -> None:
        raise PbxError(404, "no such user", "/users")


def test_a_replace_whose_delete_is_404_but_the_user_is_listed_fails_without_a_remake(tmp_path: Path):
    target = StillThere()
    target.add("ann", "0101")
    _, outcome = sync(tmp_path, target, user("ann", "0201"), replacing=True)
    assert [(f.user, f.status, f.lost) for f in outcome.failures] == [("ann", 404, False)]
    assert target.by_name("ann")["fields"]["extension_number"] == "0101" and target.calls == []


def test_a_replaced_user_is_made_without_its_references_then_given_them(tmp_path: Path):
    target = MemTarget()
    target.add("ann", "0101")
    target.add("bob", "0102")
    rule = 'offline_office_hours_forward_rule: {action: FORWARD_TO_NUMBER, number: "0102"}'
    made, outcome = sync(tmp_path, target, user("ann", "0201", rule), user("bob", "0102"), replacing=True)
    assert outcome.failures == []
    create = next(c for c in target.calls if c[0].startswith("create"))
    assert create == ("create", "ann")
    assert target.by_name("ann")["fields"]["offline_office_hours_forward_rule"]["number"] == "0102"
    assert ("update", "ann") in target.calls[target.calls.index(create):]


@pytest.mark.parametrize("kind", ["create", "replace"])
def test_a_reference_to_an_extension_nobody_has_is_refused_before_any_write(tmp_path: Path, kind: str):
    target = MemTarget()
    target.add("ann", "0101")
    target.add("bob", "0102")
    rule = 'offline_office_hours_forward_rule: {action: FORWARD_TO_NUMBER, number: "0199"}'
    roster = [user("ann", "0201", rule)] if kind == "replace" else [user("ann", "0101"), user("cat", "0103", rule)]
    with pytest.raises(RosterInvalid) as raised:
        sync(tmp_path, target, *roster, user("bob", "0102"), replacing=True)
    problem = raised.value.problems[0]
    assert problem.code == "pbx-conflict" and "0199" in problem.message
    assert problem.field.endswith("number") and problem.line > 0 and target.calls == []


# ---- 2. an answer that is not what was asked is refused before any write --------------------------

class Answers:
    """A PortSIP client that answers from a table: what a hostile PBX (or a proxy) sends."""

    def __init__(self, answers: dict[str, object]):
        self.answers, self.base, self.requests = answers, "stub://pbx", 0
        self.limits = SimpleNamespace(pages=10)

    def call(self, method: str, path: str, body=None, user=None):
        self.requests += 1
        return self.answers[path]

    users = Client.users  # the client's own listing, over these answers
    _take_page = staticmethod(Client._take_page)


LIST = {"/users?top=100&skip=0": {"count": 1, "items": [{"id": "u1", "name": "dave", "extension_number": "104"}]},
        "/users/u1/phones": {"items": []}}


@pytest.mark.parametrize("detail", [None, [], {}, {"name": "dave"}, {"extension_number": "104"},
                                    {"name": "eve", "extension_number": "104"}])
def test_a_users_detail_that_is_not_that_user_is_refused(detail):
    target = PortSip(Answers({**LIST, "/users/u1": detail}))
    with pytest.raises(PbxError) as raised:
        target.read_users(1)
    assert "dave" in raised.value.message and "nothing was changed" in raised.value.message


def test_a_users_detail_as_it_should_be_is_read():
    target = PortSip(Answers({**LIST, "/users/u1": {"name": "dave", "extension_number": "104"}}))
    assert target.read_users(1)["dave"]["detail"]["extension_number"] == "104"


@pytest.mark.parametrize("page", [{"count": 3, "items": []}, None, {"count": 0}, {"items": "x"}])
def test_a_user_list_that_ends_before_its_count_or_is_no_list_is_refused(page):
    with pytest.raises(PbxError) as raised:
        PortSip(Answers({"/users?top=100&skip=0": page})).read_users(1)
    assert "user list" in raised.value.message


def test_an_empty_tenant_reads_as_empty():
    assert PortSip(Answers({"/users?top=100&skip=0": {"count": 0, "items": []}})).read_users(1) == {}


# ---- against the fake PBX -------------------------------------------------------------------------



def cli(pbx: FakeServer, folder: Path, *args: str, env: dict | None = None):
    login = ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--rate", "1000",
             "--allow-http"]
    return run_module(*args, *login, cwd=folder, env={"PORTSIP_PASSWORD": ACCOUNT["password"], **(env or {})})


def roster(folder: Path, *users: str) -> None:
    (folder / "roster.yaml").write_text(HEAD + "".join(users), "utf-8")


def test_a_saved_plan_whose_body_was_edited_is_refused_before_any_request(pbx, tmp_path: Path):
    pbx.state.add_user("eve", "0106")
    roster(tmp_path, user("ann", "0101"))
    assert cli(pbx, tmp_path, "plan", "roster.yaml", "--prune", "--out", "plan.json").returncode == 0
    saved = json.loads((tmp_path / "plan.json").read_text("utf-8"))
    saved["users"], saved["left_alone"] = [], ["eve"]  # nothing deleted, it says: the fingerprint kept
    (tmp_path / "plan.json").write_text(json.dumps(saved), "utf-8")
    asked = len(pbx.state.requests)
    applied = cli(pbx, tmp_path, "apply", "roster.yaml", "--prune", "--plan", "plan.json", "--yes")
    assert applied.returncode == 1 and "the saved plan was edited" in applied.stderr
    assert len(pbx.state.requests) == asked and pbx.state.user_id("eve")


def test_what_a_replace_or_delete_loses_names_the_phones_the_roster_lacks(tmp_path: Path):
    target = MemTarget()
    target.add("ann", "0101", macs=("0c:38:3e:00:00:01", "0c:38:3e:00:00:02"))
    target.add("old.user", "0300", macs=("0c:38:3e:00:00:09",))
    roster_file = tmp_path / "roster.yaml"
    roster_file.write_text(HEAD + user("ann", "0201", "phones:", "  " + phone("0c:38:3e:00:00:01")), "utf-8")
    made = plan(roster_file, Options(), target, prune=True, replacing=True, percent={"delete": 100, "replace": 100})
    loses = {u.name: u.loses for u in made.users}
    assert "phone 0c:38:3e:00:00:02 (not in the roster)" in loses["ann"]
    assert not any("00:00:01" in line for line in loses["ann"])
    assert "phone 0c:38:3e:00:00:09 (not in the roster)" in loses["old.user"]
    assert "loses: phone 0c:38:3e:00:00:02 (not in the roster)" in as_text(made)


# ---- 6. a roster's key_env follows the rule of {env: NAME} --------------------------------------

KEYED = ("pbx_version: v22\nsecrets: {key_env: %s}\n"
         "defaults: {email: '{{ name }}@example.com', password: {generate: true},"
         " extension_password: {generate: true}, voicemail_pin: {generate: true}}\nusers:\n"
         "  - {name: alice, display_name: Alice B, extension_number: '101'}\n")


@pytest.mark.parametrize("name", ["HOME", "PORTSIP_PASSWORD", "PORTSIP_URL"])
@pytest.mark.parametrize("command", ["validate", "generate"])
def test_key_env_may_not_name_any_variable(tmp_path: Path, name: str, command: str):
    (tmp_path / "roster.yaml").write_text(KEYED % name, "utf-8")
    allow = ["--allow-env", name] if name.startswith("PORTSIP_") else []  # the tool's own: refused even if allowed
    outputs = set()
    for value in ("Zq9!a-public-value-long-enough", None):  # set or not: the same answer
        result = run_module(command, "roster.yaml", *allow, cwd=tmp_path, env={name: value})
        assert result.returncode == 1 and "Zq9!a-public" not in result.stdout + result.stderr
        outputs.add(result.stderr)
    (out,) = outputs
    assert f"roster.yaml:2:11: key_env: secrets.key_env may not name {name}" in out and "[secret-refused]" in out


@pytest.mark.parametrize(("name", "allow"), [("ROSTER_SECRET_KEY", []), ("TENANT_KEY", ["--allow-env", "TENANT_KEY"]),
                                             ("PORTSIP_ROSTER_KEY", [])])
def test_key_env_may_name_a_roster_variable_or_an_allowed_one(tmp_path: Path, name: str, allow: list[str]):
    (tmp_path / "roster.yaml").write_text(KEYED % name, "utf-8")
    result = run_module("generate", "roster.yaml", *allow, cwd=tmp_path, env={name: "k" * 24})
    assert result.returncode == 0, result.stderr


# ---- 4. SIGTERM (a CI runner, a job's timeout) stops apply between users, never inside one -----------

def test_sigterm_during_a_replace_finishes_it_and_starts_no_other(pbx, tmp_path: Path, monkeypatch):
    import generator.commands.sync as sync_module

    stops: list = []

    class Recorded(sync_module.Stop):
        def __init__(self):
            super().__init__()
            stops.append(self)

    monkeypatch.setattr(sync_module, "Stop", Recorded)
    before = signal.getsignal(signal.SIGTERM)
    pbx.state.add_user("dave", "0104")
    roster(tmp_path, user("dave", "0105"), user("erin", "0106"), user("fay", "0107"))
    original = Handler._route

    def route(self, method, path, query, body, fault):
        answer = original(self, method, path, query, body, fault)
        if path.endswith("/destroy"):  # the replace's delete is done: now the runner sends SIGTERM
            os.kill(os.getpid(), signal.SIGTERM)
            assert stops[0].wait(10)  # the signal reached apply before the PBX answers
        return answer

    monkeypatch.setattr(Handler, "_route", route)
    applied = cli(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--replace", "dave", "--parallel", "1")
    assert applied.returncode == 143, applied.stderr
    assert {u["name"]: u["extension_number"] for u in pbx.state.users.values()} == {"dave": "0105"}
    assert "stopped by SIGTERM" in applied.stderr and "not started: erin, fay" in applied.stderr
    assert "LOST" not in applied.stderr and "(exit 143)" in applied.stderr
    assert signal.getsignal(signal.SIGTERM) == before  # the handler was put back


# ---- 9. messages name what they are about -----------------------------------------------------------

def test_an_unreadable_password_file_is_called_a_password_file(pbx, tmp_path: Path):
    roster(tmp_path, user("ann", "0101"))
    result = cli(pbx, tmp_path, "plan", "roster.yaml", "--password-file", str(tmp_path / "nonexist"))
    assert result.returncode == 2 and "cannot read the password file" in result.stderr
    assert "key file" not in result.stderr and pbx.state.requests == []


def test_out_and_log_the_same_file_says_it_is_the_log(pbx, tmp_path: Path):
    roster(tmp_path, user("ann", "0101"))
    result = cli(pbx, tmp_path, "plan", "roster.yaml", "--out", "x.json", "--log", "x.json")
    assert result.returncode == 2 and "--out x.json is the log (--log x.json)" in result.stderr
    assert pbx.state.requests == []


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_a_bad_ca_file_is_said_over_http_too(pbx, tmp_path: Path, content):
    roster(tmp_path, user("ann", "0101"))
    if content is not None:
        (tmp_path / "ca.pem").write_text(content, "utf-8")
    result = cli(pbx, tmp_path, "plan", "roster.yaml", "--ca-file", str(tmp_path / "ca.pem"))
    assert result.returncode == 2 and f"--ca-file {tmp_path / 'ca.pem'}:" in result.stderr
    assert pbx.state.requests == []


# ---- 8. the demo key warns in plan and apply always; generate spares only the example itself -------

def test_plan_warns_of_the_demo_key_even_on_the_example(pbx, tmp_path: Path):
    shutil.copy(ROOT / "roster.example.yaml", tmp_path / "roster.example.yaml")
    planned = cli(pbx, tmp_path, "plan", "roster.example.yaml", env={"PORTSIP_ROSTER_KEY": DEMO_KEY})
    assert planned.returncode == 0, planned.stderr
    assert "demo key" in planned.stderr and "[key-file]" in planned.stderr


def test_generate_spares_the_example_by_its_content_not_its_name(tmp_path: Path):
    example = (ROOT / "roster.example.yaml").read_bytes()
    (tmp_path / "copy.yaml").write_bytes(example.replace(b"\n", b"\r\n"))
    spared = run_module("generate", "copy.yaml", cwd=tmp_path, env={"PORTSIP_ROSTER_KEY": DEMO_KEY})
    assert spared.returncode == 0 and "demo key" not in spared.stderr
    (tmp_path / "roster.example.yaml").write_bytes(example.replace(b"users:\n", b"users:\n" + b"\n", 1))
    warned = run_module("generate", "roster.example.yaml", cwd=tmp_path, env={"PORTSIP_ROSTER_KEY": DEMO_KEY})
    assert warned.returncode == 0 and "demo key" in warned.stderr


def test_the_examples_fingerprint_is_the_shipped_examples():
    from generator.secrets.sources import is_example

    assert is_example(ROOT / "roster.example.yaml"), "roster.example.yaml changed: update EXAMPLE_SHA256"


def test_a_replace_whose_delete_answer_is_lost_makes_the_user_again_over_http(pbx, tmp_path: Path, monkeypatch):
    """The delete is done, its answer lost (the connection drops), the client's retry gets 404."""
    answer = Handler._answer
    lost = {"n": 1}

    def dropping(self, status, body=None, headers=None):
        if lost["n"] and self.path.endswith("/destroy"):
            lost["n"] -= 1
            self.close_connection = True
            self.connection.shutdown(2)
            return
        answer(self, status, body, headers)

    monkeypatch.setattr(Handler, "_answer", dropping)
    pbx.state.add_user("dave", "0104")
    roster(tmp_path, user("dave", "0105"))
    applied = cli(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--replace", "dave")
    assert applied.returncode == 0, applied.stderr
    assert lost["n"] == 0 and [(u["name"], u["extension_number"]) for u in pbx.state.users.values()] == [
        ("dave", "0105")]
