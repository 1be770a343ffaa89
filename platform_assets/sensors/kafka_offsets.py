"""Request an ingest run when a Kafka topic holds messages after the offsets stored in a bronze table.

The comparison is between the topic's end offsets and the offsets committed with the bronze rows
(Delta app transactions), not the consumer group's: the table is the truth. The run key names the
offset range per partition, so each range is requested once; a run reads from the table's offsets,
so overlapping requests still ingest each message exactly once. While a run of the job is queued or
running the sensor waits for it (the next tick after it takes whatever arrived meanwhile), so a
continuous stream does not pile up one run per tick behind a slow one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.lake.positions import committed_offset
from platform_assets.lake.resource import LakeResource
from platform_assets.sensors.in_flight import run_in_flight
from platform_assets.sources.kafka.reader import end_offsets, pending_ranges, stored_offsets

if TYPE_CHECKING:
    from collections.abc import Callable

    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

    from platform_assets.sources.kafka.reader import KafkaTopic


def build_kafka_offsets_sensor(
    job: UnresolvedAssetJobDefinition,
    dataset: str,
    name: str,
    source_of: Callable[[dg.SensorEvaluationContext], KafkaTopic],
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"lake", "kafka_orders"},
        description=f"Requests a run when the topic has messages after the offsets stored in {dataset}.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        in_flight = run_in_flight(context, job.name)
        if in_flight is not None:
            return dg.SkipReason(f"run {in_flight} of {job.name} is queued or running; waiting for it")
        lake_resource: LakeResource = context.resources.lake
        lake = lake_resource.lake
        uri = lake.uri(dataset)
        source = source_of(context)
        marks = end_offsets(source)
        offset_of = lambda app_id: committed_offset(uri, app_id, lake.storage_options)  # noqa: E731
        ranges = pending_ranges(marks, stored_offsets(marks, source.topic, offset_of))
        if not ranges:
            return dg.SkipReason(f"{source.topic}: no message after the offsets stored in {dataset}")
        described = ",".join(f"{p}:{first}-{end - 1}" for p, (first, end) in sorted(ranges.items()))
        request = dg.RunRequest(
            run_key=f"kafka:{source.topic}:{described}",
            partition_key=datetime.now(UTC).date().isoformat(),  # messages land in today's ingestion day
            tags={"platform/trigger": name, "platform/lag": str(sum(e - f for f, e in ranges.values()))},
        )
        return dg.SensorResult(run_requests=[request])

    return _sensor
