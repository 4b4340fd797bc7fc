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

from generator.errors import UsageError, brief
from generator.model import Problem, YamlPath

try:  # libyaml's event parser is much faster; every value is still built here
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - libyaml is missing on some platforms
    _Parser = None

_INT_TEXT = re.compile(r"(?:0|-?[1-9][0-9]{0,17})")  # longer digit runs stay text: no field is such a number
_BOOL_TEXT = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_TEXT = re.compile(r"^(?:~|null|Null|NULL|)$")
_TAG = "tag:yaml.org,2002:"
MAX_DEPTH = 64  # a roster needs about 8 levels; far deeper is an attack or an accident
MAX_SCALAR = 100_000  # characters; the longest field takes 1,024


def _parser(text: str):
    if _Parser is not None:
        return _Parser(text)
    return _PyParser(text)  # pragma: no cover


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # pragma: no cover
    def __init__(self, text: str):
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)

    def dispose(self) -> None:
        pass


# A plain scalar can be typed (true, 12, null, <<) only if it starts with one of these.
_MAYBE_TYPED = frozenset("tTfFnN~-0123456789<") | {""}


def _implicit_tag(event: yaml.ScalarEvent) -> str:
    """The tag of a scalar: as written, else only what cannot change the text."""
    if event.tag not in (None, "!"):
        return event.tag
    if not event.implicit[0]:  # quoted: always text
        return _TAG + "str"
    text = event.value
    if _BOOL_TEXT.match(text):
        return _TAG + "bool"
    if _INT_TEXT.fullmatch(text):
        return _TAG + "int"
    if _NULL_TEXT.match(text):
        return _TAG + "null"
    return _TAG + ("merge" if text == "<<" else "str")


@dataclass
class Document:
    """A loaded YAML file: its data, and the 1-based position of every node.

    Positions are needed only to report a problem, so they are not kept while
    loading: the first question about one reads the text again, recording them.
    """

    file: str
    data: Any
    text: str | None = None
    _marks: dict[YamlPath, tuple[int, int]] | None = field(default=None, repr=False)
    _key_marks: dict[YamlPath, tuple[int, int]] | None = field(default=None, repr=False)

    def _index(self) -> None:
        self._marks, self._key_marks = {}, {}
        if self.text is not None:
            builder = _Builder(self.file, len(self.text) + 100_000, record=True)
            builder.run(self.text)
            self._marks, self._key_marks = builder.marks, builder.key_marks

    @property
    def marks(self) -> dict[YamlPath, tuple[int, int]]:
        if self._marks is None:
            self._index()
        return self._marks

    @property
    def key_marks(self) -> dict[YamlPath, tuple[int, int]]:
        if self._key_marks is None:
            self._index()
        return self._key_marks

    def where(self, path: YamlPath, key: bool = False) -> tuple[int, int]:
        """Position of the node at `path` (of its key, with `key`), or of its
        nearest written ancestor."""
        if key and path in self.key_marks:
            return self.key_marks[path]
        marks = self.marks
        for cut in range(len(path), -1, -1):
            mark = marks.get(path[:cut])
            if mark is not None:
                return mark
        return (1, 1)


class _Stop(Exception):
    """Building cannot go on; the problem says why."""

    def __init__(self, problem: Problem):
        self.problem = problem


