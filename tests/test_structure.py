"""The shape of the code itself: imports that form no circle, and dead names gone."""

import ast
import re
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


# The layers of docs/architecture.md ("What may import what"), lowest first:
# model <- core (errors, the stages and their helpers) <- pipeline, compare,
# pbx, sync <- commands <- cli. Each layer and what it may import, imports
# inside functions included (a lazy import is still a dependency).
ALLOWED = {
    "model": set(),
    "core": {"model", "core"},
    "pipeline": {"model", "core"},
    "compare": {"model", "core", "compare"},
    "pbx": {"model", "core", "pbx"},
    "sync": {"model", "core", "compare", "pbx", "sync"},
    "commands": {"model", "core", "pipeline", "compare", "pbx", "sync", "commands"},
    # the CLI parses, calls a command and prints: besides the commands, only what it prints with
    "cli": {"cli", "model", "commands", "generator", "generator.errors", "generator.report", "generator.progress",
            "generator.compare.formats"},  # the registry its --format choices come from
}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "core"  # the package itself: its version
    if parts[1] in ("cli", "__main__"):
        return "cli"
    if parts[1] in ("model", "pipeline", "compare", "pbx", "sync", "commands"):
        return parts[1]
    return "core"


def _all_imports(path: Path) -> set[str]:
    """Every module of ours that `path` imports, wherever the import is (`from generator import expand` is
    generator.expand)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "generator":
            submodules = [f"{node.module}.{a.name}" for a in node.names
                          if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(".py").exists()
                          or (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")).is_dir()]
            found.update(submodules or [node.module])
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "generator")
    return found


def test_the_layers_import_only_what_the_table_allows():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module(path)
        allowed = ALLOWED[_layer(module)]
        for imported in sorted(_all_imports(path)):
            if _layer(imported) not in allowed and imported not in allowed:
                wrong.append(f"{module} ({_layer(module)}) imports {imported} ({_layer(imported)})")
    assert not wrong, wrong


def test_the_table_catches_a_command_imported_from_below():
    assert "commands" not in ALLOWED[_layer("generator.sync.plan")]
    assert "pipeline" not in ALLOWED["cli"] and "generator.write" not in ALLOWED["cli"]
    assert _layer("generator.secrets.fill") == "core" and _layer("generator.pbx.portsip.client") == "pbx"


def test_each_option_group_names_every_field_of_its_class_once():
    import dataclasses

    from generator import cli
    from generator.commands.options import Login, Pace, Rules, Sources

    # import's login options are the Login group's but for its own --pbx (it reads no PORTSIP_URL)
    assert set(cli._GROUPS) == {Login, Rules, Pace, Sources, cli._AdoptLogin}
    assert {k: v for k, v in cli._GROUPS[cli._AdoptLogin].items() if k != "pbx"} == \
        {k: v for k, v in cli._GROUPS[Login].items() if k != "pbx"}
    for made, options in cli._GROUPS.items():
        assert list(options) == [f.name for f in dataclasses.fields(made)], made


def test_plan_and_apply_take_the_login_and_sync_options_from_one_place():
    import typer

    from generator import cli
    from generator.commands.options import Login, Pace, Rules, Sources

    group = typer.main.get_group(cli.app)
    shared = [name for made in (Login, Rules, Pace, Sources) for name in cli._GROUPS[made]]
    for command in ("plan", "apply"):
        names = [p.name for p in group.commands[command].params]
        assert [n for n in names if n in shared] == shared, command


def test_a_grouped_command_gets_its_options_back_as_one_value():
    import typer
    from typer.testing import CliRunner

    from generator import cli
    from generator.commands.options import Login, Rules

    seen = []
    app = typer.Typer()

    @app.command()
    @cli._grouped
    def go(login: Login, rules: Rules) -> None:
        seen.append((login, rules))

    result = CliRunner().invoke(app, ["--pbx", "https://pbx", "--replace", "ann", "--replace", "bob", "--prune"],
                                env={"PORTSIP_USERNAME": "admin"})
    assert result.exit_code == 0, result.output
    login, rules = seen[0]
    assert login == Login(pbx="https://pbx", username="admin")
    assert rules.prune and rules.replacing == frozenset({"ann", "bob"}) and rules.max_deletes == 30


def test_every_folder_of_the_package_is_a_regular_package():
    # a folder without __init__.py is a namespace package: importable, but found by path search, not by the package
    missing = [str(folder.relative_to(PACKAGE.parent)) for folder in sorted(PACKAGE.rglob("*"))
               if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py"))
               and not (folder / "__init__.py").exists()]
    assert not missing, missing


def _defined(path: Path) -> set[str]:
    """The names a module makes itself (def, class, assignment at its top level), not those it imports."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def test_each_name_is_imported_from_the_module_that_owns_it():
    # a name taken through another module (a re-export) hides who owns it, and outlives its reason
    owners: dict[str, set[str]] = {}
    wrong = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "tests").glob("*.py"),
                        *(PACKAGE.parent / "benchmarks").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "generator"):
                continue
            source = PACKAGE.parent / node.module.replace(".", "/")
            source = source / "__init__.py" if source.is_dir() else source.with_suffix(".py")
            if source not in owners:
                owners[source] = _defined(source)
            for alias in node.names:
                submodule = PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/")
                if alias.name not in owners[source] and not submodule.with_suffix(".py").exists() \
                        and not submodule.is_dir():
                    wrong.append(f"{path.relative_to(PACKAGE.parent)}: {alias.name} from {node.module}")
    assert not wrong, wrong


def test_what_may_reach_a_terminal_is_escaped_in_one_place():
    # model.printable is the one escaping; a second copy of its characters (pbx/portsip/client.py had one) drifts
    import importlib
    import re

    from generator import model

    every = "".join(map(chr, range(0x10000)))
    escaped = set(model._UNPRINTABLE.findall(every))
    copies = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module(path)
        if name in ("generator.model", "generator.__main__"):
            continue
        for attribute, value in vars(importlib.import_module(name)).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str) and value.pattern.startswith("[") \
                    and set(value.findall(every)) == escaped:
                copies.append(f"{name}.{attribute}")
    assert not copies, copies


def test_every_module_the_docs_and_docstrings_name_is_there():
    # a move leaves stale paths behind (the sync package's client and api, once): each named file must exist
    root = PACKAGE.parent
    texts = [*(root / "docs").glob("*.md"), root / "README.md", *PACKAGE.rglob("*.py"), *(root / "tests").glob("*.py"),
             *(root / "benchmarks").glob("*.py")]
    folders = [root, PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__")]
    gone = []
    for text in texts:
        for named in sorted(set(re.findall(r"\b((?:generator/)?(?:[a-z_]+/)*[a-z_]+\.py)\b", text.read_text("utf-8")))):
            if named.startswith("generator/"):
                found = (root / named).exists()
            elif "/" in named:  # relative to some folder of the package: sync/plan.py, portsip/client.py
                found = any((folder / named).exists() for folder in folders)
            else:
                continue
            if not found:
                gone.append(f"{text.relative_to(root)}: {named}")
    assert not gone, gone


def test_commands_reach_the_portsip_package_only_through_connect():
    # the PBX is the Target interface (pbx/base.py): commands name PortSIP's modules in one factory, nowhere else
    wrong = []
    for path in sorted((PACKAGE / "commands").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        allowed = set()
        if path.name == "sync.py":
            connect = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "connect")
            allowed = {id(n) for n in ast.walk(connect)}
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if any(n.startswith("generator.pbx.portsip") for n in names) and id(node) not in allowed:
                wrong.append(f"{path.name}:{node.lineno}")
    assert not wrong, wrong
