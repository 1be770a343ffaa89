"""The demo's last step: the ops reports (DQ score, coverage, incidents, Data Docs), then where they are.

Kept apart from demo.py like demo_gold.py: it builds the code location, which only the top (cli/demo)
may import.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME

from platform_assets.definitions import build_definitions, build_resources
from platform_assets.operations.instance_sensor import workspace_repository_origin
from platform_assets.operations.sensor_driver import SensorDriver
from platform_assets.reporting.definitions import REFRESH_SENSOR, REPORT
from platform_assets.settings import PlatformSettings


def demo_reports(settings: PlatformSettings) -> None:
    """Materialize the ops reports in the demo's instance (as the refresh sensor would) and say where."""
    with dg.DagsterInstance.get() as instance:
        # one tick of the refresh sensor and its run, recorded in the instance like the demo's others
        driver = SensorDriver(
            build_definitions(settings),
            instance,
            build_resources(settings),
            REFRESH_SENSOR,
            workspace_repository_origin(SINGLETON_REPOSITORY_NAME),
        )
        results = [driver.execute(request) for request in driver.evaluate().run_requests or []]
        event = instance.get_latest_materialization_event(REPORT)
    if (
        not results
        or not all(r.success for r in results)
        or event is None
        or event.asset_materialization is None
    ):
        print("\nThe ops reports failed; see the ops_reports_job run in the UI")
        return
    metadata = event.asset_materialization.metadata
    print(
        f"\nData quality: platform DQ score {metadata['dq_score'].value:.2f}% (target > 99%), "
        f"validation coverage {metadata['validation_coverage'].value:.2f}%, "
        f"{metadata['open_incidents'].value} open incident(s)"
    )
    print(f"  report:    {metadata['path'].value}")
    print(
        f"  data docs: {Path(settings.reports_dir) / 'data_docs/gx/uncommitted/data_docs/local_site/index.html'}"
    )
