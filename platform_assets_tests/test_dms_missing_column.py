"""A DMS file whose header lacks a column stops bronze, naming the file and the column.

Hand-made DMS files on disk (the layout and format of ``sandbox/services/dms_task.py``) go through the
real customers job. Before the header check, the CDC file without ``phone`` was read as if every
phone were NULL, and silver/customers lost the stored phone numbers.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from platform_assets.definitions import CUSTOMERS_JOB, build_definitions
from platform_assets.lake.delta_tables import read_table
from platform_assets.settings import PlatformSettings

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
FULL_LOAD = """_dms_commit_ts,customer_id,name,email,phone,address,country,updated_at
2026-11-01 10:00:00.000000,1,Ann,ann@example.com,+1 555 0101,1 Main St,US,2026-11-01 09:00:00.000000
2026-11-01 10:00:00.000000,2,Bob,bob@example.com,+1 555 0102,2 Main St,US,2026-11-01 09:00:00.000000
"""
NO_PHONE = """Op,_dms_commit_ts,customer_id,name,email,address,country,updated_at
U,2026-11-01 11:00:00.000000,1,Ann B,ann@example.com,1 Main St,US,2026-11-01 11:00:00.000000
"""


def _write(folder: Path, name: str, text: str, mtime: float) -> Path:
    path = folder / name
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def _run(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(CUSTOMERS_JOB).execute_in_process(
        instance=instance,
        partition_key=datetime.now(UTC).date().isoformat(),
        run_config=QUIET,
        raise_on_error=False,
    )


def _phones(lake_root: str) -> dict[int, str | None]:
    rows = read_table(f"{lake_root}/silver/customers", columns=["customer_id", "phone"]).to_pylist()
    return {r["customer_id"]: r["phone"] for r in rows}


def test_a_file_lacking_a_column_stops_with_the_file_and_column_and_keeps_stored_values(
    tmp_path: Path,
) -> None:
    settings = PlatformSettings.from_env(
        {"PLATFORM_LAKE_ROOT": str(tmp_path / "lake"), "DMS_LANDING_ROOT": str(tmp_path / "landing")}
    )
    folder = tmp_path / "landing" / "public" / "customers"
    folder.mkdir(parents=True)
    defs = build_definitions(settings)
    now = datetime.now(UTC).timestamp()
    with dg.instance_for_test() as instance:
        _write(folder, "LOAD00000001.csv", FULL_LOAD, now - 60)
        assert _run(defs, instance).success
        assert _phones(settings.lake_root) == {1: "+1 555 0101", 2: "+1 555 0102"}

        _write(folder, "20261101-110000000.csv", NO_PHONE, now - 30)
        result = _run(defs, instance)
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        message = str(failure.event_specific_data.error)
        assert "DMS file 20261101-110000000.csv" in message
        assert "header lacks column(s) ['phone']" in message
        assert failure.step_key == "bronze__rds_customers_cdc"
        # nothing of the file was ingested, and silver keeps the stored phone numbers
        bronze = read_table(f"{settings.lake_root}/bronze/rds_customers_cdc", columns=["_dms_file"])
        assert set(bronze.column("_dms_file").to_pylist()) == {"LOAD00000001.csv"}
        assert _phones(settings.lake_root) == {1: "+1 555 0101", 2: "+1 555 0102"}
