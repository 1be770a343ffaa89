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

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import functions as F

from platform_assets.contracts import load_contracts
from platform_assets.contracts.model import Contract
from platform_assets.engine import delta_io
from platform_assets.engine.spark_resource import SparkEngine
from platform_assets.lake.location import Lake
from platform_assets.layers.bronze.engine_kafka import read_on_engine
from platform_assets.layers.bronze.incremental_asset import ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.layers.gold.dim_currency import build_dim_currency
from platform_assets.layers.gold.dim_date import build_dim_date
from platform_assets.layers.silver.fx_rates import conform_fx_rates
from platform_assets.operations.checksum import table_checksum
from platform_assets.quality.gate import publish_with_gate
from platform_assets.settings import PlatformSettings
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.kafka.reader import KafkaTopic, read_batch
from platform_assets_tests.test_engine_local_spark import AS_OF_DATES, _bronze_table
from sandbox.generator.order_stream import generate_order_events
from sandbox.services.kafka_broker import KafkaBroker
from sandbox.services.order_producer import produce_order_events
from sandbox.services.seaweedfs import SeaweedS3
from sandbox.services.spark_cluster import SparkCluster, executor_tasks
from sandbox.services.tls import SandboxCA

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
