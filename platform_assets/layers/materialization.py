"""What every layer asset does right after its commit: append the ``materialize`` audit row, then build
the materialization's metadata (row count, schema, column lineage, table name, URI, cost).

Every layer write path (bronze batch and incremental ingestion, silver change apply, Spark transforms for
silver and gold) commits its table and then calls ``record_commit`` before it yields the materialization:
the audit row exists when the step returns, whoever launched it (schedule, sensor, UI, backfill).
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.lake.audit_log import audit_write
from platform_assets.lake.delta_tables import open_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.lake.table_stats import bytes_added_by_commit
from platform_assets.layers.cost_telemetry import cost_metadata
from platform_assets.layers.specs import column_lineage, column_schema, table_name

SERVICE_ROLE = "pipeline"  # policies.yaml service_role: what pipelines run as
USER_TAGS = ("dagster/user", "platform/user")  # who launched the run, when Dagster or the CLI says


def _launcher(context: dg.AssetExecutionContext) -> str:
    tags = context.run.tags
    return next((tags[t] for t in USER_TAGS if tags.get(t)), "service:dagster")


def _partitions(context: dg.AssetExecutionContext) -> str | None:
    if not context.has_partition_key_range:
        return None
    keys = context.partition_key_range
    return keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"


def record_commit(
    context: dg.AssetExecutionContext,
    contract: Contract,
    lake: Lake,
    rows_written: int,
    extra: dict[str, Any] | None = None,
    *,
    partition: str | None = None,
) -> dict[str, Any]:
    """Audit the commit just made to the asset's table and return its materialization metadata.

    ``partition`` names the one partition materialized when the asset records partitions one by one;
    otherwise the run's partition (or range) is named.
    """
    uri = lake.uri(contract.ref)
    table = open_table(uri, lake.storage_options)
    version = table.version() if table is not None else -1
    shown = partition or _partitions(context)
    audit_write(
        lake,
        "materialize",
        user=_launcher(context),
        role=SERVICE_ROLE,
        datasets=[contract.dataset],
        statement=f"materialize {contract.dataset}"
        + (f" partition {shown}" if shown else "")
        + f" (run {context.run.run_id}, version {version})",
        row_count=rows_written,
    )
    metadata: dict[str, Any] = {
        "dagster/row_count": rows_written,
        "dagster/column_schema": column_schema(contract),
        "dagster/column_lineage": column_lineage(contract),
        "dagster/table_name": table_name(contract),
        "dagster/uri": uri,
        "table_row_count": row_count(uri, lake.storage_options),
        "delta_version": version,
        "bytes_written": (  # cost per GB
            bytes_added_by_commit(uri, version, lake.storage_options) if table is not None else 0
        ),
    }
    metadata.update(cost_metadata(contract, lake, table, rows_written))  # layers/cost_telemetry.py
    metadata.update(extra or {})
    return metadata
