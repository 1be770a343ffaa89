"""The platform on the production topology: a real Spark standalone cluster, S3 and a PostgreSQL instance.

The topology (``cluster_topology`` fixture, as `platform demo --topology cluster` starts it: a master and
two workers from PySpark's own distribution, a Spark Connect server submitting to the master with the
Delta, s3a and Kafka-source jars, the lake on SeaweedFS S3 with checked credentials, the Dagster instance
on PostgreSQL) runs on loopback. The demo's whole path (the five sandbox sources to gold, the checks, the
reports) runs once embedded (Sail, a folder lake, SQLite) and once on the topology
(``PLATFORM_ENGINE=connect``, ``s3://lake/...`` written by delta-rs and by the cluster through s3a): every
silver and gold table must have the same content checksum (without the columns that record the run:
``operations/checksum.py``), both workers' executors must have run tasks, and the runs must be in
PostgreSQL. Bronze on the engine (Spark's Kafka source) is compared with the process path on the same
cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg2
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from platform_assets.contracts import load_contracts
from platform_assets.contracts.model import Contract
from platform_assets.demo import demo_checksums, run_demo
from platform_assets.demo_cluster import demo_on_topology, environment, topology_environment
from platform_assets.engine.spark_resource import SparkEngine
from platform_assets.lake.location import Lake
from platform_assets.layers.bronze.engine_kafka import read_on_engine
from platform_assets.layers.bronze.incremental_asset import ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.operations.checksum import table_checksum
from platform_assets.settings import PlatformSettings
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.kafka.reader import KafkaTopic, read_batch
from sandbox.generator.order_stream import generate_order_events
from sandbox.services.kafka_broker import KafkaBroker
from sandbox.services.order_producer import produce_order_events
from sandbox.services.seaweedfs import SeaweedS3
from sandbox.services.spark_cluster import SparkCluster, executor_tasks
from sandbox.services.tls import SandboxCA
from sandbox.services.topology import DAGSTER_DATABASE, ClusterTopology

pytestmark = pytest.mark.cluster
DEMO = {"start": date(2026, 11, 1), "days": 7, "seed": 7}  # `platform demo`'s defaults
# rows per silver and gold table after the demo (the sandbox's seed 7 and its planted defects)
DEMO_ROWS = {
    "silver/accounts": 63,
    "silver/customers": 58,
    "silver/customers_history": 76,
    "silver/fx_rates": 78,
    "silver/opportunities": 123,
    "silver/order_lines": 311,
    "silver/orders": 120,
    "silver/products": 63,
    "silver/products_history": 99,
    "gold/agg_daily_revenue": 51,
    "gold/agg_sales_pipeline": 28,
    "gold/dim_currency": 14,
    "gold/dim_customer": 77,
    "gold/dim_date": 7,
    "gold/dim_product": 100,
    "gold/fact_opportunities": 121,
    "gold/fact_order_lines": 311,
}


# the whole demo twice, once on JVMs sharing 2 cores: about 11 minutes, so it runs by `make
# cluster-demo-test` and not in `make test`, whose budget is 30 minutes (docs/deployment.md)
@pytest.mark.cluster_demo
@pytest.mark.timeout(2400)
def test_the_demo_on_the_cluster_topology_gives_the_embedded_runs_checksums(
    cluster_topology: ClusterTopology, tmp_path: Path
) -> None:
    embedded_home = tmp_path / "embedded"
    embedded_env = {
        "PLATFORM_ENGINE": "sail",
        "PLATFORM_LAKE_ROOT": str(embedded_home / "lake"),
        "PLATFORM_DAGSTER_STORAGE": "sqlite",
        "DAGSTER_HOME": str(embedded_home / "dagster_home"),
        "DMS_LANDING_ROOT": str(embedded_home / "landing"),
        "PLATFORM_REPORTS_DIR": str(embedded_home / "reports"),
    }
    started = time.monotonic()
    with environment(embedded_env):
        assert run_demo(**DEMO) == 0
        embedded = demo_checksums(Lake(str(embedded_home / "lake")))
    print(f"embedded demo: {time.monotonic() - started:.0f} s")

    started = time.monotonic()
    cluster_home = tmp_path / "cluster"
    assert demo_on_topology(cluster_topology, cluster_home, lake_prefix=tmp_path.name, **DEMO) == 0
    print(f"cluster demo: {time.monotonic() - started:.0f} s")
    env = topology_environment(cluster_topology, cluster_home, tmp_path.name)
    settings = PlatformSettings.from_env(env)
    assert settings.lake_root.startswith("s3://") and settings.engine == "connect"
    on_cluster = demo_checksums(settings.lake)

    assert {t.name: t.checksum.rows for t in embedded} == DEMO_ROWS
    assert on_cluster == embedded  # every silver and gold table, content for content
    # the transforms ran on the workers: one executor per worker, each with completed tasks
    tasks = executor_tasks(cluster_topology.cluster.state.connect_ui_url)
    assert len(tasks) == 2 and all(count > 0 for count in tasks.values()), tasks
    # the demo's runs are in PostgreSQL, and nothing fell back to SQLite in the home
    assert cluster_topology.postgres is not None
    with psycopg2.connect(cluster_topology.postgres.dsn_for(DAGSTER_DATABASE)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), count(*) FILTER (WHERE status = 'SUCCESS') FROM runs")
        runs, succeeded = cur.fetchone()
    assert runs >= 24 and runs - succeeded == 2  # the two FX runs held at the gate by the null currency
    assert not list(Path(env["DAGSTER_HOME"]).rglob("*.db"))


ENGINE_TOPIC = "orders.events"
# far ahead of the clock, so that both paths stamp the same _ingested_at (the factory keeps the later of
# the batch's stamp and now) and their tables can be compared by checksum, metadata columns included
INGESTED_AT = datetime(2099, 1, 1, tzinfo=UTC)


def _ingest_all(lake: Lake, contract: Contract, read: Callable[[Committed], SourceBatch]) -> int:
    """Bounded batches until the topic is drained; returns how many batches committed rows."""
    for number in range(1, 20):
        batch = Batch(date(2026, 11, 3), INGESTED_AT, f"kafka:{ENGINE_TOPIC}", f"batch-{number}")
        source_batch, _, _ = ingest_increment(lake, contract, batch, read)
        if not source_batch.offsets:
            return number - 1
    raise AssertionError("the topic did not drain in 20 batches")


@pytest.mark.timeout(600)
def test_bronze_on_the_engine_gives_the_process_paths_tables_and_dead_letters(
    spark_cluster: SparkCluster, tmp_path: Path
) -> None:
    """ingest: engine (Spark's Kafka source by offset ranges, typing on the workers) against ingest:
    process on the same topic, with the generator's planted bad records: identical bronze and DLQ."""
    orders = generate_order_events(seed=11, days=3, orders_per_day=8)
    contracts = load_contracts()
    process_contract = contracts["bronze/order_events"]
    assert process_contract.ingest == "process"
    engine_contract = process_contract.model_copy(update={"ingest": "engine"})
    lakes = {"process": Lake(str(tmp_path / "process")), "engine": Lake(str(tmp_path / "engine"))}
    engine = SparkEngine(engine="connect", connect_url=spark_cluster.connect_url)
    # over TLS, as the sandbox serves Kafka: the engine's Java client verifies the broker like librdkafka
    with KafkaBroker(ca=SandboxCA(tmp_path / "tls")) as broker:
        broker.create_topic(ENGINE_TOPIC, partitions=2)
        produced = produce_order_events(
            broker.bootstrap_servers, ENGINE_TOPIC, orders, security=broker.security
        )
        per_batch = 30  # messages per partition and batch: several bounded batches per path
        sources = {
            name: KafkaTopic(
                broker.bootstrap_servers, ENGINE_TOPIC, f"bronze-{name}", per_batch, security=broker.security
            )
            for name in lakes
        }
        started = time.monotonic()
        batches = {
            "process": _ingest_all(
                lakes["process"], process_contract, lambda c: read_batch(sources["process"], c)
            ),
        }
        print(f"process path: {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        spark = engine.get_session()
        try:
            batches["engine"] = _ingest_all(
                lakes["engine"],
                engine_contract,
                lambda c: read_on_engine(spark, sources["engine"], engine_contract, c, min_partitions=2),
            )
        finally:
            engine.stop_session()
        print(f"engine path: {time.monotonic() - started:.1f} s")

    valid = sum(m.valid for m in orders.messages)
    assert 0 < valid < len(orders.messages)  # planted malformed JSON and contract violations
    expected_batches = max(-(-count // per_batch) for count in produced.values())
    assert batches == {"process": expected_batches, "engine": expected_batches} and expected_batches > 1
    bronze = {name: table_checksum(lake.uri("bronze/order_events")) for name, lake in lakes.items()}
    assert bronze["engine"] == bronze["process"] and bronze["engine"].rows == valid
    # the DLQ keeps malformed payloads as raw bytes, which the checksum's text cast cannot read
    dead = {name: _rows_by_position(lake.uri("bronze/order_events_dlq")) for name, lake in lakes.items()}
    assert dead["engine"].equals(dead["process"])
    assert dead["engine"].num_rows == len(orders.messages) - valid
    assert dead["engine"].column("_raw_bytes").null_count < dead["engine"].num_rows  # malformed bytes
    # the offsets are in the table, as app transactions of the same commits as the rows
    for lake in lakes.values():
        bronze = DeltaTable(lake.uri("bronze/order_events"))
        assert {p: bronze.transaction_version(f"{ENGINE_TOPIC}-{p}") for p in produced} == {
            p: count - 1 for p, count in produced.items()
        }


def _rows_by_position(uri: str) -> pa.Table:
    table = DeltaTable(uri).to_pyarrow_table()
    return table.select(sorted(table.column_names)).sort_by("_position")


@pytest.mark.timeout(600)
def test_dms_files_on_the_engine_from_s3_give_the_process_paths_bronze_dead_letters_and_positions(
    spark_cluster: SparkCluster, seaweed_s3: SeaweedS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ingest: engine for DMS files landed on S3 (SeaweedFS): the cluster reads them through s3a
    (``binaryFile``) and types them on the workers; ingest: process lists and reads the same objects with
    boto3. Planted bad rows, three bounded runs: identical bronze checksum, DLQ rows and positions."""
    from platform_assets.layers.bronze import rds_customers
    from platform_assets.layers.bronze.engine_dms import read_dms_on_engine
    from platform_assets.sources.dms.s3_store import S3FileStore
    from platform_assets_tests.test_bronze_engine_dms import (
        DATASET,
        PER_RUN,
        assert_same_bronze,
        ingest_all,
        plant_dms_files,
    )

    monkeypatch.setattr(rds_customers, "MAX_FILES_PER_RUN", PER_RUN)
    good, bad = plant_dms_files(tmp_path / "landing")
    store = S3FileStore(
        seaweed_s3.bucket, f"{tmp_path.name}/dms/public/customers", seaweed_s3.storage_options
    )
    for path in sorted((tmp_path / "landing").iterdir()):
        store.put(path.name, path.read_bytes())
    engine_contract = load_contracts()[DATASET].model_copy(update={"ingest": "engine"})
    lakes = {"process": Lake(str(tmp_path / "process")), "engine": Lake(str(tmp_path / "engine"))}
    started = time.monotonic()
    runs = {"process": ingest_all(lakes["process"], lambda c: rds_customers.read_dms_batch(store, c))}
    print(f"process path: {time.monotonic() - started:.1f} s")
    engine = SparkEngine(engine="connect", connect_url=spark_cluster.connect_url)
    started = time.monotonic()
    spark = engine.get_session()
    try:
        runs["engine"] = ingest_all(
            lakes["engine"],
            lambda c: read_dms_on_engine(spark, store, engine_contract, c, rds_customers.POSITION, PER_RUN),
        )
    finally:
        engine.stop_session()
    print(f"engine path: {time.monotonic() - started:.1f} s")
    assert runs == {"process": 3, "engine": 3}
    assert_same_bronze(lakes, good, bad)
