"""Request the business-date partitions that newly ingested bronze rows belong to, late ones included.

Bronze is partitioned by ingestion day; silver/orders by order date. The sensor asks the bronze
table itself (not the run history, so DLQ replays and manual loads count too) for the business
dates (``partitioning.business_date`` of the bronze contract) of the rows ingested after its cursor
(the newest ``_ingested_at`` seen), reading only the files that can hold them. It requests one
single-run range per run of consecutive dates: an order event days late is applied to its own
order date, beyond the partition mapping's on-time window, not dropped. The run key names the
ingestion interval and the range, so each is requested once; the apply reads from its partitions'
own ``applied_through``, so overlapping requests apply nothing twice.

Dates after the last partition but within a day of the newest ingestion (a producer clock ahead of
ours) wait in the cursor until their partition exists. Dates no partition takes (before the first,
or further ahead) are logged, and the partition of the day they arrived is requested: its apply run
quarantines them (``layers/silver/business_date_range.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import dates_ingested_after
from platform_assets.lake.location import Lake
from platform_assets.layers.silver.business_date_range import FUTURE_TOLERANCE
from platform_assets.layers.specs import RANGE_END, RANGE_START
from platform_assets.sensors.lake_sensor import lake_sensor

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def consecutive_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted, inclusive (first, last) ranges of consecutive days."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def plan_business_date_runs(
    name: str, days: Iterable[date], partitions: dg.TimeWindowPartitionsDefinition, interval: str
) -> tuple[list[dg.RunRequest], list[date]]:
    """Range run requests for the days that are partitions, and the days that are not."""
    inside = [d for d in set(days) if partitions.has_partition_key(d.isoformat())]
    outside = sorted(set(days) - set(inside))
    requests = [
        dg.RunRequest(
            run_key=f"{name}:{interval}:{first.isoformat()}..{last.isoformat()}",
            tags={
                RANGE_START: first.isoformat(),
                RANGE_END: last.isoformat(),
                "platform/trigger": name,
            },
        )
        for first, last in consecutive_ranges(inside)
    ]
    return requests, outside


def out_of_range_dates(days: Iterable[date], first: date, newest: datetime | None) -> list[date]:
    """Dates before ``first`` or beyond the clock-skew tolerance after the newest ingestion."""
    latest = newest.date() + FUTURE_TOLERANCE if newest is not None else None
    return sorted(d for d in set(days) if d < first or (latest is not None and d > latest))


def build_business_dates_sensor(
    job: UnresolvedAssetJobDefinition,
    bronze: Contract,
    partitions: dg.TimeWindowPartitionsDefinition,
    name: str,
) -> dg.SensorDefinition:
    column = bronze.partitioning.business_date if bronze.partitioning else None
    if column is None:
        raise ValueError(f"{bronze.dataset}: the contract declares no partitioning.business_date")

    @lake_sensor(
        name=name,
        job=job,
        minimum_interval_seconds=30,
        description=(
            f"Requests the business-date partitions of the rows newly ingested into {bronze.dataset} "
            f"(dates of {column}, late ones included), one range run per run of consecutive dates."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SensorResult | dg.SkipReason:
        state = json.loads(context.cursor) if context.cursor else {}
        after = datetime.fromisoformat(state["after"]) if state.get("after") else None
        waiting = {date.fromisoformat(d) for d in state.get("waiting", [])}
        days, newest = dates_ingested_after(lake.uri(bronze.ref), column, after, lake.storage_options)
        if newest is None and not waiting:
            return dg.SkipReason(f"{bronze.dataset}: no row ingested after {after}")
        until = newest or after
        interval = f"{after.isoformat() if after else 'start'}..{until.isoformat() if until else 'start'}"
        first = date.fromisoformat(partitions.get_first_partition_key() or "9999-12-31")
        strays = out_of_range_dates(days, first, newest)
        if strays and newest is not None:
            # no partition takes these dates: the run of the day they arrived quarantines them
            days = [*days, newest.date()]
            context.log.warning(
                f"{bronze.dataset}: rows with {column} dates no partition takes "
                f"{[d.isoformat() for d in strays]}; the downstream apply quarantines them"
            )
        inside = [d for d in {*days, *waiting} if d not in strays]
        requests, outside = plan_business_date_runs(name, inside, partitions, interval)
        cursor = json.dumps(
            {
                "after": until.isoformat() if until else None,
                "waiting": [d.isoformat() for d in outside if d >= first],  # future partitions
            }
        )
        if not requests:
            return dg.SensorResult(
                skip_reason=f"{bronze.dataset}: no business date to apply yet", cursor=cursor
            )
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _sensor
