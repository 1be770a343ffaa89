"""silver/fx_rates: typed FX rates, one per (as_of_date, ccy), the latest publication winning."""

from __future__ import annotations

from datetime import date

import dagster as dg
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset
from platform_assets.quality.raw_values import typed_from_raw, unparsed


def conform_fx_rates(bronze: DataFrame, as_of_dates: list[date]) -> DataFrame:
    """Type the raw records and keep the latest publication per (as_of_date, ccy).

    Nothing that fails typing is lost: each typed value keeps its raw text next to it, so the gate's
    ``values_parse`` rule stops the partition on a value that did not parse, and such rows never
    compete in the de-duplication (a bad newer record cannot hide behind an older good one). A
    record whose as_of_date is missing or does not parse has no partition: it is checked with the
    runs covering the day it was received (its bronze ``_proc_date``), and blocks them. Ties on
    (published_at, revision) go to the record ingested last, then the later position.
    """
    typed = bronze.select(
        *typed_from_raw("as_of_date", F.col("as_of_date"), F.trim("as_of_date").try_cast("date")),
        F.upper(F.trim("ccy")).alias("ccy"),
        F.upper(F.trim("base")).alias("base_ccy"),
        *typed_from_raw("rate_to_base", F.col("rate_to_base"), F.col("rate_to_base").try_cast("double")),
        *typed_from_raw("published_at", F.col("published_at"), F.try_to_timestamp("published_at")),
        *typed_from_raw("revision", F.col("revision"), F.col("revision").try_cast("int")),
        "publication_id",
        "_batch_id",
        "_ingested_at",
        "_position",
        "_proc_date",
    )
    unplaced = F.col("as_of_date").isNull() & F.col("_proc_date").isin(as_of_dates)
    typed = typed.where(F.col("as_of_date").isin(as_of_dates) | unplaced)
    latest_first = Window.partitionBy("as_of_date", "ccy").orderBy(
        F.col("published_at").desc_nulls_last(),
        F.col("revision").desc_nulls_last(),
        F.col("_ingested_at").desc(),
        F.col("_position").desc(),
    )
    keep = (F.col("_rank") == 1) | unparsed(typed.columns) | F.col("as_of_date").isNull()
    return typed.withColumn("_rank", F.row_number().over(latest_first)).where(keep).drop("_rank")


def _transform(inputs: TransformInputs) -> DataFrame:
    days = inputs.partitions or []
    # every ingestion day from the first business date on: a late publication is never missed
    bronze = inputs.read("bronze/fx_rates", where=f"_proc_date >= DATE'{min(days).isoformat()}'")
    return conform_fx_rates(bronze, days)


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_spark_asset(contracts["silver/fx_rates"], contracts, _transform)
