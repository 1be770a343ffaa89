"""gold/dim_date: one row per calendar day over the business dates of orders and FX rates."""

from __future__ import annotations

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.layers.gold.keys import date_key
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset


def build_dim_date(business_dates: DataFrame) -> DataFrame:
    """Every day from the first to the last of ``business_dates`` (a frame with a ``day`` column)."""
    span = business_dates.agg(F.min("day").alias("first"), F.max("day").alias("last"))
    days = span.select(F.explode(F.sequence("first", "last")).alias("date")).where("date IS NOT NULL")
    weekday = (F.dayofweek("date") + 5) % 7 + 1  # Spark: 1 = Sunday; ISO: 1 = Monday
    return days.select(
        date_key(F.col("date")).alias("date_key"),
        "date",
        F.dayofmonth("date").alias("day_of_month"),
        weekday.cast("int").alias("day_of_week"),
        F.date_format("date", "EEEE").alias("weekday_name"),
        (weekday >= 6).alias("is_weekend"),
        F.weekofyear("date").alias("week_of_year"),
        F.year(F.date_add(F.col("date"), (4 - weekday).cast("int"))).alias("iso_year"),
        F.month("date").alias("month"),
        F.date_format("date", "MMMM").alias("month_name"),
        F.quarter("date").alias("quarter"),
        F.year("date").alias("year"),
    )


def _transform(inputs: TransformInputs) -> DataFrame:
    orders = inputs.read("silver/orders").select(F.col("order_date").alias("day"))
    rates = inputs.read("silver/fx_rates").select(F.col("as_of_date").alias("day"))
    return build_dim_date(orders.unionByName(rates))


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_spark_asset(contracts["gold/dim_date"], contracts, _transform)
