"""The contract every embedded service implements, and the status row reported for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from localstack.state import ServiceRecord

Health = Literal["healthy", "unhealthy", "stopped"]


class Service(Protocol):
    name: str

    def start(self, port: int) -> ServiceRecord: ...

    def healthy(self, record: ServiceRecord) -> bool: ...

    def stop(self, record: ServiceRecord) -> None: ...

    def endpoints(self, record: ServiceRecord) -> dict[str, str]: ...


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    health: Health
    pid: int | None
    log: str | None
