"""Where the shipped data lives: inside the installed package, or beside it in a checkout."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from generator.load import Document, load_file


def data_dir(name: str) -> Path:
    """`templates` or `schemas`: the wheel carries them inside the package;
    a source checkout keeps them at the top of the repository."""
    packaged = Path(str(resources.files("generator") / name))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


@cache
def builtin_defaults() -> Document:
    path = data_dir("schemas") / "builtin-defaults.yaml"
    document, problems = load_file(path, display="builtin-defaults.yaml")
    assert not problems, problems  # shipped data; a problem here is a packaging bug
    return document
