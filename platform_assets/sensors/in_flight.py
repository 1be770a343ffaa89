"""Is a run of a job queued or running? A sensor that compares a source with the lake's positions asks
before requesting: until that run commits, the lake's positions lag and every tick would request the
same messages again (each such run reads from the committed positions, so it is correct but wasted)."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.dagster_run import RunsFilter

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def run_in_flight(context: dg.SensorEvaluationContext, job_name: str) -> str | None:
    """The id of a queued or running run of ``job_name``, if any (None without an instance)."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a sensor context built without an instance (unit tests)
        return None
    records = instance.get_run_records(RunsFilter(job_name=job_name, statuses=IN_FLIGHT), limit=1)
    return records[0].dagster_run.run_id if records else None
