"""Evaluate a sensor as the daemon does (its cursor kept between ticks) and run its requests in-process.

The demo plays the sandbox sources through the platform's real sensors with it, and the tests drive
sensors the same way, so both go through the code the daemon would run.
"""

from __future__ import annotations

import dagster as dg

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # callers print their own lines


class SensorDriver:
    def __init__(
        self, defs: dg.Definitions, instance: dg.DagsterInstance, resources: dict, name: str
    ) -> None:
        self.defs, self.instance, self.resources = defs, instance, resources
        self.sensor = defs.resolve_sensor_def(name)
        self.cursor: str | None = None

    def evaluate(self) -> dg.SensorExecutionData:
        """One tick; the cursor it returns is kept for the next one."""
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources=self.resources,
            repository_def=self.defs.get_repository_def(),
        )
        tick = self.sensor.evaluate_tick(context)
        self.cursor = tick.cursor or self.cursor
        return tick

    def execute(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        """Run what the sensor asked for, in-process, tagged as the daemon would have launched it."""
        tags = {**request.tags, "dagster/sensor_name": self.sensor.name}
        if request.run_key:
            tags["dagster/run_key"] = request.run_key
        return self.defs.resolve_job_def(self.sensor.job_name).execute_in_process(
            instance=self.instance,
            tags=tags,
            partition_key=request.partition_key,
            run_config=QUIET,
            raise_on_error=False,
        )
