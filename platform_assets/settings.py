"""Platform configuration from environment variables, read in one place.

| variable | default | meaning |
|---|---|---|
| PLATFORM_LAKE_ROOT | ./.lake | root of all tables: a folder, or s3://bucket/prefix |
| PLATFORM_STORAGE_OPTIONS | {} | JSON object of delta-rs storage options (AWS_ENDPOINT_URL, ...) |
| PLATFORM_STAGING_ROOT | <lake root>/_staging | where a step's scratch copies of its candidates go: a folder every executor sees at the same path, or s3:// |
| PLATFORM_ENGINE | sail | sail (in-process), connect (a Spark Connect URL), local (Apache Spark) or emr_serverless |
| PLATFORM_RUN_EXECUTOR | in_process | in_process (a run's steps share its run worker and engine) or multiprocess (one process per step, for a cluster engine where steps can overlap) |
| PLATFORM_SPARK_CONNECT_URL | | sc://host:port, for PLATFORM_ENGINE=connect |
| PLATFORM_SPARK_MASTER | local[2] | Spark master for PLATFORM_ENGINE=local: local[N] or spark://host:port |
| PLATFORM_EMR_APPLICATION_ID | | emr_serverless: the EMR Serverless (Spark) application the job runs go to |
| PLATFORM_EMR_EXECUTION_ROLE_ARN | | emr_serverless: the job runtime role (docs/deployment.md lists its permissions) |
| PLATFORM_EMR_ENTRY_POINT | | emr_serverless: s3:// URI of the job's entry point (`platform_assets/emr_job.py`) |
| PLATFORM_EMR_SUBMIT_PARAMETERS | | emr_serverless: extra sparkSubmitParameters (the venv archive, Delta jars) |
| PLATFORM_EMR_LOG_GROUP | /aws/emr-serverless | emr_serverless: the CloudWatch log group Pipes reads back |
| FX_API_URL | https://127.0.0.1:8765 | FX REST API base URL (the sandbox's by default) |
| FX_API_CA_PATH | $PLATFORM_CA_PATH | PEM CA bundle the FX API's certificate is verified with (unset: system store) |
| PLATFORM_CA_PATH | | PEM CA bundle for every source without its own CA setting (the sandbox's `tls/sandbox-ca.pem`) |
| FX_API_TOKEN | sandbox-token | bearer token for the FX API |
| DMS_LANDING_ROOT | ./.landing/dms | where AWS DMS lands its files (`<schema>/<table>/*.csv`): a folder or `s3://bucket/prefix` |
| PLATFORM_REPORTS_DIR | ./.reports | where the DQ report, Data Docs and platform health are written |
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from platform_assets.lake.location import Lake

ENGINES = ("sail", "connect", "local", "emr_serverless")
RUN_EXECUTORS = ("in_process", "multiprocess")
_AWS_KEYS = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ALLOW_HTTP",
    # server-side encryption of every object delta-rs writes (operations/encryption.py)
    "AWS_SERVER_SIDE_ENCRYPTION",
    "AWS_SSE_KMS_KEY_ID",
    "AWS_SSE_BUCKET_KEY_ENABLED",
)


class SettingsError(ValueError):
    pass


def source_ca_path(variable: str, env: Mapping[str, str] = os.environ) -> str | None:
    """The CA bundle a source's client verifies the server with: its own ``variable``, else
    ``PLATFORM_CA_PATH``, else None (the system store). Verification itself is never switched off."""
    return (env.get(variable) or "").strip() or (env.get("PLATFORM_CA_PATH") or "").strip() or None


def _landing_root(value: str) -> str:
    """A local folder made absolute; an ``s3://bucket/prefix`` kept as it is."""
    return value if "://" in value else str(Path(value).resolve())


def _staging_root(value: str) -> str | None:
    """``PLATFORM_STAGING_ROOT``: unset (None: under the lake), a folder, or ``s3://`` (staged copies are
    removed by the platform, which can delete only those two kinds)."""
    value = value.strip()
    if not value:
        return None
    if "://" in value and not value.startswith(("s3://", "file://")):
        raise SettingsError(f"PLATFORM_STAGING_ROOT={value!r} must be a folder or an s3:// prefix")
    return _landing_root(value.removeprefix("file://"))


