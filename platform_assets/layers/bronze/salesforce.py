"""bronze/salesforce_account and bronze/salesforce_opportunity: records changed since the committed watermark.

Each run asks Salesforce (``queryAll``, so deletes arrive with ``IsDeleted = true``) for the contract's
fields of every record whose ``SystemModstamp`` is at or after the watermark stored in the bronze table,
minus the Ids already delivered at that timestamp, and commits the advanced watermark (JSON) with the rows.
A column read through a parent relationship (``Owner_Name``: the owning User's ``Owner.Name``) is named
in ``RELATIONSHIP_COLUMNS``: SOQL selects the path, bronze stores it under the column's name.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.incremental_asset import ReadSource, build_incremental_bronze_asset
from platform_assets.layers.bronze.records import source_columns
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.watermark import Watermark

ACCOUNT, OPPORTUNITY = "Account", "Opportunity"
DATASETS = {ACCOUNT: "bronze/salesforce_account", OPPORTUNITY: "bronze/salesforce_opportunity"}
# bronze column -> SOQL field path, per object (a column name cannot hold the path's dot)
RELATIONSHIP_COLUMNS: dict[str, dict[str, str]] = {ACCOUNT: {"Owner_Name": "Owner.Name"}}

SALESFORCE_SOURCE = dg.AssetSpec(
    key=dg.AssetKey(["sources", "salesforce"]),
    description="The Salesforce org's Account and Opportunity objects, read through the REST query API.",
    group_name="sources",
    kinds={"salesforce"},
    owners=["team:data-platform"],
    tags={"source": "salesforce"},
)


def position_key(sobject: str) -> str:
    """Where the object's watermark JSON lives in the bronze table's committed positions."""
    return f"salesforce:{sobject}"


def stored_watermark(positions: dict, sobject: str) -> Watermark | None:
    raw = positions.get(position_key(sobject))
    return Watermark.from_json(raw) if raw else None


def reader(sobject: str, contract: Contract) -> ReadSource:
    paths = RELATIONSHIP_COLUMNS.get(sobject, {})
    fields = [paths.get(c, c) for c in source_columns(contract)]
    columns_of_paths = {path: column for column, path in paths.items()}

    def read(context: dg.AssetExecutionContext, committed: Committed) -> SourceBatch:
        watermark = stored_watermark(committed.positions, sobject)
        with context.resources.salesforce.connector() as connector:
            batch = connector.fetch_changes(sobject, fields, watermark)
        context.log.info(
            f"salesforce {sobject}: {len(batch)} record(s) after {watermark.to_json() if watermark else None} "
            f"({batch.skipped_at_watermark} already delivered at the watermark)"
        )
        if batch.is_empty or batch.watermark is None:
            return SourceBatch(records=[])
        records = [
            (
                f"{sobject}:{r['SystemModstamp']}:{r['Id']}",
                {columns_of_paths.get(k, k): v for k, v in r.items()},
            )
            for r in batch.records
        ]
        return SourceBatch(records=records, positions={position_key(sobject): batch.watermark.to_json()})

    return read


def build(contracts: dict[str, Contract]) -> list[dg.AssetsDefinition]:
    return [
        build_incremental_bronze_asset(
            contracts[dataset],
            contracts,
            reader(sobject, contracts[dataset]),
            source_label=f"salesforce:{sobject}",
            resource_keys={"salesforce"},
            kinds={"salesforce"},
            deps=[SALESFORCE_SOURCE.key],
        )
        for sobject, dataset in DATASETS.items()
    ]
