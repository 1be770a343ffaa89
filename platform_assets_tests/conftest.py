import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from sandbox.generator.fx import generate_fx
from sandbox.services.fx_api import FxApiServer

if TYPE_CHECKING:
    from sandbox.services.seaweedfs import SeaweedS3
    from sandbox.services.spark_cluster import SparkCluster

os.environ.setdefault("RUST_LOG", "error")  # Sail servers started by tests log every session otherwise


@pytest.fixture
def fx_server() -> Iterator[FxApiServer]:
    """The sandbox FX service (default dataset, token 'test-token') on a free loopback port."""
    with FxApiServer(generate_fx(), token="test-token") as server:
        yield server


@pytest.fixture(scope="module")
def seaweed_s3() -> Iterator["SeaweedS3"]:
    """SeaweedFS (`weed mini`) on loopback: an S3 server that checks credentials, bucket ``lake``."""
    from sandbox.services.seaweedfs import SeaweedS3

    with SeaweedS3("lake") as server:
        yield server


@pytest.fixture(scope="module")
def spark_cluster(
    tmp_path_factory: pytest.TempPathFactory, seaweed_s3: "SeaweedS3"
) -> Iterator["SparkCluster"]:
    """A Spark standalone cluster (master, 2 workers of 1 core / 2 GiB) with a Spark Connect server.

    Its s3a filesystem points at ``seaweed_s3`` with that server's credentials, so the cluster reads and
    writes the same ``s3://lake/...`` tables as delta-rs. Started once per test module and stopped after
    it (the machine is small and shared): every JVM, executors included, is killed with its process group.
    """
    from sandbox.services.spark_cluster import ClusterConfig, SparkCluster, cluster_jars, s3a_conf

    if not cluster_jars():
        pytest.fail("no s3a / Kafka-source jars in .cache/jars/cluster: run `make spark-jars`")
    config = ClusterConfig(spark_conf=s3a_conf(seaweed_s3.storage_options))
    cluster = SparkCluster(tmp_path_factory.mktemp("spark_cluster"), config, start_timeout=300)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
