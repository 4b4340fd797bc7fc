"""Hostile rosters, exports, paths and templates: one test per hole closed
(the numbers are those of the issue that listed them). Each failed on the
code before its fix."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import DEMO_KEY, MINIMAL_USER, ROOT, read_csv, run_module

GOOD = "pbx_version: v22\nusers:\n" + MINIMAL_USER


def _roster(tmp_path: Path, text: str, name: str = "roster.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# 1. no template reaches the environment, the key included
ESCAPES = [
    "{{ ('{0.__init__.__globals__[os].environ[PORTSIP_ROSTER_KEY]}'|attr('format'))(cycler) }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ '{0.__class__}'.format(name) }}",
    "{{ namespace }}{{ joiner }}{{ range }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_no_template_reads_the_key(tmp_path, template):
    path = _roster(tmp_path, f"pbx_version: v22\ndefaults:\n  custom_options: {template!r}\nusers:\n" + MINIMAL_USER)
    result = run_module("generate", path.name, cwd=tmp_path)
    assert DEMO_KEY not in result.stdout + result.stderr
    assert result.returncode == 1 and "[computed-value]" in result.stderr


def test_jinja_floor_has_no_known_sandbox_escape():
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    assert '"jinja2>=3.1.6"' in text


# 2. a value at a secret's place is never quoted
@pytest.mark.parametrize("value", ['!vault "s3cr3t-Vault-Value"', "!!int 0730418", "!!binary c2VjcmV0"])
def test_secrets_file_tags_are_reported_without_the_value(tmp_path, value):
    path = _roster(tmp_path, GOOD.replace('"Pa55word!x"', "{secrets_file: true}"))
    (tmp_path / "s.yaml").write_text(f"jim1:\n  password: {value}\n")
    result = run_module("generate", path.name, "--secrets", "s.yaml", cwd=tmp_path)
    assert result.returncode == 1
    shown = value.split(" ", 1)[1].strip('"')
    assert shown not in result.stderr  # refused ([yaml-tag]) or read as the digits typed, never quoted


# 3. an unreadable phones cell, a header in another case
def _export(tmp_path: Path) -> Path:
    csv_text = run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8")
    rows = read_csv(csv_text)
    header = rows[0]
    phones = header.index("phones")
    rows[1][phones] = rows[1][phones][:40]  # cut short, as Excel cuts at 32,767 characters
    header[header.index("password")] = "Password"
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    path = tmp_path / "export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_diff_never_prints_an_unreadable_cell_or_a_capitalised_password_column(tmp_path):
    export = _export(tmp_path)
    for style in ("text", "markdown", "json"):
        result = run_module("diff", str(export), str(ROOT / "roster.example.yaml"), "--format", style, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Es=^nNyspDEvCkd6" not in result.stdout  # maria's portal password
        assert '"mac' not in result.stdout.replace("&#34;", '"')  # the cut phones cell is not shown


def test_import_never_puts_a_cut_phones_cell_in_the_roster(tmp_path):
    _export(tmp_path)
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    roster = (tmp_path / "roster.yaml").read_text("utf-8")
    assert "not valid JSON" in result.stderr and "left out of the roster" in result.stderr
    assert "password" not in roster.replace("password: {secrets_file: true}", "")
    assert "Es=^nNyspDEvCkd6" not in roster
    assert "Es=^nNyspDEvCkd6" in (tmp_path / "roster.secrets.yaml").read_text("utf-8")


# 4. a policy failure of a shared source says nothing per user, and nothing of how many share it
def _sharing(count: int, email: str = "abc") -> str:
    users = "".join(f"  - {{name: u{i}, extension_number: '10{i}', email: {email}{i}@example.com, display_name: U {i}, "
                    f"password: {{env: ROSTER_SECRET_TARGET}}}}\n" for i in range(count))
    return ("pbx_version: v22\ndefaults: {extension_password: {generate: true}, voicemail_pin: {generate: true}}\n"
            "users:\n" + users)


def _policy_lines(tmp_path: Path, text: str, value: str) -> list[str]:
    path = _roster(tmp_path, text)
    result = run_module("validate", path.name, cwd=tmp_path, env={"ROSTER_SECRET_TARGET": value})
    return [line for line in result.stderr.splitlines() if "[secret-policy]" in line]


def test_one_env_source_failing_is_one_line(tmp_path):
    five = _policy_lines(tmp_path, _sharing(5), "abcdefgh")
    assert five and len(five) == len(set(five))  # one line per fault
    assert not any("users get this value" in line for line in five)
    assert _policy_lines(tmp_path, _sharing(2), "abcdefgh") == five  # how many share it tells nothing


def test_the_account_rule_is_no_oracle_for_a_secret_the_author_cannot_see(tmp_path):
    # The secret holds "akx0"; an author guessing emails akx0.. or xyz0.. learns nothing.
    guessed = _policy_lines(tmp_path, _sharing(3, "akx"), "Zq9!akx0Wk")
    missed = _policy_lines(tmp_path, _sharing(3, "xyz"), "Zq9!akx0Wk")
    assert guessed == missed == []
    secrets = _roster(tmp_path, "u0: {password: 'Zq9!akx0Wk'}\n", "secrets.yaml")
    text = _sharing(1, "akx").replace("{env: ROSTER_SECRET_TARGET}", "{secrets_file: true}")
    for email in ("akx", "xyz"):
        path = _roster(tmp_path, text.replace("akx0@", f"{email}0@"))
        result = run_module("validate", path.name, "--secrets", secrets.name, cwd=tmp_path)
        assert "[secret-policy]" not in result.stderr, result.stderr
    literal = _roster(tmp_path, text.replace("{secrets_file: true}", "'Zq9!akx0Wk'"))
    seen = run_module("validate", literal.name, cwd=tmp_path)  # the author wrote it: the rule holds
    assert "must not contain the user's name" in seen.stderr


# 4b. a roster reads only variables meant for it, never the tool's own credentials
def _reading(name: str) -> str:
    return ("pbx_version: v22\nsecrets: {key_env: ROSTER_SECRET_TK}\n"
            "defaults: {extension_password: {generate: true}, voicemail_pin: {generate: true}}\nusers:\n"
            f"  - {{name: ann, extension_number: '101', email: ann@example.com, display_name: Ann, "
            f"password: {{env: {name}}}}}\n")


@pytest.mark.parametrize("name", ["PORTSIP_PASSWORD", "PORTSIP_ROSTER_KEY", "PORTSIP_URL", "ROSTER_SECRET_TK", "HOME"])
@pytest.mark.parametrize("command", ["validate", "generate"])
def test_a_roster_cannot_read_a_variable_not_meant_for_it(tmp_path, name, command):
    path = _roster(tmp_path, _reading(name))
    allow = [] if name == "HOME" else ["--allow-env", name]  # the tool's own: refused even when allowed
    key = {"ROSTER_SECRET_TK": "k" * 20}
    outputs = set()
    # Set or not: the same answer (the key's own variable is always set: without it the run fails for that).
    for value in ("Zq9!secret-Wk-long-enough", None if name != "ROSTER_SECRET_TK" else "k" * 20):
        result = run_module(command, path.name, *allow, cwd=tmp_path, env={**key, name: value})
        assert result.returncode == 1
        outputs.add(result.stderr)
        assert "Zq9!secret-Wk" not in result.stderr + result.stdout
    (out,) = outputs
    assert f"roster.yaml:5:95: user ann: password: environment variable {name}" in out and "[secret-refused]" in out


def test_plan_in_a_pull_request_cannot_read_its_own_sign_in_password(tmp_path):
    """The pull-request job holds the reader's password in PORTSIP_PASSWORD: a
    roster naming it is refused before any request (port 9: nothing listens)."""
    path = _roster(tmp_path, _reading("PORTSIP_PASSWORD"))
    result = run_module("plan", path.name, "--pbx", "http://127.0.0.1:9/api", "--allow-http", "--username", "reader",
                        cwd=tmp_path, env={"PORTSIP_PASSWORD": "Zq9!reader-Wk", "ROSTER_SECRET_TK": None})
    assert result.returncode == 1, result.stderr
    assert "PORTSIP_PASSWORD holds this tool's own credentials" in result.stderr
    assert "Zq9!reader-Wk" not in result.stderr + result.stdout


def test_allow_env_lets_a_roster_read_a_named_variable(tmp_path):
    path = _roster(tmp_path, _reading("ANNA_PW"))
    env = {"ROSTER_SECRET_TK": "k" * 20, "ANNA_PW": "Zq9!secret-Wk"}
    refused = run_module("generate", path.name, cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "--allow-env ANNA_PW" in refused.stderr
    allowed = run_module("generate", path.name, "--allow-env", "ANNA_PW", cwd=tmp_path, env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert "Zq9!secret-Wk" in allowed.stdout


# 5. special files as output
def test_a_fifo_gets_the_csv_and_stays_a_fifo(tmp_path):
    path = _roster(tmp_path, GOOD)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = run_module("generate", path.name, "-o", str(fifo), cwd=tmp_path)
    reader.join(10)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert got and got[0].startswith(b"name,enabled")


def test_a_character_device_is_written_in_place(tmp_path):
    # A device node of the test's own (the null device's numbers): the real
    # /dev is never at risk, even on code that would replace it.
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    path = _roster(tmp_path, GOOD)
    result = run_module("generate", path.name, "-o", str(device), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(device.stat().st_mode)


def test_a_folder_or_a_dangling_link_is_refused(tmp_path):
    path = _roster(tmp_path, GOOD)
    (tmp_path / "nowhere").symlink_to(tmp_path / "missing" / "x.csv")
    assert run_module("generate", path.name, "-o", "nowhere", cwd=tmp_path).returncode == 2
    assert not (tmp_path / "missing").exists()


# 6. export text is data, never a template
def test_imported_template_text_stays_text(tmp_path):
    csv_text = run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8")
    rows = read_csv(csv_text)
    column = rows[0].index("custom_options")
    for row in rows[1:]:
        row[column] = "{{ 7*7 }}{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}"
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    (tmp_path / "export.csv").write_text(out.getvalue(), encoding="utf-8")
    started = time.monotonic()
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert time.monotonic() - started < 20
    assert result.returncode == 0, result.stderr  # the round trip gives the text back
    generated = run_module("generate", "roster.yaml", "--secrets", "roster.secrets.yaml", cwd=tmp_path)
    assert "{{ 7*7 }}" in generated.stdout and ",49," not in generated.stdout


# 7. computed defaults are bounded in time, size and memory
@pytest.mark.slow
@pytest.mark.parametrize("template", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'a' * 10**10 }}",
    "{{ 'a' * 10**8 }}",
    "{{ 'ab' ~ 'c' * 60000 ~ 'd' * 60000 }}",
    "{{ 2 ** 10000000 }}",
    "{{ ('a' * 100000) | replace('a', 'a' * 100000) }}",
    "{{ 'x' | center(999999) }}",
    "{{ (['a' * 99999] * 1000) | join }}",
    "{{ ('a' * 1000).replace('a', 'x' * 1000) }}",
    "{{ [[1] * 99999, [2] * 99999] | sum(start=[]) }}",
    "{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('a') }}",
    "{% set s = 'a' %}{{ s }}",
    "{% for i in range(3) recursive %}{{ loop([i]) }}{% endfor %}",
])
def test_a_greedy_template_is_stopped(tmp_path, template):
    path = _roster(tmp_path, f"pbx_version: v22\ndefaults:\n  custom_options: {template!r}\nusers:\n" + MINIMAL_USER)
    started = time.monotonic()
    result = run_module("generate", path.name, cwd=tmp_path)
    assert time.monotonic() - started < 10
    assert result.returncode == 1 and "[computed-value]" in result.stderr


def test_random_is_not_a_filter(tmp_path):
    """Output is the same bytes for the same roster: no template may draw at random."""
    path = _roster(tmp_path, "pbx_version: v22\ndefaults:\n  custom_options: \"{{ ['a', 'b'] | random }}\"\nusers:\n"
                   + MINIMAL_USER)
    result = run_module("generate", path.name, cwd=tmp_path)
    assert result.returncode == 1 and "No filter named 'random'" in result.stderr


def test_a_failing_template_at_a_secrets_place_is_not_quoted(tmp_path):
    text = ("pbx_version: v22\ndefaults:\n  password: \"{{ undefined_thing }}Recipe-Part-9\"\nusers:\n"
            + MINIMAL_USER.replace('    password: "Pa55word!x"\n', ""))
    path = _roster(tmp_path, text)
    result = run_module("validate", path.name, cwd=tmp_path)
    assert result.returncode == 1 and "[computed-value]" in result.stderr
    assert "Recipe-Part-9" not in result.stderr


# 8. a trailing newline gets past no pattern
@pytest.mark.parametrize("field, value", [
    ("name", "jim1\n"), ("name", "admin\n"), ("extension_number", "101\n"), ("voicemail_pin", "409296\n"),
    ("voicemail_prompt", "en-US\n"), ("email", "jim@example.com\n"),
])
def test_trailing_newline_is_refused(tmp_path, field, value):
    text = GOOD.replace(f"{field}: ", f"{field}: {value!r} #", 1) if field != "voicemail_prompt" else \
        GOOD + f"    voicemail_prompt: {value!r}\n"
    text = text.replace("'", '"').replace("\n\"", '\\n"')
    path = _roster(tmp_path, text)
    result = run_module("validate", path.name, cwd=tmp_path)
    assert result.returncode == 1, (text, result.stderr)
    assert f": {field}: " in result.stderr


# 9. a pipe as the secrets file
def test_secrets_from_a_pipe(tmp_path):
    path = _roster(tmp_path, GOOD.replace('"Pa55word!x"', "{secrets_file: true}"))
    fifo = tmp_path / "secrets.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("jim1: {password: Gx7-Pipe-Pass}\n"))
    writer.start()
    result = run_module("generate", path.name, "--secrets", str(fifo), cwd=tmp_path)
    writer.join(10)
    assert result.returncode == 0, result.stderr
    assert "Gx7-Pipe-Pass" in result.stdout


def test_secrets_from_process_substitution(tmp_path):
    path = _roster(tmp_path, GOOD.replace('"Pa55word!x"', "{secrets_file: true}"))
    script = f"{sys.executable} -m generator generate {path} --secrets <(echo 'jim1: {{password: Gx7-Pipe-Pass}}')"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "Gx7-Pipe-Pass" in done.stdout


# 10. no template reads a secret, at any depth
@pytest.mark.parametrize("template", ["{{ phones[0].password }}", "{{ password }}", "{{ phone_defaults }}",
                                      "{{ phones }}"])
def test_templates_cannot_read_secrets(tmp_path, template):
    text = (f"pbx_version: v22\ndefaults:\n  custom_options: {template!r}\nusers:\n" + MINIMAL_USER +
            "    phones: [{mac: '00:11:22:33:44:55', model: M, vendor: V, filename: f.xml, password: 'Ph0ne-Secret!',"
            " timezone: UTC}]\n")
    path = _roster(tmp_path, text)
    for args in (["generate", path.name, "--redact"], ["explain", path.name, "jim1"]):
        result = run_module(*args, cwd=tmp_path)
        assert "Ph0ne-Secret!" not in result.stdout + result.stderr
        assert "Pa55word!x" not in result.stdout + result.stderr


# 11. five tracebacks, now located errors
def test_a_huge_integer_is_text(tmp_path):
    # Past 4,300 digits Python refuses to turn an int into text (ValueError):
    # the digits must reach the cell as they were typed.
    digits = "9" * 5000
    path = _roster(tmp_path, GOOD + "    custom_options: " + digits + "\n")
    validated = run_module("validate", path.name, cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    result = run_module("generate", path.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, row = read_csv(result.stdout)
    assert row[header.index("custom_options")] == digits


def test_a_huge_csv_cell_is_a_usage_error(tmp_path):
    (tmp_path / "big.csv").write_text("name,custom_options\r\njim," + "x" * 1_100_000 + "\r\n")
    result = run_module("diff", "big.csv", "big.csv", cwd=tmp_path)
    assert result.returncode == 2 and "row" in result.stderr


def test_a_deeply_nested_json_cell_is_left_out(tmp_path):
    csv_text = run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8")
    header, first, *rest = read_csv(csv_text)
    first[header.index("blfs")] = "[" * 5000 + "]" * 5000
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, first, *rest])
    (tmp_path / "export.csv").write_text(out.getvalue(), encoding="utf-8")
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert "blfs is not valid JSON" in result.stderr


def test_an_unmeetable_column_set_is_reported(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    text = (ROOT / "templates" / "v22.yaml").read_text("utf-8")
    (folder / "v22.yaml").write_text(text.replace("password_min_length: 6", "password_min_length: 40"))
    path = _roster(tmp_path, GOOD)
    result = run_module("generate", path.name, "--templates", str(folder), cwd=tmp_path)
    assert result.returncode == 1 and "[column-set]" in result.stderr


def test_diff_base_in_a_read_only_checkout(tmp_path, monkeypatch):
    path = _roster(tmp_path, GOOD)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)

    def read_only(*args, **kwargs):  # as root every folder is writable: refuse as a read-only one would
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    result = run_module("diff", "--base", "HEAD", path.name, cwd=tmp_path)
    assert result.returncode == 2 and "not writable" in result.stderr


# 12. an output that is one of the inputs
@pytest.mark.parametrize("target", ["roster.yaml", "s.yaml", "key.txt"])
def test_the_output_is_never_an_input(tmp_path, target):
    path = _roster(tmp_path, GOOD)
    (tmp_path / "s.yaml").write_text("{}\n")
    (tmp_path / "key.txt").write_text(DEMO_KEY)
    before = (tmp_path / target).read_bytes()
    result = run_module("generate", path.name, "--secrets", "s.yaml", "--key-file", "key.txt", "-o", target,
                        cwd=tmp_path)
    assert result.returncode == 2 and "is one of the inputs" in result.stderr
    assert (tmp_path / target).read_bytes() == before


# 13. a revision is never an option to git
@pytest.mark.parametrize("rev", ["--output=evil", "-p", "--output=evil.txt HEAD"])
def test_revisions_are_not_options(tmp_path, rev):
    path = _roster(tmp_path, GOOD)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    for args in (["diff", "--base", rev, path.name], ["generate", path.name, "--since", rev]):
        result = run_module(*args, cwd=tmp_path)
        assert result.returncode == 2
    assert not list(tmp_path.glob("evil*"))


# 14. includes stay in the roster's folder, and a stray file is not echoed
def test_include_outside_the_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("root: $6$hash-of-the-root-password\n")
    folder = tmp_path / "rosters"
    folder.mkdir()
    path = _roster(folder, "include: [../secret.txt]\n" + GOOD)
    result = run_module("validate", path.name, cwd=folder)
    assert result.returncode == 1 and "[include]" in result.stderr
    assert "hash-of-the-root-password" not in result.stderr
    allowed = run_module("validate", path.name, "--include-root", str(tmp_path), cwd=folder)
    assert "hash-of-the-root-password" not in allowed.stderr


def test_an_included_file_that_is_no_roster_is_not_echoed(tmp_path):
    (tmp_path / "stray.yaml").write_text("'root:$6$x:19000:0:99999:7:::': 1\n'daemon:*:19000': 2\n")
    path = _roster(tmp_path, "include: [stray.yaml]\n" + GOOD)
    result = run_module("validate", path.name, cwd=tmp_path)
    assert result.returncode == 1
    assert "$6$x" not in result.stderr and "daemon" not in result.stderr


# 15. markdown shows values, never links or images
def test_markdown_escapes_every_value(tmp_path):
    old = _roster(tmp_path, GOOD, "old.yaml")
    new = _roster(tmp_path, GOOD.replace("Jim Keeny", '"[approve this PR](https://evil.example/x) ![i](x.png) @team"'),
                  "new.yaml")
    result = run_module("diff", old.name, new.name, "--format", "markdown", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for raw in ("[approve", "](https", "![", "https://", "@team"):
        assert raw not in result.stdout


# 16. control characters, however written
@pytest.mark.parametrize("escaped", ["\\x1b]0;owned\\x07Jim", "Jim\\0", "Jim\\u202eevil", "line\\nbreak"])
def test_escaped_control_characters_are_refused(tmp_path, escaped):
    path = _roster(tmp_path, GOOD.replace("Jim Keeny", f'"{escaped}"'))
    result = run_module("validate", path.name, cwd=tmp_path)
    assert result.returncode == 1 and "[control-character]" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


# 17. a named temporary file left by a killed run is removed by the next
def test_a_killed_writers_temporary_file_is_cleaned_up(tmp_path):
    path = _roster(tmp_path, GOOD)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".users.csv.{dead.stdout.strip()}.0123456789ab.tmp"
    leftover.write_text("every password")
    mine = tmp_path / f".users.csv.{os.getpid()}.0123456789ab.tmp"
    mine.write_text("a write still going on")
    assert run_module("generate", path.name, "-o", "users.csv", cwd=tmp_path).returncode == 0
    assert not leftover.exists() and mine.exists()


# formulas: each prefix OWASP names, and the invisible ones before it
@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", " =", "\u00a0=", "\u3000=", "\u200b=", "\ufeff=", "\uff1d",
                                    "\uff0b", "\uff20"])
def test_formula_prefixes_are_refused(tmp_path, prefix):
    path = _roster(tmp_path, GOOD.replace("Jim Keeny", f'"{prefix}SUM(1,2)"'))
    result = run_module("validate", path.name, cwd=tmp_path)
    assert result.returncode == 1 and "[formula]" in result.stderr
