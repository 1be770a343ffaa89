"""The production topology on loopback: a Spark cluster, an S3 lake and a PostgreSQL Dagster instance.

``ClusterTopology`` starts, in this order, SeaweedFS (the S3 lake; or uses one the caller runs), a
PostgreSQL server with a ``dagster`` database (the Dagster instance's storage, ``dagster.postgres.yaml``)
and the Spark standalone cluster (master, workers, Spark Connect server) whose s3a filesystem points at
that S3 server with its credentials. ``environment()`` is what points the platform at all three. Leaving
the ``with`` block stops what it started, in reverse order, also on an error or Ctrl-C. `platform demo
--topology cluster` and the integration test (``cluster_topology`` fixture) both start it here.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType

from sandbox.services.postgres import OS_USER, PostgresServer
from sandbox.services.seaweedfs import SeaweedS3
from sandbox.services.spark_cluster import ClusterConfig, ClusterError, SparkCluster, cluster_jars, s3a_conf

DAGSTER_DATABASE = "dagster"


class ClusterTopology:
    """``with ClusterTopology(home) as topology:`` -> ``topology.environment(prefix)`` until exit."""

    def __init__(
        self,
        home: Path,
        s3: SeaweedS3 | None = None,
        config: ClusterConfig | None = None,
        start_timeout: float = 300.0,
    ) -> None:
        """``s3``: a running S3 server to put the lake on (its lifetime stays the caller's); None: start
        one. ``config``: the cluster's sizes (its s3a settings are added here)."""
        self.home = Path(home)
        self._given_s3 = s3
        self._config = config or ClusterConfig()
        self._start_timeout = start_timeout
        self._stack = contextlib.ExitStack()
        self.s3: SeaweedS3 | None = None
        self.postgres: PostgresServer | None = None
        self.cluster: SparkCluster | None = None

    def start(self) -> ClusterTopology:
        if not cluster_jars():
            raise ClusterError("no s3a / Kafka-source jars in .cache/jars/cluster: run `make spark-jars`")
        with contextlib.ExitStack() as stack:  # unwinds what started if a later part fails
            self.s3 = self._given_s3 or stack.enter_context(SeaweedS3("lake"))
            self.postgres = stack.enter_context(PostgresServer(create_shop=False))
            self.postgres.create_database(DAGSTER_DATABASE)
            spark_conf = {**self._config.spark_conf, **s3a_conf(self.s3.storage_options)}
            config = ClusterConfig(**{**vars(self._config), "spark_conf": spark_conf})
            self.cluster = SparkCluster(self.home / "spark", config, start_timeout=self._start_timeout)
            stack.enter_context(self.cluster)
            self._stack = stack.pop_all()
        return self

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> ClusterTopology:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def environment(self, lake_prefix: str = "demo") -> dict[str, str]:
        """The platform's settings for this topology: the engine, the lake on S3, the instance storage.

        The S3 keys are in it because delta-rs reads them from the environment (as from an instance role
        in production); the PostgreSQL password is a placeholder (trust auth on loopback). A step's scratch
        copies (quality/staging.py) go to a folder here, which the driver and every worker see (one host;
        on several, a shared mount), not through the S3 gateway: they live for one step only."""
        if self.s3 is None or self.postgres is None or self.cluster is None:
            raise RuntimeError("ClusterTopology is not started")
        return {
            "PLATFORM_ENGINE": "connect",
            "PLATFORM_SPARK_CONNECT_URL": self.cluster.connect_url,
            "PLATFORM_LAKE_ROOT": f"s3://{self.s3.bucket}/{lake_prefix}",
            "PLATFORM_STAGING_ROOT": str(self.home / "staging" / lake_prefix),
            **self.s3.storage_options,
            "PLATFORM_DAGSTER_STORAGE": "postgres",
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.postgres.port),
            "DAGSTER_PG_USER": OS_USER,
            "DAGSTER_PG_PASSWORD": "trust-auth-on-loopback",
            "DAGSTER_PG_DB": DAGSTER_DATABASE,
        }

    def describe(self) -> list[str]:
        """One line per part, for a command's output."""
        assert self.s3 is not None and self.postgres is not None and self.cluster is not None
        state = self.cluster.state
        workers = self.cluster.config.workers
        return [
            f"Spark cluster: master {state.master_url} (UI {state.master_ui_url}), {workers} workers",
            f"Spark Connect server: {state.connect_url} (UI {state.connect_ui_url})",
            f"S3 lake: SeaweedFS {self.s3.endpoint}, bucket {self.s3.bucket}",
            f"Dagster instance: PostgreSQL 127.0.0.1:{self.postgres.port}, database {DAGSTER_DATABASE}",
        ]
