"""Where AWS DMS lands its files, as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from platform_assets.sources.dms.reader import FileStore, LocalFileStore
from platform_assets.sources.dms.s3_store import S3FileStore


class DmsLandingResource(dg.ConfigurableResource):
    """The DMS target: ``<root>/<schema>/<table>/`` holds LOAD*.csv and CDC *.csv files."""

    root: str = Field(
        description="DMS landing root: a local folder, or s3://bucket/prefix (credentials from the "
        "environment: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... or the instance role)"
    )

    def table_prefix(self, schema: str, table: str) -> Path:
        return Path(self.root) / schema / table

    def table_store(self, schema: str, table: str) -> FileStore:
        """The table's landing prefix as a store whose keys are the file names."""
        if self.root.startswith("s3://"):
            return S3FileStore.from_uri(f"{self.root.rstrip('/')}/{schema}/{table}")
        return LocalFileStore(self.table_prefix(schema, table))
