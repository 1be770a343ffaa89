"""`platform bench-cluster`: the order path on the production topology, next to Sail and local Spark.

For each scale, in one run:

- the sandbox generator's order stream (its planted defects included) is produced to a real Kafka
  broker (``PARTITIONS`` partitions, plaintext on loopback), keyed by order as the sandbox does;
- ``bronze.process``: the topic drained by the process path (``read_batch``, typing in this process)
  into a folder lake, in bounded batches of ``batch`` messages (``batch / PARTITIONS`` per partition);
- ``bronze.engine_<w>_workers``, for each worker count: a ``ClusterTopology`` with that many workers
  (Spark standalone master and workers with a Spark Connect server, the lake on SeaweedFS S3, the
  Dagster instance database on PostgreSQL) drains the same topic with ``ingest: engine``
  (``read_on_engine``: Spark's Kafka source by offset ranges, typing on the workers) into
  ``s3://lake/bench-<w>w``, in batches of the same size, committed as the process path commits;
  ``first_batch_seconds`` is the first batch (the executors' Python workers and JVM code start cold),
  ``later_messages_per_second`` the rest; ``read_seconds`` (the source read; on the engine path the Spark
  job, typing included, and its typed rows back to the driver) and ``commit_seconds`` (the process
  path's typing, then the dead letters and the Delta commit with the offsets) split the time,
  and ``executor_task_seconds`` is what each worker's executor spent in tasks;
- ``silver.<engine>``: one tick of ``orders_apply_sensor`` and the runs it requests (the ``silver/orders``
  change apply and ``silver/order_lines``, every order date), each in its own process: ``sail`` and
  ``local`` (Apache Spark in the process, ``local[2]``) on a copy of the process path's bronze in a
  folder, ``cluster`` through Spark Connect on the largest topology's S3 bronze, and
  ``cluster_folder_lake`` the same cluster on another copy in a folder (the workers share this
  machine's disk), which tells the engine's cost from the S3 lake's.

Every bronze table must have the process path's checksum and every silver table the Sail run's
(``lake_checksums``: without the run-dependent columns); ``identical`` says whether they did. The
figures are written as JSON (``bench/cluster.json``); nothing here asserts a figure. The Sail and local
silver runs go before any cluster starts, so each engine has the machine to itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from platform_assets.benchmark import TOPIC, apply_tick, machine
from platform_assets.operations.reference import peak_rss_mib

PARTITIONS = 4
BATCH_MESSAGES = 200_000  # per bronze commit, over all partitions
SILVER_TABLES = ("silver/orders", "silver/order_lines")
INGEST_DAY = date(2026, 11, 4)  # the bronze ingestion day the batches are stamped with


def _checksums(lake: Any, datasets: tuple[str, ...]) -> dict[str, str]:
    from platform_assets.contracts import load_contracts
    from platform_assets.operations.checksum import lake_checksums

    sums = lake_checksums({d: lake.uri(d) for d in datasets}, load_contracts(), lake.storage_options)
    return {s.name: f"{s.checksum.rows} rows, {s.checksum.digest}" for s in sums}


def _bronze_checksums(lake: Any) -> dict[str, str]:
    """The bronze table's checksum and the dead letters': the checksum's text cast cannot read the raw
    bytes of malformed payloads, so those are digested apart, in position order."""
    from deltalake import DeltaTable

    from platform_assets.operations.checksum import RUN_COLUMNS, table_checksum

    sums = _checksums(lake, ("bronze/order_events",))
    uri = lake.uri("bronze/order_events_dlq")
    options = lake.storage_options or None
    letters = table_checksum(uri, storage_options=options, exclude=RUN_COLUMNS | {"_raw_bytes"})
    raw = DeltaTable(uri, storage_options=options).to_pyarrow_table(columns=["_position", "_raw_bytes"])
    digest = hashlib.sha256()
    for value in raw.sort_by("_position").column("_raw_bytes").to_pylist():
        digest.update(b"\\N" if value is None else len(value).to_bytes(8, "big") + value)
    sums["bronze/order_events_dlq"] = f"{letters.rows} rows, {letters.digest}, raw bytes {digest.hexdigest()}"
    return sums


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all this machine's cores so far (Linux ``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def drain_topic(lake: Any, contract: Any, read: Any, label: str) -> dict[str, Any]:
    """Bounded batches of ``read`` (committed -> SourceBatch) into ``lake`` until the topic is drained;
    the seconds of each batch that committed rows."""
    from platform_assets.layers.bronze.incremental_asset import ingest_increment
    from platform_assets.layers.bronze.records import Batch

    seconds: list[float] = []
    rows = dead = 0
    busy_before, total_before = _cpu_times()
    reading = [0.0]

    def timed_read(committed: Any) -> Any:
        started = time.perf_counter()
        try:
            return read(committed)
        finally:
            reading[0] += time.perf_counter() - started

    while True:
        batch = Batch(INGEST_DAY, datetime.now(UTC), f"kafka:{TOPIC}", f"bench-{label}-{len(seconds) + 1}")
        started, read_before = time.perf_counter(), reading[0]
        source_batch, conformed, letters = ingest_increment(lake, contract, batch, timed_read)
        if not source_batch.offsets:  # the drained topic's empty read is not a batch
            reading[0] = read_before
            break
        seconds.append(time.perf_counter() - started)
        rows, dead = rows + conformed.row_count, dead + letters
        print(f"  {label}: batch {len(seconds)}, {rows + dead} messages in {sum(seconds):.1f} s", flush=True)
    busy, total_jiffies = _cpu_times()
    total = sum(seconds)
    messages = rows + dead
    later = sum(seconds[1:])
    first_messages = min(messages, BATCH_MESSAGES)
    return {
        "rows": rows,
        "dead_letters": dead,
        "messages": messages,
        "batches": len(seconds),
        "seconds": round(total, 3),
        "messages_per_second": round(messages / total, 1) if total else None,
        "first_batch_seconds": round(seconds[0], 3) if seconds else None,
        "later_messages_per_second": round((messages - first_messages) / later, 1) if later else None,
        # the source read (on the engine path with the typing: the Spark job and its rows back to the
        # driver); the rest: the typing on the process path, then the dead letters, the Delta commit
        # with the offsets and the acknowledgement on both
        "read_seconds": round(reading[0], 3),
        "commit_seconds": round(sum(seconds) - reading[0], 3),
        # how busy the machine's cores were meanwhile (every process: broker, engine, this one)
        "machine_cpu_busy": round((busy - busy_before) / max(1, total_jiffies - total_before), 3),
        "peak_rss_mib": peak_rss_mib(),
    }


def _engine_bronze(topology: Any, source: Any, contract: Any, prefix: str) -> dict[str, Any]:
    from platform_assets.demo_cluster import environment
    from platform_assets.engine.spark_resource import SparkEngine
    from platform_assets.lake.location import Lake
    from platform_assets.layers.bronze.engine_kafka import read_on_engine
    from sandbox.services.spark_cluster import executor_summary

    env = topology.environment(prefix)
    lake = Lake(env["PLATFORM_LAKE_ROOT"], topology.s3.storage_options)
    engine = SparkEngine(engine="connect", connect_url=topology.cluster.connect_url)
    engine_contract = contract.model_copy(update={"ingest": "engine"})
    with environment(env):
        spark = engine.get_session()
        try:
            figures = drain_topic(
                lake,
                engine_contract,
                lambda c: read_on_engine(spark, source, engine_contract, c, min_partitions=PARTITIONS),
                prefix,
            )
        finally:
            engine.stop_session()
    executors = executor_summary(topology.cluster.state.connect_ui_url)
    figures["executor_tasks"] = {e: int(f["tasks"]) for e, f in sorted(executors.items())}
    figures["executor_task_seconds"] = {e: f["task_seconds"] for e, f in sorted(executors.items())}
    figures["checksums"] = _bronze_checksums(lake)
    return figures


def _silver_in_child(env: dict[str, str]) -> dict[str, Any]:
    """The silver stage in a fresh process with ``env`` over this one's (its engine, its lake)."""
    from platform_assets.engine.spark_resource import classic_spark_environment

    with tempfile.NamedTemporaryFile(suffix=".json") as handle:
        command = [sys.executable, "-m", __name__, "--out", handle.name]
        subprocess.run(command, check=True, env=classic_spark_environment({**os.environ, **env}))
        return json.loads(Path(handle.name).read_text())


