"""The lake as a Dagster resource, so every asset finds tables the same way."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from platform_assets.lake.location import Lake


class LakeResource(dg.ConfigurableResource):
    """Root URI of the lake and the storage options to reach it (local folder or s3://)."""

    root: str = Field(description="lake root: an absolute folder or s3://bucket/prefix")
    storage_options: dict[str, str] = Field(default_factory=dict, description="delta-rs storage options")
    staging_root: str | None = Field(
        default=None, description="scratch copies of a step's candidates (default: <root>/_staging)"
    )

    @property
    def lake(self) -> Lake:
        return Lake(self.root, dict(self.storage_options), self.staging_root)
