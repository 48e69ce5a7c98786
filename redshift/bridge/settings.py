"""Settings of the JSON bridge (`BRIDGE_*`) and the librdkafka configs they render."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

KAFKA_LOGGER = logging.getLogger("redshift.bridge.kafka")


class BridgeSettings(BaseSettings):
    """Consumer group, transactional id, batch shape and client timeouts of `cdc bridge`."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore")

    group: str = Field(default="cdc-bridge", min_length=1, max_length=200)
    # Stable per bridge instance, so a restarted bridge fences its predecessor and aborts its open transaction.
    # Two instances sharing a group need different ids (the default derives one from the group).
    transactional_id: str | None = Field(default=None, min_length=1, max_length=200)
    batch_size: int = Field(default=2000, gt=0, le=100_000)
    batch_timeout_ms: int = Field(default=500, gt=0, le=60_000)
    # The local broker needs about half the session timeout to complete a group join (ADR 0002).
    session_timeout_ms: int = Field(default=6000, ge=1000)
    transaction_timeout_ms: int = Field(default=60_000, ge=1000)

    @property
    def effective_transactional_id(self) -> str:
        return self.transactional_id or f"cdc-bridge-{self.group}"

    def consumer_config(self, kafka: dict[str, Any]) -> dict[str, Any]:
        """Reads only committed data, commits offsets only through the producer's transactions."""
        return {
            **kafka,
            "group.id": self.group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(self.session_timeout_ms // 6, 500),
            "logger": KAFKA_LOGGER,
            "log_level": 3,
        }

    def producer_config(self, kafka: dict[str, Any]) -> dict[str, Any]:
        """Transactional (hence idempotent, acks=all) producer with this instance's stable transactional id."""
        return {
            **kafka,
            "transactional.id": self.effective_transactional_id,
            "transaction.timeout.ms": self.transaction_timeout_ms,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
            "logger": KAFKA_LOGGER,
            "log_level": 3,
        }
