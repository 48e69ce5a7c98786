"""Environment files: known names, validation, DEPLOY_* overrides, the account placeholder, secrets kept secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.errors import ConfigError
from deploy.settings import ENVS_DIR, fill_placeholder, known_environments, load_environment

MINIMAL = """
region = "eu-west-1"
schema_registry_url = "https://registry.example/"
[artefacts]
bucket = "scripts-{account_id}"
[glue_jobs]
"landing" = "streaming/glue_job.py"
[warehouse]
workgroup = "wg"
iam_role_arn = "arn:aws:iam::{account_id}:role/r"
msk_cluster_arn = "arn:aws:kafka:eu-west-1:1:cluster/c/u"
"""


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DEPLOY_"):
            monkeypatch.delenv(name)


def _envs(tmp_path: Path, text: str = MINIMAL, name: str = "qa") -> Path:
    (tmp_path / f"{name}.toml").write_text(text)
    return tmp_path


def test_the_packaged_environments_are_known_and_dev_is_valid_once_terraform_outputs_are_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "dev" in known_environments()
    with pytest.raises(ConfigError, match="DEPLOY_WAREHOUSE__MSK_CLUSTER_ARN"):
        load_environment("dev", account_id=lambda _: "123456789012")
    monkeypatch.setenv("DEPLOY_WAREHOUSE__MSK_CLUSTER_ARN", "arn:aws:kafka:eu-west-1:123456789012:cluster/c/u")
    settings = load_environment("dev", account_id=lambda _: "123456789012")
    assert settings.artefacts.bucket == "retail-cdc-dev-scripts-123456789012"
    assert settings.warehouse.iam_role_arn == "arn:aws:iam::123456789012:role/retail-cdc-dev-redshift"
    assert set(settings.glue_jobs.values()) == set(settings.artefacts.scripts)
    assert settings.warehouse.describe() == "Redshift Data API retail-cdc-dev-warehouse/warehouse"
    assert ENVS_DIR.name == "envs"


def test_an_unknown_environment_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown environment 'prod': known environments are qa \(files in"):
        load_environment("prod", _envs(tmp_path))
    assert known_environments(tmp_path / "nothing") == []


def test_environment_variables_win_over_the_file_and_the_account_is_asked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def account(region: str) -> str:
        asked.append(region)
        return "111122223333"

    monkeypatch.setenv("DEPLOY_ARTEFACTS__PREFIX", "/code/glue/")
    monkeypatch.setenv("DEPLOY_WAREHOUSE__DIALECT", "postgres")
    monkeypatch.setenv("DEPLOY_WAREHOUSE__DSN", "postgresql://u:hunter2@h/db")
    settings = load_environment("qa", _envs(tmp_path), account)
    assert asked == ["eu-west-1"]
    assert settings.artefacts.bucket == "scripts-111122223333"
    assert settings.artefacts.prefix == "code/glue"
    assert settings.schema_registry_url == "https://registry.example"
    assert settings.warehouse.dialect == "postgres" and settings.warehouse.workgroup == "wg"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert settings.warehouse.describe() == "PostgreSQL stand-in"


def test_no_account_lookup_when_the_file_does_not_use_it(tmp_path: Path) -> None:
    text = MINIMAL.replace("{account_id}", "000000000000")
    settings = load_environment("qa", _envs(tmp_path, text), None)
    assert settings.artefacts.bucket == "scripts-000000000000"
    with pytest.raises(ConfigError, match="no AWS account is known"):
        load_environment("qa", _envs(tmp_path, MINIMAL), None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('bucket = "scripts-{account_id}"', 'bucket = "Bad_Bucket"'), "artefacts.bucket: not a valid S3 bucket name"),
        (('"landing" = "streaming/glue_job.py"', '"landing" = "other.py"'), "runs 'other.py', which is not in"),
        (('region = "eu-west-1"', 'region = "europe"'), "region: expected an AWS region"),
        (('workgroup = "wg"', 'cluster_identifier = "c"'), "needs warehouse.secret_arn or warehouse.db_user"),
        (('iam_role_arn = "arn:aws:iam::{account_id}:role/r"', 'iam_role_arn = "role/r"'), "expected an ARN"),
        (("[glue_jobs]", 'colour = "blue"\n[glue_jobs]'), "colour: unknown setting"),
        (('schema_registry_url = "https://registry.example/"', 'schema_registry_url = "registry:8081"'), "http(s)"),
    ],
)
def test_invalid_values_are_one_config_error_naming_the_setting(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    assert change[0] in MINIMAL
    with pytest.raises(ConfigError) as caught:
        load_environment("qa", _envs(tmp_path, MINIMAL.replace(*change)), lambda _: "1")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_postgres_target_needs_a_dsn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_WAREHOUSE__DIALECT", "postgres")
    with pytest.raises(ConfigError, match="DEPLOY_WAREHOUSE__DSN"):
        load_environment("qa", _envs(tmp_path), lambda _: "1")


def test_fill_placeholder_reaches_keys_lists_and_nested_tables() -> None:
    value = {"a-{x}": ["{x}", 1, {"b": "y{x}"}], "n": None}
    assert fill_placeholder(value, "{x}", "7") == {"a-7": ["7", 1, {"b": "y7"}], "n": None}
