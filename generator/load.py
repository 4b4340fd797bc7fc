"""Stage 1, load: YAML text to plain data, remembering where every value was written.

PyYAML implements YAML 1.1, whose implicit typing silently rewrites data an
admin typed: `0123` is octal, `10:20:30:40:50:51` is a base-60 integer,
`no`/`on`/`off` are booleans, and a repeated key keeps the last value. A roster
is mostly identifiers, so this loader resolves only a few plain scalars:
`true`/`false`, `null`/`~`/empty, and integers written the one way that reads
back unchanged (`0`, `42`, `-7`). Everything else stays the text as typed, and a
duplicate key is a problem naming both lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.resolver import BaseResolver

from generator.errors import Problem

try:  # the C parser is much faster; tags are still resolved by our Python resolver
    from yaml.cyaml import CParser as _Parser

    _PARSER_IS_C = True
except ImportError:  # pragma: no cover - libyaml is missing on some platforms
    _Parser = None
    _PARSER_IS_C = False

YamlPath = tuple[str | int, ...]

_INT_TEXT = re.compile(r"^(?:0|-?[1-9][0-9]*)$")
_TAG = "tag:yaml.org,2002:"


class _RosterResolver(BaseResolver):
    """Implicit types limited to those that cannot change what was typed."""


_RosterResolver.add_implicit_resolver(
    _TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_RosterResolver.add_implicit_resolver(_TAG + "int", _INT_TEXT, list("-0123456789"))
_RosterResolver.add_implicit_resolver(
    _TAG + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_RosterResolver.add_implicit_resolver(_TAG + "merge", re.compile(r"^<<$"), ["<"])


if _PARSER_IS_C:

    class _Composer(_Parser, _RosterResolver):
        def __init__(self, stream):
            _Parser.__init__(self, stream)
            _RosterResolver.__init__(self)

else:  # pragma: no cover

    class _Composer(
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        _RosterResolver,
    ):
        def __init__(self, stream):
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _RosterResolver.__init__(self)


@dataclass
class Document:
    """A loaded YAML file: its data and the 1-based position of every node."""

    file: str
    data: Any
    marks: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: YamlPath, key: bool = False) -> tuple[int, int]:
        """Position of the node at `path` (of its key, with `key`), or of its
        nearest written ancestor."""
        if key and path in self.key_marks:
            return self.key_marks[path]
        for cut in range(len(path), -1, -1):
            mark = self.marks.get(path[:cut])
            if mark is not None:
                return mark
        return (1, 1)


class _Budget(Exception):
    pass


class _Builder:
    """Turns a composed node tree into data, collecting problems as it goes."""

    def __init__(self, file: str, max_nodes: int):
        self.file = file
        self.marks: dict[YamlPath, tuple[int, int]] = {}
        self.key_marks: dict[YamlPath, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.nodes_left = max_nodes

    def problem(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, None, None, message))

    def build(self, node: yaml.Node, path: YamlPath) -> Any:
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise _Budget
        self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.mapping(node, path)

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag == _TAG + "str":
            return text
        if tag == _TAG + "null" and text in ("", "~", "null", "Null", "NULL"):
            return None
        if tag == _TAG + "bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if tag == _TAG + "int" and _INT_TEXT.match(text):
            return int(text)
        self.problem(node, f"unsupported YAML tag {tag!r} on {text!r}: quote the value instead")
        return text

    def mapping(self, node: yaml.MappingNode, path: YamlPath) -> dict:
        own_mark = self.marks[path]
        merged: list[dict] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.extend(self.merge_sources(value_node, path))
        # Merged mappings are built first so that positions of keys written
        # here replace theirs, and the mapping keeps its own position.
        self.marks[path] = own_mark
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, "a key must be plain text, not a list or mapping")
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.problem(
                    key_node,
                    f"duplicate key {key!r}: first at line {first_line[key]}, again at line {line}",
                )
                continue
            first_line[key] = line
            self.key_marks[(*path, key)] = (line, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, (*path, key))
        for source in merged:
            for key, value in source.items():
                result.setdefault(key, value)
        return result

    def merge_sources(self, node: yaml.Node, path: YamlPath) -> list[dict]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = []
        for item in items:
            if not isinstance(item, yaml.MappingNode):
                self.problem(item, "'<<' merges only mappings")
                continue
            sources.append(self.build(item, path))
        return sources


def _decode(raw: bytes, file: str) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        message = f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        return None, Problem(file, line, col, None, None, message)


def _yaml_problem(exc: yaml.YAMLError, file: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    context, problem = getattr(exc, "context", None), getattr(exc, "problem", None)
    opened = getattr(exc, "context_mark", None)
    if context and opened and opened.line + 1 != line:
        context = f"{context} (opened at line {opened.line + 1}, column {opened.column + 1})"
    message = ", ".join(w for w in (context, problem) if w) or str(exc)
    return Problem(file, line, col, None, None, f"YAML syntax: {message}")


def load_text(text: str, file: str) -> tuple[Document, list[Problem]]:
    """Parse one YAML document; problems are returned, never raised."""
    document = Document(file, None)
    try:
        loader = _Composer(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        return document, [_yaml_problem(exc, file)]
    except RecursionError:
        return document, [Problem(file, 1, 1, None, None, "the YAML is nested too deeply")]
    if root is None:
        return document, []
    # A node can only be written in at least one character, so more nodes than
    # characters means aliases are being expanded without end ("billion laughs").
    builder = _Builder(file, max_nodes=len(text) + 100_000)
    try:
        document.data = builder.build(root, ())
    except _Budget:
        message = "aliases expand to far more data than the file holds; refusing to load"
        return document, [Problem(file, 1, 1, None, None, message)]
    except RecursionError:
        return document, [Problem(file, 1, 1, None, None, "the YAML is nested too deeply")]
    document.marks = builder.marks
    document.key_marks = builder.key_marks
    return document, builder.problems


def load_file(path: Path, display: str | None = None) -> tuple[Document, list[Problem]]:
    file = display or str(path)
    text, problem = _decode(path.read_bytes(), file)
    if problem:
        return Document(file, None), [problem]
    return load_text(text, file)


def load_includes(document: Document, path: Path) -> tuple[list[Document], list[Problem]]:
    """The files `document` includes, each once, in merge order: a file's own
    includes come before it, and all of them before `document` itself."""
    loaded: list[Document] = []
    problems: list[Problem] = []
    _include(document, path.resolve(), [path.resolve()], set(), loaded, problems)
    return loaded, problems


def _include(document: Document, real: Path, stack: list[Path], seen: set[Path],
             loaded: list[Document], problems: list[Problem]) -> None:
    entries = document.data.get("include") if isinstance(document.data, dict) else None
    if not isinstance(entries, list):
        return  # absent, or a shape the schema check reports
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            continue
        target = (real.parent / entry).resolve()
        display = str(Path(document.file).parent / entry)
        line, col = document.where(("include", i))
        if target in stack:
            chain = " -> ".join([*(p.name for p in stack[stack.index(target):]), target.name])
            problems.append(Problem(document.file, line, col, None, "include", f"include cycle: {chain}"))
            continue
        if target in seen:
            continue
        if not target.is_file():
            problems.append(Problem(document.file, line, col, None, "include", f"no such file: {display}"))
            continue
        seen.add(target)
        try:
            included, found = load_file(target, display)
        except OSError as exc:
            message = f"cannot read {display}: {exc.strerror}"
            problems.append(Problem(document.file, line, col, None, "include", message))
            continue
        problems.extend(found)
        if not found:
            _include(included, target, [*stack, target], seen, loaded, problems)
            loaded.append(included)
