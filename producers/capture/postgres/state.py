"""The native capture's durable state: which slot, which phase, how far the snapshot got.

Written atomically (write + rename) and only after Kafka confirmed what it records, so a crash at any point
resumes without losing anything (it may re-send the unconfirmed tail).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from common.errors import ConfigError


class SnapshotProgress(BaseModel):
    """Tables fully snapshotted, the one in progress and the text of its last confirmed primary key."""

    completed: list[str] = Field(default_factory=list)
    current: str | None = None
    last_key: list[str] | None = None
    rows: int = 0


class CaptureState(BaseModel):
    slot: str
    generation: int = 1
    phase: Literal["snapshot", "streaming"] = "snapshot"
    consistent_lsn: int = 0
    snapshot: SnapshotProgress = Field(default_factory=SnapshotProgress)


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> CaptureState | None:
        if not self.path.exists():
            return None
        try:
            return CaptureState.model_validate_json(self.path.read_text(encoding="utf-8"))
        except (ValidationError, json.JSONDecodeError, OSError) as exc:
            raise ConfigError(
                f"capture state {self.path} is unreadable ({type(exc).__name__}); remove it to start over"
            ) from None

    def save(self, state: CaptureState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(state.model_dump_json(indent=2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
