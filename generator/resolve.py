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
from typing import Any

from jinja2 import TemplateError

from generator import expand
from generator.errors import brief
from generator.load import Document
from generator.model import NO_PATHS, SECRET_KEYS, HeldBack, Layer, Problem, ResolvedUser, YamlPath, owner
from generator.progress import Progress
from generator.resources import builtin_defaults
from generator.sandbox import TemplateLimit, holds_template, is_template, render
from generator.schema import quick

META_KEYS = ("profiles", "phone_defaults")


def make_layer(label: str, document: Document, base: YamlPath, data: dict, evaluates: bool) -> Layer:
    keys = frozenset(k for k, v in data.items() if holds_template(v)) if evaluates else NO_PATHS
    return Layer(label, document, base, data, evaluates, keys or NO_PATHS)  # most have none: one empty set


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
class SplitLayer:
    """One written layer, split into its user fields and its phone_defaults."""

    fields: Layer
    phone: Layer


@dataclass
class Roster:
    """The roster's shared layers, expanded and split once; users are resolved against it."""

    document: Document
    builtin: SplitLayer
    defaults: list[SplitLayer]  # included files' first, the roster's last
    profiles: dict[str, list[SplitLayer]]
    phone_models: dict[str, list[Layer]]
    merger: Merger = field(default_factory=Merger)
    alike: dict[frozenset, frozenset] = field(default_factory=dict)  # each user's computed paths, kept once

    def shared(self, paths: frozenset) -> frozenset:
        """One set for all the users whose templates computed the same fields (most)."""
        return self.alike.setdefault(paths, paths) if paths else NO_PATHS


def _layer(label: str, document: Document, base: YamlPath, data: Any, evaluates: bool,
           canonical: Callable[[Any], Any] = expand.layer) -> Layer:
    return make_layer(label, document, base, canonical(data or {}), evaluates)


def _source(label: str, document: Document, base: YamlPath, data: Any, evaluates: bool) -> SplitLayer:
    layer = _layer(label, document, base, data, evaluates)
    return SplitLayer(_without(layer, META_KEYS), _sub(layer, "phone_defaults"))


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
            layer = _layer(f"phone_models[{name}]", source, ("phone_models", name), value, True, expand.phone)
            roster.phone_models.setdefault(name, []).append(layer)
    return roster


def _without(layer: Layer, keys: tuple[str, ...]) -> Layer:
    data = {k: v for k, v in layer.data.items() if k not in keys}
    return make_layer(layer.label, layer.document, layer.base, data, layer.evaluates)


def _sub(layer: Layer, key: str) -> Layer:
    return make_layer(layer.label, layer.document, (*layer.base, key), layer.data.get(key) or {}, layer.evaluates)


