"""silver/fx_rates: typed FX rates, one per (as_of_date, ccy), the latest publication winning."""

from __future__ import annotations

from datetime import date

import dagster as dg
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset


def conform_fx_rates(bronze: DataFrame, as_of_dates: list[date]) -> DataFrame:
    """Type the raw records and keep the latest publication per (as_of_date, ccy).

    Unparseable values become nulls (the not-null rules then stop the partition, naming the rule);
    ties on (published_at, revision) go to the record ingested last, then the later position.
    """
    typed = bronze.select(
        F.trim("as_of_date").try_cast("date").alias("as_of_date"),
        F.upper(F.trim("ccy")).alias("ccy"),
        F.upper(F.trim("base")).alias("base_ccy"),
        F.col("rate_to_base").try_cast("double").alias("rate_to_base"),
        F.try_to_timestamp("published_at").alias("published_at"),
        F.col("revision").try_cast("int").alias("revision"),
        "publication_id",
        "_batch_id",
        "_ingested_at",
        "_position",
    ).where(F.col("as_of_date").isin(as_of_dates))
    latest_first = Window.partitionBy("as_of_date", "ccy").orderBy(
        F.col("published_at").desc_nulls_last(),
        F.col("revision").desc_nulls_last(),
        F.col("_ingested_at").desc(),
        F.col("_position").desc(),
    )
    return typed.withColumn("_rank", F.row_number().over(latest_first)).where("_rank = 1").drop("_rank")


def _transform(inputs: TransformInputs) -> DataFrame:
    days = inputs.partitions or []
    # every ingestion day from the first business date on: a late publication is never missed
    bronze = inputs.read("bronze/fx_rates", where=f"_proc_date >= DATE'{min(days).isoformat()}'")
    return conform_fx_rates(bronze, days)


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_spark_asset(contracts["silver/fx_rates"], contracts, _transform)
