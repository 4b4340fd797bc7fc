"""The small commands: `init` (a commented starter roster), `keygen` (a new
master key), `schema` and `columns` (what the tool knows, printed)."""

from __future__ import annotations

import json
from pathlib import Path

from generator.errors import UsageError

STARTER = """\
# yaml-language-server: $schema=roster.schema.json
#
# A PortSIP PBX {version} roster: one entry under users: per user; the CSV
# columns are the field names (portsip-roster columns {version}).
#   editor completion:  portsip-roster schema > roster.schema.json
#   check it:           portsip-roster validate {name}
#   make the CSV:       portsip-roster generate {name} -o users.csv
#
# No password or PIN is written here: each is generated from a master key
# kept outside git. Make one with `portsip-roster keygen -o tenant.key` and
# pass --key-file tenant.key (or set PORTSIP_ROSTER_KEY).
#
# Merge order for every user, lowest first: built-in defaults < defaults <
# each profile the user lists < the user's own fields.

pbx_version: {version}

defaults:
  # A Jinja expression over the user's own fields.
  email: "{{{{ name }}}}@example.com"
  password: {{generate: true}}
  extension_password: {{generate: true}}
  voicemail_pin: {{generate: true}}
  office_hours:
    weekdays: "09:00-17:00"   # 24-hour HH:MM; a day ends at 23:59
    weekend: closed
  online_no_answer_forward_rule: voicemail

profiles:
  reception:
    role: QueueManager   # PortSIP's roles: StandardUser (the default), StandardInternationalUser, QueueManager, Admin

users:
  # Extension numbers in quotes: "0101" stays 0101.
  - name: jane.doe
    extension_number: "101"
    display_name: Jane Doe
    profiles: [reception]
    blfs: ["102"]        # a busy lamp on John's line

  - name: john.roe
    extension_number: "102"
    display_name: John Roe
"""


def write_starter(output: Path, version: str, force: bool) -> str:
    """`init`: the starter roster written to `output`; what to do next, in words."""
    from generator.columns import unknown_version, versions
    from generator.write import write_atomic

    known = versions(None)
    if version not in known:
        raise UsageError(unknown_version(version, known))
    if output.exists() and not force:
        raise UsageError(f"{output} exists; pass --force to overwrite it")
    try:
        write_atomic(output, STARTER.format(version=version, name=output.name))
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from exc
    return (f"wrote {output} (PBX {version}); next: portsip-roster validate {output} (and for an editor's "
            f"completion: portsip-roster schema > {output.parent / 'roster.schema.json'})")


def new_key() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def write_key(output: Path, key: str) -> str:
    """`keygen -o FILE`: a new file readable by its owner only; what was done, in words."""
    from generator.write import write_new_private

    write_new_private(output, key + "\n")
    return f"wrote a new key to {output} (readable by you only)"


def schema_text() -> str:
    from generator.schema import schema_document

    return json.dumps(schema_document(), indent=2, ensure_ascii=False)


def column_names(version: str, templates: Path | None) -> list[str]:
    from generator.columns import load_column_set

    return list(load_column_set(version, templates).columns)


def pbx_versions(templates: Path | None = None) -> list[str]:
    """The PBX versions there are column sets for (templates/*.yaml, or --templates DIR's): shell completion's."""
    from generator.columns import versions

    return versions(templates)