def _user_sources(roster: Roster, index: int, entry: dict, name: str) -> tuple[list[SplitLayer], list[Problem]]:
    user = _source("user", roster.document, ("users", index), entry, False)
    chain, problems = [roster.builtin, *roster.defaults], []
    named = entry.get("profiles") or []
    for i, wanted in enumerate([named] if isinstance(named, str) else named):
        profile = roster.profiles.get(wanted)
        if profile is None:
            close = difflib.get_close_matches(wanted, roster.profiles, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            line, col = roster.document.where(("users", index, "profiles", i) if not isinstance(named, str)
                                              else ("users", index, "profiles"))
            problems.append(Problem(file=roster.document.file, line=line, col=col, code="unknown-profile",
                                    user=name, field=f"profiles[{i}]",
                                    message=f"unknown profile {brief(wanted)}{hint}"))
            continue
        chain.extend(profile)
    chain.append(user)
    return chain, problems


def _phone_layers(roster: Roster, chain: list[SplitLayer], phones_owner: Layer, i: int, phone: dict):
    layers = [source.phone for source in chain]
    item = make_layer(phones_owner.label, phones_owner.document, (*phones_owner.base, "phones", i),
                      phone, phones_owner.evaluates)
    # The model may be the phone's own or a default for all of a user's phones.
    model = next((layer.data["model"] for layer in reversed([*layers, item]) if "model" in layer.data), None)
    if isinstance(model, str) and model in roster.phone_models:
        layers.extend(roster.phone_models[model])
    return [*layers, item]


class _Evaluation:
    """Templates of one user evaluated: the paths they computed, and what
    failed (as paths and messages, located once the user is whole)."""

    def __init__(self, exhausted: dict[str, str] | None = None) -> None:
        self.computed: list[YamlPath] = []
        self.failures: list[tuple[YamlPath, str]] = []
        self.exhausted = exhausted  # templates that ran out of time or work this run (sandbox.render)

    def value(self, value: Any, path: YamlPath, base: YamlPath, layers: list[Layer], context: dict) -> Any:
        """`value` with the template strings that came from a layer allowed to hold
        them rendered. Containers are rebuilt only where something changed, since
        merged values share structure with the layers (and so with other users)."""
        if isinstance(value, dict):
            items = {k: self.value(v, (*path, k), base, layers, context) for k, v in value.items()}
            return value if all(items[k] is value[k] for k in value) else items
        if isinstance(value, list):
            items = [self.value(v, (*path, i), base, layers, context) for i, v in enumerate(value)]
            return value if all(a is b for a, b in zip(items, value)) else items
        if not is_template(value):
            return value
        found = owner(layers, path)
        if found is None or not found.evaluates:
            return value
        try:
            rendered = render(value, context, self.exhausted)
        except Exception as exc:  # noqa: BLE001 - roster-supplied code may raise anything
            # A template at a secret's place is that secret's recipe: not quoted.
            shown = "at a secret's place" if path[-1] in SECRET_KEYS else brief(value)
            self.failures.append(((*base, *path), f"computed value {shown}: {_reason(exc)}"))
            return value
        self.computed.append((*base, *path))
        return rendered

    def fields(self, values: dict, base: YamlPath, layers: list[Layer], context: Callable[[], dict]) -> dict:
        """Evaluate only the fields some layer of this user gave a template to;
        the template context is made only then."""
        keys = _template_keys(layers)
        if not keys & values.keys():
            return values
        made = context()
        out = dict(values)
        for key in keys & values.keys():
            out[key] = self.value(values[key], (key,), base, layers, made)
        return out


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, (TemplateError, TemplateLimit)) else f"{type(exc).__name__}: {exc}"


def without_secrets(fields: dict) -> dict:
    """A user's (or a phone's) fields without a secret: the schema lets them
    sit only at the top and in each phone, so only those are copied."""
    out = dict(fields)  # copied in C; then the few secret keys go
    for key in SECRET_KEYS & out.keys():
        del out[key]
    if isinstance(out.get("phones"), list):
        out["phones"] = [without_secrets(p) if isinstance(p, dict) else p for p in out["phones"]]
    if isinstance(out.get("phone_defaults"), dict):
        out["phone_defaults"] = without_secrets(out["phone_defaults"])
    return out


def _context(values: dict, template_keys: Iterable[str]) -> dict:
    """What a template may read: every field not itself computed, and no secret
    at any depth, so that no template can copy one into a field that is shown."""
    out = without_secrets(values)
    for key in template_keys:
        if is_template(out.get(key)):
            del out[key]
    return out


def _template_keys(layers: list[Layer]) -> set[str]:
    return set().union(*(layer.template_keys for layer in layers))


