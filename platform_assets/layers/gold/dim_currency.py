"""gold/dim_currency: one row per currency with a stable surrogate key and its latest rate."""

from __future__ import annotations

import dagster as dg
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset

BASE_CURRENCY = "USD"
UNKNOWN_KEY = -1
UNKNOWN_CODE = "UNK"


def build_dim_currency(silver_fx: DataFrame, base_currency: str = BASE_CURRENCY) -> DataFrame:
    """Currencies from silver rates; the key is a stable hash of the code, so rebuilds keep keys."""
    newest_first = Window.partitionBy("ccy").orderBy(F.col("as_of_date").desc())
    latest = (
        silver_fx.withColumn("_rank", F.row_number().over(newest_first))
        .where("_rank = 1")
        .select("ccy", F.col("rate_to_base").alias("latest_rate_to_base"))
    )
    spans = silver_fx.groupBy("ccy").agg(
        F.min("as_of_date").alias("first_rate_date"),
        F.max("as_of_date").alias("latest_rate_date"),
        F.countDistinct("as_of_date").alias("rate_days"),
    )
    known = spans.join(latest, "ccy").select(
        F.xxhash64("ccy").alias("currency_key"),
        "ccy",
        (F.col("ccy") == F.lit(base_currency)).alias("is_base_currency"),
        "first_rate_date",
        "latest_rate_date",
        "latest_rate_to_base",
        F.col("rate_days").cast("long").alias("rate_days"),
    )
    unknown = known.sparkSession.createDataFrame(
        [(UNKNOWN_KEY, UNKNOWN_CODE, False, None, None, None, 0)], known.schema
    )
    return known.unionByName(unknown)


def _transform(inputs: TransformInputs) -> DataFrame:
    return build_dim_currency(inputs.read("silver/fx_rates"))


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_spark_asset(contracts["gold/dim_currency"], contracts, _transform)
