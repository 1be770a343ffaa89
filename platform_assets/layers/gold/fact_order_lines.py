"""gold/fact_order_lines: silver order lines with as-was dimension keys and USD amounts, by order date."""

from __future__ import annotations

import dagster as dg
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import in_predicate
from platform_assets.layers.gold.keys import as_was, date_key
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset


def usd_rates(lines: DataFrame, rates: DataFrame) -> DataFrame:
    """Per (currency, order_date) of ``lines``: the day's rate, else the latest earlier published one.

    The rate depends on the currency and the day only, so it is looked up once per pair (a few
    hundred) and joined back on them, not once per line against every earlier day's rate (a window
    over lines x days, which made a 30-day build cost about 15 times one day's)."""
    pairs = lines.select("currency", "order_date").distinct()
    candidates = pairs.join(
        rates.select(F.col("ccy"), F.col("as_of_date"), F.col("rate_to_base")),
        (F.col("ccy") == F.col("currency")) & (F.col("as_of_date") <= F.col("order_date")),
    )
    newest = Window.partitionBy("currency", "order_date").orderBy(F.col("as_of_date").desc())
    return (
        candidates.withColumn("_rank", F.row_number().over(newest))
        .where("_rank = 1")
        .select(
            "currency",
            "order_date",
            F.col("rate_to_base").alias("fx_rate_to_usd"),
            F.col("as_of_date").alias("fx_rate_date"),
        )
    )


def build_fact_order_lines(
    lines: DataFrame,
    orders: DataFrame,
    rates: DataFrame,
    dim_customer: DataFrame,
    dim_product: DataFrame,
) -> DataFrame:
    headers = orders.select("order_id", "customer_id", "channel", "created_time")
    facts = lines.join(headers, "order_id")
    facts = as_was(facts, dim_customer, "customer_id", "created_time", "customer_key")
    facts = as_was(facts, dim_product, "product_id", "created_time", "product_key")
    inferred = dim_customer.select(F.col("customer_key").alias("_ck"), F.col("is_inferred").alias("_inf"))
    facts = facts.join(inferred, facts["customer_key"] == inferred["_ck"], "left").drop("_ck")
    facts = facts.join(usd_rates(lines, rates), ["currency", "order_date"], "left")
    amount = F.col("quantity") * F.col("unit_price")
    return facts.select(
        "order_id",
        "line_no",
        "order_date",
        date_key(F.col("order_date")).alias("date_key"),
        "customer_key",
        "product_key",
        F.xxhash64("currency").alias("currency_key"),  # gold/dim_currency's key
        "customer_id",
        "product_id",
        F.coalesce(F.col("_inf"), F.lit(False)).alias("customer_is_inferred"),
        "status",
        "channel",
        "created_time",
        "quantity",
        "unit_price",
        "currency",
        amount.alias("amount"),
        "fx_rate_to_usd",
        "fx_rate_date",
        F.coalesce(F.col("fx_rate_date") < F.col("order_date"), F.lit(False)).alias("is_rate_fallback"),
        (amount * F.col("fx_rate_to_usd")).alias("amount_usd"),
    )


def _transform(inputs: TransformInputs) -> DataFrame:
    days = inputs.partitions or []
    within = in_predicate("order_date", days) if days else None
    last = max(days).isoformat() if days else "9999-12-31"
    return build_fact_order_lines(
        inputs.read("silver/order_lines", within),
        inputs.read("silver/orders", f"({within or 'TRUE'}) AND NOT _is_deleted"),
        inputs.read("silver/fx_rates", f"as_of_date <= DATE'{last}'"),
        inputs.read("gold/dim_customer"),
        inputs.read("gold/dim_product"),
    )


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_spark_asset(contracts["gold/fact_order_lines"], contracts, _transform)
