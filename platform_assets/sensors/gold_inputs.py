"""Request the gold order-date partitions whose inputs changed, after silver published them.

The sensor reads the materializations of gold's silver inputs since its cursor (their storage ids),
so a silver partition held at the gate (not materialized) never triggers gold. Order dates come from:
- silver/order_lines partitions materialized (new or changed orders of that date);
- silver/fx_rates partitions materialized: that date, and later dates whose lines fell back to an
  older rate (``is_rate_fallback``) from before it;
- silver/customers_history: dates whose facts hold inferred customers (re-keyed once they arrive);
- silver/products_history: dates whose facts hold the unknown product (-1).
Each run of consecutive dates is one single-run range of the gold job, over the assets those changes
reach (``assets_to_run``): the order-line facts and daily revenue always; a dimension only when its
inputs changed (or, for dim_customer, when the dates' orders name a customer it lacks: an inferred
member; for dim_date, when a date falls outside it); the opportunities when theirs did. When only the
dimensions' inputs changed, the latest fact date is rebuilt with them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.lake.delta_tables import count_by, count_missing, in_predicate
from platform_assets.lake.location import Lake
from platform_assets.sensors.business_dates import plan_business_date_runs
from platform_assets.sensors.lake_sensor import lake_sensor

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

FACTS = "gold/fact_order_lines"
DIMENSION_INPUTS = (
    "silver/customers_history",
    "silver/accounts",
    "silver/products_history",
    "silver/opportunities",
    "gold/dim_currency",
)
PARTITIONED_INPUTS = ("silver/order_lines", "silver/fx_rates")


def _key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(dataset.split("/"))


def _fact_dates(lake: Lake, where: str) -> set[date]:
    return {
        date.fromisoformat(d) for d in count_by(lake.uri(FACTS), "order_date", where, lake.storage_options)
    }


def affected_dates(lake: Lake, changed: dict[str, set[str]]) -> set[date]:
    """Order dates to rebuild for the inputs changed (dataset -> partitions materialized, '' if none)."""
    days = {date.fromisoformat(p) for p in changed.get("silver/order_lines", set()) if p}
    for p in sorted(p for p in changed.get("silver/fx_rates", set()) if p):
        days |= _fact_dates(lake, f"order_date = DATE'{p}'")
        days |= _fact_dates(
            lake, f"is_rate_fallback AND fx_rate_date < DATE'{p}' AND order_date >= DATE'{p}'"
        )
    if "silver/customers_history" in changed:
        days |= _fact_dates(lake, "customer_is_inferred OR customer_key = -1")
    if "silver/products_history" in changed:
        days |= _fact_dates(lake, "product_key = -1")
    return days


def _new_customers(lake: Lake, days: set[date]) -> bool:
    """Do the dates' live orders name a customer gold/dim_customer has no row for (not even inferred)?"""
    missing = count_missing(
        lake.uri("silver/orders"),
        "customer_id",
        f"{in_predicate('order_date', sorted(days))} AND NOT _is_deleted",
        lake.uri("gold/dim_customer"),
        "customer_id",
        lake.storage_options,
    )
    return missing > 0


def _outside_dim_date(lake: Lake, days: set[date]) -> bool:
    known = count_by(
        lake.uri("gold/dim_date"), "date", in_predicate("date", sorted(days)), lake.storage_options
    )
    return len(known) < len(days)


def assets_to_run(lake: Lake, changed: dict[str, set[str]], days: set[date]) -> list[str]:
    """The gold datasets a run over ``days`` must rebuild for the inputs ``changed``.

    Dimensions are whole tables and their keys hash the natural key and version start, so leaving a
    dimension out when nothing it is built from changed keeps every key the facts hold valid.
    """
    selected = {FACTS, "gold/agg_daily_revenue"}
    if "silver/fx_rates" in changed or _outside_dim_date(lake, days):
        selected.add("gold/dim_date")
    if {"silver/customers_history", "silver/accounts"} & set(changed) or _new_customers(lake, days):
        selected.add("gold/dim_customer")
    if "silver/products_history" in changed:
        selected.add("gold/dim_product")
    if {"silver/opportunities", "silver/accounts", "gold/dim_currency"} & set(changed) or (
        "gold/dim_customer" in selected
    ):
        selected |= {"gold/fact_opportunities", "gold/agg_sales_pipeline"}
    return sorted(selected)


def checks_of(
    selection: list[dg.AssetKey], checks: Mapping[dg.AssetKey, Sequence[dg.AssetCheckKey]]
) -> list[dg.AssetCheckKey]:
    """The checks a run of ``selection`` executes: the selected assets' own (their contract rules).

    A request that names assets but no checks gets every check on those assets in the code
    location, the scheduled PII scan included, whatever the job's selection left out."""
    return sorted((c for key in selection for c in checks.get(key, ())), key=lambda c: c.to_user_string())


def build_gold_inputs_sensor(
    job: UnresolvedAssetJobDefinition,
    partitions: dg.TimeWindowPartitionsDefinition,
    name: str,
    checks: Mapping[dg.AssetKey, Sequence[dg.AssetCheckKey]],
) -> dg.SensorDefinition:
    """``checks``: each gold asset's own checks, the only ones its runs execute (``checks_of``)."""
    watched = (*PARTITIONED_INPUTS, *DIMENSION_INPUTS)

    @lake_sensor(
        name=name,
        job=job,
        minimum_interval_seconds=30,
        description=(
            "Requests the gold order-date partitions whose silver inputs were published since the last "
            "tick (orders, FX rates, late customers, uncatalogued products), never a held partition."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SensorResult | dg.SkipReason:
        state = json.loads(context.cursor) if context.cursor else {}
        changed: dict[str, set[str]] = {}
        newest = dict(state)
        for dataset in watched:
            after = state.get(dataset)
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=_key(dataset), after_storage_id=after), limit=10_000
            ).records
            for record in records:
                changed.setdefault(dataset, set()).add(record.partition_key or "")
                newest[dataset] = max(newest.get(dataset) or 0, record.storage_id)
        if not changed:
            return dg.SkipReason("no silver input of gold was published since the last tick")
        days = affected_dates(lake, changed)
        if not days:
            latest = sorted(
                count_by(lake.uri("silver/order_lines"), "order_date", None, lake.storage_options)
            )
            days = {date.fromisoformat(latest[-1])} if latest else set()
        interval = ",".join(f"{k}@{v}" for k, v in sorted(newest.items()))
        requests, _ = plan_business_date_runs(name, days, partitions, interval)
        selection = [_key(d) for d in assets_to_run(lake, changed, days)]
        requests = [
            r.with_replaced_attrs(asset_selection=selection, asset_check_keys=checks_of(selection, checks))
            for r in requests
        ]
        cursor = json.dumps(newest)
        if not requests:
            return dg.SensorResult(skip_reason="no order date to rebuild yet", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _sensor
