"""silver/products (SCD1) and silver/products_history (SCD2): the Snowflake catalogue, MERGEd by product_id.

The change feed is the bronze rows ingested after the last applied point; de-duplication by the business
key and the MERGE are the change apply's (``updated_at`` orders versions, ``_ingested_at`` breaks ties).
Columns added at the source stay in bronze until the contract takes them in.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.silver.change_apply_asset import build_change_apply_asset
from platform_assets.layers.silver.salesforce import feed

BRONZE = "bronze/snowflake_products"


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    contract = contracts["silver/products"]
    return build_change_apply_asset(contract, contracts, feed(contract, BRONZE, None))


def build_history(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    """Every extracted version (SCD2), for gold/dim_product's as-was joins; the same bronze feed."""
    contract = contracts["silver/products_history"]
    return build_change_apply_asset(contract, contracts, feed(contracts["silver/products"], BRONZE, None))
