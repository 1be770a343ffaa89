"""Evaluate a sensor as the daemon does (its cursor kept between ticks) and run its requests in-process.

The demo plays the sandbox sources through the platform's real sensors with it, and the tests drive
sensors the same way, so both go through the code the daemon would run. With ``origin`` (the code
location's repository origin) the ticks, the cursor and the runs are recorded in the instance as the
daemon records them (instance_sensor.py), so the UI shows them and the daemon resumes from them.
What a sensor logs (``context.log``) goes to the tick's captured log in the instance, as under the
daemon, and not to this process's console: the demo prints its own summary lines.
"""

from __future__ import annotations

import logging

import dagster as dg
from dagster._core.definitions.instigation_logger import InstigationLogger
from dagster._core.remote_origin import RemoteRepositoryOrigin

from platform_assets.operations.instance_sensor import SensorRecorder, execute_request

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # callers print their own lines


def _no_console() -> logging.Logger:
    """A logger that drops everything (Dagster's sensor logger always adds a console copy otherwise)."""
    logger = logging.Logger("platform_assets.sensor_console")
    logger.addHandler(logging.NullHandler())
    return logger


class SensorDriver:
    def __init__(
        self,
        defs: dg.Definitions,
        instance: dg.DagsterInstance,
        resources: dict,
        name: str,
        origin: RemoteRepositoryOrigin | None = None,
    ) -> None:
        self.defs, self.instance, self.resources = defs, instance, resources
        self.sensor = defs.resolve_sensor_def(name)
        self.recorder = SensorRecorder(instance, origin, self.sensor) if origin else None
        self.cursor: str | None = self.recorder.stored_cursor() if self.recorder else None

    def evaluate(self) -> dg.SensorExecutionData:
        """One tick; the cursor it returns is kept for the next one."""
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources=self.resources,
            repository_def=self.defs.get_repository_def(),
        )
        if self.recorder is None:
            with self._tick_log(context, None):
                tick = self.sensor.evaluate_tick(context)
            self.cursor = tick.cursor or self.cursor
            return tick
        self.recorder.start_tick()
        log_key = self.recorder.log_key()
        try:
            with self._tick_log(context, log_key) as logger:
                tick = self.sensor.evaluate_tick(context)
        except Exception:
            self.recorder.fail_tick()
            raise
        self.cursor = tick.cursor or self.cursor
        self.recorder.finish_tick(tick, self.cursor, log_key if logger.has_captured_logs() else None)
        return tick

    def _tick_log(self, context: dg.SensorEvaluationContext, log_key: list[str] | None) -> InstigationLogger:
        """``context.log`` for one tick: captured under ``log_key`` in the instance, nothing on the console."""
        logger = InstigationLogger(
            log_key,
            self.instance,
            repository_name=log_key[0] if log_key else None,
            instigator_name=self.sensor.name,
            console_logger=_no_console(),
        )
        context._logger = logger  # Dagster 1.13 has no public way to give a sensor context its logger
        return logger

    def execute(self, request: dg.RunRequest) -> dg.JobExecutionResult:
        """Run what the sensor asked for, in-process, tagged as the daemon would have launched it."""
        tags = {**request.tags, "dagster/sensor_name": self.sensor.name}
        if request.run_key:
            tags["dagster/run_key"] = request.run_key
        job = self.defs.resolve_job_def(self.sensor.job_name)
        if self.recorder is not None:
            result = self.recorder.execute(job, request, tags, QUIET)
        else:
            result = execute_request(self.instance, job, request, tags, QUIET)
        _raise_if_interrupted(result)
        return result


def _raise_if_interrupted(result: dg.JobExecutionResult) -> None:
    """Dagster turns Ctrl-C / SIGTERM during an in-process run into a failed step and returns; the
    command driving the sensor (the demo, the benchmark) stops there instead of going on to the next
    run, so what it started (services, a cluster topology) is stopped on the way out."""
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None) if event.is_step_failure else None
        if error is not None and error.cls_name == "DagsterExecutionInterruptedError":
            raise KeyboardInterrupt(f"run {result.run_id[:8]} interrupted at step {event.step_key}")
