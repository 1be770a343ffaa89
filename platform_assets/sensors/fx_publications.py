"""Notice new FX publications and request the partitions they touch.

The cursor is the highest publication sequence number seen, so restarts resume where they stopped.
All publications found in one tick go into one single-run range, from the earliest business date
they carry (a late publication reaches back) to the latest publication day: one run, ordered
bronze -> silver -> gold, with no two runs racing for the same partitions. The run key names the
sequence range, so each arrival is requested exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.layers.specs import RANGE_END, RANGE_START
from platform_assets.sources.errors import CircuitOpenError, SourceUnavailableError
from platform_assets.sources.fx_api.resource import FxApiResource

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def plan_fx_run(publications: Sequence[dict[str, Any]]) -> dg.RunRequest | None:
    """One range run covering every new publication (None when there is nothing new)."""
    if not publications:
        return None
    seqs = [int(p["seq"]) for p in publications]
    start = min(str(p["as_of_date"]) for p in publications)
    end = max(str(p["published_date"]) for p in publications)
    return dg.RunRequest(
        run_key=f"fx_publications:{min(seqs)}-{max(seqs)}",
        tags={
            RANGE_START: start,
            RANGE_END: max(start, end),
            "platform/trigger": "fx_publications_sensor",
            "platform/publications": str(len(publications)),
        },
    )


def build_fx_publications_sensor(job: UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name="fx_publications_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests the FX partitions touched by newly published rates (cursor: publication seq).",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, fx_api: FxApiResource
    ) -> dg.SensorResult | dg.SkipReason:
        since = int(context.cursor or 0)
        try:
            publications = fx_api.connector().list_publications(since)
        except (SourceUnavailableError, CircuitOpenError) as exc:
            return dg.SkipReason(f"FX API not reachable ({exc}); is the sandbox running (`sandbox start`)?")
        request = plan_fx_run(publications)
        if request is None:
            return dg.SkipReason(f"no publication after seq {since}")
        cursor = str(max(int(p["seq"]) for p in publications))
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return _sensor
