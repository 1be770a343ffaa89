"""The EMR Serverless job's entry point: one Spark-asset transform under Dagster Pipes.

``PLATFORM_ENGINE=emr_serverless`` (layers/emr_asset.py) starts a job run of this file. Inside the job
(the Spark driver) it opens the Pipes session from the environment the Pipes client injected, takes the
dataset from the asset key and the partitions from the Pipes extras, runs the dataset's transform and the
publish gate exactly as the in-process step does, and reports back through Pipes: logs, one check result
per contract rule, and the materialization (published rows, per partition, gate outcome, engine).
Messages go to stdout, which EMR Serverless ships to CloudWatch, where the Pipes client reads them.

The driver's Spark session is the one spark-submit configured (Delta and the lake's s3a settings in
``sparkSubmitParameters``); ``PLATFORM_JOB_ENGINE`` (sail, local, connect) picks another one, for
running the job outside EMR. Run as ``python -m platform_assets.emr_job`` or as the uploaded file.
"""

from __future__ import annotations

import os
import sys
import time
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


def _session(engine: str | None) -> Any:
    if not engine:  # the driver spark-submit started, configured by the job's sparkSubmitParameters
        from pyspark.sql import SparkSession

        return SparkSession.builder.getOrCreate()
    from platform_assets.engine.spark_resource import SparkEngine
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env({**os.environ, "PLATFORM_ENGINE": engine})
    return SparkEngine.from_settings(settings).get_session()


def run(pipes: PipesContext) -> None:
    from platform_assets.definitions import build_definitions
    from platform_assets.lake.location import Lake
    from platform_assets.layers.emr_asset import BLOCKED_PARTITIONS, PUBLISHED_ROWS, ROWS_BY_PARTITION
    from platform_assets.layers.spark_asset import TRANSFORMS, TransformInputs
    from platform_assets.quality.checks import check_result
    from platform_assets.quality.gate import publish_with_gate
    from platform_assets.settings import PlatformSettings

    dataset = pipes.asset_key  # "gold/dim_currency": the asset key is the dataset
    if pipes.get_extra("dataset") != dataset:
        raise ValueError(f"asset {dataset} was submitted for dataset {pipes.get_extra('dataset')}")
    labels = pipes.get_extra("partitions")
    partitions = [date.fromisoformat(d) for d in labels] if labels is not None else None
    # the transforms register as their assets are built; this job never runs an orchestrator engine
    settings = PlatformSettings.from_env({**os.environ, "PLATFORM_ENGINE": "sail"})
    definitions = build_definitions(settings)
    del definitions
    contract = _contract(dataset)
    lake = Lake(settings.lake_root, settings.storage_options)
    started = time.monotonic()
    pipes.log.info(f"{dataset}: transform for {labels if labels is not None else 'the whole table'}")
    spark = _session(os.environ.get(JOB_ENGINE_ENV) or None)
    candidate = TRANSFORMS[dataset](TransformInputs(spark, lake, partitions))
    outcome = publish_with_gate(candidate, contract, lake, partitions, pipes.get_extra("run_id"))
    seconds = round(time.monotonic() - started, 3)
    pipes.log.info(
        f"{dataset}: {outcome.published_rows} row(s) published in {outcome.published_partitions or 'the table'}"
        f", blocked {outcome.blocked_partitions}, {outcome.quarantined_rows} quarantined ({seconds} s)"
    )
    for rule_outcome in outcome.report.outcomes:
        result = check_result(rule_outcome)
        pipes.report_asset_check(
            check_name=result.check_name,
            passed=result.passed,
            severity=result.severity.value,
            metadata={k: _pipes_value(v) for k, v in result.metadata.items()},
        )
    pipes.report_asset_materialization(
        metadata={
            PUBLISHED_ROWS: outcome.published_rows,
            ROWS_BY_PARTITION: {"raw_value": outcome.published_rows_by_partition, "type": "json"},
            "published_partitions": {"raw_value": outcome.published_partitions, "type": "json"},
            BLOCKED_PARTITIONS: {"raw_value": outcome.blocked_partitions, "type": "json"},
            "quarantined_rows": outcome.quarantined_rows,
            "job_seconds": seconds,
            "job_engine": os.environ.get(JOB_ENGINE_ENV) or "emr_serverless",
        }
    )


def _contract(dataset: str) -> Any:
    from platform_assets.contracts import load_contracts

    return load_contracts()[dataset]


def main() -> int:
    with open_dagster_pipes() as pipes:
        run(pipes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
