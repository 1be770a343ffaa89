import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from sandbox.generator.fx import generate_fx
from sandbox.services.fx_api import FxApiServer

if TYPE_CHECKING:
    from sandbox.services.seaweedfs import SeaweedS3
    from sandbox.services.spark_cluster import SparkCluster
    from sandbox.services.topology import ClusterTopology

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
def cluster_topology(
    tmp_path_factory: pytest.TempPathFactory, seaweed_s3: "SeaweedS3"
) -> Iterator["ClusterTopology"]:
    """The production topology on loopback, as `platform demo --topology cluster` starts it: a Spark
    standalone cluster (master, 2 workers of 1 core / 2 GiB) with a Spark Connect server, a PostgreSQL
    server with the Dagster instance's database, and the lake on ``seaweed_s3`` (the cluster's s3a
    filesystem points at it with its credentials, so it reads and writes the same ``s3://lake/...``
    tables as delta-rs). Started once per test module and stopped after it (the machine is small and
    shared): every JVM, executors included, is killed with its process group.
    """
    from sandbox.services.topology import ClusterTopology

    with ClusterTopology(tmp_path_factory.mktemp("topology"), s3=seaweed_s3) as topology:
        yield topology


@pytest.fixture(scope="module")
def spark_cluster(cluster_topology: "ClusterTopology") -> "SparkCluster":
    """The Spark cluster of ``cluster_topology`` (its s3a filesystem on ``seaweed_s3``)."""
    assert cluster_topology.cluster is not None
    return cluster_topology.cluster
