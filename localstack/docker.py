"""Is there a Docker engine? Used to pick the compose profile and testcontainers."""

from __future__ import annotations

import shutil
import subprocess


def docker_engine_available(timeout: float = 5.0) -> bool:
    """True when `docker info` reaches an engine (the client alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())
