"""silver/customers (SCD1) and silver/customers_history (SCD2): the DMS change feed, applied."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.layers.silver.change_apply_asset import build_change_apply_asset
from platform_assets.layers.spark_asset import TransformInputs

VALUE_COLUMNS = ("customer_id", "name", "email", "phone", "address", "country", "updated_at")


FULL_LOAD_FILE = r"(^|/)LOAD[0-9A-F]{8}\.csv$"


def customer_changes(bronze: DataFrame) -> DataFrame:
    """DMS rows -> change feed: commit time first, then the tiebreaker ``<phase>:<file>:<row>``.

    The phase puts full-load rows (``0``) before CDC rows (``1``) with the same commit time: CDC rows
    are changes on top of the full load (its timestamp is the task start), whatever the file names
    sort as. Inside a phase, the file name (DMS's order) then the zero-padded row decide.
    """
    phase = F.when(F.col("_dms_file").rlike(FULL_LOAD_FILE), F.lit("0")).otherwise(F.lit("1"))
    return bronze.select(
        *VALUE_COLUMNS,
        F.col("_dms_commit_ts").alias("_commit_ts"),
        F.concat_ws(":", phase, F.col("_dms_file"), F.lpad(F.col("_dms_row").cast("string"), 9, "0")).alias(
            "_change_seq"
        ),
        "Op",
        "_ingested_at",
    )


def _feed(inputs: TransformInputs, since: datetime | None) -> DataFrame:
    return customer_changes(inputs.read_ingested_after("bronze/rds_customers_cdc", since))


def build(contracts: dict[str, Contract]) -> list[dg.AssetsDefinition]:
    return [
        build_change_apply_asset(contracts["silver/customers"], contracts, _feed),
        build_change_apply_asset(contracts["silver/customers_history"], contracts, _feed),
    ]
