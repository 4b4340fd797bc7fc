"""The git workflow: import an export, diff two versions, generate only what is
new, check a committed CSV, several rosters at once, and shared includes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CASES, ROOT, read_csv, run_module

from generator.compare.formats import md as escaped

FIXTURES = Path(__file__).parent / "fixtures"
# Golden CSVs that the tool makes with its default options.
GOLDEN = sorted(p for p in CASES.iterdir() if (p / "expected.csv").is_file() and not (p / "args.txt").exists())


def cells(text: str) -> dict[str, dict[str, object]]:
    """Rows by user name; JSON cells as data, so key order does not matter."""
    header, *rows = read_csv(text.removeprefix("\ufeff"))

    def value(cell: str):
        return json.loads(cell) if cell[:1] in ("{", "[") else cell

    return {row[0]: {c: value(v) for c, v in zip(header, row)} for row in rows}


# ---- import ----------------------------------------------------------------------

@pytest.mark.parametrize("case", GOLDEN, ids=lambda p: p.name)
def test_import_then_generate_gives_the_same_bytes(case, tmp_path):
    export = tmp_path / "export.csv"
    shutil.copy(case / "expected.csv", export)
    imported = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "gives back every cell of export.csv" in imported.stderr
    roster = (tmp_path / "roster.yaml").read_text("utf-8")
    secrets = tmp_path / "roster.secrets.yaml"
    assert secrets.stat().st_mode & 0o077 == 0
    generated = run_module("generate", "roster.yaml", "--secrets", secrets.name, cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout == export.read_text("utf-8")
    # No secret of the export is left in the roster.
    for row in cells(export.read_text("utf-8")).values():
        for field in ("password", "extension_password"):
            assert f"{row[field]}" not in roster


def test_import_is_compact(tmp_path):
    shutil.copy(CASES / "example" / "expected.csv", tmp_path / "export.csv")
    assert run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path).returncode == 0
    roster = (tmp_path / "roster.yaml").read_text("utf-8")
    assert "email: '{{ name }}@brightsmile.example'" in roster  # a shared pattern became a computed default
    assert "SIP-T32G: {vendor: Yealink, filename: yealinkT3x.ph.xml}" in roster  # per model, once
    assert roster.count("timezone:") == 1  # shared by every phone: in phone_defaults
    assert "extension_number: '0101'" in roster  # identifiers stay strings, quoted
    assert "hours: {wednesday: '12:30-13:30'}" in roster  # compact forms where they expand back exactly
    assert len(roster.splitlines()) < 110


def test_import_excel_export(tmp_path):
    """BOM, CRLF, every cell quoted, and a column PortSIP does not have."""
    shutil.copy(FIXTURES / "export-excel.csv", tmp_path / "export.csv")
    imported = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "warning: column 'department' is not a PortSIP v22 column" in imported.stderr
    roster = (tmp_path / "roster.yaml").read_text("utf-8")
    assert "extra_columns:\n  - {name: department, after: display_name}" in roster
    generated = run_module("generate", "roster.yaml", "--secrets", "roster.secrets.yaml", cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    want = cells((tmp_path / "export.csv").read_text("utf-8-sig"))
    got = cells(generated.stdout)
    assert got == want
    assert read_csv(generated.stdout)[0] == read_csv((tmp_path / "export.csv").read_text("utf-8-sig"))[0]
    assert got["dr.anna.kim"]["department"] == 'Clinic "North"'


def test_import_literal_secrets_and_refusals(tmp_path):
    shutil.copy(CASES / "minimal-v16" / "expected.csv", tmp_path / "export.csv")
    literal = run_module("import", "export.csv", "-o", "roster.yaml", "--literal-secrets", cwd=tmp_path)
    assert literal.returncode == 0, literal.stderr
    assert not (tmp_path / "roster.secrets.yaml").exists()
    assert "pbx_version: v16" in (tmp_path / "roster.yaml").read_text()
    again = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "roster.yaml exists; pass --force" in again.stderr


def test_import_of_values_that_break_the_rules_writes_and_says_so(tmp_path):
    export = (CASES / "minimal-v22" / "expected.csv").read_text("utf-8")
    header, row = read_csv(export)
    row[header.index("password")] = "short"
    (tmp_path / "export.csv").write_text(",".join(header) + "\r\n" + ",".join(
        f'"{c}"' if any(x in c for x in ',"') else c for c in (v.replace('"', '""') for v in row)) + "\r\n")
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "user jim1: password: must be at least 6 characters (the value from the secrets file)" in result.stderr
    assert "roster.yaml is written, but the export's values break the rules above" in result.stderr
    assert "short" not in result.stderr
    assert (tmp_path / "roster.yaml").is_file()


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"name,foo\r\njim,1\r\n", "is not a PortSIP user export this tool knows"),
    (b"\xff\xfename\r\n", "is not UTF-8"),
])
def test_import_rejects_what_is_not_an_export(tmp_path, content, message):
    (tmp_path / "export.csv").write_bytes(content)
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "roster.yaml").exists()


# ---- diff ------------------------------------------------------------------------

@pytest.fixture
def repo(tmp_path):
    """A git repository holding the example roster, committed."""
    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    shutil.copy(ROOT / "roster.example.yaml", tmp_path / "roster.yaml")
    git("init", "-q")
    git("add", "roster.yaml")
    git("commit", "-qm", "roster")
    return tmp_path


def change_roster(folder: Path) -> None:
    """Tom's phone replaced, Tom's secrets rotated, Sam gone, Kate new."""
    path = folder / "roster.yaml"
    text = path.read_text()
    text = text.replace('{mac: "cc:5e:f8:41:b7:95", model: SIP-T32G}', '{mac: "cc:5e:f8:41:b7:99", model: SIP-T32G}')
    text = text.replace("    rotate: 1 ", "    rotate: 2 ")
    start = text.index("  - name: sam.patel")
    text = text[:start] + text[text.index("  - name: hygiene.room"):]
    text += '\n  - name: kate.new\n    display_name: Kate New\n    extension_number: "0501"\n'
    path.write_text(text)


def test_diff_against_a_git_revision(repo):
    change_roster(repo)
    result = run_module("diff", "--base", "HEAD", "roster.yaml", cwd=repo)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("1 added, 1 removed, 1 changed (roster.yaml at HEAD -> roster.yaml)")
    assert "  + kate.new  (extension 0501)" in out
    assert "  - sam.patel  (extension 0301)" in out
    assert "delete them in the portal" in out and "edit them in the portal" in out
    assert '      phones[0].mac: "cc:5e:f8:41:b7:95" -> "cc:5e:f8:41:b7:99"' in out
    assert "      password: changed (secret, not shown)" in out
    assert "dr.anna.kim" not in out


def test_diff_never_shows_a_secret(repo):
    change_roster(repo)
    old = run_module("generate", "roster.example.yaml", cwd=ROOT).stdout
    new = run_module("generate", "roster.yaml", cwd=repo).stdout
    secrets = {row[f] for row in [*cells(old).values(), *cells(new).values()]
               for f in ("password", "extension_password", "voicemail_pin")}
    secrets |= {p["password"] for row in cells(new).values() for p in row["phones"]}
    for fmt in ("text", "markdown", "json"):
        out = run_module("diff", "--base", "HEAD", "roster.yaml", "--format", fmt, cwd=repo).stdout
        assert not [s for s in secrets if s in out], fmt


def test_diff_formats_and_exit_code(repo):
    change_roster(repo)
    md = run_module("diff", "--base", "HEAD", "roster.yaml", "--format", "markdown", "--exit-code", cwd=repo)
    assert md.returncode == 2  # --exit-code: 2 for "there are changes"
    assert md.stdout.startswith("### PortSIP roster diff: 1 added, 1 removed, 1 changed")
    assert f"<code>{escaped('phones[0].mac')}</code>: <code>{escaped(chr(34) + 'cc:5e:f8:41:b7:95' + chr(34))}</code>" \
        in md.stdout
    data = json.loads(run_module("diff", "--base", "HEAD", "roster.yaml", "--format", "json", cwd=repo).stdout)
    assert [u["name"] for u in data["added"]] == ["kate.new"]
    assert [u["name"] for u in data["removed"]] == ["sam.patel"]
    changes = data["changed"][0]["changes"]
    assert {"field": "password", "secret": True} in changes
    assert {"field": "phones[0].mac", "old": "cc:5e:f8:41:b7:95", "new": "cc:5e:f8:41:b7:99"} in changes
    same = run_module("diff", "roster.yaml", "roster.yaml", "--exit-code", cwd=repo)
    assert same.returncode == 0 and same.stdout.startswith("no differences")


def test_diff_without_the_key_still_sees_rotation(repo):
    change_roster(repo)
    result = run_module("diff", "--base", "HEAD", "roster.yaml", cwd=repo, env={"PORTSIP_ROSTER_KEY": ""})
    assert result.returncode == 0, result.stderr
    assert "      voicemail_pin: changed (secret, not shown)" in result.stdout


def test_diff_two_csvs_and_a_roster_against_a_csv(repo):
    (repo / "old.csv").write_text(run_module("generate", "roster.yaml", cwd=repo).stdout)
    change_roster(repo)
    (repo / "new.csv").write_text(run_module("generate", "roster.yaml", cwd=repo).stdout)
    by_csv = run_module("diff", "old.csv", "new.csv", cwd=repo)
    by_roster = run_module("diff", "old.csv", "roster.yaml", cwd=repo)
    assert by_csv.stdout.splitlines()[1:] == by_roster.stdout.splitlines()[1:]
    assert "+ kate.new" in by_csv.stdout


@pytest.mark.parametrize("args, message", [
    (["diff", "roster.yaml"], "give OLD and NEW, or --base REV and one roster"),
    (["diff", "--base", "no-such-rev", "roster.yaml"], "cannot read roster.yaml at no-such-rev"),
    (["diff", "roster.yaml", "roster.yaml", "--format", "xml"], "'xml' is not one of"),
    (["diff", "missing.yaml", "roster.yaml"], "no file at missing.yaml"),
])
def test_diff_usage_errors(repo, args, message):
    result = run_module(*args, cwd=repo)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_diff_of_a_broken_roster_is_located(repo):
    (repo / "roster.yaml").write_text((repo / "roster.yaml").read_text().replace('"0102"', '"01x2"'))
    result = run_module("diff", "--base", "HEAD", "roster.yaml", cwd=repo)
    assert result.returncode == 1
    assert "roster.yaml:" in result.stderr and "extension_number: must be 3-64 digits" in result.stderr


# ---- generate --since and --check -----------------------------------------------------

def test_since_a_revision_writes_only_new_users(repo):
    change_roster(repo)
    result = run_module("generate", "roster.yaml", "--since", "HEAD", "-o", "new.csv", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "(1 user new since HEAD)" in result.stderr
    rows = read_csv((repo / "new.csv").read_text())
    assert [r[0] for r in rows[1:]] == ["kate.new"]
    full = cells(run_module("generate", "roster.yaml", cwd=repo).stdout)
    assert cells((repo / "new.csv").read_text())["kate.new"] == full["kate.new"]


def test_since_an_unknown_revision_is_a_usage_error(repo):
    result = run_module("generate", "roster.yaml", "--since", "no-such-rev", cwd=repo)
    assert result.returncode == 2 and "cannot read roster.yaml at no-such-rev" in result.stderr


def test_since_an_older_file(repo):
    shutil.copy(repo / "roster.yaml", repo / "old.yaml")
    change_roster(repo)
    rows = read_csv(run_module("generate", "roster.yaml", "--since", "old.yaml", cwd=repo).stdout)
    assert [r[0] for r in rows[1:]] == ["kate.new"]


def test_check_a_committed_csv(repo):
    assert run_module("generate", "roster.yaml", "-o", "users.csv", cwd=repo).returncode == 0
    fresh = run_module("generate", "roster.yaml", "--check", "users.csv", cwd=repo)
    assert fresh.returncode == 0 and "users.csv: up to date" in fresh.stderr
    change_roster(repo)
    stale = run_module("generate", "roster.yaml", "--check", "users.csv", cwd=repo)
    assert stale.returncode == 1
    assert "users.csv: stale" in stale.stderr and "+ kate.new" in stale.stdout
    assert "password: changed (secret, not shown)" in stale.stdout
    before = (repo / "users.csv").read_bytes()
    assert run_module("generate", "roster.yaml", "--check", "users.csv", cwd=repo).returncode == 1
    assert (repo / "users.csv").read_bytes() == before  # --check writes nothing
    missing = run_module("generate", "roster.yaml", "--check", "nope.csv", cwd=repo)
    assert missing.returncode == 1 and "nope.csv: missing" in missing.stderr


def test_check_a_redacted_copy_needs_no_key(repo):
    run_module("generate", "roster.yaml", "--redact", "-o", "review.csv", cwd=repo, env={"PORTSIP_ROSTER_KEY": ""})
    result = run_module("generate", "roster.yaml", "--redact", "--check", "review.csv", cwd=repo,
                        env={"PORTSIP_ROSTER_KEY": ""})
    assert result.returncode == 0, result.stderr


# ---- several rosters ----------------------------------------------------------------

def test_several_rosters_one_csv_each(tmp_path):
    rosters = tmp_path / "rosters"
    rosters.mkdir()
    shutil.copy(ROOT / "roster.example.yaml", rosters / "dental.yaml")
    shutil.copy(CASES / "minimal-v16" / "roster.yaml", rosters / "shop.yaml")
    result = run_module("generate", "rosters/dental.yaml", "rosters/shop.yaml", "--out-dir", "build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == ["dental.csv", "shop.csv"]
    assert len(read_csv((tmp_path / "build" / "shop.csv").read_text())[0]) == 31
    check = run_module("generate", "rosters/dental.yaml", "rosters/shop.yaml", "--check", "build", cwd=tmp_path)
    assert check.returncode == 0, check.stderr


def test_several_rosters_all_or_nothing(tmp_path):
    shutil.copy(ROOT / "roster.example.yaml", tmp_path / "good.yaml")
    (tmp_path / "bad.yaml").write_text("pbx_version: v22\nusers:\n  - name: x\n")
    result = run_module("generate", "good.yaml", "bad.yaml", "--out-dir", "build", cwd=tmp_path)
    assert result.returncode == 1 and "bad.yaml:" in result.stderr
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("args, message", [
    (["a.yaml", "b.yaml"], "several rosters need --out-dir DIR"),
    (["a.yaml", "b.yaml", "-o", "x.csv"], "-o takes one roster"),
    (["a.yaml", "sub/a.yaml", "--out-dir", "build"], "two rosters would write the same file: a.csv"),
])
def test_several_rosters_usage(tmp_path, args, message):
    (tmp_path / "sub").mkdir()
    for name in ("a.yaml", "b.yaml", "sub/a.yaml"):
        shutil.copy(ROOT / "roster.example.yaml", tmp_path / name)
    result = run_module("generate", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr


def test_validate_several_rosters(tmp_path):
    shutil.copy(ROOT / "roster.example.yaml", tmp_path / "good.yaml")
    (tmp_path / "bad.yaml").write_text("pbx_version: v22\nusers:\n  - name: x\n")
    result = run_module("validate", "good.yaml", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "bad.yaml:" in result.stderr


# ---- include ---------------------------------------------------------------------------

COMPANY = """\
defaults:
  email: "{{ name }}@acme.example"
  voicemail_prompt: de-DE
  password: {generate: true}
  extension_password: {generate: true}
  voicemail_pin: {generate: true}
