"""Silver and gold transforms on a real Spark standalone cluster, through its Spark Connect server.

The cluster (``spark_cluster`` fixture: a master and two workers from PySpark's own distribution, and a
Spark Connect server submitting to the master with the Delta, s3a and Kafka-source jars) runs on loopback,
its lake on SeaweedFS S3 (``seaweed_s3``: credentials checked). The same bronze FX table goes through
silver/fx_rates (transform + publish gate) and then gold/dim_currency and gold/dim_date on Sail
in-process (lake in a folder) and on the cluster (``PLATFORM_ENGINE=connect``), its lake once in a folder
and once at ``s3://lake/...`` (bronze written by delta-rs, read and written by the cluster through s3a);
the tables must have identical content checksums, and both workers' executors must have run tasks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import write_deltalake
from pyspark.sql import functions as F

from platform_assets.contracts import load_contracts
from platform_assets.engine import delta_io
from platform_assets.engine.spark_resource import SparkEngine
from platform_assets.lake.location import Lake
from platform_assets.layers.gold.dim_currency import build_dim_currency
from platform_assets.layers.gold.dim_date import build_dim_date
from platform_assets.layers.silver.fx_rates import conform_fx_rates
from platform_assets.operations.checksum import table_checksum
from platform_assets.quality.gate import publish_with_gate
from platform_assets.settings import PlatformSettings
from platform_assets_tests.test_engine_local_spark import AS_OF_DATES, _bronze_table
from sandbox.services.seaweedfs import SeaweedS3
from sandbox.services.spark_cluster import SparkCluster, executor_tasks

pytestmark = pytest.mark.cluster
TABLES = ("silver/fx_rates", "gold/dim_currency", "gold/dim_date")


def _silver_and_gold(engine: SparkEngine, bronze_uri: str, lake: Lake) -> dict[str, int]:
    """silver/fx_rates for AS_OF_DATES, then the two gold dimensions over it; published rows per table."""
    contracts = load_contracts()
    spark = engine.get_session()
    published: dict[str, int] = {}
    candidate = conform_fx_rates(delta_io.read_delta(spark, bronze_uri), AS_OF_DATES)
    outcome = publish_with_gate(candidate, contracts["silver/fx_rates"], lake, AS_OF_DATES, run_id="t-silver")
    published["silver/fx_rates"] = outcome.published_rows
    silver = delta_io.read_delta(spark, lake.uri("silver/fx_rates"))
    gold = {
        "gold/dim_currency": build_dim_currency(silver),
        "gold/dim_date": build_dim_date(silver.select(F.col("as_of_date").alias("day"))),
    }
    for name, frame in gold.items():
        published[name] = publish_with_gate(
            frame, contracts[name], lake, None, run_id="t-gold"
        ).published_rows
    return published


def _lakes(kind: str, tmp_path: Path, seaweed_s3: SeaweedS3) -> tuple[Lake, dict[str, str]]:
    """The cluster's lake: a folder (every node shares this disk) or ``s3://lake/...`` on SeaweedFS."""
    if kind == "folder":
        return Lake(str(tmp_path / "lake_cluster")), {}
    settings = PlatformSettings.from_env(
        {"PLATFORM_LAKE_ROOT": f"s3://lake/{tmp_path.name}", **seaweed_s3.storage_options}
    )
    return Lake(settings.lake_root, settings.storage_options), settings.storage_options


@pytest.mark.timeout(1200)  # JVM work on 2 shared cores: minutes, not seconds
@pytest.mark.parametrize("cluster_lake", ["folder", "s3"])
def test_silver_and_gold_identical_on_the_cluster_and_on_sail(
    cluster_lake: str, spark_cluster: SparkCluster, seaweed_s3: SeaweedS3, tmp_path: Path
) -> None:
    env = {"PLATFORM_ENGINE": "connect", "PLATFORM_SPARK_CONNECT_URL": spark_cluster.connect_url}
    cluster_engine = SparkEngine.from_settings(PlatformSettings.from_env(env))
    cluster_side, options = _lakes(cluster_lake, tmp_path, seaweed_s3)
    lakes = {"sail": Lake(str(tmp_path / "lake_sail")), "cluster": cluster_side}
    for lake in lakes.values():
        bronze_uri = lake.uri("bronze/fx_rates")
        write_deltalake(
            bronze_uri,
            _bronze_table(),
            partition_by=["_proc_date"],
            storage_options=lake.storage_options or None,
        )
    try:
        on_cluster = _silver_and_gold(
            cluster_engine, lakes["cluster"].uri("bronze/fx_rates"), lakes["cluster"]
        )
    finally:
        cluster_engine.stop_session()
    on_sail = _silver_and_gold(
        SparkEngine(engine="sail"), lakes["sail"].uri("bronze/fx_rates"), lakes["sail"]
    )

    # five silver rows (the duplicate resolved by revision, the late CHF date not rebuilt), 3 currencies
    # + the unknown member, two calendar days
    assert on_cluster == on_sail == {"silver/fx_rates": 5, "gold/dim_currency": 4, "gold/dim_date": 2}
    for name in TABLES:
        cluster_sum = table_checksum(lakes["cluster"].uri(name), storage_options=options or None)
        assert cluster_sum == table_checksum(lakes["sail"].uri(name)), name
        assert cluster_sum.rows == on_cluster[name]
    # the work ran on the workers: one executor per worker, each with completed tasks
    tasks = executor_tasks(spark_cluster.state.connect_ui_url)
    assert len(tasks) == 2 and all(count > 0 for count in tasks.values()), tasks
