"""Lake tables by name (``gold.fact_order_lines``) in a Spark session: one database per layer.

Sail's catalog is per session, so a query registers what it names: each ``layer.table`` it mentions
becomes a temporary view ``layer__table`` over the table's place in the lake, replaced on every query
(so a session reused across lakes never reads a stale location), and the query text is rewritten to
those view names. Nothing is copied; a view reads the table's latest version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from platform_assets.engine.delta_io import read_delta
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake

LAYERS = ("bronze", "silver", "gold")
_TABLE_NAME = re.compile(r"\b(bronze|silver|gold)\.([a-z][a-z0-9_]*)\b", re.IGNORECASE)


def names_in(query: str) -> list[str]:
    """The ``layer.table`` names a SQL text mentions, as dataset references (``layer/table``)."""
    return sorted({f"{layer.lower()}/{table.lower()}" for layer, table in _TABLE_NAME.findall(query)})


def lake_datasets(lake: Lake) -> list[str]:
    """Every ``layer/table`` with a Delta table under the lake root (a local lake is listed on disk)."""
    if lake.is_remote:
        from platform_assets.contracts import load_contracts

        candidates = sorted(load_contracts())
    else:
        root = Path(lake.root)
        candidates = sorted(
            f"{layer}/{p.name}"
            for layer in LAYERS
            if (root / layer).is_dir()
            for p in (root / layer).iterdir()
        )
    return [d for d in candidates if open_table(lake.uri(d), lake.storage_options) is not None]


def view_name(dataset: str) -> str:
    layer, table = dataset.split("/")
    return f"{layer}__{table}"


def register(spark: SparkSession, lake: Lake, datasets: Iterable[str]) -> list[str]:
    """A view per dataset whose Delta table exists; returns the datasets registered."""
    registered = []
    for dataset in datasets:
        uri = lake.uri(dataset)
        if open_table(uri, lake.storage_options) is None:
            continue
        read_delta(spark, uri).createOrReplaceTempView(view_name(dataset))
        registered.append(dataset)
    return registered


class TableNotFound(LookupError):
    pass


def resolve(spark: SparkSession, lake: Lake, query: str) -> str:
    """``query`` with its lake table names bound to views; a name with no table raises TableNotFound."""
    wanted = names_in(query)
    missing = sorted(set(wanted) - set(register(spark, lake, wanted)))
    if missing:
        names = ", ".join(m.replace("/", ".") for m in missing)
        raise TableNotFound(f"no lake table {names} under {lake.root} (has the pipeline built it?)")
    return to_view_names(query)


def to_view_names(query: str) -> str:
    """``query`` with each ``layer.table`` replaced by its view name ``layer__table``."""
    return _TABLE_NAME.sub(lambda m: f"{m.group(1).lower()}__{m.group(2).lower()}", query)


class LakeTables:
    """What cross-table rules and SQL read: a table by dataset reference, or a query by table names."""

    def __init__(self, spark: SparkSession, lake: Lake) -> None:
        self.spark = spark
        self.lake = lake

    def read(self, dataset: str) -> DataFrame:
        return read_delta(self.spark, self.lake.uri(dataset))

    def sql(self, query: str) -> DataFrame:
        return self.spark.sql(resolve(self.spark, self.lake, query))
