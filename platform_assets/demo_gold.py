"""The demo's gold step: the gold sensor's runs over everything silver published, then a summary.

Kept apart from demo.py (which plays the sources) so each has one job; run_demo calls both functions.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME

from platform_assets.contracts import load_contracts
from platform_assets.definitions import build_definitions, build_resources
from platform_assets.domains.gold import GOLD_SENSOR
from platform_assets.lake.delta_tables import row_count
from platform_assets.operations.instance_sensor import workspace_repository_origin
from platform_assets.operations.sensor_driver import SensorDriver
from platform_assets.settings import PlatformSettings

TOP_REVENUE_SQL = (
    "SELECT order_date, region, category, ROUND(revenue_usd, 2) AS revenue_usd, orders, units, customers "
    "FROM gold.agg_daily_revenue ORDER BY revenue_usd DESC LIMIT 5"
)


def gold_demo(settings: PlatformSettings, instance: dg.DagsterInstance) -> list[dg.ExecuteInProcessResult]:
    """One tick of `gold_inputs_sensor` and its runs (the dates whose silver inputs were published)."""
    defs = build_definitions(settings)
    # ticks, cursor and runs recorded in the instance under the code location's origin, like the others
    origin = workspace_repository_origin(SINGLETON_REPOSITORY_NAME)
    driver = SensorDriver(defs, instance, build_resources(settings), GOLD_SENSOR, origin)
    print("\nGold (star schema)")
    tick = driver.evaluate()
    results = []
    for request in tick.run_requests:
        result = driver.execute(request)
        span = f"{request.tags.get('dagster/asset_partition_range_start')}..{request.tags.get('dagster/asset_partition_range_end')}"
        print(
            f"  gold sensor -> run {result.run_id[:8]} order dates {span}: {'ok' if result.success else 'STOPPED'}"
        )
        results.append(result)
    if not tick.run_requests:
        print("  gold sensor: nothing new")
    return results


def print_gold_summary(settings: PlatformSettings) -> None:
    """Gold row counts and the top revenue rows, through the same SQL path as `platform sql`."""
    from platform_assets.engine.query import QueryError
    from platform_assets.serving.sql import render, run_query

    lake = settings.lake
    print("\nGold tables")
    for name in sorted(n for n in load_contracts() if n.startswith("gold/")):
        print(f"  {name:<30} {row_count(lake.uri(name), lake.storage_options):>6} rows")
    print("\nTop revenue (USD) by order date x region x category:")
    print(f'  .venv/bin/platform sql "{TOP_REVENUE_SQL}"')
    try:
        print("\n".join(f"  {line}" for line in render(run_query(TOP_REVENUE_SQL, settings)).splitlines()))
    except QueryError as exc:
        print(f"  (not available: {exc})")
