"""The EMR Serverless job's entry point: one asset's engine work under Dagster Pipes.

``PLATFORM_ENGINE=emr_serverless`` (layers/emr_asset.py) starts a job run of this file. Inside the job
(the Spark driver) it opens the Pipes session from the environment the Pipes client injected, takes the
dataset from the asset key and the asset's kind, the partitions and the step's inputs from the Pipes
extras, and runs the same code as the in-process step: a Spark asset's transform and publish gate
(``spark``), or a silver change apply from the step's reading plan (``change_apply``: feed, rules, gate,
apply). It records the rule evaluations in ops/quality_results and reports back through Pipes: logs, one
check result per contract rule, and the materialization (what the step needs to record it: rows, per
partition, gate outcome, and for a change apply ``applied_through``; the job's engine and seconds).
Messages go to stdout, which EMR Serverless ships to CloudWatch, where the Pipes client reads them.

The driver's Spark session is the one spark-submit configured (Delta and the lake's s3a settings in
``sparkSubmitParameters``); ``PLATFORM_JOB_ENGINE`` (sail, local, connect) picks another one, for
running the job outside EMR. Run as ``python -m platform_assets.emr_job`` or as the uploaded file.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
from dagster_pipes import PipesContext, open_dagster_pipes

JOB_ENGINE_ENV = "PLATFORM_JOB_ENGINE"


def _pipes_value(value: Any) -> Any:
    """A Dagster metadata value as Pipes carries it (raw, or raw plus its type)."""
    if isinstance(value, dg.JsonMetadataValue):
        return {"raw_value": value.data, "type": "json"}
    if isinstance(value, dg.MetadataValue):
        return value.value
    return value


def _environment() -> dict[str, str]:
    from platform_assets.engine.emr_serverless import settings_environment

    return settings_environment(os.environ)


def _session(engine: str | None) -> Any:
    if not engine:  # the driver spark-submit started, configured by the job's sparkSubmitParameters
        from pyspark.sql import SparkSession

        from platform_assets.engine.spark_resource import PARQUET_TIMESTAMPS

        return SparkSession.builder.config(*PARQUET_TIMESTAMPS).getOrCreate()
    from platform_assets.engine.spark_resource import SparkEngine
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env({**_environment(), "PLATFORM_ENGINE": engine})
    return SparkEngine.from_settings(settings).get_session()


def run(pipes: PipesContext) -> None:
    from platform_assets.definitions import build_definitions
    from platform_assets.settings import PlatformSettings

    dataset = pipes.asset_key  # "gold/dim_currency": the asset key is the dataset
    if pipes.get_extra("dataset") != dataset:
        raise ValueError(f"asset {dataset} was submitted for dataset {pipes.get_extra('dataset')}")
    kind = pipes.get_extra("kind")
    if kind not in KINDS:
        raise ValueError(f"{dataset}: unknown asset kind {kind!r} (one of {', '.join(KINDS)})")
    labels = pipes.get_extra("partitions")
    partitions = [date.fromisoformat(d) for d in labels] if labels is not None else None
    # the assets' engine work registers as they are built; this job never runs an orchestrator engine
    settings = PlatformSettings.from_env({**_environment(), "PLATFORM_ENGINE": "sail"})
    definitions = build_definitions(settings)
    del definitions
    lake = settings.lake
    job = Job(pipes, dataset, _contract(dataset), lake, partitions)
    started = time.monotonic()
    pipes.log.info(f"{dataset}: {kind} for {labels if labels is not None else 'the whole table'}")
    spark = _session(os.environ.get(JOB_ENGINE_ENV) or None)
    metadata = KINDS[kind](job, spark)
    pipes.report_asset_materialization(
        metadata={k: _pipes_value(v) for k, v in metadata.items()}
        | {
            "job_seconds": round(time.monotonic() - started, 3),
            "job_engine": os.environ.get(JOB_ENGINE_ENV) or "emr_serverless",
        }
    )


@dataclass
class Job:
    """What every kind of asset work gets: the Pipes session, the dataset, its contract, the lake."""

    pipes: PipesContext
    dataset: str
    contract: Any
    lake: Any
    partitions: list[date] | None

    @property
    def run_id(self) -> str:
        return self.pipes.get_extra("run_id")

    def report_quality(self, report: Any, blocked: Iterable[str]) -> dict[str, Any]:
        """One check result per contract rule, and the rows of ops/quality_results, as the step would;
        returns what the materialization adds: the rules that held each blocked partition."""
        from platform_assets.layers.emr_asset import HELD_AT_GATE
        from platform_assets.quality.check_events import held_at_gate, rule_evaluations
        from platform_assets.quality.results import evaluations, write_evaluations

        key = dg.AssetKey(self.dataset.split("/"))
        for result in rule_evaluations(key, self.contract, report, self.partitions):
            self.pipes.report_asset_check(
                check_name=result.check_name,
                passed=result.passed,
                severity=result.severity.value,
                metadata={k: _pipes_value(v) for k, v in result.metadata.items()},
            )
        attempt = int(self.pipes.get_extra("attempt"))
        rows = evaluations(self.contract, report, blocked, self.run_id, attempt)
        write_evaluations(self.lake, rows, self.run_id, self.dataset, attempt)
        held = held_at_gate(report, blocked) if self.partitions is not None else {}
        return {HELD_AT_GATE: dg.MetadataValue.json(held)}


def _spark_asset(job: Job, spark: Any) -> dict[str, Any]:
    """A Spark asset (layers/spark_asset.py): the transform and the publish gate."""
    from platform_assets.layers.emr_asset import BLOCKED_PARTITIONS, PUBLISHED_ROWS, ROWS_BY_PARTITION
    from platform_assets.layers.spark_asset import TRANSFORMS, TransformInputs
    from platform_assets.quality.gate import publish_with_gate

    candidate = TRANSFORMS[job.dataset](TransformInputs(spark, job.lake, job.partitions))
    outcome = publish_with_gate(candidate, job.contract, job.lake, job.partitions, job.run_id)
    job.pipes.log.info(
        f"{job.dataset}: {outcome.published_rows} row(s) published in "
        f"{outcome.published_partitions or 'the table'}, blocked {outcome.blocked_partitions}, "
        f"{outcome.quarantined_rows} quarantined"
    )
    held = job.report_quality(outcome.report, outcome.blocked_partitions)
    return held | {
        PUBLISHED_ROWS: outcome.published_rows,
        ROWS_BY_PARTITION: dg.MetadataValue.json(outcome.published_rows_by_partition),
        "published_partitions": dg.MetadataValue.json(outcome.published_partitions),
        BLOCKED_PARTITIONS: dg.MetadataValue.json(outcome.blocked_partitions),
        "quarantined_rows": outcome.quarantined_rows,
    }


def _change_apply(job: Job, spark: Any) -> dict[str, Any]:
    """A silver change apply (layers/silver/change_apply_asset.py), from the step's reading plan."""
    from platform_assets.layers.silver.change_apply_asset import (
        CHANGE_APPLIES,
        apply_changes,
        job_report,
        plan_from_extras,
    )

    plan = plan_from_extras(job.pipes.get_extra("plan"))
    outcome = apply_changes(
        CHANGE_APPLIES[job.dataset], spark, job.lake, job.partitions, plan, job.run_id, job.pipes.log
    )
    applied = outcome.applied
    job.pipes.log.info(
        f"{job.dataset}: "
        + (
            f"{applied.summary['changes_applied']} change(s) applied, {applied.rows} row(s)"
            if applied
            else "nothing applied"
        )
        + f", blocked {sorted(outcome.blocked)}"
    )
    return job.report_quality(outcome.report, outcome.blocked) | job_report(outcome)


KINDS: dict[str, Callable[[Job, Any], dict[str, Any]]] = {
    "spark": _spark_asset,
    "change_apply": _change_apply,
}


def _contract(dataset: str) -> Any:
    from platform_assets.contracts import load_contracts

    return load_contracts()[dataset]


def main() -> int:
    with open_dagster_pipes() as pipes:
        run(pipes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
