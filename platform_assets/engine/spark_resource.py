"""The Spark-session resource: Sail in-process by default, Spark Connect or local Spark on request."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from platform_assets.engine.s3a import s3a_jars, s3a_settings
from platform_assets.engine.sail_server import sail_endpoint

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from platform_assets.settings import PlatformSettings

_sessions: dict[tuple[str, str | None], SparkSession] = {}
_handed_out_at: dict[tuple[str, str | None], float] = {}
# A Spark Connect server drops a session left idle (Sail after 15 min, Spark Connect after 60): a long-lived
# process (the code location, the daemon, `platform serve`, a test session) then holds a dead session.
# A session not handed out for this long is pinged once before reuse, and replaced if the server dropped it.
SESSION_PING_AFTER_SECS = 60.0
DELTA_JARS_DIR_ENV = "PLATFORM_DELTA_JARS_DIR"
_REPO_ROOT = Path(__file__).resolve().parents[2]  # platform_assets/engine/ -> repo
# Apache Spark writes Parquet timestamps as INT96 by default, which delta-rs reads as nanoseconds: gold's
# open-ended 9999-12-31 (effective_to) overflows and reads back as 1816-03-29. Every Apache Spark session
# (local, Spark Connect, EMR) writes microseconds instead; Sail already does.
PARQUET_TIMESTAMPS = ("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")


class EngineError(RuntimeError):
    pass


def classic_spark_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a child process that starts classic Spark: without the marks an earlier Spark Connect
    (Sail) session of this process left in it, which would put the child's PySpark in Connect mode."""
    return {k: v for k, v in env.items() if k not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")}


def _alive(session: SparkSession, key: tuple[str, str | None]) -> bool:
    """False when a session idle for a while was dropped by its server (it is then stopped and forgotten)."""
    if time.monotonic() - _handed_out_at.get(key, 0.0) < SESSION_PING_AFTER_SECS:
        return True
    try:
        session.sql("SELECT 1").collect()
        return True
    except Exception:  # any failure means the session cannot be used: make a new one
        with contextlib.suppress(Exception):  # the server may have forgotten it already
            session.stop()
        _sessions.pop(key, None)
        return False


def delta_jars_dir() -> Path:
    """Where the Delta jars for local Spark live: $PLATFORM_DELTA_JARS_DIR, else <repo>/.cache/jars."""
    configured = os.environ.get(DELTA_JARS_DIR_ENV)
    return Path(configured) if configured else _REPO_ROOT / ".cache" / "jars"


def _local_spark_session(
    app_name: str, master: str = "local[2]", s3: tuple[str | None, str] | None = None
) -> SparkSession:
    """Apache Spark with Delta as a classic (JVM-in-process) session; jars from `make spark-jars`.

    ``master`` is ``local[N]`` (one JVM) or a standalone cluster's ``spark://host:port``
    (``PLATFORM_SPARK_MASTER``): the driver is this process, the executors run on the cluster's workers.
    ``s3``: the lake is on S3 at (endpoint, region): the s3a jars and settings are added (engine/s3a.py).

    The jars are loaded from the folder (spark.jars), never resolved from Maven at run time. Classic
    Spark cannot start in a process that already opened a Spark Connect session (Sail): PySpark then
    routes every builder, DataFrame and function call to Spark Connect for the rest of the process.
    """
    from pyspark.sql import SparkSession
    from pyspark.sql.utils import is_remote

    if is_remote():
        raise EngineError(
            "PLATFORM_ENGINE=local cannot start in a process that already opened a Spark Connect "
            "(Sail) session: PySpark is in Connect mode for the rest of the process; use a separate process"
        )
    jars_dir = delta_jars_dir()
    jars = sorted(str(p) for p in jars_dir.glob("*.jar"))
    if not jars:
        raise EngineError(
            f"PLATFORM_ENGINE=local needs the Delta jars in {jars_dir} (run `make spark-jars`), "
            f"or set {DELTA_JARS_DIR_ENV}"
        )
    builder = SparkSession.builder
    if s3 is not None:
        extra = s3a_jars(jars_dir)
        if not extra:
            raise EngineError(
                f"PLATFORM_ENGINE=local on an s3:// lake needs the s3a jars in {jars_dir / 'cluster'} "
                "(run `make spark-jars`)"
            )
        jars += [str(p) for p in extra]
        for key, value in s3a_settings(*s3).items():
            builder = builder.config(key, value)
    return (
        builder.master(master)
        .appName(app_name)
        .config("spark.jars", ",".join(jars))  # on the driver classpath from the start, no download
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config(*PARQUET_TIMESTAMPS)
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.databricks.delta.snapshotPartitions", "2")  # small tables: few log tasks
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )


def _make_active(session: SparkSession) -> None:
    """Make ``session`` PySpark's active one.

    One process may hold several Spark Connect sessions (the in-process Sail one and a remote one);
    each session is created with ``builder.create()`` (``getOrCreate`` would hand back whichever is
    active, whatever the URL), and PySpark helpers that look up the active session must find the one
    the caller is using, also after another session was stopped.
    """
    activate = getattr(type(session), "_set_default_and_active_session", None)
    if activate is not None and not getattr(session, "is_stopped", False):
        activate(session)


class SparkEngine(dg.ConfigurableResource):
    """Hands out a Spark session; which engine runs behind it is configuration, not code."""

    engine: str = Field(
        "sail",
        description="sail (in-process), connect (Spark Connect URL), local (Spark), or emr_serverless "
        "(the Spark-asset transforms as EMR Serverless job runs through Pipes; the rest on Sail)",
    )
    connect_url: str | None = Field(None, description="sc://host:port when engine is 'connect'")
    app_name: str = Field("platform_assets", description="Spark application name")
    master: str = Field(
        "local[2]", description="Spark master for engine 'local': local[N] or spark://host:port (a cluster)"
    )
    lake_on_s3: bool = Field(False, description="engine 'local': the lake is s3:// (s3a is set up for it)")
    s3_endpoint: str | None = Field(None, description="engine 'local': an S3-compatible endpoint (no keys)")
    s3_region: str = Field("us-east-1", description="engine 'local': the lake bucket's region")

    emr_application_id: str | None = Field(None, description="emr_serverless: the application id")
    emr_execution_role_arn: str | None = Field(None, description="emr_serverless: the job runtime role")
    emr_entry_point: str | None = Field(None, description="emr_serverless: s3:// URI of emr_job.py")
    emr_submit_parameters: str = Field("", description="emr_serverless: extra sparkSubmitParameters")
    emr_log_group: str = Field("/aws/emr-serverless", description="emr_serverless: CloudWatch log group")

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> SparkEngine:
        """The engine the environment configures (PLATFORM_ENGINE, _SPARK_CONNECT_URL, _SPARK_MASTER, _EMR_*)."""
        emr = settings.emr
        return cls(
            engine=settings.engine,
            connect_url=settings.spark_connect_url,
            master=settings.spark_master,
            lake_on_s3=settings.lake_root.startswith("s3://"),
            s3_endpoint=settings.storage_options.get("AWS_ENDPOINT_URL"),
            s3_region=settings.storage_options.get("AWS_REGION", "us-east-1"),
            emr_application_id=emr.application_id if emr else None,
            emr_execution_role_arn=emr.execution_role_arn if emr else None,
            emr_entry_point=emr.entry_point if emr else None,
            emr_submit_parameters=emr.submit_parameters if emr else "",
            emr_log_group=emr.log_group if emr else "/aws/emr-serverless",
        )

    @property
    def submits_jobs(self) -> bool:
        """Spark-asset transforms run as EMR Serverless job runs, not on this process's session."""
        return self.engine == "emr_serverless"

    def get_session(self) -> SparkSession:
        key = (self.engine, self.connect_url or self.master)
        session = _sessions.get(key)
        if session is not None and not _alive(session, key):
            session = None
        if session is None or getattr(session, "is_stopped", False):
            session = self._create()
            session.conf.set("spark.sql.session.timeZone", "UTC")  # timestamps mean the same everywhere
            _sessions[key] = session
        _handed_out_at[key] = time.monotonic()
        _make_active(session)
        return session

    def stop_session(self) -> None:
        """Stop and forget this configuration's session (before its server goes away)."""
        session = _sessions.pop((self.engine, self.connect_url or self.master), None)
        if session is not None:
            session.stop()

    def _create(self) -> SparkSession:
        from pyspark.sql import SparkSession

        if self.engine in ("sail", "emr_serverless"):  # emr_serverless: the in-process work (bronze checks)
            return SparkSession.builder.remote(sail_endpoint()).create()
        if self.engine == "connect":
            if not self.connect_url:
                raise EngineError("engine 'connect' needs connect_url (sc://host:port)")
            session = SparkSession.builder.remote(self.connect_url).create()
            session.conf.set(*PARQUET_TIMESTAMPS)  # a runtime setting: whatever the server's default
            return session
        if self.engine == "local":
            s3 = (self.s3_endpoint, self.s3_region) if self.lake_on_s3 else None
            return _local_spark_session(self.app_name, self.master, s3)
        raise EngineError(f"unknown engine {self.engine!r}: use sail, connect or local")