@dataclass(frozen=True)
class EmrServerlessSettings:
    """Where ``PLATFORM_ENGINE=emr_serverless`` submits its job runs (engine/emr_serverless.py)."""

    application_id: str
    execution_role_arn: str
    entry_point: str  # s3://.../emr_job.py
    submit_parameters: str = ""
    log_group: str = "/aws/emr-serverless"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EmrServerlessSettings:
        names = ("PLATFORM_EMR_APPLICATION_ID", "PLATFORM_EMR_EXECUTION_ROLE_ARN", "PLATFORM_EMR_ENTRY_POINT")
        missing = [n for n in names if not env.get(n, "").strip()]
        if missing:
            raise SettingsError(f"PLATFORM_ENGINE=emr_serverless needs {', '.join(missing)}")
        return cls(
            application_id=env["PLATFORM_EMR_APPLICATION_ID"].strip(),
            execution_role_arn=env["PLATFORM_EMR_EXECUTION_ROLE_ARN"].strip(),
            entry_point=env["PLATFORM_EMR_ENTRY_POINT"].strip(),
            submit_parameters=env.get("PLATFORM_EMR_SUBMIT_PARAMETERS", "").strip(),
            log_group=env.get("PLATFORM_EMR_LOG_GROUP", "").strip() or cls.log_group,
        )


@dataclass(frozen=True)
class PlatformSettings:
    lake_root: str
    storage_options: dict[str, str] = field(default_factory=dict)
    staging_root: str | None = None  # None: <lake_root>/_staging
    engine: str = "sail"
    run_executor: str = "in_process"  # one of RUN_EXECUTORS (definitions.py picks the Dagster executor)
    spark_connect_url: str | None = None
    spark_master: str = "local[2]"  # PLATFORM_ENGINE=local: local[N], or a standalone cluster's spark://
    fx_api_url: str = "https://127.0.0.1:8765"
    fx_api_token: str = "sandbox-token"
    fx_api_ca_path: str | None = None  # verify the FX API's certificate with this CA (None: system store)
    dms_landing_root: str = ".landing/dms"
    alerts_webhook: str | None = None  # alerts are posted here as JSON, besides the ops/alerts table
    reports_dir: str = ".reports"  # the DQ report, Data Docs and platform health (reporting/)
    emr: EmrServerlessSettings | None = None  # PLATFORM_ENGINE=emr_serverless only

    @property
    def lake(self) -> Lake:
        return Lake(self.lake_root, self.storage_options, self.staging_root)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> PlatformSettings:
        root = env.get("PLATFORM_LAKE_ROOT", "").strip() or ".lake"
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        try:
            options = json.loads(env.get("PLATFORM_STORAGE_OPTIONS", "") or "{}")
        except json.JSONDecodeError as exc:
            raise SettingsError(f"PLATFORM_STORAGE_OPTIONS is not a JSON object: {exc}") from exc
        if not isinstance(options, dict):
            raise SettingsError("PLATFORM_STORAGE_OPTIONS must be a JSON object")
        if root.startswith("s3://"):
            options = {k: env[k] for k in _AWS_KEYS if k in env} | options
        engine = env.get("PLATFORM_ENGINE", "sail").strip().lower()
        if engine not in ENGINES:
            raise SettingsError(f"PLATFORM_ENGINE={engine!r} is not one of {', '.join(ENGINES)}")
        run_executor = env.get("PLATFORM_RUN_EXECUTOR", "").strip().lower() or cls.run_executor
        if run_executor not in RUN_EXECUTORS:
            raise SettingsError(
                f"PLATFORM_RUN_EXECUTOR={run_executor!r} is not one of {', '.join(RUN_EXECUTORS)}"
            )
        url = env.get("PLATFORM_SPARK_CONNECT_URL") or None
        if engine == "connect" and not url:
            raise SettingsError("PLATFORM_ENGINE=connect needs PLATFORM_SPARK_CONNECT_URL (sc://host:port)")
        return cls(
            lake_root=root,
            storage_options={str(k): str(v) for k, v in options.items()},
            staging_root=_staging_root(env.get("PLATFORM_STAGING_ROOT", "")),
            engine=engine,
            run_executor=run_executor,
            spark_connect_url=url,
            spark_master=env.get("PLATFORM_SPARK_MASTER", "").strip() or cls.spark_master,
            fx_api_url=env.get("FX_API_URL", cls.fx_api_url),
            fx_api_token=env.get("FX_API_TOKEN", cls.fx_api_token),
            fx_api_ca_path=source_ca_path("FX_API_CA_PATH", env),
            dms_landing_root=_landing_root(env.get("DMS_LANDING_ROOT", "") or cls.dms_landing_root),
            alerts_webhook=env.get("PLATFORM_ALERTS_WEBHOOK", "").strip() or None,
            reports_dir=str(Path(env.get("PLATFORM_REPORTS_DIR", "") or cls.reports_dir).resolve()),
            emr=EmrServerlessSettings.from_env(env) if engine == "emr_serverless" else None,
        )
