"""gold/agg_daily_revenue: open-order revenue by order date x region x category, by order date."""

from __future__ import annotations

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import in_predicate
from platform_assets.layers.gold.keys import UNKNOWN
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset


def build_agg_daily_revenue(facts: DataFrame, dim_customer: DataFrame, dim_product: DataFrame) -> DataFrame:
    regions = dim_customer.select("customer_key", "region")
    categories = dim_product.select("product_key", "category")
    open_lines = (
        facts.where(F.col("status") == "open")
        .join(regions, "customer_key", "left")
        .join(categories, "product_key", "left")
        .select(
            "order_date",
            F.coalesce("region", F.lit(UNKNOWN)).alias("region"),
            F.coalesce("category", F.lit(UNKNOWN)).alias("category"),
            "order_id",
            "customer_id",
            "quantity",
            "amount_usd",
        )
    )
    group = ["order_date", "region", "category"]
    # distinct counts in their own aggregates: a mixed countDistinct + sum is pathologically slow on Sail
    sums = open_lines.groupBy(*group).agg(
        F.coalesce(F.sum("amount_usd"), F.lit(0.0)).alias("revenue_usd"),
        F.sum("quantity").cast("long").alias("units"),
    )
    orders = (
        open_lines.select(*group, "order_id").distinct().groupBy(*group).agg(F.count("*").alias("orders"))
    )
    customers = (
        open_lines.select(*group, "customer_id")
        .distinct()
        .groupBy(*group)
        .agg(F.count("*").alias("customers"))
    )
    return (
        sums.join(orders, group)
        .join(customers, group)
        .select(*group, "revenue_usd", F.col("orders").cast("long"), "units", F.col("customers").cast("long"))
    )


def _transform(inputs: TransformInputs) -> DataFrame:
    days = inputs.partitions or []
    return build_agg_daily_revenue(
        inputs.read("gold/fact_order_lines", in_predicate("order_date", days) if days else None),
        inputs.read("gold/dim_customer"),
        inputs.read("gold/dim_product"),
    )


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_spark_asset(contracts["gold/agg_daily_revenue"], contracts, _transform)
