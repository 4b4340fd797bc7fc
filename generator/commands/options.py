"""The options several commands share, as plain values: how to reach and
sign in to a PBX (Login), how hard to press it (Pace), what a sync may do
(Rules), and where a roster's secrets and column sets come from (Sources).
The CLI defines each option once and hands these to the commands. Kept light:
the CLI imports this module whatever the command."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Login:
    """How to reach the PBX and sign in: the login options, as given."""

    pbx: str | None = None
    username: str | None = None
    domain: str = ""
    password_file: Path | None = None
    ca_file: Path | None = None
    insecure: bool = False
    allow_http: bool = False


@dataclass(frozen=True)
class Pace:
    """How hard to press the PBX, and where each request is logged."""

    parallel: int = 16
    rate: float = 1000.0  # a ceiling (requests a second): the client's adaptive rate never climbs past it
    log: Path | None = None


@dataclass(frozen=True)
class Rules:
    """What a sync may do: compare secrets since `base`, delete, replace; its thresholds."""

    base: str | None = None
    prune: bool = False
    allow_replace: bool = False
    replace: Collection[str] | None = None  # the users --replace names
    max_deletes: int = 30
    max_replaces: int = 30
    max_updates: int = 30
    force: bool = False

    @property
    def replacing(self) -> frozenset[str] | bool:
        return True if self.allow_replace else frozenset(self.replace or ())

    @property
    def percent(self) -> dict[str, int]:
        return {"delete": self.max_deletes, "replace": self.max_replaces, "update": self.max_updates}


@dataclass(frozen=True)
class Sources:
    """Where a roster's secrets, master key and column sets come from."""

    templates: Path | None = None
    secrets: Path | None = None
    key_file: Path | None = None
    allow_env: Collection[str] | None = None  # variables a roster may read beyond ROSTER_SECRET_*

    def options(self, **more):
        """The pipeline's Options with these sources (and `more`)."""
        from generator.pipeline import Options

        return Options(templates=self.templates, secrets=self.secrets, key_file=self.key_file,
                       allow_env=frozenset(self.allow_env or ()), **more)
