"""Stage 3, resolve: layers merged into one canonical user each.

Merge order, lowest first: built-in defaults < `defaults` of each included
file, in include order < the roster's `defaults` < each profile the user
names, in order < the user's own fields. A profile or phone model defined in
several files merges the same way: included files first. Mappings merge key by key, lists
and scalars replace. A phone is merged the same way from: the built-in
phone_defaults < `phone_defaults` of each of the layers above, in the same
order < `phone_models[<its model>]` < the phone's own keys.

Where a value came from is not stored; `origin` finds it again on demand
(for error positions and `explain`) by asking the layers, most specific first.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from jinja2 import TemplateError

from generator import expand, progress
from generator.errors import Problem, brief, dotted
from generator.load import Document, YamlPath
from generator.resources import builtin_defaults
from generator.sandbox import compiled, is_template
from generator.secrets import SECRET_KEYS, SecretRef

META_KEYS = ("profiles", "phone_defaults")


@dataclass(frozen=True)
class Layer:
    """One source of values: its label, and where its data sits in which file."""

    label: str
    document: Document
    base: YamlPath
    data: dict
    evaluates: bool  # strings here may be Jinja templates

    @cached_property
    def template_keys(self) -> frozenset[str]:
        """Top-level keys whose value holds a template (none where nothing is evaluated)."""
        if not self.evaluates:
            return frozenset()
        return frozenset(k for k, v in self.data.items() if _holds_template(v))

    def position(self, path: YamlPath) -> tuple[str, int, int]:
        line, col = self.document.where(_as_written(self.document, (*self.base, *path)))
        return self.document.file, line, col


def _holds_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_template(v) for v in value)
    return is_template(value)


def _as_written(document: Document, path: YamlPath) -> YamlPath:
    """A day that was written as `weekdays:` or `weekend:` is found there."""
    for i, part in enumerate(path):
        shorthand = expand.SHORTHAND_OF.get(part)
        if shorthand and path[: i + 1] not in document.marks:
            written = (*path[:i], shorthand)
            if written in document.marks:
                return (*written, *path[i + 1 :])
    return path


@dataclass
class ResolvedUser:
    index: int
    name: str
    fields: dict[str, Any]
    layers: list[Layer]  # lowest first
    phone_layers: list[list[Layer]] = field(default_factory=list)
    computed: list[YamlPath] = field(default_factory=list)  # paths whose value a template gave
    secret_sources: dict[YamlPath, SecretRef] = field(default_factory=dict)  # secrets filled from a source
    stand_ins: set[YamlPath] = field(default_factory=set)  # secrets not at hand (see secrets.stand_in)

    def origin(self, path: YamlPath) -> tuple[Layer, YamlPath] | None:
        """The layer that gave the value at `path` (a path into `fields`)."""
        if len(path) > 2 and path[0] == "phones" and isinstance(path[1], int) \
                and path[1] < len(self.phone_layers):
            layer = owner(self.phone_layers[path[1]], path[2:])
            if layer:
                return layer, path[2:]
        layer = owner(self.layers, path)
        return (layer, path) if layer else None

    def problem(self, path: YamlPath, message: str, warning: bool = False) -> Problem:
        found = self.origin(path)
        if found is None:
            user_layer = self.layers[-1]
            file, line, col = user_layer.position(())
        else:
            layer, sub = found
            file, line, col = layer.position(sub)
        return Problem(file, line, col, self.name, dotted(path) or None, message, warning)


def _has(data: Any, path: YamlPath) -> bool:
    """Whether `data` sets `path`; a list owns everything below it (lists replace)."""
    for part in path:
        if isinstance(data, list):
            return True
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def owner(layers: list[Layer], path: YamlPath) -> Layer | None:
    """The most specific layer that sets `path`."""
    for layer in reversed(layers):
        if _has(layer.data, path):
            return layer
    return None


class Merger:
    """Deep merge of layers, remembering nested results: below the top level both inputs
    are values of the layers (or results remembered here), which every user
    shares, so most users get the very same merged office hours or forward
    rule. Results are shared, never changed in place."""

    def __init__(self) -> None:
        self.memo: dict[tuple[int, int], tuple[dict, dict, dict]] = {}
        self.prefixes: dict[tuple[int, ...], tuple[list[dict], dict]] = {}

    def merge(self, base: Any, over: Any, nested: bool = False) -> Any:
        """Deep merge without touching either input: mappings merge, the rest replace."""
        if not (isinstance(base, dict) and isinstance(over, dict)):
            return over
        if nested:
            hit = self.memo.get((id(base), id(over)))
            if hit is not None and hit[0] is base and hit[1] is over:
                return hit[2]
        out = dict(base)
        for key, value in over.items():
            out[key] = self.merge(base[key], value, True) if key in base else value
        if nested:
            self.memo[(id(base), id(over))] = (base, over, out)  # holding both keeps their ids unique
        return out

    def all(self, layers: list[Layer]) -> dict:
        """All layers merged. Everything below the last layer is usually the
        same shared layers for many users (defaults, a profile, a phone model),
        so that part is merged once and remembered."""
        data = [layer.data for layer in layers if layer.data]
        if not data:
            return {}
        below, last = data[:-1], data[-1]
        key = tuple(map(id, below))
        hit = self.prefixes.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], below)):
            out: dict = {}
            for part in below:
                out = self.merge(out, part)
            hit = (below, out)  # holding the parts keeps their ids unique
            self.prefixes[key] = hit
        return self.merge(hit[1], last)


@dataclass(frozen=True)
class Source:
    """One written layer, split into its user fields and its phone_defaults."""

    fields: Layer
    phone: Layer


@dataclass
class Roster:
    """The roster's shared layers, expanded and split once; users are resolved against it."""

    document: Document
    builtin: Source
    defaults: list[Source]  # included files' first, the roster's last
    profiles: dict[str, list[Source]]
    phone_models: dict[str, list[Layer]]
    merger: Merger = field(default_factory=Merger)