def _silver_on_copy(home: Path, name: str, env: dict[str, str]) -> dict[str, Any]:
    """The silver stage with ``env`` on a copy of the process path's bronze folder lake (removed after)."""
    shutil.copytree(home / "process", home / name)
    try:
        return _silver_in_child({**env, "PLATFORM_LAKE_ROOT": str(home / name)})
    finally:
        shutil.rmtree(home / name)


def _cluster_silver(topology: Any, prefix: str, home: Path, label: str) -> dict[str, dict[str, Any]]:
    """The silver stage on the cluster, on its S3 bronze under ``prefix``, then on a folder lake (one
    machine: the workers see the folder), which tells the engine's cost from the S3 lake's."""
    env = topology.environment(prefix)
    print(f"{label}: silver on the cluster ...", flush=True)
    on_s3 = _silver_in_child(env)
    print(f"{label}: silver on the cluster, folder lake ...", flush=True)
    return {"cluster": on_s3, "cluster_folder_lake": _silver_on_copy(home, "cluster-folder", env)}


def _upload(folder: Path, s3: Any, prefix: str) -> str:
    """Copy a folder lake to ``s3://<bucket>/<prefix>`` (Delta tables move with their relative paths)."""
    from platform_assets.sources.dms.s3_store import S3FileStore

    store = S3FileStore(s3.bucket, prefix, s3.storage_options)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        store.put(path.relative_to(folder).as_posix(), path.read_bytes())  # one file in memory at a time
    return f"s3://{s3.bucket}/{prefix}"


