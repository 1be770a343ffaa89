"""A step under PLATFORM_ENGINE=emr_serverless: submit the engine work as a job run, report what it did.

The step does no Spark work itself: ``submit_job`` starts an EMR Serverless job run of
``platform_assets/emr_job.py`` through dagster-aws Pipes (``engine/emr_serverless.py``), with the asset's
kind (``spark``: a transform and the publish gate; ``change_apply``: a silver change apply), the dataset
(the asset key), the partitions and whatever else the step read from the Dagster instance as Pipes
extras. The job runs the same engine code as the in-process step and reports its outcome and one check
result per contract rule through Pipes; the step turns them into the materialization (with the
platform's standard table metadata, read from the lake with delta-rs, and the write audited as for the
in-process step) and the check results. ``run_as_emr_serverless_job`` is the Spark assets' step; the
change apply's is in layers/silver/change_apply_asset.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.lake.location import Lake
from platform_assets.layers.materialization import record_commit
from platform_assets.quality.check_events import gate_observations

# what the job reports in its materialization (platform_assets/emr_job.py)
PUBLISHED_ROWS = "published_rows"
BLOCKED_PARTITIONS = "blocked_partitions"
ROWS_BY_PARTITION = "rows_by_partition"
# partition -> the critical rules that held it at the gate (quality/check_events.py: held_at_gate); the
# step turns it into the in-process step's observations and leaves it out of the materialization
HELD_AT_GATE = "held_at_gate"


def _raw(value: Any) -> Any:
    return value.value if isinstance(value, dg.MetadataValue) else value


@dataclass
class JobReport:
    """What a job run reported: its materialization's values (raw), the metadata to merge into the
    step's materialization (the job's, plus the job run's id and dashboard), its check results, and
    an observation per partition held at the gate (yielded after the checks, as in-process)."""

    reported: dict[str, Any]
    metadata: dict[str, Any]
    checks: list[dg.AssetCheckResult]
    held: list[dg.AssetObservation]

    @property
    def results(self) -> list[dg.AssetCheckResult | dg.AssetObservation]:
        return [*self.checks, *self.held]


def submit_job(
    context: dg.AssetExecutionContext,
    contract: Contract,
    lake: Lake,
    kind: str,
    partitions: list[date] | None,
    extras: dict[str, Any] | None = None,
) -> JobReport:
    """Run the asset's engine work (``kind``: what platform_assets/emr_job.py dispatches on) as a job
    run and wait for its report; ``extras`` carry what the step knows and the job needs."""
    # imported here: boto3 and dagster-aws are only needed when a step submits (code-location start-up)
    from platform_assets.engine.emr_serverless import job_environment, pipes_client, start_job_run_params

    engine = context.resources.spark
    params = start_job_run_params(
        application_id=engine.emr_application_id,
        execution_role_arn=engine.emr_execution_role_arn,
        entry_point=engine.emr_entry_point,
        name=f"{contract.dataset}:{context.run.run_id}",
        env=job_environment(lake.root, lake.storage_options),
        submit_parameters=engine.emr_submit_parameters,
        log_group=engine.emr_log_group,
    )
    extras = {
        "kind": kind,
        "dataset": contract.dataset,
        "partitions": [d.isoformat() for d in partitions] if partitions is not None else None,
        "run_id": context.run.run_id,
        "attempt": int(getattr(context, "retry_number", 0)) + 1,
        **(extras or {}),
    }
    invocation = pipes_client().run(context=context, start_job_run_params=params, extras=extras)
    results = invocation.get_results()
    materialized = [r for r in results if isinstance(r, dg.MaterializeResult)]
    if len(materialized) != 1:
        raise dg.Failure(
            f"{contract.dataset}: the EMR Serverless job reported {len(materialized)} materializations, "
            "expected one (see the job's logs above)"
        )
    metadata = dict(materialized[0].metadata or {})
    held = _raw(metadata.pop(HELD_AT_GATE, None)) or {}
    return JobReport(
        reported={k: _raw(v) for k, v in metadata.items()},
        metadata=metadata | dict(invocation.metadata),
        checks=[r for r in results if isinstance(r, dg.AssetCheckResult)],
        held=gate_observations(context.asset_key, contract, held),
    )


def run_as_emr_serverless_job(
    context: dg.AssetExecutionContext, contract: Contract, lake: Lake, partitions: list[date] | None
) -> Iterator[Any]:
    """A Spark asset's step: the transform and the publish gate as a job run."""
    job = submit_job(context, contract, lake, "spark", partitions)
    reported = job.reported
    blocked = reported.get(BLOCKED_PARTITIONS) or []
    by_partition: dict[str, int] = reported.get(ROWS_BY_PARTITION) or {}
    if not blocked:
        yield dg.MaterializeResult(
            metadata=record_commit(
                context, contract, lake, int(reported.get(PUBLISHED_ROWS, 0)), job.metadata
            )
        )
    else:  # as in-process: record exactly the published partitions, no output for downstream
        for partition, rows in by_partition.items():
            yield dg.AssetMaterialization(
                asset_key=context.asset_key,
                partition=partition,
                metadata=record_commit(context, contract, lake, rows, job.metadata, partition=partition),
            )
    yield from job.results
