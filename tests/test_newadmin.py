"""What a new admin met trying the tool from the README against the fake PBX,
each held here: the next step a refusal names, counts in the right words, a
diff without a line that says nothing."""

from __future__ import annotations

from pathlib import Path

from conftest import HEAD, run_module, user
from fakepbx import ACCOUNT, FakeServer


def write(folder: Path, text: str) -> None:
    (folder / "roster.yaml").write_text(text, "utf-8")


def sync(pbx: FakeServer, folder: Path, *args: str, env: dict | None = None):
    login = ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--allow-http"]
    return run_module(*args, *login, cwd=folder, env={"PORTSIP_PASSWORD": ACCOUNT["password"], **(env or {})})


PHONE = "phones: [{{mac: '{mac}', model: T, vendor: Yealink, filename: y.xml, timezone: GMT+0:00 London}}]"
PHONE_DEFAULTS = "  phone_defaults: {password: {generate: true}}\n"


def test_apply_without_the_key_names_the_key_and_counts_phones_as_phones(pbx, tmp_path):
    # Two new users, three new phones, every secret generated, and no master key at hand: apply must say
    # that the key is what is missing (not "generate it": it is generated), and count phones as phones.
    pbx.state.add_user("ann", "1001")
    phones = "phones: [{mac: '0c:38:3e:00:00:01', model: T, vendor: Y, filename: y.xml, timezone: GMT+0:00 London}," \
             " {mac: '0c:38:3e:00:00:02', model: T, vendor: Y, filename: y.xml, timezone: GMT+0:00 London}]"
    write(tmp_path, HEAD.replace("users:\n", PHONE_DEFAULTS + "users:\n") + user("ann", "1001")
          + user("new.one", "1002", phones) + user("new.two", "1003", PHONE.format(mac="0c:38:3e:00:00:03")))
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", env={"PORTSIP_ROSTER_KEY": ""})
    assert applied.returncode == 1, applied.stderr
    lines = [line for line in applied.stderr.splitlines() if "[secret-missing]" in line]
    assert lines and all("no master key: set PORTSIP_ROSTER_KEY or pass --key-file" in line for line in lines), lines
    assert not any("or generate it" in line for line in lines), lines
    phone = [line for line in lines if "phones[" in line]
    assert len(phone) == 1 and "(3 phones in all, the first shown here)" in phone[0], lines
    assert any("(2 users in all, the first shown here)" in line for line in lines if "phones[" not in line), lines
    assert pbx.state.writes() == []


def test_apply_without_an_environment_secret_names_the_variable(pbx, tmp_path):
    write(tmp_path, HEAD + user("new.one", "1002", "voicemail_pin: {env: ROSTER_SECRET_PIN_NEW}"))
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", env={"ROSTER_SECRET_PIN_NEW": ""})
    assert applied.returncode == 1, applied.stderr
    assert "voicemail_pin: apply sends this secret" in applied.stderr, applied.stderr
    assert "set the environment variable ROSTER_SECRET_PIN_NEW [secret-missing]" in applied.stderr
    assert pbx.state.writes() == []


