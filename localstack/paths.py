"""Where the embedded stack keeps everything: one folder (`CDC_HOME`, default `./.cdc`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LAKE_ZONES = ("landing", "staging", "curated", "quarantine", "checkpoints", "dlq")


@dataclass(frozen=True)
class StackPaths:
    """The stack's folder layout; every path is absolute."""

    home: Path

    @classmethod
    def at(cls, home: Path) -> StackPaths:
        return cls(home.expanduser().resolve())

    @property
    def state_file(self) -> Path:
        return self.home / "stack.json"

    @property
    def lock_file(self) -> Path:
        return self.home / "stack.lock"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def postgres(self) -> Path:
        return self.home / "postgres"

    @property
    def registry(self) -> Path:
        return self.home / "registry"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def ensure(self) -> None:
        """Create the folders (idempotent), including the lake zones laid out like the S3 bucket."""
        for folder in (self.home, self.logs, self.registry, self.lake):
            folder.mkdir(parents=True, exist_ok=True)
        for zone in LAKE_ZONES:
            (self.lake / zone).mkdir(exist_ok=True)
