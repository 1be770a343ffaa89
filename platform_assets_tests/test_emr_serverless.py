"""PLATFORM_ENGINE=emr_serverless: gold/dim_currency submitted as a job run through dagster-aws Pipes.

EMR Serverless cannot run on this machine, so the AWS side is moto's mock (``mock_aws``: EMR Serverless
and CloudWatch Logs) -- the one mock the rules allow, for a cloud service. Everything else is real: the
Dagster step runs ``PipesEMRServerlessClient`` unchanged; it starts the job run on moto and injects the
Pipes context into the driver's environment (``spark.emr-serverless.driverEnv.*`` in
``sparkSubmitParameters``). moto does not execute jobs, so the test plays EMR's part: when the job run
starts (a botocore ``after-call`` hook) it runs the package's entry point (``python -m
platform_assets.emr_job``) with exactly the driver environment the client submitted, on Sail, and ships
the entry point's stdout to the driver's CloudWatch stream, as EMR Serverless does. The Pipes client
then reads the job's logs, check results and materialization metadata back from CloudWatch (moto).
moto lacks ``GetDashboardForJobRun``, which the client calls on completion; a ``before-call`` hook
answers it with a fixed URL.

The materialization must carry what the entry point reported (rows, gate outcome, job engine) and the
job run's id, and the table the job wrote must equal the in-process (Sail) run's.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import dagster as dg
import pytest
from deltalake import write_deltalake
from moto import mock_aws

from platform_assets.contracts import load_contracts
from platform_assets.engine import delta_io
from platform_assets.engine.spark_resource import SparkEngine
from platform_assets.lake.location import Lake
from platform_assets.lake.resource import LakeResource
from platform_assets.layers.gold import dim_currency
from platform_assets.layers.silver.fx_rates import conform_fx_rates
from platform_assets.layers.spark_asset import TRANSFORMS, TransformInputs
from platform_assets.operations.checksum import table_checksum
from platform_assets.quality.gate import publish_with_gate
from platform_assets_tests.test_engine_local_spark import AS_OF_DATES, _bronze_table

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/platform-emr-job"
ENTRY_POINT = "s3://platform-artifacts/emr/emr_job.py"
LOG_GROUP = "/aws/emr-serverless"
DATASET = "gold/dim_currency"
DRIVER_ENV = "--conf spark.emr-serverless.driverEnv."


def _driver_env(submit_parameters: str) -> dict[str, str]:
    words = shlex.split(submit_parameters)
    confs = [words[i + 1] for i, w in enumerate(words) if w == "--conf"]
    prefix = DRIVER_ENV.split(" ", 1)[1]
    return dict(c[len(prefix) :].split("=", 1) for c in confs if c.startswith(prefix))


class EmrServerlessStandIn:
    """Runs the entry point when moto accepts a job run, and ships its stdout to CloudWatch (moto)."""

    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []
        self.job_stderr = ""

    def install(self, session: boto3.Session) -> None:
        events = session.events
        events.register("provide-client-params.emr-serverless.StartJobRun", self._capture)
        events.register("after-call.emr-serverless.StartJobRun", self._run_job)
        events.register("before-call.emr-serverless.GetDashboardForJobRun", self._dashboard)

    def _capture(self, params: dict[str, Any], **_: Any) -> None:
        self.submitted.append(params)

    def _dashboard(self, **_: Any) -> tuple[Any, dict[str, str]]:
        return SimpleNamespace(status_code=200, headers={}), {"url": "https://dashboard.invalid/job"}

    def _run_job(self, parsed: dict[str, Any], **_: Any) -> None:
        params = self.submitted[-1]
        spark_submit = params["jobDriver"]["sparkSubmit"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_PIPES", "PLATFORM_"))}
        env |= _driver_env(spark_submit["sparkSubmitParameters"]) | {"PLATFORM_JOB_ENGINE": "sail"}
        job = subprocess.run(
            [sys.executable, "-m", "platform_assets.emr_job"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.job_stderr = job.stderr
        assert job.returncode == 0, job.stderr[-3000:]
        logs = boto3.client("logs", region_name=REGION)
        stream = f"/applications/{parsed['applicationId']}/jobs/{parsed['jobRunId']}/SPARK_DRIVER"
        for name, text in (("stdout", job.stdout), ("stderr", job.stderr)):
            logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=f"{stream}/{name}")
            lines = [line for line in text.splitlines() if line.strip()][-5000:]
            now = int(time.time() * 1000)
            if lines:
                logs.put_log_events(
                    logGroupName=LOG_GROUP,
                    logStreamName=f"{stream}/{name}",
                    logEvents=[{"timestamp": now, "message": line} for line in lines],
                )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        boto3.setup_default_session(region_name=REGION)
        stand_in = EmrServerlessStandIn()
        stand_in.install(boto3.DEFAULT_SESSION)
        try:
            yield stand_in
        finally:
            boto3.DEFAULT_SESSION = None


def test_a_transform_runs_as_an_emr_serverless_job_and_reports_back_through_pipes(
    aws: EmrServerlessStandIn, tmp_path: Path
) -> None:
    emr = boto3.client("emr-serverless")
    app_id = emr.create_application(name="platform", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
    boto3.client("logs").create_log_group(logGroupName=LOG_GROUP)
    lakes = {name: Lake(str(tmp_path / name)) for name in ("emr", "in_process")}
    contracts = load_contracts()
    spark = SparkEngine(engine="sail").get_session()
    for lake in lakes.values():  # the input: silver/fx_rates of AS_OF_DATES, published in-process
        write_deltalake(lake.uri("bronze/fx_rates"), _bronze_table(), partition_by=["_proc_date"])
        silver = conform_fx_rates(delta_io.read_delta(spark, lake.uri("bronze/fx_rates")), AS_OF_DATES)
        publish_with_gate(silver, contracts["silver/fx_rates"], lake, AS_OF_DATES, run_id="input")
    engine = SparkEngine(
        engine="emr_serverless",
        emr_application_id=app_id,
        emr_execution_role_arn=ROLE,
        emr_entry_point=ENTRY_POINT,
        emr_submit_parameters="--conf spark.archives=s3://platform-artifacts/emr/venv.tar.gz#environment",
    )
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [dim_currency.build(contracts)],
        instance=instance,
        resources={"lake": LakeResource(root=lakes["emr"].root), "spark": engine},
        raise_on_error=False,
    )
    assert result.success, aws.job_stderr[-3000:]

    # the submission: one job run of the package's entry point, with the Pipes context and the lake
    (run,) = emr.list_job_runs(applicationId=app_id)["jobRuns"]
    job = emr.get_job_run(applicationId=app_id, jobRunId=run["id"])["jobRun"]
    submit = job["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"] == ENTRY_POINT
    driver_env = _driver_env(submit["sparkSubmitParameters"])
    assert {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES", "PLATFORM_LAKE_ROOT"} <= set(driver_env)
    assert driver_env["PLATFORM_LAKE_ROOT"] == lakes["emr"].root
    assert (
        "spark.archives=s3://platform-artifacts/emr/venv.tar.gz#environment"
        in submit["sparkSubmitParameters"]
    )
    assert "AWS_SECRET_ACCESS_KEY" not in submit["sparkSubmitParameters"]
    assert job["executionRole"] == ROLE and job["tags"]["dagster/run-id"] == result.run_id

    # the round trip: what the entry point reported is on the materialization and the checks
    (materialization,) = result.asset_materializations_for_node(result.all_node_events[0].node_name)
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    in_process = _in_process(lakes["in_process"], contracts)
    assert metadata["published_rows"] == in_process.published_rows == 4  # EUR, GBP, JPY, unknown (-1)
    assert metadata["dagster/row_count"] == 4
    assert metadata["blocked_partitions"] == [] and metadata["quarantined_rows"] == 0
    assert metadata["job_engine"] == "sail" and metadata["job_seconds"] > 0
    assert metadata["AWS EMR Serverless Job Run ID"] == run["id"]
    checks = result.get_asset_check_evaluations()
    assert sorted(c.check_name for c in checks) == sorted(r.name for r in contracts[DATASET].rules)
    assert all(c.passed for c in checks)
    assert all("evaluated_rows" in c.metadata for c in checks)
    # the job's Pipes log lines reached the Dagster event log
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(f"{DATASET}: 4 row(s) published" in m for m in logs), logs[-20:]
    # and the job wrote exactly what the in-process step writes
    assert table_checksum(lakes["emr"].uri(DATASET)).rows == 4
    assert table_checksum(lakes["emr"].uri(DATASET)) == table_checksum(lakes["in_process"].uri(DATASET))


def _in_process(lake: Lake, contracts: dict) -> Any:
    spark = SparkEngine(engine="sail").get_session()
    candidate = TRANSFORMS[DATASET](TransformInputs(spark, lake, None))
    return publish_with_gate(candidate, contracts[DATASET], lake, None, run_id="in-process")
