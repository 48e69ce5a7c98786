"""Help texts keep their literal brackets: `[env: NAME]` and `[default: …]` tell users where settings come from."""

from __future__ import annotations

import pytest

from cli import main as cli_main


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["warehouse", "run", "--help"], "[env: REDSHIFT_PROCEDURES"),
        (["warehouse", "refresh", "--help"], "staging.mv_<table>"),
        (["bridge", "--help"], "[env: BRIDGE_GROUP]"),
        (["lake", "compact", "--help"], "--older-than"),
    ],
)
def test_help_keeps_env_names_and_placeholders(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    assert cli_main.main(argv) == 0
    assert expected in " ".join(capsys.readouterr().out.split())
