"""Business dates no partition can take: quarantined with the reason, not left behind in bronze.

A change-apply table partitioned by a business date (silver/orders by order_date) applies each
change to the partition of its date. A date before the first partition (an order "created" in
1999) or far after the day the change arrived (2099: a producer clock or a typo) would never be
applied, and used to show only as a sensor warning. Each run takes the changes of its read whose
date is out of range and appends them to ``<lake>/quarantine/<layer>_<table>`` with
``_failed_rules = business_date_out_of_range`` and a ``_reason``, once per change (keys and
sequence), whichever runs read them; the count is on the materialization.

"Far after" is judged against the change's own ingestion day, so the verdict does not depend on
when a run happens: up to ``FUTURE_TOLERANCE`` ahead is clock skew (the sensor waits for that
partition), more is absurd.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from platform_assets.engine import delta_io
from platform_assets.engine.delta_io import read_delta
from platform_assets.lake.delta_tables import INGESTED_AT, open_table
from platform_assets.lake.location import Lake

FUTURE_TOLERANCE = timedelta(days=1)
RULE = "business_date_out_of_range"


def out_of_range(column: str, first: date) -> Column:
    """True where the business date is missing, before ``first``, or beyond the tolerance."""
    value = F.col(column)
    latest = F.date_add(F.to_date(F.col(INGESTED_AT)), FUTURE_TOLERANCE.days)
    return value.isNull() | (value < F.lit(first)) | (value > latest)


def _reason(column: str, first: date) -> Column:
    value = F.col(column).cast("string")
    return (
        F.when(F.col(column).isNull(), F.lit(f"{column} is missing"))
        .when(
            F.col(column) < F.lit(first), F.concat(F.lit(f"{column} "), value, F.lit(f" is before {first}"))
        )
        .otherwise(
            F.concat(
                F.lit(f"{column} "),
                value,
                F.lit(f" is more than {FUTURE_TOLERANCE.days} day(s) after the day it was ingested, "),
                F.to_date(F.col(INGESTED_AT)).cast("string"),
            )
        )
    )


def quarantine_out_of_range(
    strays: DataFrame, column: str, first: date, identity: list[str], dataset: str, lake: Lake, run_id: str
) -> int:
    """Append the changes of ``strays`` not quarantined before (by ``identity``); returns how many."""
    rows = strays.dropDuplicates(identity).select(
        *strays.columns,
        F.lit(RULE).alias("_failed_rules"),
        _reason(column, first).alias("_reason"),
        F.lit("dropped").alias("_action"),
        F.lit(dataset).alias("_dataset"),
        F.lit(run_id).alias("_run_id"),
        F.current_timestamp().alias("_quarantined_at"),
    )
    uri = lake.quarantine_uri(dataset)
    if open_table(uri, lake.storage_options) is not None:
        spark = strays.sparkSession
        known = read_delta(spark, uri, f"_failed_rules = '{RULE}'").select(*identity).distinct()
        rows = rows.join(known, identity, "left_anti")
    count = rows.count()
    if count:
        delta_io.append(rows, uri)
    return count