def test_diff_of_a_first_phone_has_no_line_from_an_empty_list_to_none(tmp_path):
    # A user with no phone is an empty phones cell; its first phone is told by its own fields. The empty
    # list turned into "(none)" said nothing true ("phones: [] -> (none)" beside phones[0].mac being added).
    phone = PHONE.format(mac="0c:38:3e:00:00:01").replace("}]", ", password: 'Ph0ne-Pa55!x'}]")
    (tmp_path / "old.yaml").write_text(HEAD + user("ann", "1001"), "utf-8")
    (tmp_path / "new.yaml").write_text(HEAD + user("ann", "1001", phone), "utf-8")
    for old, new, mac in (("old.yaml", "new.yaml", '(none) -> "0c:38:3e:00:00:01"'),
                          ("new.yaml", "old.yaml", '"0c:38:3e:00:00:01" -> (none)')):
        result = run_module("diff", old, new, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"phones[0].mac: {mac}" in result.stdout, result.stdout
        assert "phones: " not in result.stdout, result.stdout


def test_a_phone_added_to_the_starter_roster_is_told_where_its_password_and_timezone_go(tmp_path):
    # init's roster has no phone_defaults: the first phone an admin adds lacks a password and a timezone.
    assert run_module("init", "-o", "roster.yaml", cwd=tmp_path).returncode == 0
    path = tmp_path / "roster.yaml"
    text = path.read_text("utf-8") + "    phones:\n      - {mac: '0c:38:3e:00:00:01', model: T, vendor: Y, " \
                                     "filename: y.xml}\n"
    path.write_text(text, "utf-8")
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1
    for name in ("password", "timezone"):
        assert f"phones[0]: missing required field {name} (give it in the phone, its model under phone_models, " \
               f"or defaults.phone_defaults) [schema-required]" in result.stderr, result.stderr
    path.write_text(text.replace("\ndefaults:\n", "\ndefaults:\n  phone_defaults: {password: {generate: true}, "
                                                   "timezone: GMT+0:00 London}\n"), "utf-8")
    assert run_module("validate", "roster.yaml", cwd=tmp_path).returncode == 0


def _block(text: str, fence: str) -> str:
    return text.split(f"```{fence}\n", 1)[1].split("```", 1)[0]


def test_the_docs_gitignore_keeps_the_review_copies_their_ci_job_checks(tmp_path):
    # docs/git-workflow.md's CI job checks `--check review/` (review/<roster>.csv); its .gitignore for a
    # repository of rosters ignored every *.csv but *.review.csv, so `git add review/` took none of them
    # and the job failed on "missing" however often they were made.
    import subprocess

    from conftest import ROOT

    doc = (ROOT / "docs" / "git-workflow.md").read_text("utf-8")
    assert "generate rosters/*.yaml --redact --check review/" in doc
    (tmp_path / ".gitignore").write_text(_block(doc, "gitignore"), "utf-8")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    paths = ["review/acme.csv", "users.review.csv", "users.csv", "new-users.csv", "roster.secrets.yaml", "t.key"]
    ran = subprocess.run(["git", "check-ignore", *paths], cwd=tmp_path, capture_output=True, text=True)
    assert ran.stdout.split() == ["users.csv", "new-users.csv", "roster.secrets.yaml", "t.key"], ran


def test_a_plan_deleting_only_phones_says_so_on_its_first_line(pbx, tmp_path):
    # `phones: []` with --prune deletes a user's two phones: the first line said "0 to delete" and nothing
    # else, in a pull-request comment too; only the thresholds line below it counted the phones.
    pbx.state.add_user("ann", "1001", ("0c:38:3e:00:00:01", "0c:38:3e:00:00:02"))
    pbx.state.add_user("bob", "1002")
    write(tmp_path, HEAD + user("ann", "1001", "phones: []") + user("bob", "1002"))
    for style in ("text", "markdown"):
        planned = sync(pbx, tmp_path, "plan", "roster.yaml", "--prune", "--force", "--format", style)
        assert planned.returncode == 0, planned.stderr
        head = planned.stdout.splitlines()[0]
        assert head.endswith("0 to delete, 0 left alone; phones: 2 to delete"), head
    unpruned = sync(pbx, tmp_path, "plan", "roster.yaml").stdout.splitlines()[0]
    assert unpruned.endswith("0 to delete, 0 left alone"), unpruned  # nothing of a phone is done: no tail


def test_a_plan_past_its_thresholds_says_apply_refuses_it_not_that_nothing_was_changed(pbx, tmp_path):
    # `plan` never changes anything: "nothing was changed ... run again with --force" read as if it had
    # tried to. It says what apply will do and how to let it; apply keeps its own words.
    for n in range(1, 5):
        pbx.state.add_user(f"u{n}", f"20{n}", display_name=f"U{n}")
    write(tmp_path, HEAD + user("u1", "201"))
    planned = sync(pbx, tmp_path, "plan", "roster.yaml", "--prune")
    assert planned.returncode == 1
    assert ("past its thresholds (3 deletes where at most 1 may go, of 4 users on the PBX): apply refuses it. "
            "Check the plan; if it is meant, apply it with --force (or raise --max-deletes)") in planned.stderr
    assert "nothing was changed" not in planned.stderr
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--prune", "--yes")
    assert applied.returncode == 1 and "nothing was changed. Check the plan; if it is meant, run again with " \
                                      "--force" in applied.stderr, applied.stderr
    assert len(pbx.state.users) == 4


def test_the_exit_code_of_a_pbx_that_cannot_be_reached_is_in_the_help(pbx, tmp_path):
    # A refused login or an unreachable PBX exits 2; the help's exit codes gave 2 to bad usage alone.
    write(tmp_path, HEAD + user("ann", "1001"))
    refused = sync(pbx, tmp_path, "plan", "roster.yaml", env={"PORTSIP_PASSWORD": "not-the-password"})
    assert refused.returncode == 2 and "/auth/sign_in: 401" in refused.stderr, refused.stderr
    for command in ("plan", "apply", "import"):
        shown = " ".join(run_module(command, "-h", env={"COLUMNS": "200"}).stdout.split())
        assert "2 bad usage, or a PBX that cannot be reached or read (a refused login included)" in shown, command


def test_every_relative_link_in_the_docs_leads_to_a_file():
    # docs/roster.md linked schemas/... from docs/, where there is no such folder.
    import re

    from conftest import ROOT

    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text("utf-8")):
            path = target.split("#", 1)[0]
            if path and "://" not in path and not path.startswith("mailto:") and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []
