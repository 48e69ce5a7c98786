"""The embedded stack: start, health-check, report and stop PostgreSQL, the broker, the registry and moto."""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from common.errors import StackError
from common.logging import get_logger
from localstack.broker import BrokerService
from localstack.http_service import MotoService, RegistryService
from localstack.paths import StackPaths
from localstack.ports import free_port, port_in_use
from localstack.postgres import PostgresService
from localstack.process import is_alive, terminate
from localstack.services import Health, Service, ServiceStatus
from localstack.state import StackState, load_state, save_state

log = get_logger(__name__)

SERVICE_ORDER = ("postgres", "kafka", "schema-registry", "aws")


class EmbeddedStack:
    """Real processes on loopback ports, data and logs under one folder; `up` is idempotent."""

    profile = "embedded"

    def __init__(self, paths: StackPaths) -> None:
        self.paths = paths

    def _services(self) -> dict[str, Service]:
        return {
            "postgres": PostgresService(self.paths.postgres, self.paths.log("postgres")),
            "kafka": BrokerService(self.paths.log("kafka")),
            "schema-registry": RegistryService(self.paths.registry, self.paths.log("schema-registry")),
            "aws": MotoService(self.paths.log("aws")),
        }

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One `up`/`down` at a time per stack folder."""
        self.paths.home.mkdir(parents=True, exist_ok=True)
        with self.paths.lock_file.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def state(self) -> StackState | None:
        return load_state(self.paths.state_file)

    def up(self, ports: Mapping[str, int] | None = None) -> StackState:
        """Start whatever is not already healthy. Explicit ports must be free; others reuse the last ones."""
        ports = ports or {}
        unknown = set(ports) - set(SERVICE_ORDER)
        if unknown:
            raise StackError(f"unknown service(s) {sorted(unknown)}; known: {', '.join(SERVICE_ORDER)}")
        with self._locked():
            self.paths.ensure()
            state = self.state() or StackState(profile="embedded")
            if state.profile != "embedded" and any(r.pid for r in state.services.values()):
                raise StackError(
                    f"a `{state.profile}` stack is recorded in {self.paths.home}; `cdc stack down` it first"
                )
            state.profile = "embedded"
            services = self._services()
            started: list[str] = []
            try:
                for name in SERVICE_ORDER:
                    service = services[name]
                    record = state.services.get(name)
                    if record and record.pid and service.healthy(record):
                        log.info("stack.reuse", service=name, address=record.address)
                        continue
                    if record and is_alive(record.pid):
                        terminate(record.pid)
                    port = self._choose_port(name, ports.get(name), record.port if record else None)
                    log.info("stack.start", service=name, port=port)
                    state.services[name] = service.start(port)
                    started.append(name)
                    save_state(self.paths.state_file, state)
            except BaseException:
                # Ctrl-C or a failed start: leave nothing half-running from this call.
                for name in reversed(started):
                    services[name].stop(state.services[name])
                    state.services[name].pid = None
                save_state(self.paths.state_file, state)
                raise
            state.endpoints = self._endpoints(state, services)
            save_state(self.paths.state_file, state)
            return state

    @staticmethod
    def _choose_port(name: str, requested: int | None, previous: int | None) -> int:
        if requested:
            if port_in_use(requested):
                raise StackError(f"port {requested} requested for {name} is already in use by another process")
            return requested
        if previous and not port_in_use(previous):
            return previous
        if previous:
            log.warning("stack.port_moved", service=name, previous=previous)
        return free_port()

    def _endpoints(self, state: StackState, services: Mapping[str, Service]) -> dict[str, str]:
        endpoints: dict[str, str] = {}
        for name in SERVICE_ORDER:
            record = state.services.get(name)
            if record:
                endpoints.update(services[name].endpoints(record))
        endpoints["LAKE_ROOT"] = str(self.paths.lake)
        return endpoints

    def status(self) -> list[ServiceStatus]:
        state = self.state()
        if state is None:
            return []
        services = self._services()
        rows = []
        for name in SERVICE_ORDER:
            record = state.services.get(name)
            if record is None:
                rows.append(ServiceStatus(name, "-", "stopped", None, None))
                continue
            health: Health
            if not record.pid or not is_alive(record.pid):
                health = "stopped"
            else:
                health = "healthy" if services[name].healthy(record) else "unhealthy"
            rows.append(
                ServiceStatus(name, record.address, health, record.pid if health != "stopped" else None, record.log)
            )
        return rows

    def down(self, *, purge: bool = False) -> list[str]:
        """Stop every recorded service (reverse order); with purge, delete the stack folder too."""
        stopped: list[str] = []
        with self._locked():
            state = self.state()
            services = self._services()
            if state is not None:
                for name in reversed(SERVICE_ORDER):
                    record = state.services.get(name)
                    if record is None or not (record.pid and is_alive(record.pid)):
                        continue
                    services[name].stop(record)
                    record.pid = None
                    stopped.append(name)
                    save_state(self.paths.state_file, state)
            if purge:
                postgres = services["postgres"]
                assert isinstance(postgres, PostgresService)
                postgres.purge()
        if purge:
            shutil.rmtree(self.paths.home, ignore_errors=True)
        return stopped
