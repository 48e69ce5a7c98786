"""Where the data lake is: a local folder laid out like the bucket, or ``s3://bucket/prefix``.

One small value object used by every stage that reads or writes the lake, so a path is built the same way for
Spark (``s3://`` on Glue, a plain path locally) and for pyarrow/DuckDB readers.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from common.errors import ConfigError

ZONES: Final = ("landing", "staging", "curated", "quarantine", "checkpoints", "dlq")


@dataclass(frozen=True)
class LakeLocation:
    """The lake root (validated) plus, for S3-compatible test servers, an endpoint override."""

    root: str
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"

    def __post_init__(self) -> None:
        if not self.root:
            raise ConfigError("no lake root configured (LAKE_ROOT: a folder or s3://bucket/prefix)")
        if "://" in self.root and not self.root.startswith(("s3://", "s3a://", "file://")):
            raise ConfigError(f"LAKE_ROOT must be a folder or s3://bucket/prefix, got {self.root!r}")
        if not self.is_s3:
            object.__setattr__(self, "root", str(Path(self.root.removeprefix("file://")).expanduser().resolve()))

    @property
    def is_s3(self) -> bool:
        return self.root.startswith(("s3://", "s3a://"))

    def path(self, *parts: str) -> str:
        """A path under the root as Spark takes it (``s3://…`` or an absolute local path)."""
        return "/".join([self.root.rstrip("/"), *[part.strip("/") for part in parts if part]])

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the root as a path inside it (bucket/prefix for S3)."""
        if not self.is_s3:
            return pafs.LocalFileSystem(), self.root
        bucket_path = self.root.split("://", 1)[1].rstrip("/")
        options: dict[str, object] = {"region": self.s3_region}
        if self.s3_endpoint:
            scheme, _, host = self.s3_endpoint.partition("://")
            options.update(endpoint_override=host or scheme, scheme=scheme if host else "https")
        return pafs.S3FileSystem(**options), bucket_path

    def fs_path(self, *parts: str) -> str:
        """A path under the root inside :meth:`filesystem`."""
        _, base = self.filesystem()
        return "/".join([base, *[part.strip("/") for part in parts if part]])


def write_parquet_atomically(table: pa.Table, location: LakeLocation, *parts: str) -> str:
    """Write a Parquet file so readers never see it half-written; returns its path inside the filesystem.

    Locally: a hidden temporary name, then a rename. On S3 an object appears only once its upload completes.
    Writing the same name again replaces the file, which is what makes replayed batches idempotent.
    """
    filesystem, _ = location.filesystem()
    target = location.fs_path(*parts)
    directory, _, name = target.rpartition("/")
    filesystem.create_dir(directory, recursive=True)
    if location.is_s3:
        pq.write_table(table, target, filesystem=filesystem, compression="snappy")
        return target
    temporary = f"{directory}/.{name}.{uuid.uuid4().hex}.tmp"
    pq.write_table(table, temporary, compression="snappy")
    os.replace(temporary, target)
    return target
