"""silver/orders (SCD1 current state per order) and silver/order_lines (the lines of that state).

Every bronze event carries its order's full state, so the current state is the latest valid event by
(event_time, event_id): the change-apply factory applies the bronze events ingested since the
partitions' last run, and duplicates (same event_id, same sequence), out-of-order and late events
converge. Both tables are partitioned by order_date, the UTC date of the order's created_time, which
every event carries; a partition's events are ingested on or after that day (a day of clock skew
allowed), so a run reads the ingestion days from its first date on, and only files with new rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.cdc.spec import DELETED
from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import in_predicate
from platform_assets.layers.silver.change_apply_asset import build_change_apply_asset
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset

CLOCK_SKEW = timedelta(days=1)  # an event may be ingested this long before its order's date
LINES_SCHEMA = "array<struct<line_no:bigint,product_id:bigint,quantity:bigint,unit_price:double>>"


def order_events(bronze: DataFrame) -> DataFrame:
    """Bronze events -> the change feed's cheap columns: keys, sequence, order date, values as they are.

    Nothing here parses: the lines JSON is parsed by ``order_checks`` after the change apply has
    picked the newest event per order, so the parse runs once per order, not once per event.
    """
    return bronze.select(
        "order_id",
        F.when(F.col("event_type") == "cancelled", "cancelled").otherwise("open").alias("status"),
        "customer_id",
        "currency",
        "channel",
        "lines",
        "order_total",
        "created_time",
        F.to_date("created_time").alias("order_date"),  # the session time zone is UTC
        "event_type",
        "schema_version",
        "event_time",
        "event_id",
        "_ingested_at",
    )


def order_checks(changes: DataFrame) -> DataFrame:
    """The contract checks' inputs (gap to the sum of lines, smallest quantity) for one change per order.

    No higher-order functions (``transform``/``aggregate`` lambdas): Sail 0.7 fails a filter over a
    lambda projection of a Delta scan ("No field named ?table?.lines"). The sum of lines is an
    aggregate over the exploded lines, joined back on the typed key (``order_id``, null-safe: a
    change without one is still checked), which is unique here: the apply keeps the newest per key.
    """
    parsed = changes.withColumn("_lines", F.from_json("lines", LINES_SCHEMA))
    lines_total = (
        parsed.select(F.col("order_id").alias("_key"), F.explode("_lines").alias("l"))
        .groupBy("_key")
        .agg(F.sum(F.col("l.quantity") * F.col("l.unit_price")).alias("_lines_total"))
    )
    joined = parsed.join(lines_total, parsed["order_id"].eqNullSafe(lines_total["_key"]), "left")
    return joined.select(
        *(parsed[c] for c in changes.columns),
        (F.col("order_total") - F.coalesce(F.col("_lines_total"), F.lit(0.0))).alias("lines_total_gap"),
        F.array_min(F.col("_lines.quantity")).alias("min_quantity"),
    )


def order_changes(bronze: DataFrame) -> DataFrame:
    """Bronze events, already one per order, -> the checked change rows (the two steps above)."""
    return order_checks(order_events(bronze))


def _feed(inputs: TransformInputs, since: datetime | None) -> DataFrame:
    first_day = min(inputs.partitions) - CLOCK_SKEW if inputs.partitions else None
    return order_events(inputs.read_ingested_after("bronze/order_events", since, first_day))


def order_lines(orders: DataFrame) -> DataFrame:
    """One row per line of every (non-deleted) order's current state."""
    return (
        orders.where(~F.col(DELETED))
        .select(
            "order_id",
            "currency",
            "status",
            "order_date",
            F.explode(F.from_json("lines", LINES_SCHEMA)).alias("l"),
        )
        .select(
            "order_id",
            "l.line_no",
            "l.product_id",
            "l.quantity",
            "l.unit_price",
            "currency",
            "status",
            "order_date",
        )
    )


def _lines(inputs: TransformInputs) -> DataFrame:
    days = inputs.partitions or []
    return order_lines(inputs.read("silver/orders", in_predicate("order_date", days) if days else None))


def build(contracts: dict[str, Contract]) -> list[dg.AssetsDefinition]:
    return [
        build_change_apply_asset(contracts["silver/orders"], contracts, _feed, enrich=order_checks),
        build_spark_asset(contracts["silver/order_lines"], contracts, _lines),
    ]
