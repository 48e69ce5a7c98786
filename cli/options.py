"""Flags shared by commands; each mirrors an environment variable of the same meaning."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Home = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Folder holding the local stack's data, logs and state [env: CDC_HOME; default .cdc]",
        show_default=False,
    ),
]
BootstrapServers = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-servers",
        help="Kafka bootstrap servers host:port[,...] [env: KAFKA_BOOTSTRAP_SERVERS]",
        show_default=False,
    ),
]
RegistryUrl = Annotated[
    str | None,
    typer.Option("--schema-registry-url", help="Schema registry URL [env: SCHEMA_REGISTRY_URL]", show_default=False),
]
SourceDsn = Annotated[
    str | None, typer.Option("--source-dsn", help="Source database DSN [env: SOURCE_DSN]", show_default=False)
]
WarehouseDsn = Annotated[
    str | None, typer.Option("--warehouse-dsn", help="Warehouse DSN [env: WAREHOUSE_DSN]", show_default=False)
]
LakeRoot = Annotated[
    str | None,
    typer.Option("--lake-root", help="Data lake root folder or s3:// URL [env: LAKE_ROOT]", show_default=False),
]
AwsEndpoint = Annotated[
    str | None,
    typer.Option(
        "--aws-endpoint-url",
        help="AWS API endpoint override, e.g. moto [env: AWS_ENDPOINT_URL]",
        show_default=False,
    ),
]
Catalog = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        help="Table catalog TOML file [default: the packaged schemas/catalog.toml]",
        show_default=False,
        exists=False,
    ),
]
