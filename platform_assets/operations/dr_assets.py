"""Dagster side of DR: ``ops/dr_replication`` (job ``dr``, every 15 minutes) and ``ops/dr_drills`` (weekly).

The replica root and the drill's scratch root come from the ``dr`` resource; the replica's storage
options (credentials on S3) are read at run time from the environment variable it names, so no secret
is part of the resource config. A drill over the seed's targets (RTO 4 h, RPO 1 h) or with a table that
fails validation raises an alert in ops/alerts.
"""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext
from pydantic import Field

from platform_assets.engine import SparkEngine
from platform_assets.lake.location import Lake
from platform_assets.layers.specs import ops_asset_kwargs
from platform_assets.operations.dr import replicate_lake
from platform_assets.operations.dr_drill import DrillReport, run_drill, spark_row_count
from platform_assets.sensors.alerts import Alert, record_alerts

DR_JOB, DRILL_JOB = "dr", "dr_drill"
REPLICATION_KEY = dg.AssetKey(["ops", "dr_replication"])
DRILLS_KEY = dg.AssetKey(["ops", "dr_drills"])


class DrResource(dg.ConfigurableResource):
    """Where the lake is replicated to and where a drill restores it."""

    replica_root: str = Field(description="second root: a folder, or s3://bucket/prefix on another endpoint")
    scratch_root: str = Field(description="local folder a drill restores the replica into (emptied first)")
    storage_options_env: str = Field(
        "PLATFORM_DR_STORAGE_OPTIONS",
        description="environment variable holding the replica's storage options",
    )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "DrResource":
        env = dict(os.environ if env is None else env)
        replica = env.get("PLATFORM_DR_ROOT", "").strip() or str(Path(".lake_replica").resolve())
        scratch = env.get("PLATFORM_DR_SCRATCH_ROOT", "").strip() or str(Path(".dr_scratch").resolve())
        return cls(replica_root=replica, scratch_root=scratch)

    @property
    def storage_options(self) -> dict[str, str]:
        raw = os.environ.get(self.storage_options_env, "") or "{}"
        return {str(k): str(v) for k, v in json.loads(raw).items()}

    def drill(self, lake: Lake, engine: SparkEngine, webhook: str | None) -> tuple[DrillReport, list[Alert]]:
        """Restore the replica into the scratch root, validate and measure it; alerts go to ops/alerts."""
        report = run_drill(
            lake.root,
            self.replica_root,
            self.scratch_root,
            source_options=lake.storage_options,
            replica_options=self.storage_options,
            engine_count=spark_row_count(engine.get_session()),
        )
        alerts = drill_alerts(report, datetime.now(UTC))
        record_alerts(lake, alerts, webhook)
        return report, alerts


def drill_alerts(report: DrillReport, now: datetime) -> list[Alert]:
    problems = []
    if report.rto_seconds > report.rto_target_seconds:
        problems.append(
            f"RTO {report.rto_seconds:.0f} s exceeds the target {report.rto_target_seconds:.0f} s"
        )
    if report.rpo_seconds > report.rpo_target_seconds:
        problems.append(
            f"RPO {report.rpo_seconds:.0f} s exceeds the target {report.rpo_target_seconds:.0f} s"
        )
    invalid = [d.table for d in report.details if not d.valid]
    if invalid:
        problems.append(f"restored tables failed validation: {', '.join(invalid)}")
    if not problems:
        return []
    return [Alert("dr", "ops/dr_drills", "ERROR", "FAIL", "DR drill: " + "; ".join(problems), now)]


@dg.asset(
    **ops_asset_kwargs(
        REPLICATION_KEY,
        "Incremental replication of every Delta table of the lake to the DR root: per table the new "
        "versions' data files, then their log entries. Records replicated version, lag and RPO per table.",
        kinds={"delta", "python"},
        resource_keys={"lake", "dr"},
        metadata={"rpo_target_seconds": 3600},
    )
)
def dr_replication(context: AssetExecutionContext) -> dg.MaterializeResult:
    lake = context.resources.lake.lake
    dr: DrResource = context.resources.dr
    outcomes = replicate_lake(lake.root, dr.replica_root, lake.storage_options, dr.storage_options)
    rows = [o.as_dict() for o in outcomes]
    return dg.MaterializeResult(
        metadata={
            "tables": len(rows),
            "files_copied": sum(o.files_copied for o in outcomes),
            "bytes_copied": sum(o.bytes_copied for o in outcomes),
            "max_rpo_seconds": max((o.rpo_seconds for o in outcomes), default=0.0),
            "replication": dg.MetadataValue.json(rows),
        }
    )


@dg.asset(
    **ops_asset_kwargs(
        DRILLS_KEY,
        "Weekly DR drill: restores the replica into a scratch root, validates row counts and content "
        "checksums against the source at the same version and reads every table with the engine, "
        "measures RTO and RPO, appends a report row to ops/dr_drills, alerts above 4 h / 1 h.",
        kinds={"delta", "python"},
        resource_keys={"lake", "dr", "spark"},
        metadata={"rto_target_seconds": 4 * 3600, "rpo_target_seconds": 3600},
        deps=[REPLICATION_KEY],
    )
)
def dr_drills(context: AssetExecutionContext) -> dg.MaterializeResult:
    lake = context.resources.lake.lake
    dr: DrResource = context.resources.dr
    engine: SparkEngine = context.resources.spark
    report, alerts = dr.drill(lake, engine, os.environ.get("PLATFORM_ALERTS_WEBHOOK") or None)
    for alert in alerts:
        context.log.error(alert.message)
    return dg.MaterializeResult(
        metadata={
            "rto_seconds": report.rto_seconds,
            "rpo_seconds": report.rpo_seconds,
            "tables": report.tables,
            "tables_valid": report.tables_valid,
            "passed": report.passed,
            "alerts": len(alerts),
        }
    )


def dr_definitions() -> dg.Definitions:
    replication_job = dg.define_asset_job(
        DR_JOB,
        selection=[REPLICATION_KEY],
        description="Replicates the lake to the DR root.",
        tags={"platform/dataset": "dr"},
    )
    drill_job = dg.define_asset_job(
        DRILL_JOB, selection=[DRILLS_KEY], description="The DR drill.", tags={"platform/dataset": "dr"}
    )
    return dg.Definitions(
        assets=[dr_replication, dr_drills],
        jobs=[replication_job, drill_job],
        schedules=[
            dg.ScheduleDefinition(
                job=replication_job, cron_schedule="*/15 * * * *", name="dr_every_15_minutes"
            ),
            dg.ScheduleDefinition(job=drill_job, cron_schedule="0 5 * * 0", name="dr_drill_weekly"),
        ],
        resources={"dr": DrResource.from_env()},
    )
