"""A private PostgreSQL 15+ instance with logical WAL: the source database and the warehouse stand-in."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
from hashlib import sha1
from pathlib import Path

import psycopg
from psycopg import sql

from common.errors import StackError
from common.logging import get_logger
from localstack.ports import LOOPBACK
from localstack.process import wait_until
from localstack.state import ServiceRecord

log = get_logger(__name__)

SUPERUSER = "cdc"
DATABASES = ("retail", "warehouse")
MIN_MAJOR = 15
# Logical decoding needs wal_level=logical; the rest keeps a laptop instance small and quick.
SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "16",
    "max_wal_senders": "16",
    "listen_addresses": LOOPBACK,
    "unix_socket_directories": "",
    "synchronous_commit": "off",
    "shared_buffers": "256MB",
    "max_connections": "100",
    "log_min_messages": "warning",
}


def find_bin_dir() -> Path:
    """Locate PostgreSQL's server binaries (`CDC_PG_BIN` overrides); the newest major >= 15 wins."""
    override = os.environ.get("CDC_PG_BIN")
    candidates = [Path(override)] if override else []
    candidates += sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(Path(pg_ctl).parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            major = _major_version(candidate)
            if major >= MIN_MAJOR:
                return candidate
    raise StackError(
        "PostgreSQL >= 15 server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); "
        "run `make setup` or `apt-get install postgresql-15`, or set CDC_PG_BIN"
    )


def _major_version(bin_dir: Path) -> int:
    out = subprocess.run([str(bin_dir / "pg_ctl"), "--version"], capture_output=True, text=True, check=False)
    digits = out.stdout.strip().split()[-1].split(".")[0] if out.stdout.strip() else "0"
    return int(digits) if digits.isdigit() else 0


def _service_user() -> str | None:
    """PostgreSQL refuses to run as root: use the `postgres` system user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError("running as root but there is no `postgres` system user to run PostgreSQL as") from None
    return "postgres"


def _reachable_by_others(path: Path) -> bool:
    """True when every ancestor of `path` lets other users traverse it (the `postgres` user must)."""
    return all(not folder.exists() or os.stat(folder).st_mode & 0o001 for folder in [path, *path.parents])


class PostgresService:
    """initdb once, then pg_ctl start/stop; databases `retail` and `warehouse` owned by superuser `cdc`."""

    name = "postgres"

    def __init__(self, home: Path, log_path: Path) -> None:
        self._home = home
        self._log_path = log_path
        self._bin = find_bin_dir()
        self._user = _service_user()

    def data_dir(self) -> Path:
        """The cluster folder; when root and the stack folder is private, a per-stack folder under /var/tmp."""
        preferred = self._home / "data"
        if self._user and not _reachable_by_others(self._home.parent):
            digest = sha1(str(self._home).encode(), usedforsecurity=False).hexdigest()[:12]
            return Path("/var/tmp") / f"cdc-postgres-{digest}" / "data"  # noqa: S108 - fixed, per-stack name
        return preferred

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, capture_output=True, text=True, check=False, user=self._user)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise StackError(f"{Path(args[0]).name} failed: {detail[-1] if detail else result.returncode}")
        return result

    def _password(self) -> str:
        path = self._home / "password"
        if not path.exists():
            self._home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(16))
        return path.read_text().strip()

    def _initdb(self, data_dir: Path, password: str) -> None:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        pwfile = data_dir.parent / ".pwfile"
        pwfile.write_text(password)
        if self._user:
            pw = pwd.getpwnam(self._user)
            for path in (data_dir.parent, pwfile):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        try:
            self._run(
                [
                    str(self._bin / "initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        log.info("postgres.initdb", data_dir=data_dir)

    def start(self, port: int) -> ServiceRecord:
        data_dir = self.data_dir()
        password = self._password()
        if not (data_dir / "PG_VERSION").exists():
            self._initdb(data_dir, password)
        options = " ".join(
            f"-c {key}={value!r}" if value == "" else f"-c {key}={value}" for key, value in SERVER_SETTINGS.items()
        )
        pg_log = data_dir.parent / "server.log"
        try:
            self._run(
                [
                    str(self._bin / "pg_ctl"),
                    "-D",
                    str(data_dir),
                    "-l",
                    str(pg_log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {port} {options}",
                    "start",
                ]
            )
            record = ServiceRecord(
                name=self.name,
                port=port,
                pid=self._postmaster_pid(data_dir),
                address=f"{LOOPBACK}:{port}",
                log=str(pg_log),
                extra={"data_dir": str(data_dir), "password": password},
            )
            wait_until(lambda: self.healthy(record), timeout=30, what="postgres", log_path=pg_log)
            self._create_databases(record)
        except BaseException:
            self._stop_cluster(data_dir)  # a failed or interrupted start leaves no server behind
            raise
        return record

    @staticmethod
    def _postmaster_pid(data_dir: Path) -> int | None:
        try:
            return int((data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError, PermissionError):
            return None

    @staticmethod
    def dsn(record: ServiceRecord, database: str) -> str:
        password = record.extra.get("password", "")
        return f"postgresql://{SUPERUSER}:{password}@{LOOPBACK}:{record.port}/{database}"

    def healthy(self, record: ServiceRecord) -> bool:
        try:
            with psycopg.connect(self.dsn(record, "postgres"), connect_timeout=2) as conn:
                row = conn.execute("SHOW wal_level").fetchone()
                return row is not None and row[0] == "logical"
        except psycopg.Error:
            return False

    def _create_databases(self, record: ServiceRecord) -> None:
        with psycopg.connect(self.dsn(record, "postgres"), autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for database in DATABASES:
                if database not in existing:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))

    def stop(self, record: ServiceRecord) -> None:
        self._stop_cluster(Path(record.extra.get("data_dir", self.data_dir())))

    def _stop_cluster(self, data_dir: Path) -> None:
        if not (data_dir / "postmaster.pid").exists():
            return
        self._run(
            [str(self._bin / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "60", "stop"],
            check=False,
        )

    def purge(self) -> None:
        """Delete the cluster (used by `cdc stack down --purge`)."""
        data_dir = self.data_dir()
        shutil.rmtree(data_dir.parent if data_dir.parent != self._home else data_dir, ignore_errors=True)
        shutil.rmtree(self._home, ignore_errors=True)

    def endpoints(self, record: ServiceRecord) -> dict[str, str]:
        return {"SOURCE_DSN": self.dsn(record, "retail"), "WAREHOUSE_DSN": self.dsn(record, "warehouse")}
