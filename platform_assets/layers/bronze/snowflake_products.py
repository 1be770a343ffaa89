"""bronze/snowflake_products: catalogue rows whose updated_at moved past the committed watermark.

Each run selects every column (``SELECT *``, so a column added at the source lands in bronze as a new
nullable column) of the rows at or after the watermark stored in the bronze table, minus the keys already
delivered at that timestamp, and commits the advanced watermark (JSON) with the rows.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.incremental_asset import ReadSource, build_incremental_bronze_asset
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.watermark import Watermark

DATASET = "bronze/snowflake_products"
KEY_COLUMN, UPDATED_AT_COLUMN = "product_id", "updated_at"

SNOWFLAKE_PRODUCTS_SOURCE = dg.AssetSpec(
    key=dg.AssetKey(["sources", "snowflake_products"]),
    description="The Snowflake product catalogue table, read incrementally by updated_at.",
    group_name="sources",
    kinds={"snowflake"},
    owners=["team:data-platform"],
    tags={"source": "snowflake"},
)


def position_key(table: str) -> str:
    """Where the table's watermark JSON lives in the bronze table's committed positions."""
    return f"snowflake:{table.upper()}"


def stored_watermark(positions: dict, table: str) -> Watermark | None:
    raw = positions.get(position_key(table))
    return Watermark.from_json(raw) if raw else None


def reader(table: str) -> ReadSource:
    def read(context: dg.AssetExecutionContext, committed: Committed) -> SourceBatch:
        watermark = stored_watermark(committed.positions, table)
        with context.resources.snowflake.connector() as connector:
            batch = connector.fetch_changes(
                table, watermark, key_column=KEY_COLUMN, updated_at_column=UPDATED_AT_COLUMN
            )
        context.log.info(
            f"snowflake {table}: {len(batch)} row(s) after {watermark.to_json() if watermark else None} "
            f"({batch.skipped_at_watermark} already delivered at the watermark)"
        )
        if batch.is_empty or batch.watermark is None:
            return SourceBatch(records=[])
        records = [(f"{table}:{r[UPDATED_AT_COLUMN].isoformat()}:{r[KEY_COLUMN]}", r) for r in batch.records]
        return SourceBatch(records=records, positions={position_key(table): batch.watermark.to_json()})

    return read


def build(contracts: dict[str, Contract], table: str) -> dg.AssetsDefinition:
    return build_incremental_bronze_asset(
        contracts[DATASET],
        contracts,
        reader(table),
        source_label=f"snowflake:{table}",
        resource_keys={"snowflake"},
        kinds={"snowflake"},
        deps=[SNOWFLAKE_PRODUCTS_SOURCE.key],
    )
