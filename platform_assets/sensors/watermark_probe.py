"""Watermark-probe sensors: ask a watermark source whether anything exists after the committed watermark.

The committed watermark is the one stored in the bronze table with the rows (``lake.positions``), never
the sensor's own bookkeeping, so a run that failed before its commit is requested again. The probe
returns, per position, the watermark the source would advance to; when it moved, the sensor requests one
run for today's UTC ingestion day with a run key naming that arrival (newest timestamp and a digest of
the keys at it), so each arrival is requested once. The cursor (stored by Dagster, so it survives
restarts) holds the newest watermarks already requested: a second tick before the run commits skips.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.lake.location import Lake
from platform_assets.lake.positions import committed_positions
from platform_assets.sources.watermark import Watermark

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

# (sensor context, {position key: committed watermark or None}) -> {position key: newest watermark}
# for the positions where the source holds something after the committed watermark
Probe = Callable[[dg.SensorEvaluationContext, dict[str, Watermark | None]], dict[str, Watermark]]


def committed_watermarks(lake: Lake, datasets: dict[str, str]) -> dict[str, Watermark | None]:
    """{position key: watermark} from the bronze tables ({position key: bronze dataset})."""
    out: dict[str, Watermark | None] = {}
    for key, dataset in datasets.items():
        raw = committed_positions(lake.uri(dataset), lake.storage_options).get(key)
        out[key] = Watermark.from_json(raw) if raw else None
    return out


def arrival_run_key(name: str, newest: dict[str, Watermark]) -> str:
    described = json.dumps({k: w.to_json() for k, w in newest.items()}, sort_keys=True)
    digest = hashlib.sha256(described.encode()).hexdigest()[:12]
    stamps = ";".join(f"{k}@{w.timestamp.isoformat()}" for k, w in sorted(newest.items()))
    return f"{name}:{stamps}:{digest}"


def build_watermark_probe_sensor(
    name: str,
    job: UnresolvedAssetJobDefinition,
    datasets: dict[str, str],
    source_resource_key: str,
    probe: Probe,
    description: str,
    minimum_interval_seconds: int = 300,
) -> dg.SensorDefinition:
    """``datasets``: position key -> the bronze dataset that commits it."""

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
        required_resource_keys={"lake", source_resource_key},
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        committed = committed_watermarks(context.resources.lake.lake, datasets)
        newest = probe(context, committed)
        if not newest:
            return dg.SkipReason(f"{name}: nothing new after the committed watermarks")
        requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        if all(requested.get(k) == w.to_json() for k, w in newest.items()):
            return dg.SkipReason(f"{name}: the newest arrival is already requested; waiting for its run")
        request = dg.RunRequest(
            run_key=arrival_run_key(name, newest),
            partition_key=datetime.now(UTC).date().isoformat(),  # changes land in today's ingestion day
            tags={"platform/trigger": name, "platform/positions": ",".join(sorted(newest))},
        )
        cursor = {**requested, **{k: w.to_json() for k, w in newest.items()}}
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(cursor, sort_keys=True))

    return _sensor
