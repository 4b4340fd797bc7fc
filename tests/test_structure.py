"""The shape of the code itself: imports that form no circle, and dead names gone."""

import ast
from pathlib import Path

import generator

PACKAGE = Path(generator.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """Modules of ours that `path` imports when it is imported (TYPE_CHECKING
    blocks included: a circle there is still one); imports inside functions,
    made on first use, are not counted."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        for inner in ast.walk(node) if isinstance(node, ast.If) else [node]:
            if isinstance(inner, ast.ImportFrom) and inner.module and inner.module.startswith("generator"):
                found.add(inner.module)
                found.update(f"{inner.module}.{a.name}" for a in inner.names)
            elif isinstance(inner, ast.Import):
                found.update(a.name for a in inner.names if a.name.startswith("generator"))
    return found


def test_no_module_imports_itself_through_others():
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: {m for m in _top_level_imports(path) if m in modules and m != name}
             for name, path in modules.items()}
    circles = []

    def visit(name: str, trail: list[str]) -> None:
        for nxt in sorted(graph[name]):
            if nxt in trail:
                circles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif len(trail) < 12:
                visit(nxt, [*trail, nxt])

    for name in sorted(graph):
        visit(name, [name])
    assert not circles, circles[:5]


def test_model_imports_nothing_of_ours():
    assert _top_level_imports(PACKAGE / "model.py") == set()
