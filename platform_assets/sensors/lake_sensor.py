"""The platform's sensors that read the lake: running from the start, bound to the ``lake`` resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

from platform_assets.lake.location import Lake
from platform_assets.lake.resource import LakeResource

Evaluation = Callable[[dg.SensorEvaluationContext, Lake], Any]


def lake_sensor(
    name: str,
    description: str,
    minimum_interval_seconds: int = 60,
    job: dg.UnresolvedAssetJobDefinition | dg.JobDefinition | None = None,
) -> Callable[[Evaluation], dg.SensorDefinition]:
    """``@lake_sensor(...)`` over ``fn(context, lake)``: a sensor running by default, on the lake resource."""

    def decorate(evaluate: Evaluation) -> dg.SensorDefinition:
        @dg.sensor(
            name=name,
            job=job,
            minimum_interval_seconds=minimum_interval_seconds,
            default_status=dg.DefaultSensorStatus.RUNNING,
            required_resource_keys={"lake"},
            description=description,
        )
        def _sensor(context: dg.SensorEvaluationContext):
            lake_resource: LakeResource = context.resources.lake
            return evaluate(context, lake_resource.lake)

        return _sensor

    return decorate