profiles:
  sales: {role: QueueManager, enable_audio_recording: true}
"""
TENANT = """\
pbx_version: v22
include: [shared/company.yaml]
defaults:
  voicemail_prompt: en-GB
profiles:
  sales: {enable_audio_recording: false}
users:
  - {name: ann, display_name: Ann Lee, extension_number: "101", profiles: [sales]}
"""


def test_include_merges_shared_layers_below_the_rosters_own(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "company.yaml").write_text(COMPANY)
    (tmp_path / "roster.yaml").write_text(TENANT)
    result = run_module("generate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ann = cells(result.stdout)["ann"]
    assert ann["email"] == "ann@acme.example"  # from the included defaults
    assert ann["voicemail_prompt"] == "en-GB"  # the roster's own defaults win
    assert ann["role"] == "QueueManager" and ann["enable_audio_recording"] == "FALSE"  # profile merged
    explain = run_module("explain", "roster.yaml", "ann", cwd=tmp_path).stdout
    assert "shared/company.yaml:2:" in explain


def test_include_problems_are_located_in_the_included_file(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "company.yaml").write_text(COMPANY.replace("voicemail_prompt", "voicemail_promt"))
    (tmp_path / "roster.yaml").write_text(TENANT)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "shared/company.yaml:3:3: defaults.voicemail_promt: unknown field" in result.stderr


def test_include_missing_file_and_cycle(tmp_path):
    (tmp_path / "roster.yaml").write_text(TENANT.replace("shared/company.yaml", "nope.yaml"))
    missing = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert missing.returncode == 1
    assert "roster.yaml:2:11: include: no such file: nope.yaml" in missing.stderr
    (tmp_path / "a.yaml").write_text("include: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("include: [a.yaml]\n")
    (tmp_path / "roster.yaml").write_text(TENANT.replace("shared/company.yaml", "a.yaml"))
    cycle = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert cycle.returncode == 1
    assert "b.yaml:1:11: include: include cycle: a.yaml -> b.yaml -> a.yaml" in cycle.stderr
    (tmp_path / "roster.yaml").write_text(TENANT.replace("shared/company.yaml", "roster.yaml"))
    itself = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert "include cycle: roster.yaml -> roster.yaml" in itself.stderr


def test_no_literal_secrets_looks_into_included_files(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "company.yaml").write_text(COMPANY.replace("voicemail_pin: {generate: true}",
                                                                      'voicemail_pin: "409296"'))
    (tmp_path / "roster.yaml").write_text(TENANT)
    result = run_module("validate", "--no-literal-secrets", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "shared/company.yaml:6:18: voicemail_pin: a literal secret in the roster" in result.stderr


def test_an_included_file_may_not_hold_users(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "company.yaml").write_text(COMPANY + "users: []\n")
    (tmp_path / "roster.yaml").write_text(TENANT)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "shared/company.yaml:9:1: users: unknown field 'users'" in result.stderr


# ---- pre-commit ------------------------------------------------------------------------------

def test_pre_commit_hooks_name_real_commands():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    ids = {hook["id"]: hook for hook in hooks}
    assert set(ids) == {"portsip-roster-validate", "portsip-roster-check"}
    for hook in hooks:
        assert hook["entry"].startswith("portsip-roster ")
        assert hook["language"] == "python"
        command = hook["entry"].split()[1]
        assert run_module(command, "--help").returncode == 0
