"""MERGE INTO a Delta table by path through the Spark session (Sail, Spark Connect or Spark)."""

from __future__ import annotations

import uuid

from pyspark.sql import DataFrame


def merge_into(source: DataFrame, target_uri: str, on: str, clauses: str) -> None:
    """``MERGE INTO delta.`target` t USING source s ON <on> <clauses>`` in one Delta commit."""
    view = f"_merge_source_{uuid.uuid4().hex}"
    source.createOrReplaceTempView(view)
    try:
        source.sparkSession.sql(
            f"MERGE INTO delta.`{target_uri}` AS t USING {view} AS s ON {on} {clauses}"
        ).collect()
    finally:
        source.sparkSession.catalog.dropTempView(view)


def key_match(keys: tuple[str, ...] | list[str]) -> str:
    return " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