def _local_on_s3(s3: Any, home: Path) -> dict[str, Any]:
    """Local Spark on a copy of the process path's bronze on the S3 lake, its scratch copies on a folder
    as the cluster's: the same lake as the cluster's run, so the two tell the engines apart."""
    root = _upload(home / "process", s3, "bench-local-s3")
    env = {
        "PLATFORM_ENGINE": "local",
        "PYSPARK_PYTHON": sys.executable,
        "PLATFORM_LAKE_ROOT": root,
        "PLATFORM_STAGING_ROOT": str(home / "staging-local-s3"),
        **s3.storage_options,
    }
    return _silver_in_child(env)


def measure_silver() -> dict[str, Any]:
    """(child) One tick of the orders apply sensor on the environment's engine and lake, its runs recorded
    to an in-memory instance (the same for every engine)."""
    import dagster as dg

    from platform_assets.definitions import build_definitions, build_resources
    from platform_assets.domains.orders import ORDERS_APPLY_SENSOR
    from platform_assets.engine.spark_resource import SparkEngine
    from platform_assets.operations.sensor_driver import SensorDriver
    from platform_assets.settings import PlatformSettings

    started = time.perf_counter()
    settings = PlatformSettings.from_env()
    lake = settings.lake
    defs = build_definitions(settings)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            driver = SensorDriver(defs, instance, build_resources(settings), ORDERS_APPLY_SENSOR)
            figures = apply_tick(driver, lake)
    finally:
        if settings.engine == "connect":  # the session goes before the server does
            SparkEngine(engine="connect", connect_url=settings.spark_connect_url).stop_session()
    figures.pop("order_dates")
    figures["engine"] = settings.engine
    # where the step's scratch copies went: under the lake, or the topology's shared folder
    staging = settings.staging_root
    figures["staging"] = "lake" if staging is None else "s3" if staging.startswith("s3://") else "folder"
    figures["wall_seconds"] = round(time.perf_counter() - started, 3)
    figures["checksums"] = _checksums(lake, SILVER_TABLES)
    return figures


