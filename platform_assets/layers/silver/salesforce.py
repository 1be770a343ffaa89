"""silver/accounts and silver/opportunities (SCD1): the extracted Salesforce versions, applied.

The change feed is the bronze rows ingested after the last applied point; SystemModstamp orders the
versions of a record and ``_ingested_at`` breaks exact ties. ``IsDeleted = true`` (the contract's
``apply_as_deletes``) makes a tombstone; a later version with ``IsDeleted = false`` (an undelete) revives it.
"""

from __future__ import annotations

from datetime import datetime

import dagster as dg
from pyspark.sql import DataFrame

from platform_assets.cdc.spec import DELETED
from platform_assets.contracts.model import Contract
from platform_assets.layers.silver.change_apply_asset import ChangeFeed, build_change_apply_asset
from platform_assets.layers.spark_asset import TransformInputs

SILVER_OF_BRONZE = {
    "silver/accounts": "bronze/salesforce_account",
    "silver/opportunities": "bronze/salesforce_opportunity",
}


def feed(contract: Contract, bronze: str, delete_marker: str | None) -> ChangeFeed:
    """Silver's columns (minus the tombstone flag) from ``bronze``, plus the delete marker column."""
    columns = [c for c in contract.column_names if c != DELETED]
    if delete_marker is not None:
        columns.append(delete_marker)

    def _feed(inputs: TransformInputs, since: datetime | None) -> DataFrame:
        return inputs.read_ingested_after(bronze, since).select(*columns)

    return _feed


def build(contracts: dict[str, Contract]) -> list[dg.AssetsDefinition]:
    return [
        build_change_apply_asset(contracts[silver], contracts, feed(contracts[silver], bronze, "IsDeleted"))
        for silver, bronze in SILVER_OF_BRONZE.items()
    ]
