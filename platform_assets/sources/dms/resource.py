"""Where AWS DMS lands its files, as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field


class DmsLandingResource(dg.ConfigurableResource):
    """The DMS target: ``<root>/<schema>/<table>/`` holds LOAD*.csv and CDC *.csv files."""

    root: str = Field(description="DMS landing root (a local folder; S3 plugs in through FileStore)")

    def table_prefix(self, schema: str, table: str) -> Path:
        return Path(self.root) / schema / table
