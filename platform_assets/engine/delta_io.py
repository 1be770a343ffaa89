"""Delta reads and writes through the Spark session, by path (Sail's catalog is per session)."""

from __future__ import annotations

import uuid
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


def merge_table(df: DataFrame, uri: str, keys: Sequence[str]) -> None:
    """Make the table equal ``df`` in one MERGE commit, matching rows on ``keys`` (null-safe).

    Only rows that differ are updated, new ones inserted, vanished ones deleted: an unchanged row is
    not rewritten unless it shares a data file with one that changed (copy-on-write).
    """
    view = f"_merge_source_{uuid.uuid4().hex}"
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    same = " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in df.columns if c not in keys) or "TRUE"
    columns = ", ".join(f"`{c}`" for c in df.columns)
    df.createOrReplaceTempView(view)
    try:
        df.sparkSession.sql(
            f"MERGE INTO delta.`{uri}` AS t USING {view} AS s ON {on} "
            f"WHEN MATCHED AND NOT ({same}) THEN UPDATE SET "
            + ", ".join(f"t.`{c}` = s.`{c}`" for c in df.columns)
            + f" WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({', '.join(f's.`{c}`' for c in df.columns)})"
            " WHEN NOT MATCHED BY SOURCE THEN DELETE"
        ).collect()
    finally:
        df.sparkSession.catalog.dropTempView(view)


def append(df: DataFrame, uri: str) -> None:
    df.write.format("delta").mode("append").option("mergeSchema", "true").save(uri)