class _Builder:
    """Builds data from libyaml's parse events, one value at a time, without
    the node tree a YAML composer keeps: less memory, and the depth and the
    size that aliases expand to are checked as they grow."""

    def __init__(self, file: str, max_nodes: int, record: bool = False):
        self.file = file
        self.record = record
        self.marks: dict[YamlPath, tuple[int, int]] = {}
        self.key_marks: dict[YamlPath, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.nodes_left = max_nodes
        # Each text once: the keys, and values such as a model or a profile, repeat in every user, and
        # each parse event brings its own copy (a few hundred bytes a user, held while the roster is)
        self.texts: dict[str, str] = {}

    def problem(self, mark, code: str, message: str) -> None:
        self.problems.append(_at(self.file, mark, code, message))

    def stop(self, mark, code: str, message: str) -> _Stop:
        return _Stop(_at(self.file, mark, code, message))

    def run(self, text: str) -> Any:
        parser = _parser(text)
        try:
            parser.get_event()  # stream start
            if isinstance(parser.peek_event(), yaml.StreamEndEvent):
                return None
            parser.get_event()  # document start
            data, _ = self.node(parser, parser.get_event(), () if self.record else None, 0)
            parser.get_event()  # document end
            extra = parser.get_event()
            if not isinstance(extra, yaml.StreamEndEvent):
                raise self.stop(extra.start_mark, "yaml-syntax",
                                "more than one YAML document (---): a roster is one document")
            return data
        finally:
            parser.dispose()

    def node(self, parser, event, path: YamlPath | None, depth: int) -> tuple[Any, int]:
        """The value that starts with `event`, and how many nodes it counts as.
        `path` is given only while recording positions (None: record none)."""
        kind, start = type(event), event.start_mark
        if path is not None:
            self.marks[path] = (start.line + 1, start.column + 1)
        if kind is yaml.ScalarEvent:
            text = event.value
            if len(text) > MAX_SCALAR:
                raise self.stop(event.start_mark, "yaml-limit", f"a value of {len(text):,} characters: "
                                                  f"far longer than any field takes")
            plain = event.tag is None and event.implicit[0]
            value, size = (text if plain and text[:1] not in _MAYBE_TYPED else self.scalar(event)), 1
            if type(value) is str:
                value = self.texts.setdefault(value, value)
        elif kind is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                raise self.stop(event.start_mark, "yaml-syntax",
                                f"alias *{event.anchor} names no anchor defined before it")
            value, size = self.anchors[event.anchor]
            event = None
        elif depth > MAX_DEPTH:
            raise self.stop(event.start_mark, "yaml-limit", f"nested more than {MAX_DEPTH} levels deep")
        elif kind is yaml.SequenceStartEvent:
            value, size = self.sequence(parser, path, depth)
        else:
            value, size = self.mapping(parser, path, depth)
        self.nodes_left -= size
        if self.nodes_left < 0:
            raise self.stop(start, "yaml-limit",
                            "aliases expand to far more data than the file holds; refusing to load")
        if event is not None and event.anchor:
            self.anchors[event.anchor] = (value, size)
        return value, size

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        tag, text = _implicit_tag(event), event.value
        if tag == _TAG + "str":
            return text
        if tag == _TAG + "null" and _NULL_TEXT.match(text):
            return None
        if tag == _TAG + "bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if tag == _TAG + "int" and _INT_TEXT.fullmatch(text):
            return int(text)
        if tag == _TAG + "int" and re.fullmatch(r"-?[0-9]+", text):
            return text  # !!int on a long run of digits: kept as typed
        # The value is never quoted: in a secrets file it is a secret.
        self.problem(event.start_mark, "yaml-tag", f"unsupported YAML tag {brief(tag)}: write the value as "
                                                   f"quoted text instead")
        return text

    def sequence(self, parser, path: YamlPath | None, depth: int) -> tuple[list, int]:
        items, size = [], 1
        while True:
            event = parser.get_event()
            if type(event) is yaml.SequenceEndEvent:
                return items, size
            value, count = self.node(parser, event, None if path is None else (*path, len(items)), depth + 1)
            items.append(value)
            size += count

    def mapping(self, parser, path: YamlPath | None, depth: int) -> tuple[dict, int]:
        result: dict[str, Any] = {}
        merged: list[dict] = []
        first_line: dict[str, int] = {}
        size = 1
        while True:
            key_event = parser.get_event()
            if type(key_event) is yaml.MappingEndEvent:
                break
            if type(key_event) is not yaml.ScalarEvent:
                self.problem(key_event.start_mark, "yaml-syntax", "a key must be plain text, not a list or mapping")
                self.node(parser, key_event, None, depth + 1)
                self.node(parser, parser.get_event(), None, depth + 1)
                continue
            key, line = self.texts.setdefault(key_event.value, key_event.value), key_event.start_mark.line + 1
            if key == "<<" and _implicit_tag(key_event) == _TAG + "merge":
                value, count = self.node(parser, parser.get_event(), None, depth + 1)
                merged.extend(self.merge_sources(key_event, value))
                size += count
                continue
            if key in first_line:
                self.problem(key_event.start_mark, "yaml-duplicate-key",
                             f"duplicate key {brief(key)}: first at line {first_line[key]}, again at line {line}")
                self.node(parser, parser.get_event(), None, depth + 1)
                continue
            first_line[key] = line
            child = None
            if path is not None:
                child = (*path, key)
                self.key_marks[child] = (line, key_event.start_mark.column + 1)
            result[key], count = self.node(parser, parser.get_event(), child, depth + 1)
            size += count
        for source in merged:  # keys written here win over merged ones
            for key, value in source.items():
                result.setdefault(key, value)
        return result, size

    def merge_sources(self, key_event, value: Any) -> list[dict]:
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, dict) for item in items):
            self.problem(key_event.start_mark, "yaml-syntax", "'<<' merges only mappings")
            return [item for item in items if isinstance(item, dict)]
        return items


def _decode(raw: bytes, file: str) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        message = f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        return None, Problem(file=file, line=line, col=col, code="yaml-syntax", message=message)


