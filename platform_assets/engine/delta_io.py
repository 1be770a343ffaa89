"""Delta reads and writes through the Spark session, by path (Sail's catalog is per session)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame, SparkSession

from platform_assets.lake.delta_tables import in_predicate, open_table


def read_delta(spark: SparkSession, uri: str, where: str | None = None) -> DataFrame:
    frame = spark.read.format("delta").load(uri)
    return frame.where(where) if where else frame


def overwrite_partitions(
    df: DataFrame,
    uri: str,
    partition_column: str,
    partitions: Sequence[date],
    storage_options: dict[str, str] | None = None,
) -> None:
    """Replace exactly these partitions in one commit; other partitions stay untouched."""
    writer = df.write.format("delta").mode("overwrite").partitionBy(partition_column)
    if open_table(uri, storage_options) is not None:  # Sail refuses replaceWhere on a new table
        writer = writer.option("replaceWhere", in_predicate(partition_column, partitions))
    writer.save(uri)


def overwrite_table(df: DataFrame, uri: str) -> None:
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(uri)


def append(df: DataFrame, uri: str) -> None:
    df.write.format("delta").mode("append").option("mergeSchema", "true").save(uri)