def resolve_user(roster: Roster, index: int, entry: dict,
                 exhausted: dict[str, str] | None = None) -> tuple[ResolvedUser, list[Problem]]:
    """One user entry merged through its layers, templates evaluated."""
    name = str(entry.get("name"))
    chain, problems = _user_sources(roster, index, entry, name)
    layers = [source.fields for source in chain]
    written = roster.merger.all(layers)  # as merged, before any template is evaluated
    evaluation = _Evaluation(exhausted)
    user_context = lambda: _context(written, _template_keys(layers))  # noqa: E731
    fields = evaluation.fields(written, (), layers, user_context)
    phones_owner = owner(layers, ("phones",))  # built-in has phones: [], so always found
    listed = fields.get("phones") or []
    phone_layers = tuple(tuple(_phone_layers(roster, chain, phones_owner, i, phone)) for i, phone in enumerate(listed))
    phones = []
    for i, layers_of_phone in enumerate(phone_layers):
        merged = roster.merger.all(layers_of_phone)
        context = lambda merged=merged, layers_of_phone=layers_of_phone: {  # noqa: E731
            **user_context(), "phone": _context(merged, _template_keys(layers_of_phone))}
        phones.append(evaluation.fields(merged, ("phones", i), layers_of_phone, context))
    user = ResolvedUser(index, name, {**fields, "phones": phones}, tuple(layers), phone_layers,
                        roster.shared(frozenset(evaluation.computed)))
    return user, problems + [user.problem(path, "computed-value", message) for path, message in evaluation.failures]


def split_name(display_name: str) -> tuple[str, str]:
    """A display name as PortSIP's first and last name: the first word, and the rest."""
    first, _, last = display_name.strip().partition(" ")
    return first, last.strip()


def held_back(entries: list, skip: frozenset[int]) -> HeldBack:
    """The valid extensions of the users in `skip` (see HeldBack)."""
    valid = quick("userFields/properties/extension_number")
    extensions, some_unknown = set(), False
    for i in skip:
        entry = entries[i] if isinstance(entries[i], dict) else {}
        extension = expand.as_text(entry.get("extension_number"))
        if isinstance(extension, str) and valid(extension):
            extensions.add(extension)
        else:
            some_unknown = True
    return HeldBack(frozenset(extensions), some_unknown)


def link_blfs(users: list[ResolvedUser], held: HeldBack) -> tuple[list[ResolvedUser], list[Problem]]:
    """Users with compact BLFs (an extension number) filled in from the roster
    user who has that extension.

    A BLF naming a user held back by schema problems is left for the next run:
    that user's own problems are reported already.
    """
    by_extension = {u.fields.get("extension_number"): u for u in users}
    out, problems = [], []
    for user in users:
        if not user.fields.get("blfs"):
            out.append(user)  # nothing to link: no copy
            continue
        blfs = []
        for i, blf in enumerate(user.fields.get("blfs") or []):
            if isinstance(blf, dict):
                blfs.append({"first_name": "", "last_name": "", **blf})
                continue
            target = by_extension.get(blf)
            if target is None and held.may_have(blf):
                continue
            if target is None:
                problems.append(user.problem(("blfs", i), "blf-unknown", f"no user in the roster has extension {blf}"))
                continue
            first, last = split_name(str(target.fields.get("display_name", "")))
            blfs.append({"key": blf, "value": blf, "first_name": first, "last_name": last})
        # Built directly: dataclasses.replace costs several times more, once per user.
        out.append(ResolvedUser(user.index, user.name, {**user.fields, "blfs": blfs}, user.layers, user.phone_layers,
                                user.computed, user.secret_sources, user.stand_ins))
    return out, problems


def resolve(document: Document, included: list[Document] = (), skip: frozenset[int] = frozenset(),
            progress: Progress | None = None) -> tuple[list[ResolvedUser], list[Problem]]:
    """Every user but those in `skip` (indexes of users with schema problems),
    resolved; problems in file order of discovery."""
    roster = prepare(document, included)
    problems: list[Problem] = []
    entries = document.data.get("users") or []
    users, exhausted = [], {}
    for i, entry in enumerate(entries):
        if progress:
            progress.tick("resolving users", i, len(entries))
        if i not in skip:
            user, found = resolve_user(roster, i, entry, exhausted)
            users.append(user)
            problems += found
    users, found = link_blfs(users, held_back(entries, skip))
    return users, problems + found
