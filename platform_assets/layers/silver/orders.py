"""silver/orders (SCD1 current state per order) and silver/order_lines (the lines of that state).

Every bronze event carries its order's full state, so the current state is the latest valid event by
(event_time, event_id): the change-apply factory applies the bronze events ingested since the last
run, and duplicates (same event_id, same sequence), out-of-order and late events converge.
"""

from __future__ import annotations

from datetime import datetime

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.cdc.spec import DELETED
from platform_assets.contracts.model import Contract
from platform_assets.layers.silver.change_apply_asset import build_change_apply_asset
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset

LINES_SCHEMA = "array<struct<line_no:bigint,product_id:bigint,quantity:bigint,unit_price:double>>"


def order_changes(bronze: DataFrame) -> DataFrame:
    """Bronze events -> change feed with the contract checks' inputs (sum of lines, smallest quantity)."""
    parsed = bronze.withColumn("_lines", F.from_json("lines", LINES_SCHEMA))
    lines_total = F.expr("aggregate(transform(_lines, l -> l.quantity * l.unit_price), 0D, (a, x) -> a + x)")
    return parsed.select(
        "order_id",
        F.when(F.col("event_type") == "cancelled", "cancelled").otherwise("open").alias("status"),
        "customer_id",
        "currency",
        "channel",
        "lines",
        "order_total",
        (F.col("order_total") - lines_total).alias("lines_total_gap"),
        F.expr("array_min(transform(_lines, l -> l.quantity))").alias("min_quantity"),
        "event_type",
        "schema_version",
        "event_time",
        "event_id",
        "_ingested_at",
    )


def with_created_time(changes: DataFrame, bronze: DataFrame) -> DataFrame:
    """created_time and order_date from each order's created event, wherever bronze holds it.

    Every change carries them (SCD1 replaces the whole row), so they are looked up in all of bronze,
    not only in this run's changes; an order whose created event has not arrived gets nulls.
    """
    created = (
        bronze.where(F.col("event_type") == "created")
        .groupBy("order_id")
        .agg(F.min("event_time").alias("created_time"))
    )
    return changes.join(created, "order_id", "left").withColumn("order_date", F.to_date("created_time"))


def _feed(inputs: TransformInputs, since: datetime | None) -> DataFrame:
    where = None
    if since is not None:  # partition pruning first, then the exact point
        where = f"_proc_date >= DATE'{since.date().isoformat()}' AND _ingested_at > TIMESTAMP'{since.isoformat()}'"
    changes = order_changes(inputs.read("bronze/order_events", where))
    return with_created_time(changes, inputs.read("bronze/order_events"))


def order_lines(orders: DataFrame) -> DataFrame:
    """One row per line of every (non-deleted) order's current state."""
    return (
        orders.where(~F.col(DELETED))
        .select("order_id", "currency", "status", F.explode(F.from_json("lines", LINES_SCHEMA)).alias("l"))
        .select("order_id", "l.line_no", "l.product_id", "l.quantity", "l.unit_price", "currency", "status")
    )


def _lines(inputs: TransformInputs) -> DataFrame:
    return order_lines(inputs.read("silver/orders"))


def build(contracts: dict[str, Contract]) -> list[dg.AssetsDefinition]:
    return [
        build_change_apply_asset(contracts["silver/orders"], contracts, _feed),
        build_spark_asset(contracts["silver/order_lines"], contracts, _lines),
    ]
