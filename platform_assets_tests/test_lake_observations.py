"""platform_tables_sensor observes the alerts, quarantine and dead-letter tables only when they change."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
from deltalake import write_deltalake

from platform_assets.definitions import build_definitions, build_resources
from platform_assets.operations.lake_observations import TABLES_SENSOR
from platform_assets.operations.sensor_driver import SensorDriver
from platform_assets.settings import PlatformSettings


def _held(day: str, n: int) -> pa.Table:
    return pa.table(
        {
            "as_of_date": [datetime.fromisoformat(day).date()] * n,
            "ccy": [None] * n,
            "_failed_rules": [["ccy_not_null"]] * n,
            "_action": ["blocked"] * n,
            "_run_id": ["r1"] * n,
            "_quarantined_at": [datetime(2026, 11, 3, 16, i, tzinfo=UTC) for i in range(n)],
        }
    )


def test_observes_each_table_once_per_change(tmp_path: Path) -> None:
    settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path / "lake")})
    defs = build_definitions(settings)
    keys = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    assert {"ops/alerts", "quarantine/silver_fx_rates", "bronze/order_events_dlq"} <= keys
    with dg.instance_for_test() as instance:
        driver = SensorDriver(defs, instance, build_resources(settings), TABLES_SENSOR)
        assert driver.evaluate().asset_events == []  # no table yet: nothing to observe
        uri = str(tmp_path / "lake" / "quarantine" / "silver_fx_rates")
        write_deltalake(uri, _held("2026-11-03", 2))
        (first,) = driver.evaluate().asset_events
        assert first.asset_key == dg.AssetKey(["quarantine", "silver_fx_rates"])
        assert first.metadata["dagster/row_count"].value == 2
        latest = first.metadata["latest"].value
        assert latest.count("| 2026-11-03 |") == 2 and "ccy_not_null" in latest and "blocked" in latest
        assert driver.evaluate().asset_events == []  # unchanged: not observed again
        write_deltalake(uri, _held("2026-11-04", 6), mode="append")
        (second,) = driver.evaluate().asset_events
        assert second.metadata["dagster/row_count"].value == 8
        assert second.metadata["latest"].value.count("| 2026-11-04 |") == 5  # the 5 newest entries