def _layer(label: str, document: Document, base: YamlPath, data: Any, evaluates: bool) -> Layer:
    return Layer(label, document, base, expand.layer(data or {}), evaluates)


def _source(label: str, document: Document, base: YamlPath, data: Any, evaluates: bool) -> Source:
    layer = _layer(label, document, base, data, evaluates)
    return Source(_without(layer, META_KEYS), _sub(layer, "phone_defaults"))


def prepare(document: Document, included: list[Document] = ()) -> Roster:
    builtin_doc = builtin_defaults()
    roster = Roster(document, _source("built-in", builtin_doc, (), builtin_doc.data, False), [], {}, {})
    for source in [*included, document]:
        data = source.data or {}
        roster.defaults.append(_source("defaults", source, ("defaults",), data.get("defaults"), True))
        for name, value in (data.get("profiles") or {}).items():
            layer = _source(f"profile {name}", source, ("profiles", name), value, True)
            roster.profiles.setdefault(name, []).append(layer)
        for name, value in (data.get("phone_models") or {}).items():
            layer = _layer(f"phone_models[{name}]", source, ("phone_models", name), value, True)
            roster.phone_models.setdefault(name, []).append(layer)
    return roster


def _without(layer: Layer, keys: tuple[str, ...]) -> Layer:
    data = {k: v for k, v in layer.data.items() if k not in keys}
    return Layer(layer.label, layer.document, layer.base, data, layer.evaluates)


def _sub(layer: Layer, key: str) -> Layer:
    return Layer(layer.label, layer.document, (*layer.base, key), layer.data.get(key) or {},
                 layer.evaluates)


def _user_sources(roster: Roster, index: int, entry: dict, problems: list[Problem], name: str) -> list[Source]:
    user = _source("user", roster.document, ("users", index), entry, False)
    chain = [roster.builtin, *roster.defaults]
    for i, wanted in enumerate(entry.get("profiles") or []):
        profile = roster.profiles.get(wanted)
        if profile is None:
            close = difflib.get_close_matches(wanted, roster.profiles, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            line, col = roster.document.where(("users", index, "profiles", i))
            problems.append(Problem(roster.document.file, line, col, name, f"profiles[{i}]",
                                    f"unknown profile {brief(wanted)}{hint}"))
            continue
        chain.extend(profile)
    chain.append(user)
    return chain


def _phone_layers(roster: Roster, chain: list[Source], phones_owner: Layer, i: int, phone: dict):
    layers = [source.phone for source in chain]
    item = Layer(phones_owner.label, phones_owner.document, (*phones_owner.base, "phones", i),
                 phone, phones_owner.evaluates)
    # The model may be the phone's own or a default for all of a user's phones.
    model = next((layer.data["model"] for layer in reversed([*layers, item]) if "model" in layer.data), None)
    if isinstance(model, str) and model in roster.phone_models:
        layers.extend(roster.phone_models[model])
    return [*layers, item]


def _evaluate(user: ResolvedUser, value: Any, path: YamlPath, base: YamlPath, layers: list[Layer],
              context: dict, problems: list[Problem]) -> Any:
    """`value` with the template strings that came from a layer allowed to hold
    them rendered. Containers are rebuilt only where something changed, since
    merged values share structure with the layers (and so with other users)."""
    if isinstance(value, dict):
        items = {k: _evaluate(user, v, (*path, k), base, layers, context, problems) for k, v in value.items()}
        return value if all(items[k] is value[k] for k in value) else items
    if isinstance(value, list):
        items = [_evaluate(user, v, (*path, i), base, layers, context, problems) for i, v in enumerate(value)]
        return value if all(a is b for a, b in zip(items, value)) else items
    if not is_template(value):
        return value
    found = owner(layers, path)
    if found is None or not found.evaluates:
        return value
    try:
        rendered = compiled(value).render(context)
        user.computed.append((*base, *path))
        return rendered
    except Exception as exc:  # noqa: BLE001 - roster-supplied code may raise anything
        problems.append(user.problem((*base, *path), f"computed value {brief(value)}: {_reason(exc)}"))
        return value


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}"


