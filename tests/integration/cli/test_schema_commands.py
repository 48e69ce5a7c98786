"""`cdc schemas register|check` against a live registry and against git: the CI gate names subject and field."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from cli.main import main
from schemas.catalog import load_catalog

CATALOG = Path(__file__).resolve().parents[3] / "schemas" / "catalog.toml"
CUSTOMER_LAST_COLUMN = '  { name = "updated_at", type = "timestamp", scd = "type1" },\n]\n\n[tables.customer.quality]'


def _catalog_with(tmp_path: Path, prefix: str, extra_column: str | None) -> Path:
    """A copy of the real catalog under a unique topic prefix, optionally with one more customer column."""
    text = CATALOG.read_text().replace('topic_prefix = "retail"', f'topic_prefix = "{prefix}"')
    if extra_column:
        assert CUSTOMER_LAST_COLUMN in text
        text = text.replace(
            CUSTOMER_LAST_COLUMN,
            CUSTOMER_LAST_COLUMN.replace("},\n]", f"}},\n  {extra_column},\n]"),
        )
    path = tmp_path / f"catalog-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(text)
    return path


def _cdc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def registry_url(stack_endpoints: dict[str, str]) -> str:
    return stack_endpoints["SCHEMA_REGISTRY_URL"]


def test_register_is_idempotent_and_gate_refuses_incompatible_change(
    tmp_path: Path, registry_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"gate{uuid.uuid4().hex[:8]}"
    base = _catalog_with(tmp_path, prefix, None)
    avsc = tmp_path / "avsc"
    assert _cdc(capsys, "schemas", "generate", "--catalog", str(base), "--avsc-dir", str(avsc))[0] == 0
    first = _cdc(capsys, "schemas", "register", "--catalog", str(base), "--schema-registry-url", registry_url)
    assert first[0] == 0, first[2]
    assert f"{prefix}.customer.cdc-value" in first[1]
    again = _cdc(capsys, "schemas", "register", "--catalog", str(base), "--schema-registry-url", registry_url)
    assert again[0] == 0 and again[1] == first[1]  # same ids, same versions

    # A nullable column is a BACKWARD-compatible change: the gate passes.
    compatible = _catalog_with(tmp_path, prefix, '{ name = "nickname", type = "varchar(50)", nullable = true }')
    _cdc(capsys, "schemas", "generate", "--catalog", str(compatible), "--avsc-dir", str(avsc))
    code, out, err = _cdc(
        capsys,
        "schemas",
        "check",
        "--catalog",
        str(compatible),
        "--avsc-dir",
        str(avsc),
        "--against",
        "registry",
        "--schema-registry-url",
        registry_url,
    )
    assert code == 0, out + err
    assert "12 subjects checked" in out and "0 incompatibilities" in out

    # A required column without default is not: the gate fails and names the field.
    incompatible = _catalog_with(tmp_path, prefix, '{ name = "vip_level", type = "int32" }')
    _cdc(capsys, "schemas", "generate", "--catalog", str(incompatible), "--avsc-dir", str(avsc))
    code, out, err = _cdc(
        capsys,
        "schemas",
        "check",
        "--catalog",
        str(incompatible),
        "--avsc-dir",
        str(avsc),
        "--against",
        "registry",
        "--schema-registry-url",
        registry_url,
    )
    assert code == 1
    assert f"{prefix}.customer.cdc-value" in out and "vip_level" in out
    assert "1 incompatibilities" in err or "incompatibilit" in err
    assert len(err.strip().splitlines()) == 1

    # And registering it is refused by the registry with a clear line.
    code, _, err = _cdc(
        capsys,
        "schemas",
        "register",
        "--catalog",
        str(incompatible),
        "--table",
        "customer",
        "--schema-registry-url",
        registry_url,
    )
    assert code == 1
    assert "refused by the registry as incompatible" in err


def test_stale_avsc_files_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    avsc = tmp_path / "avsc"
    base = _catalog_with(tmp_path, "stale", None)
    _cdc(capsys, "schemas", "generate", "--catalog", str(base), "--avsc-dir", str(avsc))
    changed = _catalog_with(tmp_path, "stale", '{ name = "nickname", type = "varchar(50)", nullable = true }')
    code, _, err = _cdc(
        capsys, "schemas", "check", "--catalog", str(changed), "--avsc-dir", str(avsc), "--against", "git"
    )
    assert code == 1
    assert "disagree with the catalog: stale.customer.cdc-value.avsc" in err


def test_gate_against_last_git_commit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    avsc = repo / "schemas" / "avsc"
    base = _catalog_with(tmp_path, "gitgate", None)
    _cdc(capsys, "schemas", "generate", "--catalog", str(base), "--avsc-dir", str(avsc))
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.invalid", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "schemas"], check=True)

    unchanged = _cdc(capsys, "schemas", "check", "--catalog", str(base), "--avsc-dir", str(avsc), "--against", "git")
    assert unchanged[0] == 0, unchanged[2]

    # Narrowing a type (int64 -> int32) is not BACKWARD-compatible: the new reader cannot read old longs.
    narrowed = tmp_path / "narrowed.toml"
    narrowed.write_text(
        base.read_text().replace('{ name = "product_id", type = "int64" }', '{ name = "product_id", type = "int32" }')
    )
    assert narrowed.read_text() != base.read_text()
    _cdc(capsys, "schemas", "generate", "--catalog", str(narrowed), "--avsc-dir", str(avsc))
    code, out, err = _cdc(
        capsys, "schemas", "check", "--catalog", str(narrowed), "--avsc-dir", str(avsc), "--against", "git"
    )
    assert code == 1, out + err
    assert "gitgate.order_item.cdc-value" in out
    assert "product_id" in out


def test_committed_schemas_pass_the_gate_against_head(capsys: pytest.CaptureFixture[str]) -> None:
    """The repository's own .avsc files are current with the catalog (what CI enforces)."""
    assert load_catalog().tables
    code, _, err = _cdc(capsys, "schemas", "generate", "--check")
    assert code == 0, err
