"""What a new admin trips over: one test per item of the issue that listed
them (each failed on the code before its fix)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import DEMO_KEY, MINIMAL_USER, ROOT, run_module, run_real

GOOD = "pbx_version: v22\nusers:\n" + MINIMAL_USER
NO_KEY = {"PORTSIP_ROSTER_KEY": ""}


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=folder, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path):
    shutil.copy(ROOT / "roster.example.yaml", tmp_path / "roster.yaml")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "roster")
    return tmp_path


# 2. diff without the key counts no generated secret as changed
def test_diff_against_a_csv_without_the_key_says_secrets_were_not_compared(repo):
    made = run_module("generate", "roster.yaml", "-o", "users.csv", cwd=repo)
    assert made.returncode == 0
    with_key = run_module("diff", "users.csv", "roster.yaml", "--exit-code", cwd=repo)
    without = run_module("diff", "users.csv", "roster.yaml", "--exit-code", cwd=repo, env=NO_KEY)
    assert with_key.returncode == 0 and "no differences" in with_key.stdout
    assert without.returncode == 0, without.stdout
    assert "no differences" in without.stdout
    assert without.stdout.count("not compared") == 1 and "27 secrets not compared" in without.stdout


# 3. diff --base without the key still shows a phone's password changing with its MAC
def test_a_new_mac_changes_the_phones_password_without_the_key(repo):
    text = (repo / "roster.yaml").read_text("utf-8")
    (repo / "roster.yaml").write_text(text.replace('"cc:5e:f8:41:b7:95"', '"cc:5e:f8:41:b7:99"'), "utf-8")
    result = run_module("diff", "--base", "HEAD", "roster.yaml", cwd=repo, env=NO_KEY)
    assert "phones[0].mac" in result.stdout
    assert "phones[0].password: changed (secret, not shown)" in result.stdout


# 4. vendor and filename belong to the phone's model
def test_import_puts_vendor_and_filename_in_phone_models(tmp_path):
    csv_bytes = run_module("generate", "roster.example.yaml").stdout_bytes
    (tmp_path / "export.csv").write_bytes(csv_bytes)
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    from generator.load import load_text

    data = load_text((tmp_path / "roster.yaml").read_text("utf-8"), "roster.yaml")[0].data
    phone_defaults = data["defaults"].get("phone_defaults", {})
    assert "vendor" not in phone_defaults and "filename" not in phone_defaults
    assert all({"vendor", "filename"} <= set(model) for model in data["phone_models"].values())


def test_a_phone_of_a_model_without_vendor_names_the_model_and_the_known_ones(tmp_path):
    text = ("pbx_version: v22\nphone_models:\n  SIP-T32G: {vendor: Yealink, filename: y.xml}\nusers:\n" + MINIMAL_USER
            + "    phones: [{mac: 'cc:5e:f8:41:b7:95', model: SIP-T33G, password: 'Ph0ne-Pass!', timezone: UTC}]\n")
    path = tmp_path / "roster.yaml"
    path.write_text(text)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1
    line = next(line for line in result.stderr.splitlines() if "[unknown-phone-model]" in line)
    assert "'SIP-T33G'" in line and "did you mean 'SIP-T32G'?" in line and "known models: SIP-T32G" in line


# spellings: enums in any case, MACs in any common form
def test_the_guides_spellings_are_accepted_and_written_as_documented(tmp_path):
    text = (GOOD + "    phones: [{mac: '0C-38-3E-63-FE-E8', model: M, vendor: V, filename: f.xml, "
            "password: 'Ph0ne-Pass!', timezone: UTC, language: English}]\n"
            "  - {name: kate, extension_number: '102', email: k@example.com, display_name: Kate, "
            "password: 'Pa55word!y', extension_password: 'Ext-Pa55!y', voicemail_pin: '409297', "
            "phones: [{mac: 0c38.3e63.fee9, model: M, "
            "vendor: V, filename: f.xml, password: 'Ph0ne-Pass!', timezone: UTC}]}\n")
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("generate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '""mac"":""0c:38:3e:63:fe:e8""' in result.stdout and '""mac"":""0c:38:3e:63:fe:e9""' in result.stdout
    assert '""language"":""ENGLISH""' in result.stdout


def test_macs_are_duplicates_after_normalising(tmp_path):
    phone = "{mac: '%s', model: M, vendor: V, filename: f.xml, password: 'Ph0ne-Pass!', timezone: UTC}"
    text = (GOOD + f"    phones: [{phone % '0C383E63FEE8'}, {phone % '0c:38:3e:63:fe:e8'}]\n")
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "[duplicate]" in result.stderr


def test_door_codes_need_only_four_to_eight_digits(tmp_path):
    text = (GOOD + "    phones: [{mac: '0c:38:3e:63:fe:e8', model: M, vendor: V, filename: f.xml, "
            "password: 'Ph0ne-Pass!', timezone: UTC, door_password1: '1234'}]\n")
    (tmp_path / "roster.yaml").write_text(text)
    assert run_module("validate", "roster.yaml", cwd=tmp_path).returncode == 0


# 7. a duplicate key does not hide the rest of the file's problems
def test_a_duplicate_key_and_a_duplicate_extension_in_one_run(tmp_path):
    text = GOOD.replace("    email:", "    email: a@example.com\n    email:") + MINIMAL_USER.replace("jim1", "kate")
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert "[yaml-duplicate-key]" in result.stderr and "[duplicate]" in result.stderr


# 8. unknown keys with an apostrophe
@pytest.mark.parametrize("text", ["policy: {password: {\"min'length\": 12}}\n",
                                  "users:\n  - name: x\n    o'brien: 1\n"])
def test_unknown_keys_with_an_apostrophe_are_named(tmp_path, text):
    roster = "pbx_version: v22\n" + text if text.startswith("policy") else "pbx_version: v22\n" + text
    if text.startswith("policy"):
        roster += "users:\n" + MINIMAL_USER
    (tmp_path / "roster.yaml").write_text(roster)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "[schema-unknown-field]" in result.stderr
    assert "'" in result.stderr.split("unknown field", 1)[1].splitlines()[0]


# 9, 10. words
def test_a_version_without_v_gets_a_suggestion_and_no_path(tmp_path):
    (tmp_path / "roster.yaml").write_text(GOOD)
    result = run_module("generate", "roster.yaml", "--pbx-version", "22", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown PBX version '22' (known: v16, v22); did you mean v22?" in result.stderr
    assert "site-packages" not in result.stderr and "/" not in result.stderr.split("error:", 1)[1]


def test_one_user_is_one_user(tmp_path):
    (tmp_path / "roster.yaml").write_text(GOOD)
    result = run_module("generate", "roster.yaml", "-o", "out.csv", cwd=tmp_path)
    assert "(1 user)" in result.stderr


# messages: one line per cause, help
def test_without_the_key_one_line_per_cause(tmp_path):
    result = run_module("generate", str(ROOT / "roster.example.yaml"), "-o", str(tmp_path / "o.csv"), env=NO_KEY)
    assert result.returncode == 1
    assert sum("[secret-missing]" in line for line in result.stderr.splitlines()) == 1


def test_redact_needs_no_key_and_warns_of_none(tmp_path):
    result = run_module("generate", str(ROOT / "roster.example.yaml"), "--redact", env=NO_KEY)
    assert result.returncode == 0 and "warning" not in result.stderr


@pytest.mark.parametrize("command", ["generate", "validate", "diff", "explain", "import", "keygen", "columns"])
def test_help_lists_exit_codes_and_h_works(command):
    result = run_module(command, "-h")
    assert result.returncode == 0
    assert "Exit codes" in result.stdout


def test_help_shows_choices():
    assert "text|markdown|json" in run_module("diff", "-h").stdout.replace(" ", "")
    assert "v16|v22" in run_module("generate", "-h").stdout
    assert "ROSTER..." in run_module("generate", "-h").stdout


def test_keygen_writes_an_owner_only_file_and_never_overwrites(tmp_path):
    assert run_module("keygen", "-o", "k.key", cwd=tmp_path).returncode == 0
    assert (tmp_path / "k.key").stat().st_mode & 0o077 == 0
    first = (tmp_path / "k.key").read_text()
    assert run_module("keygen", "-o", "k.key", cwd=tmp_path).returncode == 2
    assert (tmp_path / "k.key").read_text() == first and len(first.strip()) >= 32 and first.strip() != DEMO_KEY


def test_check_a_folder_fails_on_a_csv_no_roster_makes(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(GOOD)
    assert run_module("generate", "a.yaml", "b.yaml", "--out-dir", "out", cwd=tmp_path).returncode == 0
    assert run_module("generate", "a.yaml", "b.yaml", "--check", "out", cwd=tmp_path).returncode == 0
    (tmp_path / "out" / "gone.csv").write_text("name\n")
    result = run_module("generate", "a.yaml", "b.yaml", "--check", "out", cwd=tmp_path)
    assert result.returncode == 1 and "gone.csv: no roster makes this file any more" in result.stderr


def test_check_says_a_hostile_file_name_escaped(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(GOOD)
    assert run_module("generate", "a.yaml", "b.yaml", "--out-dir", "out", cwd=tmp_path).returncode == 0
    (tmp_path / "out" / "x\x1b[31mRED.csv").write_text("name\n")  # committed by a pull request
    result = run_module("generate", "a.yaml", "b.yaml", "--check", "out", cwd=tmp_path)
    assert result.returncode == 1 and "\x1b" not in result.stderr + result.stdout
    assert "x\\u001b[31mRED.csv: no roster makes this file any more" in result.stderr


# 5. identifiers are quoted in what import writes
def test_import_quotes_every_identifier(tmp_path):
    csv_bytes = run_module("generate", "roster.example.yaml").stdout_bytes
    (tmp_path / "export.csv").write_bytes(csv_bytes)
    assert run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path).returncode == 0
    import re

    roster = (tmp_path / "roster.yaml").read_text("utf-8")
    secrets = (tmp_path / "roster.secrets.yaml").read_text("utf-8")
    assert re.search(r"extension_number: '0101'", roster)
    assert not re.search(r"(extension_number|number|value|key): [0-9+]", roster)
    assert not re.search(r"mac: [0-9a-f]", roster)
    assert not re.search(r"voicemail_pin: [0-9]", secrets)
    assert re.search(r"voicemail_pin: '[0-9]{6}'", secrets)


# 6. one user's mistake says nothing wrong about the others
def test_a_held_back_users_extension_still_counts(tmp_path):
    bob = MINIMAL_USER.replace("jim1", "bob").replace('"101"', '"102"').replace("409296", "409297")
    bob += "    offline_no_answer_forward_rule: '101'\n".replace("offline_no_answer", "offline_office_hours")
    bob += "    blfs: ['101']\n"
    text = "pbx_version: v22\nusers:\n" + MINIMAL_USER + "    enabled: maybe\n" + bob
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "user jim1: enabled" in result.stderr
    assert "user bob" not in result.stderr, result.stderr


def test_a_misspelt_extension_silences_unknown_targets_for_the_run(tmp_path):
    bob = MINIMAL_USER.replace("jim1", "bob").replace('"101"', '"102"').replace("409296", "409297")
    bob += "    blfs: ['101']\n"
    text = "pbx_version: v22\nusers:\n" + MINIMAL_USER.replace("extension_number", "extention_number") + bob
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert "extention_number" in result.stderr
    assert "user bob" not in result.stderr, result.stderr


def test_display_name_is_capped_at_128_on_v22_only(tmp_path):
    text = GOOD.replace("Jim Keeny", "J" * 129)
    (tmp_path / "roster.yaml").write_text(text)
    v22 = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert v22.returncode == 1 and "display_name: must be at most 128 characters long on PBX v22" in v22.stderr
    assert run_module("validate", "roster.yaml", "--pbx-version", "v16", cwd=tmp_path).returncode == 0


# messages: the demo key, and files others can read
def test_the_demo_key_on_another_roster_warns(tmp_path):
    text = GOOD.replace('"Pa55word!x"', "{generate: true}")
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("generate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0 and "[key-file]" in result.stderr and "demo key" in result.stderr
    own = run_module("generate", "roster.yaml", cwd=tmp_path, env={"PORTSIP_ROSTER_KEY": "x" * 24})
    assert "[key-file]" not in own.stderr
    example = run_module("generate", str(ROOT / "roster.example.yaml"))
    assert "[key-file]" not in example.stderr


@pytest.mark.parametrize("option", ["--key-file", "--secrets"])
def test_files_others_can_read_warn(tmp_path, option):
    (tmp_path / "roster.yaml").write_text(GOOD.replace('"Pa55word!x"', "{generate: true}"))
    target = tmp_path / "f.yaml"
    target.write_text("x" * 24 if option == "--key-file" else "{}\n")
    target.chmod(0o644)
    result = run_module("validate", "roster.yaml", option, "f.yaml", cwd=tmp_path)
    assert "can be read by others (mode 644): chmod 600" in result.stderr
    target.chmod(0o600)
    assert "can be read by others" not in run_module("validate", "roster.yaml", option, "f.yaml",
                                                     cwd=tmp_path).stderr


# messages: hints after PyYAML's words, and a profile without its list
@pytest.mark.parametrize("text, hint", [
    ("users:\n  - name: a\n    display_name: Dr: Who\n", "must be quoted"),
    ("users:\n\t- name: a\n", "indent with spaces"),
    ("pbx_version: v22\ndefaults:\n  - email: x\nusers: []\n", "remove the '- '"),
])
def test_common_yaml_mistakes_get_a_hint(tmp_path, text, hint):
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1 and hint in result.stderr


def test_one_profile_needs_no_list(tmp_path):
    text = "pbx_version: v22\nprofiles:\n  support: {role: QueueManager}\nusers:\n" + MINIMAL_USER + \
        "    profiles: support\n"
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("generate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ",QueueManager," in result.stdout


# import: the compact forms it can prove, and values a spreadsheet stripped
def test_import_writes_short_rule_forms_that_round_trip(tmp_path):
    (tmp_path / "export.csv").write_bytes(run_module("generate", "roster.example.yaml").stdout_bytes)
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0 and "gives back every cell" in result.stderr
    roster = (tmp_path / "roster.yaml").read_text("utf-8")
    assert "online_busy_forward_rule: '0101'" in roster
    assert "weekend: closed" in roster


def test_import_says_which_rows_a_spreadsheet_stripped(tmp_path):
    from conftest import read_csv

    header, *rows = read_csv(run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8"))
    ext, pin = header.index("extension_number"), header.index("voicemail_pin")
    rows[1][ext] = rows[1][ext].lstrip("0")  # 0102 -> 102, as a spreadsheet saves it
    rows[2][pin] = "93514"
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    (tmp_path / "export.csv").write_text(out.getvalue(), "utf-8")
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert "row 3: extension_number is shorter than most" in result.stderr
    assert "row 4: voicemail_pin has fewer than 6 digits" in result.stderr
    assert "93514" not in result.stderr


def test_secrets_written_into_a_git_tree_that_does_not_ignore_them_warn(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "export.csv").write_bytes(run_module("generate", "roster.example.yaml").stdout_bytes)
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert "roster.secrets.yaml is in a git work tree that does not ignore it" in result.stderr
    key = run_module("keygen", "-o", "tenant.key", cwd=tmp_path)
    assert "tenant.key is in a git work tree that does not ignore it" in key.stderr
    (tmp_path / ".gitignore").write_text("*.secrets.yaml\n*.key\n")
    again = run_module("import", "export.csv", "-o", "r2.yaml", cwd=tmp_path)
    assert "does not ignore it" not in again.stderr


# spellings: an export in the guide's spelling imports as a normalisation, not a failure
def test_import_counts_spellings_put_right_as_normalisations(tmp_path):
    text = run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8")
    text = text.replace('""language"":""ENGLISH""', '""language"":""English""').replace("0c:38:3e:63:fe:ea",
                                                                                       "0C-38-3E-63-FE-EA")
    (tmp_path / "export.csv").write_text(text, "utf-8")
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "note: language: English written ENGLISH" in result.stderr
    assert "note: mac: written as 0c:38:3e:63:fe:e8 (1x)" in result.stderr
    assert "spellings put right as noted" in result.stderr


def test_a_roster_version_without_v_gets_a_suggestion(tmp_path):
    (tmp_path / "roster.yaml").write_text("pbx_version: 22\nusers: []\n")
    assert "did you mean v22?" in run_module("validate", "roster.yaml", cwd=tmp_path).stderr


def test_a_secrets_file_that_does_not_parse_says_so(tmp_path):
    (tmp_path / "roster.yaml").write_text(GOOD.replace('"Pa55word!x"', "{secrets_file: true}"))
    (tmp_path / "s.yaml").write_text("jim1: {password: [unclosed\n")
    result = run_module("generate", "roster.yaml", "--secrets", "s.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "could not be read" in result.stderr and "has no entry" not in result.stderr


# issue 17: every problem in one run, not in rounds
def test_a_bad_pin_does_not_hide_the_passwords_problems(tmp_path):
    text = GOOD.replace('"Pa55word!x"', '"Pa5!"').replace('"Ext-Pa55!x"', '"abc"').replace("409296", "12a")
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "voicemail_pin: must be 6-10 digits" in result.stderr
    assert "password: must be at least 6 characters" in result.stderr
    assert "extension_password: must be at least 6 characters" in result.stderr
    # and a short password's other faults come with its length, not after it is fixed
    assert "extension_password: must contain a digit" in result.stderr
    assert "missing required field" not in result.stderr and "Pa5!" not in result.stderr


def test_a_held_back_user_is_checked_without_its_bad_field_only(tmp_path):
    text = GOOD.replace("    email: jim@example.com\n", "") + "    enabled: maybe\n"
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert "user jim1: enabled" in result.stderr and "missing required field email" in result.stderr


def _import_with(tmp_path, row: int, column: str, value: str):
    """`import` of the example roster's CSV with one cell written as given."""
    import csv
    import io

    from conftest import read_csv

    header, *rows = read_csv(run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8"))
    rows[row][header.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    (tmp_path / "export.csv").write_text(out.getvalue(), "utf-8")
    return run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)


# issue 17: rows written as the guide describes
def test_import_reads_the_guides_false_for_voicemail_play_datetime(tmp_path):
    result = _import_with(tmp_path, 0, "voicemail_play_datetime", "FALSE")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "voicemail_play_datetime: the guide's FALSE written DISABLE (1x)" in result.stderr


def test_the_guides_true_for_voicemail_play_datetime_says_what_to_write(tmp_path):
    result = _import_with(tmp_path, 0, "voicemail_play_datetime", "TRUE")
    assert result.returncode == 1
    assert "the guide's TRUE/FALSE: FALSE is DISABLE; for TRUE pick" in result.stderr
    assert "12_HOUR_CLOCK or 24_HOUR_CLOCK" in result.stderr


def test_import_of_the_guides_global_office_hours_round_trips(tmp_path):
    result = _import_with(tmp_path, 1, "office_hours", '{"mode":"GLOBAL"}')
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "office_hours: mode GLOBAL written with its seven days" in result.stderr and "(1x)" in result.stderr
    assert "office_hours: global" in (tmp_path / "roster.yaml").read_text("utf-8")


def test_a_user_with_global_hours_gets_no_days_from_the_defaults(tmp_path):
    text = ("pbx_version: v22\ndefaults:\n  office_hours: {weekdays: '08:00-17:00'}\nusers:\n" + MINIMAL_USER
            + "    office_hours: {mode: GLOBAL}\n")
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("generate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "08:00" not in result.stdout and '""mode"":""GLOBAL""' in result.stdout


def test_import_round_trip_headings_speak_of_the_export(tmp_path):
    # a week without its other days takes the defaults' days: not given back
    result = _import_with(tmp_path, 1, "office_hours", '{"mode":"CUSTOM","monday":{"enabled":true,"ranges":[]}}')
    assert result.returncode == 1 and "office_hours.friday" in result.stdout
    assert "edit them in the portal" not in result.stdout
    assert "Not given back as exported: generating the roster writes these cells otherwise" in result.stdout


def test_diff_does_not_call_an_unset_door_password_changed(tmp_path):
    csv_text = run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8")
    assert '""door_password1"":""""' in csv_text
    (tmp_path / "a.csv").write_text(csv_text.replace('""door_password1"":"""",', ""), "utf-8")
    (tmp_path / "b.csv").write_text(csv_text, "utf-8")
    result = run_module("diff", "a.csv", "b.csv", cwd=tmp_path)
    assert "door_password1" not in result.stdout and "no differences" in result.stdout


# issue 17: a spreadsheet's re-save drops every leading zero
def _resaved(csv_text: str) -> str:
    """The CSV as LibreOffice re-saves it: text cells quoted, numbers bare and without their leading zeros."""
    import io

    from conftest import read_csv

    out = io.StringIO()
    for row in read_csv(csv_text):
        cells = [cell.lstrip("0") or "0" if cell.isdigit() else '"' + cell.replace('"', '""') + '"' for cell in row]
        out.write(",".join(cells) + "\r\n")
    return out.getvalue()


def test_import_of_a_libreoffice_resave_says_the_zeros_are_gone(tmp_path):
    original = run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8")
    (tmp_path / "export.csv").write_text(_resaved(original), "utf-8")
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert "this file was re-saved by a spreadsheet" in result.stderr and "lost any leading zeros" in result.stderr
    (tmp_path / "plain.csv").write_text(original, "utf-8")
    plain = run_module("import", "plain.csv", "-o", "plain.yaml", cwd=tmp_path)
    assert "re-saved by a spreadsheet" not in plain.stderr


def test_diff_calls_out_a_change_that_only_drops_leading_zeros(tmp_path):
    original = run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8")
    (tmp_path / "resaved.csv").write_text(_resaved(original), "utf-8")
    result = run_module("diff", str(ROOT / "roster.example.yaml"), "resaved.csv", cwd=tmp_path)
    line = next(line for line in result.stdout.splitlines() if 'extension_number: "0201"' in line)
    assert line.strip() == ('extension_number: "0201" -> "201"  (only leading zeros differ: was a file re-saved by '
                            'a spreadsheet?)')
    markdown = run_module("diff", str(ROOT / "roster.example.yaml"), "resaved.csv", "--format", "markdown",
                          cwd=tmp_path)
    assert "only leading zeros differ" in markdown.stdout
    assert "voicemail_pin: changed (secret, not shown)" in result.stdout.replace("      ", "")


def test_plan_calls_out_an_extension_that_only_lost_its_zeros(tmp_path):
    from fakepbx import ACCOUNT, FakeServer

    text = "pbx_version: v22\nusers:\n" + MINIMAL_USER.replace('"101"', '"0101"')
    (tmp_path / "roster.yaml").write_text(text)
    env = {"PORTSIP_PASSWORD": ACCOUNT["password"]}
    with FakeServer() as pbx:
        login = ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--allow-http"]
        assert run_module("apply", "roster.yaml", "--yes", *login, cwd=tmp_path, env=env).returncode == 0
        (tmp_path / "roster.yaml").write_text(text.replace('"0101"', '"101"'))
        plan = run_module("plan", "roster.yaml", *login, cwd=tmp_path, env=env)
    assert 'extension_number: "0101" -> "101"  (only leading zeros differ' in plan.stdout, plan.stdout


# issue 17: words
def test_a_misspelt_case_suggests_the_field_itself(tmp_path):
    (tmp_path / "roster.yaml").write_text(GOOD + "    enable_DND: true\n")
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert "unknown field 'enable_DND' (did you mean 'enable_dnd'?)" in result.stderr


def test_a_tab_in_a_value_is_called_a_tab(tmp_path):
    (tmp_path / "roster.yaml").write_text(GOOD.replace("Jim Keeny", 'Jim\\tKeeny').replace(
        "display_name: Jim\\tKeeny", 'display_name: "Jim\\tKeeny"'))
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert "display_name: holds a tab: remove it [control-character]" in result.stderr, result.stderr


def test_a_control_character_in_a_secret_is_not_named(tmp_path):
    (tmp_path / "roster.yaml").write_text(GOOD.replace('"Pa55word!x"', '"Pa55\\tword!x"'))
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert "password: holds a control character (such as a line break, ESC or NUL)" in result.stderr
    assert "a tab" not in result.stderr


@pytest.mark.parametrize("hours", ["'08:00-24:00'", "{enabled: true, ranges: [{from: '08:00', to: '24:00'}]}"])
def test_midnight_as_24_00_gets_the_23_59_hint(tmp_path, hours):
    (tmp_path / "roster.yaml").write_text(GOOD + f"    office_hours: {{monday: {hours}}}\n")
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "write 23:59 for midnight" in result.stderr, result.stderr


def test_a_known_role_in_another_case_is_written_as_portsip_spells_it(tmp_path):
    (tmp_path / "roster.yaml").write_text(GOOD + "    role: admin\n" + MINIMAL_USER.replace("jim1", "kate").replace(
        '"101"', '"102"') + "    role: Support Lead\n")
    result = run_module("generate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    from conftest import read_csv

    header, *rows = read_csv(result.stdout)
    assert [row[header.index("role")] for row in rows] == ["Admin", "Support Lead"]


def test_a_stale_check_prints_the_command_that_regenerates(tmp_path):
    (tmp_path / "roster.yaml").write_text(GOOD)
    assert run_module("generate", "roster.yaml", "-o", "my users.csv", "--bom", cwd=tmp_path).returncode == 0
    (tmp_path / "roster.yaml").write_text(GOOD.replace("Jim Keeny", "Jim K"))
    result = run_module("generate", "roster.yaml", "--check", "my users.csv", "--bom", cwd=tmp_path)
    assert result.returncode == 1
    assert "  run: portsip-roster generate roster.yaml -o 'my users.csv' --bom\n" in result.stderr
    (tmp_path / "my users.csv").unlink()
    missing = run_module("generate", "roster.yaml", "--check", "my users.csv", "--bom", cwd=tmp_path)
    assert "run: portsip-roster generate roster.yaml -o 'my users.csv' --bom" in missing.stderr


def test_counts_of_one_are_singular(tmp_path):
    (tmp_path / "roster.yaml").write_text(GOOD.replace('"Pa55word!x"', '"Pa55word!xy"').replace('"101"', '"1o1"'))
    bad = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert "1 problem; nothing written." in bad.stderr
    (tmp_path / "roster.yaml").write_text(GOOD)
    assert "roster.yaml: 1 user, valid for PBX v22" in run_module("validate", "roster.yaml", cwd=tmp_path).stderr
    assert run_module("generate", "roster.yaml", "-o", "export.csv", cwd=tmp_path).returncode == 0
    imported = run_module("import", "export.csv", "-o", "back.yaml", cwd=tmp_path)
    assert "wrote back.yaml (1 user, PBX v22)" in imported.stderr
    assert "(PortSIP v22, 1 user)" in (tmp_path / "back.yaml").read_text("utf-8")
    from generator.commands.tables import DIFF
    from generator.compare.formats import uncompared_note
    from generator.compare.plan import Plan

    assert uncompared_note(Plan(DIFF, old="a", new="b", uncompared=1)).startswith("1 secret not compared")


# issue 17: a way to start
COMMANDS = ["generate", "validate", "diff", "explain", "schema", "columns", "import", "keygen", "plan", "apply", "init"]


def test_init_writes_a_starter_that_validates_and_generates(tmp_path):
    made = run_module("init", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    text = (tmp_path / "roster.yaml").read_text("utf-8")
    assert text.startswith("# yaml-language-server: $schema=") and "pbx_version: v22" in text
    assert "portsip-roster keygen" in text  # the comments say where the secrets come from
    valid = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert valid.returncode == 0 and "2 users, valid for PBX v22" in valid.stderr
    assert "[secret-" not in valid.stderr and "error" not in valid.stderr.lower()
    generated = run_module("generate", "roster.yaml", "-o", "users.csv", cwd=tmp_path)
    assert generated.returncode == 0 and "wrote users.csv (2 users)" in generated.stderr


def test_init_for_v16_and_never_over_a_file_without_force(tmp_path):
    assert run_module("init", "-o", "r16.yaml", "--pbx-version", "v16", cwd=tmp_path).returncode == 0
    assert run_module("validate", "r16.yaml", cwd=tmp_path).returncode == 0
    assert "pbx_version: v16" in (tmp_path / "r16.yaml").read_text("utf-8")
    (tmp_path / "mine.yaml").write_text("precious\n")
    refused = run_module("init", "-o", "mine.yaml", cwd=tmp_path)
    assert refused.returncode == 2 and "mine.yaml exists; pass --force" in refused.stderr
    assert (tmp_path / "mine.yaml").read_text() == "precious\n"
    assert run_module("init", "-o", "mine.yaml", "--force", cwd=tmp_path).returncode == 0
    assert "pbx_version: v22" in (tmp_path / "mine.yaml").read_text("utf-8")
    unknown = run_module("init", "-o", "x.yaml", "--pbx-version", "22", cwd=tmp_path)
    assert unknown.returncode == 2 and "did you mean v22?" in unknown.stderr and not (tmp_path / "x.yaml").exists()


def test_shell_completion_prints_a_script_that_completes_commands():
    # The shell is named, never detected: detection looks for a shell among the
    # process's parents, and a parallel run (or CI) may have none ("Shell  not supported").
    script = run_real("--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert script.returncode == 0 and "_PORTSIP_ROSTER_COMPLETE=complete_bash" in script.stdout
    completed = run_real(env={"_PORTSIP_ROSTER_COMPLETE": "complete_bash", "COMP_WORDS": "portsip-roster gen",
                              "COMP_CWORD": "1"})
    assert completed.stdout.split() == ["generate"]


def test_top_level_help_has_a_quick_start_and_the_docs():
    text = run_module("-h").stdout
    start = text.split("Quick start:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split()[1] for line in start] == ["init", "validate", "generate"]
    assert "docs/commands.md" in text and "init" in text.split("Commands:", 1)[1]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_commands_help_reads_plainly(command):
    result = run_module(command, "-h")
    assert result.returncode == 0
    text = result.stdout
    usage = text.splitlines()[0]
    assert usage.startswith(f"Usage: root {command} [OPTIONS]")  # CliRunner names the program root
    import re

    assert "{" not in usage and "\u2026" not in text, text  # no {ROSTER}, no text cut short
    assert not re.search(r"<(bool|path|int|float|str|list\[\w+\])>", text, re.I), text  # no type tags
    assert "-h, --help" in text and "Exit codes" in text


def test_help_examples_are_whole_lines():
    text = run_module("plan", "-h").stdout
    example = "PORTSIP_PASSWORD=... portsip-roster plan roster.yaml --pbx https://pbx:8887/api --username admin"
    assert f"\n    {example}\n" in text
    generate = run_module("generate", "-h").stdout
    assert "\n    portsip-roster generate rosters/*.yaml --out-dir build/\n" in generate


def test_a_held_back_users_missing_secret_is_told_once_with_the_others(tmp_path):
    text = "pbx_version: v22\ndefaults: {password: {generate: true}}\nusers:\n" + \
        MINIMAL_USER.replace('    password: "Pa55word!x"\n', "") + \
        MINIMAL_USER.replace("jim1", "kate").replace('"101"', '"102"').replace('    password: "Pa55word!x"\n', "") + \
        "    enabled: maybe\n"
    (tmp_path / "roster.yaml").write_text(text)
    result = run_module("generate", "roster.yaml", cwd=tmp_path, env=NO_KEY)
    assert result.returncode == 1 and "user kate: enabled" in result.stderr
    assert sum("[secret-missing]" in line for line in result.stderr.splitlines()) == 1, result.stderr


def test_the_rate_option_is_a_ceiling_under_the_pbx_limit_the_client_adapts_to():
    # docs/sync.md: the client starts just under 10,000 a minute (PortSIP 22.1.7 on) and halves on a 429
    for command in ("plan", "apply", "import"):
        text = " ".join(run_module(command, "-h").stdout.split())
        rate = text.split("--rate N ", 1)[1].split(" --log ", 1)[0]
        assert "ceiling" in rate and "10,000 a minute" in rate and "429" in rate, (command, rate)
        assert "5,000" not in rate and "default: 1000" in rate, (command, rate)


def _completed(*words: str) -> list[str]:
    """What bash completion offers for the last of `words` ("" for a new word after a space)."""
    ran = run_real(env={"_PORTSIP_ROSTER_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(["portsip-roster", *words]),
                        "COMP_CWORD": str(len(words))})
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.split()


def test_shell_completion_offers_the_pbx_versions_there_are_column_sets_for(tmp_path):
    shipped = sorted(p.stem for p in (ROOT / "templates").glob("*.yaml"))
    assert shipped == ["v16", "v22"]
    assert _completed("columns", "") == shipped
    assert _completed("generate", "r.yaml", "--pbx-version", "v2") == ["v22"]
    assert _completed("init", "--pbx-version", "") == shipped
    (tmp_path / "v30.yaml").write_text("columns: []\n")  # --templates DIR's own versions, when given first
    assert _completed("columns", "--templates", str(tmp_path), "") == ["v30"]
    # completion offers them; the commands still check them as before (did you mean ...?)
    assert "did you mean v22?" in run_module("columns", "22").stderr
    for command in ("columns", "generate", "init"):
        assert "|".join(shipped) in run_module(command, "-h").stdout, command  # the help says them as they are
