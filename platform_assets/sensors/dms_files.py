"""Notice DMS files the bronze table has not processed yet and request an ingest-and-apply run.

The comparison is between the landing prefix and the processed files committed with the bronze
rows (``sources/dms/discovery.py``: identities within a look-back window), not a cursor of its own:
the table is the truth, so a file landing late with an older timestamp, two files in the same
second, or a backlog larger than one run are all still pending until a run has read them. The run
key and the cursor name the pending set, so each set is requested once; a run reads from the
table's position, so overlapping requests still ingest each change exactly once.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.lake.positions import committed_positions
from platform_assets.lake.resource import LakeResource
from platform_assets.sources.dms.discovery import ProcessedFiles, identity, position_key
from platform_assets.sources.dms.reader import list_new_files
from platform_assets.sources.dms.resource import DmsLandingResource

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def build_dms_files_sensor(
    job: UnresolvedAssetJobDefinition, schema: str, table: str, name: str, dataset: str
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests a run when AWS DMS files for {schema}.{table} are not yet in {dataset}.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, dms_landing: DmsLandingResource, lake: LakeResource
    ) -> dg.SensorResult | dg.SkipReason:
        stored = committed_positions(lake.lake.uri(dataset), lake.lake.storage_options)
        processed = ProcessedFiles.from_json(stored.get(position_key(schema, table)))
        files = list_new_files("", processed, dms_landing.table_store(schema, table))
        if not files:
            return dg.SkipReason(f"no DMS file for {schema}.{table} that {dataset} has not processed")
        described = "\n".join(f"{i.name}|{i.size}|{i.etag}" for i in sorted(map(identity, files)))
        digest = hashlib.sha256(described.encode()).hexdigest()[:20]
        if digest == context.cursor:
            return dg.SkipReason(f"{len(files)} pending DMS file(s) for {schema}.{table} already requested")
        request = dg.RunRequest(
            run_key=f"dms:{schema}.{table}:{digest}",
            partition_key=datetime.now(UTC).date().isoformat(),  # changes land in today's ingestion day
            tags={"platform/trigger": name, "platform/files": str(len(files))},
        )
        return dg.SensorResult(run_requests=[request], cursor=digest)

    return _sensor