def measure_scale(scale: float, days: int, seed: int, workers: list[int], home: Path) -> dict[str, Any]:
    from platform_assets.contracts import load_contracts
    from platform_assets.lake.location import Lake
    from platform_assets.sources.kafka.reader import KafkaTopic, read_batch
    from sandbox.generator.order_stream import OrderEventStream
    from sandbox.services.kafka_broker import KafkaBroker
    from sandbox.services.order_producer import produce_order_events
    from sandbox.services.seaweedfs import SeaweedS3
    from sandbox.services.spark_cluster import ClusterConfig
    from sandbox.services.topology import ClusterTopology

    contract = load_contracts()["bronze/order_events"]
    figures: dict[str, Any] = {
        "scale": scale,
        "days": days,
        "partitions": PARTITIONS,
        "batch": BATCH_MESSAGES,
    }
    with KafkaBroker(home / "kafka") as broker:
        broker.create_topic(TOPIC, partitions=PARTITIONS)
        started = time.perf_counter()
        with OrderEventStream(seed=seed, days=days, scale=scale) as stream:
            produced = produce_order_events(broker.bootstrap_servers, TOPIC, stream)
        figures["messages"] = sum(produced.values())
        figures["produce_seconds"] = round(time.perf_counter() - started, 3)
        print(f"scale {scale:g}: {figures['messages']} messages produced to {TOPIC}", flush=True)

        def source(group: str) -> KafkaTopic:
            return KafkaTopic(broker.bootstrap_servers, TOPIC, group, BATCH_MESSAGES // PARTITIONS)

        process_lake, process_source = Lake(str(home / "process")), source("bench-process")
        figures["bronze"] = {
            "process": drain_topic(process_lake, contract, lambda c: read_batch(process_source, c), "process")
        }
        reference = _bronze_checksums(process_lake)
        figures["bronze"]["process"]["checksums"] = reference
        figures["silver"] = {}
        for engine in ("sail", "local"):  # each on its own copy of the same bronze, the machine to itself
            env = {"PLATFORM_ENGINE": engine}
            if engine == "local":  # the executors' Python: this venv's (the package), not python3 on PATH
                env["PYSPARK_PYTHON"] = sys.executable
            print(f"scale {scale:g}: silver on {engine} ...", flush=True)
            figures["silver"][engine] = _silver_on_copy(home, engine, env)
        with SeaweedS3("lake") as s3:
            for count in sorted(workers):
                config = ClusterConfig(workers=count, driver_memory="2g")
                print(f"scale {scale:g}: starting the topology with {count} worker(s) ...", flush=True)
                with ClusterTopology(home / f"cluster-{count}", s3=s3, config=config) as topology:
                    prefix = f"bench-{count}w"
                    bronze = _engine_bronze(topology, source(f"bench-{prefix}"), contract, prefix)
                    figures["bronze"][f"engine_{count}_workers"] = bronze
                    if count == max(workers):
                        runs = _cluster_silver(topology, prefix, home, f"scale {scale:g} ({count} workers)")
                        figures["silver"] |= {name: {**run, "workers": count} for name, run in runs.items()}
            print(f"scale {scale:g}: silver on local, S3 lake ...", flush=True)  # the cluster stopped
            figures["silver"]["local_s3_lake"] = _local_on_s3(s3, home)
    silver_reference = figures["silver"]["sail"]["checksums"]
    figures["identical"] = all(b["checksums"] == reference for b in figures["bronze"].values()) and all(
        s["checksums"] == silver_reference for s in figures["silver"].values()
    )
    return figures


def _summary(figures: dict[str, Any]) -> str:
    bronze = "; ".join(
        f"{path} {b['seconds']:.1f} s ({b['messages_per_second']} msg/s, first batch {b['first_batch_seconds']} s)"
        for path, b in figures["bronze"].items()
    )
    silver = "; ".join(f"{engine} {s['seconds']:.1f} s" for engine, s in figures["silver"].items())
    return (
        f"scale {figures['scale']:g}: {figures['messages']} messages; bronze {bronze}; silver {silver}; "
        f"identical: {figures['identical']}"
    )


def run_cluster_benchmark(
    scales: list[float], days: int, seed: int, output: Path, workers: list[int]
) -> dict[str, Any]:
    """Each scale on fresh services under a temporary home; prints progress, writes ``output`` after
    each scale (a long run keeps what it measured)."""
    document: dict[str, Any] = {
        "benchmark": "orders on the cluster topology: Kafka -> bronze (process / engine) -> silver per engine",
        "created_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "workers": sorted(workers),
        "results": [],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    for scale in scales:
        with tempfile.TemporaryDirectory(prefix="platform-bench-cluster-") as home:
            figures = measure_scale(scale, days, seed, workers, Path(home))
        print(_summary(figures), flush=True)
        document["results"].append(figures)
        output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written: {output}")
    return document


def _child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="the silver stage (used by `platform bench-cluster`)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(measure_silver()))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