def _evaluate_fields(user: ResolvedUser, values: dict, base: YamlPath, layers: list[Layer],
                     context: Callable[[], dict], problems: list[Problem]) -> dict:
    """Evaluate only the fields some layer of this user gave a template to;
    the template context is made only then."""
    keys = _template_keys(layers)
    if not keys & values.keys():
        return values
    context = context()
    out = dict(values)
    for key in keys & values.keys():
        out[key] = _evaluate(user, values[key], (key,), base, layers, context, problems)
    return out


def _context(values: dict, template_keys: Iterable[str]) -> dict:
    """What a template may read: every field not itself computed, and no secret,
    so that no template can copy one into a field that is shown."""
    out = dict(values)
    for key in SECRET_KEYS:
        out.pop(key, None)
    for key in template_keys:
        if is_template(out.get(key)):
            del out[key]
    return out


def _template_keys(layers: list[Layer]) -> set[str]:
    return set().union(*(layer.template_keys for layer in layers))


def resolve_user(roster: Roster, index: int, entry: dict, problems: list[Problem]) -> ResolvedUser:
    name = str(entry.get("name"))
    chain = _user_sources(roster, index, entry, problems, name)
    layers = [source.fields for source in chain]
    user = ResolvedUser(index, name, roster.merger.all(layers), layers)
    written = user.fields  # as merged, before any template is evaluated
    user_context = lambda: _context(written, _template_keys(layers))  # noqa: E731
    user.fields = _evaluate_fields(user, written, (), layers, user_context, problems)
    phones_owner = owner(layers, ("phones",))  # built-in has phones: [], so always found
    phones = []
    for i, phone in enumerate(user.fields.get("phones") or []):
        phone_layers = _phone_layers(roster, chain, phones_owner, i, phone)
        user.phone_layers.append(phone_layers)
        merged = roster.merger.all(phone_layers)
        context = lambda merged=merged, phone_layers=phone_layers: {  # noqa: E731
            **user_context(), "phone": _context(merged, _template_keys(phone_layers))}
        phones.append(_evaluate_fields(user, merged, ("phones", i), phone_layers, context, problems))
    user.fields = {**user.fields, "phones": phones}
    return user


def _split_name(display_name: str) -> tuple[str, str]:
    first, _, last = display_name.strip().partition(" ")
    return first, last.strip()


def link_blfs(users: list[ResolvedUser], problems: list[Problem], held_back: set[str]) -> None:
    """Fill compact BLFs (an extension number) from the roster user who has it.

    A BLF naming a user held back by schema problems is left for the next run:
    that user's own problems are reported already.
    """
    by_extension = {u.fields.get("extension_number"): u for u in users}
    for user in users:
        blfs = []
        for i, blf in enumerate(user.fields.get("blfs") or []):
            if isinstance(blf, dict):
                blfs.append({"first_name": "", "last_name": "", **blf})
                continue
            target = by_extension.get(blf)
            if target is None and blf in held_back:
                continue
            if target is None:
                problems.append(user.problem(("blfs", i),
                                             f"no user in the roster has extension {blf}"))
                continue
            first, last = _split_name(str(target.fields.get("display_name", "")))
            blfs.append({"key": blf, "value": blf, "first_name": first, "last_name": last})
        user.fields["blfs"] = blfs


def resolve(document: Document, included: list[Document] = (),
            skip: set[int] = frozenset()) -> tuple[list[ResolvedUser], list[Problem]]:
    """Resolve every user but those in `skip` (indexes of users with schema problems)."""
    roster = prepare(document, included)
    problems: list[Problem] = []
    entries = document.data.get("users") or []
    users = []
    for i, entry in enumerate(entries):
        progress.tick("resolving users", i, len(entries))
        if i not in skip:
            users.append(resolve_user(roster, i, entry, problems))
    held_back = {str(entries[i].get("extension_number")) for i in skip if isinstance(entries[i], dict)}
    link_blfs(users, problems, held_back)
    return users, problems
