"""Run the registry: `python -m schemas.registry_server --port 8081 --data-dir .cdc/registry`.

Prints nothing while healthy (logs go to stderr at --log-level). If the port is taken or the data directory
cannot be written, it prints one line saying so and exits non-zero.
"""

from __future__ import annotations

import argparse
import errno
import signal
import socket
import sqlite3
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from common import logging as cdc_logging
from common.errors import CdcError, ConfigError, SchemaError
from schemas.compatibility import CompatibilityLevel, parse_level
from schemas.registry_server.app import create_app
from schemas.registry_server.registry import Registry
from schemas.registry_server.store import Store

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")

log = cdc_logging.get_logger("schemas.registry_server")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m schemas.registry_server",
        description="Confluent-compatible Avro schema registry backed by SQLite.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="TCP port (default 8081)")
    parser.add_argument("--data-dir", type=Path, required=True, help="folder for the SQLite database")
    parser.add_argument(
        "--default-compatibility",
        default="BACKWARD",
        help="compatibility level used while no global level is configured (default BACKWARD)",
    )
    parser.add_argument("--log-level", default="warning", choices=_LOG_LEVELS, type=str.lower)
    return parser.parse_args(argv)


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as err:
        raise CdcError(f"registry: cannot listen on {host}:{port}: {err}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        reason = "address already in use" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
        raise CdcError(f"registry: cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(False)
    return sock


def _open_store(data_dir: Path) -> Store:
    try:
        return Store(data_dir)
    except sqlite3.DatabaseError as err:
        if isinstance(err, sqlite3.OperationalError):
            raise ConfigError(f"registry: data dir {data_dir} is not writable: {err}") from None
        raise ConfigError(f"registry: data dir {data_dir} holds an unreadable database: {err}") from None
    except OSError as err:
        raise ConfigError(f"registry: data dir {data_dir} is not writable: {err}") from None


def _default_level(text: str) -> CompatibilityLevel:
    try:
        return parse_level(text)
    except SchemaError as err:
        raise ConfigError(f"registry: --default-compatibility: {err}") from None


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    cdc_logging.configure(args.log_level)
    try:
        level = _default_level(args.default_compatibility)
        store = _open_store(args.data_dir)
        try:
            sock = _listen(args.host, args.port)
        except CdcError:
            store.close()
            raise
    except CdcError as err:
        print(str(err), file=sys.stderr)
        return err.exit_code
    config = uvicorn.Config(
        create_app(Registry(store, level)),
        log_config=None,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    log.info("registry.started", host=args.host, port=sock.getsockname()[1], data_dir=str(args.data_dir))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal; exit 0 quietly when it does.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stop)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        store.close()
        log.info("registry.stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
