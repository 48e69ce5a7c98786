"""The stack's state file (`<CDC_HOME>/stack.json`): which services run where, so every command can find them."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from common.errors import StackError
from common.settings import Profile


class ServiceRecord(BaseModel):
    """One running (or last known) service."""

    name: str
    port: int
    pid: int | None = None
    address: str
    log: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class StackState(BaseModel):
    """Everything `cdc stack status|env|down` needs to know about the stack."""

    profile: Profile = "embedded"
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    services: dict[str, ServiceRecord] = Field(default_factory=dict)
    endpoints: dict[str, str] = Field(default_factory=dict)


def load_state(path: Path) -> StackState | None:
    """Read the state file; None when there is none. A corrupt file is an error naming the file."""
    if not path.exists():
        return None
    try:
        return StackState.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, json.JSONDecodeError, OSError) as exc:
        raise StackError(f"stack state file {path} is unreadable ({type(exc).__name__}); remove it") from None


def save_state(path: Path, state: StackState) -> None:
    """Write atomically with owner-only permissions (it holds the local database password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(state.model_dump_json(indent=2))
    os.replace(tmp, path)
