"""Surrogate keys and as-was validity shared by the gold dimensions and facts.

A version's key is a hash of its natural key and ``valid_from``, so rebuilding a dimension from the
same history reproduces every key (no sequence to keep). ``effective_from``/``effective_to`` tile
time for as-was joins: a key's first version reaches back to ``EARLIEST`` (a fact older than the
first version the platform saw belongs to that version), its open version runs to ``LATEST``.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

UNKNOWN_KEY = -1
UNKNOWN = "Unknown"
EARLIEST = datetime(1900, 1, 1)
LATEST = datetime(9999, 12, 31)


def surrogate_key(natural_key: str, valid_from: Column) -> Column:
    """Stable per version: xxhash64 of the natural key and the version's start."""
    return F.xxhash64(F.col(natural_key), valid_from)


def with_effective_range(versions: DataFrame, natural_key: str) -> DataFrame:
    """Adds effective_from (EARLIEST for a key's first version) and effective_to (LATEST while open)."""
    first = F.min("valid_from").over(Window.partitionBy(natural_key))
    return versions.withColumn(
        "effective_from",
        F.when(F.col("valid_from") == first, F.lit(EARLIEST)).otherwise(F.col("valid_from")),
    ).withColumn("effective_to", F.coalesce(F.col("valid_to"), F.lit(LATEST)))


def as_was(
    facts: DataFrame, dimension: DataFrame, natural_key: str, event_time: str, surrogate: str
) -> DataFrame:
    """``facts`` with the surrogate key of the dimension version valid at ``event_time`` (-1: none)."""
    versions = dimension.select(
        F.col(natural_key).alias("_nk"),
        F.col(surrogate).alias("_sk"),
        F.col("effective_from").alias("_from"),
        F.col("effective_to").alias("_to"),
    )
    joined = facts.join(
        versions,
        (facts[natural_key] == versions["_nk"])
        & (facts[event_time] >= versions["_from"])
        & (facts[event_time] < versions["_to"]),
        "left",
    )
    return joined.withColumn(surrogate, F.coalesce(F.col("_sk"), F.lit(UNKNOWN_KEY))).drop(
        "_nk", "_sk", "_from", "_to"
    )


def date_key(day: Column) -> Column:
    return F.date_format(day, "yyyyMMdd").cast("int")
