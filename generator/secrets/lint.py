"""--no-literal-secrets: every secret written in a roster file itself."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from generator.load import Document
from generator.model import PHONE_SECRETS, USER_SECRETS, Problem


def _places(data: dict) -> Iterator[tuple[tuple, dict, Mapping]]:
    """(path, mapping, the secret fields it may hold) for every layer that may hold secrets."""
    layers = [(("defaults",), data.get("defaults"))]
    layers += [(("profiles", n), p) for n, p in (data.get("profiles") or {}).items()]
    layers += [(("users", i), u) for i, u in enumerate(data.get("users") or [])]
    for base, layer in layers:
        if not isinstance(layer, dict):
            continue
        yield base, layer, USER_SECRETS
        if isinstance(layer.get("phone_defaults"), dict):
            yield (*base, "phone_defaults"), layer["phone_defaults"], PHONE_SECRETS
        for i, phone in enumerate(layer.get("phones") or []):
            if isinstance(phone, dict):
                yield (*base, "phones", i), phone, PHONE_SECRETS
    for name, model in (data.get("phone_models") or {}).items():
        if isinstance(model, dict):
            yield ("phone_models", name), model, PHONE_SECRETS


def literal_problems(document: Document) -> list[Problem]:
    data = document.data if isinstance(document.data, dict) else {}
    problems = []
    for base, holder, keys in _places(data):
        for key in keys:
            value = holder.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
                line, col = document.where((*base, key))
                user = str(holder.get("name")) if base[0] == "users" else None
                problems.append(Problem(file=document.file, line=line, col=col, code="literal-secret", user=user,
                                        field=key, message="a literal secret in the roster; use {generate: true}, "
                                        "{env: NAME} or {secrets_file: true}"))
    return problems
