"""YAML as a person would write it, that the roster loader reads back to the
same data: block style for the outline, one line per small mapping, every
string YAML 1.1 could misread quoted. Used for imported rosters and secrets files.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from generator.model import FROM_FILE


class _Dumper(yaml.SafeDumper):
    """Block style for the outline, flow style for small mappings and lists of
    scalars, so that a user or a phone reads as one line where it fits."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)  # list items indented under their key


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _represent_dict(dumper: yaml.SafeDumper, value: dict):
    flow = len(value) <= 6 and all(_is_scalar(v) or v == FROM_FILE for v in value.values()) \
        and len(json.dumps(value)) < 90
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, value: list):
    flow = all(_is_scalar(v) for v in value) and len(json.dumps(value)) < 90
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


# Digits, numbers to call and MAC addresses: always quoted, whatever PyYAML
# thinks, since a YAML 1.2 reader (yq) takes 0099 for 99 and 093513 for 93513.
_IDENTIFIER = re.compile(r"[+\-]?[0-9][0-9:.\-]*|[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")


def _represent_str(dumper: yaml.SafeDumper, value: str):
    style = "'" if _IDENTIFIER.fullmatch(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)


def to_yaml(data: Any, comment: str = "") -> str:
    """YAML that the roster loader reads back to `data`: every string that
    YAML 1.1 could read as something else (0101, 10:20:30, no) is quoted."""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header + _space_users(body)


def _space_users(text: str) -> str:
    """A blank line between users, as a person would write it."""
    head, found, users = text.partition("\nusers:\n")
    return head + found + users.replace("\n  - name:", "\n\n  - name:")
