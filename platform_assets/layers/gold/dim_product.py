"""gold/dim_product: SCD2 catalogue versions from silver/products_history, with the unknown member."""

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


def build_dim_product(history: DataFrame) -> DataFrame:
    versions = with_effective_range(history.where(~F.col("_is_deleted")), "product_id")
    known = versions.select(
        surrogate_key("product_id", F.col("valid_from")).alias("product_key"),
        "product_id",
        "sku",
        "name",
        F.coalesce(F.col("category"), F.lit(UNKNOWN)).alias("category"),
        "list_price",
        F.col("currency").alias("list_currency"),
        "valid_from",
        "valid_to",
        "effective_from",
        "effective_to",
        "is_current",
    )
    unknown = known.sparkSession.range(1).select(
        F.lit(UNKNOWN_KEY).cast("long").alias("product_key"),
        F.lit(UNKNOWN_KEY).cast("long").alias("product_id"),
        F.lit(None).cast("string").alias("sku"),
        F.lit(None).cast("string").alias("name"),
        F.lit(UNKNOWN).alias("category"),
        F.lit(None).cast("decimal(12,2)").alias("list_price"),
        F.lit(None).cast("string").alias("list_currency"),
        F.lit(None).cast("timestamp").alias("valid_from"),
        F.lit(None).cast("timestamp").alias("valid_to"),
        F.lit(EARLIEST).alias("effective_from"),
        F.lit(LATEST).alias("effective_to"),
        F.lit(False).alias("is_current"),
    )
    return known.unionByName(unknown)


def _transform(inputs: TransformInputs) -> DataFrame:
    return build_dim_product(inputs.read("silver/products_history"))


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_spark_asset(contracts["gold/dim_product"], contracts, _transform)