def _yaml_problem(exc: yaml.YAMLError, file: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    context, problem = getattr(exc, "context", None), getattr(exc, "problem", None)
    opened = getattr(exc, "context_mark", None)
    if context and opened and opened.line + 1 != line:
        context = f"{context} (opened at line {opened.line + 1}, column {opened.column + 1})"
    message = ", ".join(w for w in (context, problem) if w) or str(exc)
    return Problem(file=file, line=line, col=col, code="yaml-syntax", message=f"YAML syntax: {message}{_hint(problem)}")


_HINTS = {
    "mapping values are not allowed": "a value holding ': ' must be quoted, e.g. display_name: \"Dr: Who\"",
    "found character that cannot start any token": "indent with spaces: YAML does not allow a tab there",
    "found character '\\t' that cannot start any token": "indent with spaces: YAML does not allow a tab there",
}


def _hint(problem: str | None) -> str:
    """What to do about PyYAML's commonest complaints."""
    for words, hint in _HINTS.items():
        if problem and problem.startswith(words):
            return f" ({hint})"
    return ""


def load_text(text: str, file: str) -> tuple[Document, list[Problem]]:
    """Parse one YAML document; problems are returned, never raised."""
    document = Document(file, None, text)
    # A node takes at least one character to write, so more nodes than
    # characters means aliases are being expanded without end ("billion laughs").
    builder = _Builder(file, max_nodes=len(text) + 100_000)
    try:
        document.data = builder.run(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; it knows only the offset
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - before.rfind("\n")
        message = f"YAML syntax: {str(exc).splitlines()[0]}"
        return Document(file, None), [Problem(file=file, line=line, col=col, code="yaml-syntax", message=message)]
    except yaml.YAMLError as exc:
        return Document(file, None), [_yaml_problem(exc, file)]
    except _Stop as stop:
        return Document(file, None), [stop.problem]
    return document, builder.problems


def load_file(path: Path, display: str | None = None) -> tuple[Document, list[Problem]]:
    file = display or str(path)
    text, problem = _decode(path.read_bytes(), file)
    if problem:
        return Document(file, None), [problem]
    return load_text(text, file)


def value_at(data: Any, path: YamlPath) -> Any:
    """The value at `path` in loaded data, or None where there is none."""
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def read_yaml(path: Path, what: str, display: str | None = None) -> tuple[Document, list[Problem]]:
    """A file the command line named (`what`: "roster file", "secrets file"):
    a missing or unreadable one is bad usage, not a problem in a roster. Any
    readable file will do: a pipe such as <(sops -d secrets.enc.yaml) too."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a {what}")
    if not path.exists():
        raise UsageError(f"no {what} at {path}")
    try:
        return load_file(path, display)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def load_includes(document: Document, path: Path, root: Path | None = None) -> tuple[list[Document], list[Problem]]:
    """The files `document` includes, each once, in merge order: a file's own
    includes come before it, and all of them before `document` itself. An
    include must stay inside `root` (the roster's folder unless given)."""
    real = path.resolve()
    walk = _IncludeWalk((root or real.parent).resolve())
    walk.visit(document, real, [real])
    return walk.loaded, walk.problems


def _at(file: str, mark, code: str, message: str) -> Problem:
    return Problem(file=file, line=mark.line + 1, col=mark.column + 1, code=code, message=message)


class _IncludeWalk:
    """One walk through the include graph of a roster: what it loaded, in
    merge order, and what was wrong on the way."""

    def __init__(self, root: Path):
        self.root = root
        self.seen: set[Path] = set()
        self.loaded: list[Document] = []
        self.problems: list[Problem] = []

    def problem(self, document: Document, index: int, message: str) -> None:
        line, col = document.where(("include", index))
        self.problems.append(Problem(file=document.file, line=line, col=col, code="include", field="include",
                                     message=message))

    def visit(self, document: Document, real: Path, stack: list[Path]) -> None:
        entries = document.data.get("include") if isinstance(document.data, dict) else None
        if not isinstance(entries, list):
            return  # absent, or a shape the schema check reports
        for i, entry in enumerate(entries):
            if isinstance(entry, str):
                self.entry(document, real, stack, i, entry)

    def entry(self, document: Document, real: Path, stack: list[Path], i: int, entry: str) -> None:
        target = (real.parent / entry).resolve()
        display = str(Path(document.file).parent / entry)
        if not target.is_relative_to(self.root):
            self.problem(document, i, f"{display} is outside {self.root}: an include stays in the roster's "
                                      f"folder (pass --include-root DIR to allow a wider one)")
            return
        if target in stack:
            chain = " -> ".join([*(p.name for p in stack[stack.index(target):]), target.name])
            self.problem(document, i, f"include cycle: {chain}")
            return
        if target in self.seen:
            return
        if not target.is_file():
            self.problem(document, i, f"no such file: {display}")
            return
        self.seen.add(target)
        try:
            included, found = load_file(target, display)
        except OSError as exc:
            self.problem(document, i, f"cannot read {display}: {exc.strerror}")
            return
        self.problems.extend(found)
        if not found:
            self.visit(included, target, [*stack, target])
            self.loaded.append(included)
