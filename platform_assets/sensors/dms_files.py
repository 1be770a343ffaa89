"""Notice new DMS files in the landing prefix and request an ingest-and-apply run.

The cursor is the newest file seen, as (last_modified, name): a file rewritten or landing late with
an older name is still noticed (a key-name cursor would miss it). The run key names that file, so
each arrival is requested once; the run itself reads from the position stored in the bronze table,
so even a request covering several files ingests each change exactly once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.sources.dms.reader import list_new_files
from platform_assets.sources.dms.resource import DmsLandingResource

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def build_dms_files_sensor(
    job: UnresolvedAssetJobDefinition, schema: str, table: str, name: str
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests a run when AWS DMS lands new files for {schema}.{table} (cursor: last-modified).",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, dms_landing: DmsLandingResource
    ) -> dg.SensorResult | dg.SkipReason:
        stored = json.loads(context.cursor) if context.cursor else None
        after = (datetime.fromisoformat(stored[0]), stored[1]) if stored else None
        files = list_new_files(dms_landing.table_prefix(schema, table), after)
        if not files:
            return dg.SkipReason(f"no DMS file for {schema}.{table} after {after}")
        newest = max(files, key=lambda f: f.position)
        request = dg.RunRequest(
            run_key=f"dms:{schema}.{table}:{newest.name}:{newest.last_modified.isoformat()}",
            partition_key=datetime.now(UTC).date().isoformat(),  # changes land in today's ingestion day
            tags={"platform/trigger": name, "platform/files": str(len(files))},
        )
        cursor = json.dumps([newest.last_modified.isoformat(), newest.name])
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return _sensor
