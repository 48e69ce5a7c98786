"""Thin boto3 clients for a deploy: the artefact bucket (S3), Glue job definitions, Secrets Manager.

No decisions here (``deploy.plan`` makes them); every AWS failure becomes one ``CdcError`` line: unreachable
endpoint or no credentials (exit 1), missing bucket, access denied. Secret *values* are never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from common.errors import CdcError, ServiceUnavailableError
from deploy.artefacts import LocalArtefact, content_md5_header
from deploy.plan import CONTENT_DIGEST_METADATA, GlueJobDefinition, RemoteObject, upload_metadata

_NOT_FOUND: Final = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
_CONTENT_TYPES: Final = {"wheel": "application/zip", "script": "text/x-python"}


class DeployError(CdcError):
    """AWS refused a deploy step, or what the environment file names does not exist."""


@dataclass(frozen=True)
class AwsTarget:
    """Where boto3 clients go: a region and, locally, an endpoint override (moto); else AWS and its default
    credentials chain."""

    region: str
    endpoint_url: str | None = None

    def describe(self) -> str:
        if self.endpoint_url:
            return f"{self.endpoint_url} (AWS_ENDPOINT_URL), region {self.region}"
        return f"AWS {self.region} (default credentials chain)"

    def client(self, service: str) -> Any:
        """A boto3 client with standard retries and short connect timeouts (an unreachable endpoint fails fast)."""
        import boto3  # noqa: PLC0415 - boto3 takes a while to import; only AWS paths need it
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=120),
        )

    def account_id(self) -> str:
        """The account of the credentials in use (fills ``{account_id}`` in environment files)."""
        with aws_errors("STS GetCallerIdentity", self):
            return str(self.client("sts").get_caller_identity()["Account"])


@contextmanager
def aws_errors(what: str, target: AwsTarget) -> Iterator[None]:
    """Turn botocore's failures into one line naming the step and the endpoint (never credentials)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415

    try:
        yield
    except NoCredentialsError:
        raise DeployError(f"{what}: no AWS credentials found (default chain: env, profile, role)") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise DeployError(f"{what}: {error.get('Code')}: {error.get('Message') or 'refused'}") from None
    except BotoCoreError as exc:
        raise ServiceUnavailableError(f"{what}: AWS endpoint {target.describe()} unreachable: {exc}") from None


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


class ArtefactBucket:
    """The environment's artefact bucket: does it exist, what does a key hold, put an artefact."""

    def __init__(self, target: AwsTarget, bucket: str, client: Any | None = None) -> None:
        self.target = target
        self.bucket = bucket
        self.client = client if client is not None else target.client("s3")

    def check(self, environment: str) -> None:
        """Fail with one line unless the bucket exists and we may use it (Terraform creates it, not deploy)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        with aws_errors(f"S3 bucket {self.bucket}", self.target):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if error_code(exc) in _NOT_FOUND:
                    raise DeployError(
                        f"S3 bucket {self.bucket} does not exist: apply infra/envs/{environment} first"
                    ) from None
                if error_code(exc) in ("403", "AccessDenied"):
                    raise DeployError(f"S3 bucket {self.bucket}: access denied") from None
                raise

    def describe(self, key: str) -> RemoteObject | None:
        """Our content digest (object metadata) and the ETag of ``key``, or None when there is no such object."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        with aws_errors(f"S3 head s3://{self.bucket}/{key}", self.target):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in _NOT_FOUND:
                    return None
                raise
        metadata = {name.lower(): value for name, value in (head.get("Metadata") or {}).items()}
        return RemoteObject(key, metadata.get(CONTENT_DIGEST_METADATA), head.get("ETag"), head.get("ContentLength"))

    def upload(self, artefact: LocalArtefact) -> None:
        data = artefact.read()
        with aws_errors(f"S3 upload s3://{self.bucket}/{artefact.key}", self.target):
            self.client.put_object(
                Bucket=self.bucket,
                Key=artefact.key,
                Body=data,
                ContentMD5=content_md5_header(data),
                ContentType=_CONTENT_TYPES[artefact.kind],
                Metadata=upload_metadata(artefact),
            )


class GlueJobs:
    """Read Glue job definitions (Terraform owns them; deploy only compares)."""

    def __init__(self, target: AwsTarget, client: Any | None = None) -> None:
        self.target = target
        self.client = client if client is not None else target.client("glue")

    def describe(self, name: str) -> GlueJobDefinition | None:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        with aws_errors(f"Glue job {name}", self.target):
            try:
                job = self.client.get_job(JobName=name)["Job"]
            except ClientError as exc:
                if error_code(exc) == "EntityNotFoundException":
                    return None
                raise
        command = job.get("Command") or {}
        arguments = {str(key): str(value) for key, value in (job.get("DefaultArguments") or {}).items()}
        return GlueJobDefinition(name, str(command.get("ScriptLocation") or ""), arguments)


class Secrets:
    """Secrets Manager, metadata only: does a secret exist (its value is never fetched by deploy)."""

    def __init__(self, target: AwsTarget, client: Any | None = None) -> None:
        self.target = target
        self.client = client if client is not None else target.client("secretsmanager")

    def exists(self, secret_id: str) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        with aws_errors(f"secret {secret_id}", self.target):
            try:
                described = self.client.describe_secret(SecretId=secret_id)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return False
                raise
        return described.get("DeletedDate") is None
