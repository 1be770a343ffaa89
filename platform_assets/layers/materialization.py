"""Metadata recorded on every materialization: row count, schema, column lineage, table name, URI."""

from __future__ import annotations

from typing import Any

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import open_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.lake.table_stats import bytes_added_by_latest_commit
from platform_assets.layers.cost_telemetry import cost_metadata
from platform_assets.layers.specs import column_lineage, column_schema, table_name


def materialization_metadata(
    contract: Contract, lake: Lake, rows_written: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    uri = lake.uri(contract.ref)
    table = open_table(uri, lake.storage_options)
    metadata: dict[str, Any] = {
        "dagster/row_count": rows_written,
        "dagster/column_schema": column_schema(contract),
        "dagster/column_lineage": column_lineage(contract),
        "dagster/table_name": table_name(contract),
        "dagster/uri": uri,
        "table_row_count": row_count(uri, lake.storage_options),
        "delta_version": table.version() if table is not None else -1,
        "bytes_written": bytes_added_by_latest_commit(uri, lake.storage_options),  # cost per GB
    }
    metadata.update(cost_metadata(contract, lake, table, rows_written))  # layers/cost_telemetry.py
    metadata.update(extra or {})
    return metadata
