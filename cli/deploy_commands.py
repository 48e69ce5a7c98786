"""`cdc deploy --env <env> [--dry-run]`: wheel + Glue scripts to S3, schemas to the registry, pending migrations.

Wiring only: the environment file (``deploy/envs/<env>.toml`` under ``DEPLOY_*`` overrides), the AWS endpoint
(``--aws-endpoint-url`` / ``AWS_ENDPOINT_URL`` for moto, else AWS with the default credentials chain), the clients,
then :class:`deploy.deployer.Deployer`. The local stack's state file is deliberately *not* consulted: a deploy goes
where its environment and the explicit endpoint say, never silently to whatever stack runs here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.markup import escape
from rich.table import Table

from cli.endpoints import build
from cli.options import AwsEndpoint
from cli.output import console
from cli.warehouse_commands import template_parameters
from common.errors import ConfigError
from common.settings import AwsSettings, SchemaRegistrySettings, WarehouseSettings, redact_dsn
from deploy.artefacts import build_artefacts, project_info
from deploy.clients import ArtefactBucket, AwsTarget, DeployError, GlueJobs, Secrets
from deploy.deployer import Deployer, catalog_schemas, environment_checks
from deploy.plan import Action, DeployPlan, problem_summary
from deploy.settings import ENVS_DIR, DeploySettings, check_environment, known_environments, load_environment
from redshift.connections import WarehouseConnection
from redshift.runner import WarehouseRunner
from redshift.settings import RedshiftSettings
from schemas.catalog import Catalog as TableCatalog
from schemas.catalog import load_catalog
from schemas.registry import SchemaRegistry

PROJECT_ROOT: Final = Path(__file__).resolve().parents[1]
_STYLE: Final = {
    "upload": "yellow",
    "register": "yellow",
    "apply": "yellow",
    "unchanged": "dim",
    "verified": "green",
    "missing": "bold red",
    "drift": "bold red",
}

Environment = Annotated[
    str,
    typer.Option(
        "--env",
        help=f"Environment to deploy: a file <envs-dir>/<env>.toml [known: {', '.join(known_environments())}]",
        show_default=False,
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show the plan (builds the wheel); change nothing")]
EnvsDir = Annotated[
    Path | None,
    typer.Option("--envs-dir", help="Folder of <env>.toml files [default: the packaged deploy/envs]", file_okay=False),
]
Source = Annotated[
    Path | None,
    typer.Option(
        "--source",
        help="Project folder to build and deploy (pyproject.toml, the packages, schemas/catalog.toml, "
        "redshift/sql) [default: this checkout]",
        file_okay=False,
    ),
]


def deploy(
    env: Environment,
    dry_run: DryRun = False,
    envs_dir: EnvsDir = None,
    source: Source = None,
    aws_endpoint_url: AwsEndpoint = None,
) -> DeployPlan:
    """Build the wheel and the Glue entry scripts, upload what changed, register schemas, apply pending
    migrations; print every action and `N changed, M unchanged`."""
    folder = envs_dir or ENVS_DIR
    check_environment(env, folder)  # an unknown name fails before anything else (exit 2)
    aws = build(AwsSettings, endpoint_url=aws_endpoint_url)

    def account_of(region: str) -> str:
        return AwsTarget(region or aws.region, aws.endpoint_url).account_id()

    settings = load_environment(env, folder, account_of)
    target = AwsTarget(settings.region, aws.endpoint_url)
    root = (source or PROJECT_ROOT).resolve()
    if not (root / "pyproject.toml").is_file():
        raise ConfigError(f"{root} is not a project folder (no pyproject.toml)")
    catalog = load_catalog(root / "schemas" / "catalog.toml")
    warehouse = settings.warehouse
    console.print(
        f"deploy [bold]{escape(env)}[/]{' (dry run)' if dry_run else ''}: AWS {escape(target.describe())}; "
        f"registry {escape(redact_dsn(settings.schema_registry_url))}; warehouse {escape(warehouse.describe())}",
        highlight=False,
    )
    bucket = ArtefactBucket(target, settings.artefacts.bucket)
    bucket.check(env)  # reachable, credentials, bucket exists: before the build
    glue, secrets = GlueJobs(target), Secrets(target)
    checks = environment_checks(env, settings, project_info(root).wheel_filename, glue, secrets)
    if any(action.is_problem for action in checks):  # what Terraform owns is not ready: stop before the build
        console.print(render_actions(checks, f"deploy checks: {env}"))
        raise DeployError(problem_summary([action for action in checks if action.is_problem]))
    registry = SchemaRegistry(
        SchemaRegistrySettings(
            url=settings.schema_registry_url, basic_auth_user_info=settings.schema_registry_basic_auth
        )
    )
    try:
        with tempfile.TemporaryDirectory(prefix="cdc-deploy-") as workdir:
            with console.status("building the wheel ..."):
                artefacts = build_artefacts(root, Path(workdir), settings.artefacts.prefix, settings.artefacts.scripts)
            runner = _migrations(settings, target, catalog, root)
            deployer = Deployer(
                environment=env,
                settings=settings,
                artefacts=artefacts,
                schemas=catalog_schemas(catalog),
                bucket=bucket,
                glue=glue,
                secrets=secrets,
                registry=registry,
                migrate=lambda dry: runner.migrate(dry_run=dry),
                warehouse=warehouse.describe(),
            )
            plan = deployer.plan()
            if dry_run or plan.problems:
                console.print(render_actions(plan.actions, f"deploy plan: {env}"))
                if plan.problems:
                    raise DeployError(problem_summary(plan.problems))
                console.print(plan.summary(dry_run=True))
                return plan
            done = deployer.apply(plan)
    finally:
        registry.close()
    console.print(render_actions(done.actions, f"deployed: {env}"))
    console.print(done.summary())
    return done


def _migrations(settings: DeploySettings, target: AwsTarget, catalog: TableCatalog, root: Path) -> WarehouseRunner:
    """The runner over the environment's warehouse: the Data API on Redshift, psycopg on the stand-in. Every
    value is passed explicitly so no ``REDSHIFT_*``/``WAREHOUSE_*`` variable of the shell leaks into a deploy."""
    warehouse = settings.warehouse
    redshift = RedshiftSettings(
        dialect=warehouse.dialect,
        connector="data-api" if warehouse.dialect == "redshift" else "psycopg",
        workgroup=warehouse.workgroup,
        cluster_identifier=warehouse.cluster_identifier,
        host=None,
        database=warehouse.database,
        db_user=warehouse.db_user,
        secret_arn=warehouse.secret_arn,
        iam=False,
        region=target.region,
        iam_role_arn=warehouse.iam_role_arn,
        msk_cluster_arn=warehouse.msk_cluster_arn,
        password=None,
        procedures=None,
    )
    connection = WarehouseConnection(
        WarehouseSettings(dsn=warehouse.dsn if warehouse.dialect == "postgres" else None),
        redshift,
        AwsSettings(endpoint_url=target.endpoint_url),
    )
    return WarehouseRunner(
        connect=connection.session_factory(),
        dialect=connection.dialect,
        catalog=catalog,
        sql_dir=root / "redshift" / "sql",
        parameters=template_parameters(redshift, catalog, None, None),
    )


def render_actions(actions: list[Action], title: str) -> Table:
    table = Table(title=escape(title), title_justify="left")
    table.add_column("artefact", overflow="fold")
    table.add_column("target", overflow="fold")
    table.add_column("action", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for action in actions:
        style = _STYLE[action.action]
        table.add_row(
            escape(action.artefact), escape(action.target), f"[{style}]{action.action}[/]", escape(action.detail)
        )
    return table
