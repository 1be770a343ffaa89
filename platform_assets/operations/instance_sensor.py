"""A sensor's ticks and runs recorded in the Dagster instance as the daemon records them.

``SensorDriver`` (sensor_driver.py) evaluates a sensor in-process; with a ``SensorRecorder`` the
cursor is read from and stored in the instance's instigator state, every tick is stored (with the
runs it launched) and runs are created for the code location's job (its remote origin), so the UI
on that instance shows the history under the code location's jobs and sensors, and the daemon,
once started, resumes each sensor from its stored cursor instead of from the beginning.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.sensor_definition import SensorType
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.execution.execute_in_process import merge_run_tags
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorTick,
    InstigatorType,
    SensorInstigatorData,
    TickData,
    TickStatus,
)
from dagster._core.snap import snapshot_from_execution_plan
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._utils.error import serializable_error_info_from_exc_info

WORKSPACE_FILE = Path(__file__).resolve().parents[2] / "workspace.yaml"
LOCATION_NAME = "platform_assets"


def workspace_repository_origin(
    repository_name: str, workspace: Path = WORKSPACE_FILE
) -> RemoteRepositoryOrigin:
    """The origin the UI and the daemon give the code location of ``workspace.yaml``."""
    origins = [
        o for o in WorkspaceFileTarget([str(workspace)]).create_origins() if o.location_name == LOCATION_NAME
    ]
    if len(origins) != 1:
        raise ValueError(f"{workspace} does not define the code location {LOCATION_NAME!r} once")
    return RemoteRepositoryOrigin(origins[0], repository_name)


def requested_subset(job: dg.JobDefinition, request: dg.RunRequest) -> dg.JobDefinition:
    """The part of ``job`` the daemon launches for ``request``: the assets it names and, when it
    names checks, only those (a request without ``asset_check_keys`` gets every check on its assets
    in the code location, including ones the job's own selection leaves out)."""
    if not request.asset_selection and request.asset_check_keys is None:
        return job
    checks = request.asset_check_keys
    return job.get_subset(
        asset_selection=frozenset(request.asset_selection or ()),
        asset_check_selection=frozenset(checks) if checks is not None else None,
    )


def execute_request(
    instance: dg.DagsterInstance,
    job_def: dg.JobDefinition,
    request: dg.RunRequest,
    tags: dict[str, str],
    run_config: dict,
    remote_job_origin: RemoteJobOrigin | None = None,
    on_created: Callable[[DagsterRun], None] | None = None,
) -> JobExecutionResult:
    """Run ``request`` in this process as the daemon launches it: a run of the job recording the
    request's asset and check selections, executed as the run worker does (the job subset by them)."""
    subset = requested_subset(job_def, request)
    plan = create_execution_plan(
        InMemoryJob(subset.as_ephemeral_job(resource_defs={}, input_values={})),
        run_config=run_config,
        instance_ref=instance.get_ref() if instance.is_persistent else None,
    )
    run_tags = merge_run_tags(subset, request.partition_key, tags, None, instance, run_config)
    checks = request.asset_check_keys
    run = instance.create_run(
        job_name=job_def.name,
        run_id=None,
        run_config=run_config,
        status=None,
        tags={**subset.run_tags, **run_tags},
        root_run_id=None,
        parent_run_id=None,
        step_keys_to_execute=plan.step_keys_to_execute,
        execution_plan_snapshot=snapshot_from_execution_plan(plan, subset.get_job_snapshot_id()),
        job_snapshot=subset.get_job_snapshot(),
        parent_job_snapshot=subset.get_parent_job_snapshot(),
        asset_selection=frozenset(request.asset_selection) if request.asset_selection else None,
        asset_check_selection=frozenset(checks) if checks is not None else None,
        resolved_op_selection=None,
        op_selection=None,
        remote_job_origin=remote_job_origin,
        job_code_origin=None,
        asset_graph=subset.asset_layer.asset_graph,
    )
    if on_created is not None:
        on_created(run)
    return execute_run(
        InMemoryJob(job_def.as_ephemeral_job(resource_defs={}, input_values={})), run, instance
    )


class SensorRecorder:
    """The instance's view of one sensor: its stored state, its ticks, the runs of its job."""

    def __init__(
        self, instance: dg.DagsterInstance, origin: RemoteRepositoryOrigin, sensor: dg.SensorDefinition
    ) -> None:
        self.instance, self.sensor = instance, sensor
        self.repository_origin = origin
        self.origin = origin.get_instigator_origin(sensor.name)
        self.origin_id, self.selector_id = self.origin.get_id(), self.origin.get_selector().get_id()
        self.tick: InstigatorTick | None = None

    def state(self) -> InstigatorState | None:
        return self.instance.get_instigator_state(self.origin_id, self.selector_id)

    def stored_cursor(self) -> str | None:
        state = self.state()
        return state.instigator_data.cursor if state and state.instigator_data else None

    def start_tick(self) -> None:
        self.tick = self.instance.create_tick(
            TickData(
                instigator_origin_id=self.origin_id,
                instigator_name=self.sensor.name,
                instigator_type=InstigatorType.SENSOR,
                status=TickStatus.STARTED,
                timestamp=time.time(),
                selector_id=self.selector_id,
            )
        )

    def log_key(self) -> list[str]:
        """Where the tick's log lines are captured: the key the daemon uses (repository, sensor, tick)."""
        return [self.repository_origin.repository_name, self.sensor.name, str(self._tick().tick_id)]

    def fail_tick(self) -> None:
        error = serializable_error_info_from_exc_info(sys.exc_info())
        self._update(self._tick().with_status(TickStatus.FAILURE, error=error))

    def finish_tick(
        self, data: dg.SensorExecutionData, cursor: str | None, log_key: list[str] | None = None
    ) -> None:
        """Close the tick (SKIPPED, or SUCCESS with runs to follow) and store the cursor.

        ``log_key``: where the tick's log lines were captured, if it logged (the UI shows them on it).
        """
        tick = self._tick().with_cursor(cursor)
        if log_key:
            tick = tick.with_log_key(log_key)
        if data.run_requests:
            tick = tick.with_status(TickStatus.SUCCESS)
        else:
            tick = tick.with_status(TickStatus.SKIPPED, skip_reason=data.skip_message)
        self._update(tick)
        for event in data.asset_events:  # observations a sensor reports without a run, as the daemon does
            self.instance.report_runless_asset_event(event)
        now = time.time()
        state = self.state()
        previous = (
            state.instigator_data
            if state and isinstance(state.instigator_data, SensorInstigatorData)
            else None
        )
        instigator_data = SensorInstigatorData(
            last_tick_timestamp=now,
            last_run_key=previous.last_run_key if previous else None,
            min_interval=self.sensor.minimum_interval_seconds,
            cursor=cursor,
            last_tick_start_timestamp=tick.timestamp,
            last_sensor_start_timestamp=previous.last_sensor_start_timestamp if previous else tick.timestamp,
            sensor_type=SensorType.STANDARD,
            last_tick_success_timestamp=now,
        )
        if state is None:
            running = self.sensor.default_status == dg.DefaultSensorStatus.RUNNING
            status = InstigatorStatus.DECLARED_IN_CODE if running else InstigatorStatus.STOPPED
            self.instance.add_instigator_state(
                InstigatorState(self.origin, InstigatorType.SENSOR, status, instigator_data)
            )
        else:
            self.instance.update_instigator_state(state.with_data(instigator_data))

    def execute(
        self, job_def: dg.JobDefinition, request: dg.RunRequest, tags: dict[str, str], run_config: dict
    ) -> JobExecutionResult:
        """The request as a run of the code location's job (or its subset), executed in this process."""
        origin = self.repository_origin.get_job_origin(job_def.name)
        return execute_request(
            self.instance, job_def, request, tags, run_config, origin,
            on_created=lambda run: self._update(self._tick().with_run_info(run.run_id, request.run_key)),
        )  # fmt: skip

    def _tick(self) -> InstigatorTick:
        if self.tick is None:
            raise RuntimeError(f"{self.sensor.name}: no tick started")
        return self.tick

    def _update(self, tick: InstigatorTick) -> None:
        self.tick = tick
        self.instance.update_tick(tick)
