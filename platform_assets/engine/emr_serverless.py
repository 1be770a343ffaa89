"""PLATFORM_ENGINE=emr_serverless: an asset's engine work as an EMR Serverless job run, through Pipes.

The orchestrating step starts a job run (``start_job_run``) whose entry point is
``platform_assets/emr_job.py`` (uploaded to S3, the package shipped as a venv archive); dagster-aws'
``PipesEMRServerlessClient`` injects the Pipes context into the driver's environment
(``spark.emr-serverless.driverEnv.DAGSTER_PIPES_*``), waits for the run, and reads the job's logs and
Pipes messages (materialization metadata, check results) back from the driver's CloudWatch stdout
stream. docs/deployment.md lists the IAM role, the S3 layout and the environment.

Only non-secret settings go into the job's environment (it is visible in the job run's configuration):
the job reaches S3 through its execution role, never with keys passed along.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from threading import Event
from typing import Any

import boto3
from dagster._core.pipes.utils import forward_only_logs_to_file
from dagster_aws.pipes import (
    PipesCloudWatchLogReader,
    PipesCloudWatchMessageReader,
    PipesEMRServerlessClient,
)
from dagster_aws.pipes.message_readers import get_log_events

# storage options that are credentials: the execution role replaces them on EMR
_SECRET_OPTIONS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
STORAGE_OPTIONS_ENV = "PLATFORM_JOB_STORAGE_OPTIONS"  # in the driver's environment (base64 JSON)
POLL_SECONDS = 5.0
LOG_POLL_SECONDS = 1.0


class _StoppingLogReader(PipesCloudWatchLogReader):
    """dagster-aws 0.29's CloudWatch log reader checks for the end of the session only after a read
    that returned events, so once the driver's stream is drained its thread polls CloudWatch with no
    pause for ever (one thread per job run and stream). This one pauses between empty reads and stops
    at the first empty read after the session closed."""

    def _start(self, params: Any, is_session_closed: Event) -> None:
        request: dict[str, Any] = {
            "logGroupName": params.get("log_group") or self.log_group,
            "logStreamName": params.get("log_stream") or self.log_stream,
        }
        start_time = self.start_time or params.get("start_time")
        if start_time is not None:
            request["startTime"] = start_time
        while True:
            response = get_log_events(client=self.client, max_retries=self.max_retries, **request)
            events = response.get("events") or []
            for event in events:
                for line in event.get("message", "").splitlines():
                    if line:
                        forward_only_logs_to_file(line, self.target_stream)
            request["nextToken"] = response["nextForwardToken"]
            if not events:
                if is_session_closed.is_set():
                    return
                time.sleep(LOG_POLL_SECONDS)


class DriverStdoutMessageReader(PipesCloudWatchMessageReader):
    """Pipes messages from the driver's stdout stream; the log readers the client adds stop with it."""

    def add_log_reader(self, log_reader: Any) -> None:
        if type(log_reader) is PipesCloudWatchLogReader:
            log_reader = _StoppingLogReader(
                client=log_reader.client,
                log_group=log_reader.log_group,
                log_stream=log_reader.log_stream,
                target_stream=log_reader.target_stream,
                start_time=log_reader.start_time,
                debug_info=log_reader.debug_info,
                max_retries=log_reader.max_retries,
            )
        super().add_log_reader(log_reader)


def job_environment(lake_root: str, storage_options: Mapping[str, str]) -> dict[str, str]:
    """The driver's environment: where the lake is, without credentials.

    The storage options go as base64 JSON (``STORAGE_OPTIONS_ENV``): ``sparkSubmitParameters`` is one
    whitespace-split string, in which JSON's quotes need not survive; ``settings_environment`` turns
    them back into ``PLATFORM_STORAGE_OPTIONS`` in the job."""
    options = {k: v for k, v in storage_options.items() if k not in _SECRET_OPTIONS}
    env = {"PLATFORM_LAKE_ROOT": lake_root}
    if options:
        text = json.dumps(options, separators=(",", ":"), sort_keys=True)
        env[STORAGE_OPTIONS_ENV] = base64.urlsafe_b64encode(text.encode()).decode()
    return env


def settings_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The job's environment as ``PlatformSettings.from_env`` reads it."""
    env = {k: v for k, v in environ.items() if k != STORAGE_OPTIONS_ENV}
    if STORAGE_OPTIONS_ENV in environ:
        env["PLATFORM_STORAGE_OPTIONS"] = base64.urlsafe_b64decode(environ[STORAGE_OPTIONS_ENV]).decode()
    return env


def start_job_run_params(
    *,
    application_id: str,
    execution_role_arn: str,
    entry_point: str,
    name: str,
    env: Mapping[str, str],
    submit_parameters: str = "",
    log_group: str = "/aws/emr-serverless",
) -> dict[str, Any]:
    """``start_job_run`` arguments; the Pipes client appends its own ``driverEnv`` confs to these."""
    for key, value in env.items():
        if any(c.isspace() for c in value):  # sparkSubmitParameters is split on whitespace
            raise ValueError(f"{key}: a job environment value cannot contain whitespace")
    confs = " ".join(f"--conf spark.emr-serverless.driverEnv.{k}={v}" for k, v in sorted(env.items()))
    return {
        "applicationId": application_id,
        "executionRoleArn": execution_role_arn,
        "name": name,
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": entry_point,
                "sparkSubmitParameters": f"{submit_parameters} {confs}".strip(),
            }
        },
        # the Pipes client reads the driver's stdout (logs and messages) from this group
        "configurationOverrides": {
            "monitoringConfiguration": {
                "cloudWatchLoggingConfiguration": {"enabled": True, "logGroupName": log_group}
            }
        },
    }


def pipes_client(poll_interval: float = POLL_SECONDS) -> PipesEMRServerlessClient:
    """The Pipes client on the default AWS credentials chain (the Dagster deployment's role)."""
    return PipesEMRServerlessClient(
        client=boto3.client("emr-serverless"),
        message_reader=DriverStdoutMessageReader(client=boto3.client("logs")),
        poll_interval=poll_interval,
    )
