"""Durations as people type them on a command line: ``500ms``, ``5s``, ``2.5m``, ``1h``, ``7d`` or plain seconds."""

from __future__ import annotations

import re
from typing import Final

from common.errors import ConfigError

_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN: Final = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?\s*$")


def parse_duration(text: str, *, what: str = "duration") -> float:
    """Seconds in ``text``; ConfigError naming ``what`` and the accepted forms otherwise."""
    match = _PATTERN.match(text)
    if match is None:
        raise ConfigError(f"{what} must look like 500ms, 5s, 2m, 1h or 7d (a bare number means seconds), got {text!r}")
    seconds = float(match["number"]) * _UNITS[match["unit"] or "s"]
    if seconds <= 0:
        raise ConfigError(f"{what} must be greater than zero, got {text!r}")
    return seconds
