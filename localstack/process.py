"""Starting, watching and stopping detached service processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from common.errors import StackError


def spawn(args: Sequence[str], log_path: Path, *, env: dict[str, str] | None = None) -> int:
    """Start a process in its own session (so Ctrl-C in the terminal does not reach it); return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return process.pid


def is_alive(pid: int | None) -> bool:
    """True when the pid exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pid: int | None, *, timeout: float = 10.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL whatever is left."""
    if not pid or not is_alive(pid):
        return
    for sig, grace in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            _reap(pid)
            if not is_alive(pid):
                return
            time.sleep(0.05)
    if is_alive(pid):
        raise StackError(f"process {pid} did not stop after SIGKILL")


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, log_path: Path | None = None) -> None:
    """Poll `check` (which returns False rather than raising) until True; StackError naming `what` on timeout."""
    poll = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.2), retry=retry_if_result(lambda ok: not ok))
    try:
        poll(check)
    except RetryError:
        hint = f"; see {log_path}" if log_path else ""
        raise StackError(f"{what} did not become healthy within {timeout:.0f}s{hint}") from None


def await_healthy(pid: int, check: Callable[[], bool], *, timeout: float, what: str, log_path: Path) -> None:
    """Wait for a just-spawned process to become healthy; on failure or Ctrl-C, stop it before re-raising."""
    try:
        wait_until(check, timeout=timeout, what=what, log_path=log_path)
    except BaseException:
        terminate(pid)
        raise
