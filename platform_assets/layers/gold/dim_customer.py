"""gold/dim_customer: SCD2 customer versions with their Salesforce account, unknown and inferred members."""

from __future__ import annotations

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.layers.gold.keys import (
    EARLIEST,
    LATEST,
    UNKNOWN,
    UNKNOWN_KEY,
    surrogate_key,
    with_effective_range,
)
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset

# The company's sales regions by customer country (ISO 3166 alpha-2); anything else is Unknown.
REGIONS: dict[str, str] = {
    **dict.fromkeys(("US", "CA", "BR", "MX"), "AMER"),
    **dict.fromkeys(("GB", "DE", "FR", "ES", "IT", "NL", "SE", "CH"), "EMEA"),
    **dict.fromkeys(("JP", "IN", "AU", "SG", "CN"), "APAC"),
}


ACCOUNT_COLUMNS = (
    "account_id",
    "account_name",
    "industry",
    "billing_country",
    "segment",
    "owner_id",
    "owner_name",
)


def region_of(country: F.Column) -> F.Column:
    mapped = F.lit(UNKNOWN)
    for code, region in REGIONS.items():
        mapped = F.when(country == code, F.lit(region)).otherwise(mapped)
    return mapped


def _member_without_attributes(key: F.Column, is_current: bool, is_inferred: bool) -> list[F.Column | str]:
    """The columns of a member whose attributes are unknown (an inferred customer, or the -1 member)."""
    return [
        key.alias("customer_key"),
        "customer_id",
        *[F.lit(None).cast("string").alias(c) for c in ("name", "country")],
        F.lit(UNKNOWN).alias("region"),
        *[F.lit(None).cast("string").alias(c) for c in ACCOUNT_COLUMNS],
        F.lit(None).cast("timestamp").alias("valid_from"),
        F.lit(None).cast("timestamp").alias("valid_to"),
        F.lit(EARLIEST).alias("effective_from"),
        F.lit(LATEST).alias("effective_to"),
        F.lit(is_current).alias("is_current"),
        F.lit(False).alias("is_deleted"),
        F.lit(is_inferred).alias("is_inferred"),
    ]


def build_dim_customer(history: DataFrame, accounts: DataFrame, ordered_customer_ids: DataFrame) -> DataFrame:
    """Versions of ``history`` + account attributes, inferred members for ids only orders know, -1."""
    live_accounts = accounts.where(~F.col("_is_deleted")).select(
        F.col("Customer_Id__c").alias("_account_customer"),
        F.col("Id").alias("account_id"),
        F.col("Name").alias("account_name"),
        F.col("Industry").alias("industry"),
        F.col("BillingCountry").alias("billing_country"),
        F.col("Segment__c").alias("segment"),
        F.col("OwnerId").alias("owner_id"),
        F.col("Owner_Name").alias("owner_name"),
    )
    versions = with_effective_range(history, "customer_id")
    known = versions.join(
        live_accounts, versions["customer_id"] == live_accounts["_account_customer"], "left"
    ).select(
        surrogate_key("customer_id", F.col("valid_from")).alias("customer_key"),
        "customer_id",
        "name",
        "country",
        region_of(F.col("country")).alias("region"),
        *ACCOUNT_COLUMNS,
        "valid_from",
        "valid_to",
        "effective_from",
        "effective_to",
        "is_current",
        F.col("_is_deleted").alias("is_deleted"),
        F.lit(False).alias("is_inferred"),
    )
    missing = (
        ordered_customer_ids.select("customer_id")
        .distinct()
        .join(history.select("customer_id").distinct(), "customer_id", "left_anti")
    )
    inferred = missing.select(
        *_member_without_attributes(
            surrogate_key("customer_id", F.lit(EARLIEST)), is_current=True, is_inferred=True
        )
    )
    unknown = (
        known.sparkSession.range(1)
        .select(F.lit(UNKNOWN_KEY).cast("long").alias("customer_id"))
        .select(
            *_member_without_attributes(F.lit(UNKNOWN_KEY).cast("long"), is_current=False, is_inferred=False)
        )
    )
    return known.unionByName(inferred).unionByName(unknown)


def _transform(inputs: TransformInputs) -> DataFrame:
    return build_dim_customer(
        inputs.read("silver/customers_history"),
        inputs.read("silver/accounts"),
        inputs.read("silver/orders", "NOT _is_deleted"),
    )


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_spark_asset(contracts["gold/dim_customer"], contracts, _transform)
