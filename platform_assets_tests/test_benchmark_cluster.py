"""`platform bench-cluster` at a small scale: every path it times gives the oracle's tables.

Real parts throughout: a Kafka broker, the process path and the engine path (Spark's Kafka source on a
standalone cluster of one, then two workers, the lake on SeaweedFS S3, a PostgreSQL instance), and the
silver apply on Sail, local Spark and the cluster. About 3.5 minutes (two topologies, three Spark
engines' cold starts), so it runs with the demo-on-the-cluster test in `make cluster-demo-test`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets.benchmark_cluster import measure_scale
from sandbox.generator.order_stream import generate_order_events

SCALE, DAYS, SEED = 2.0, 3, 7


@pytest.mark.cluster
@pytest.mark.cluster_demo
@pytest.mark.timeout(1500)
def test_every_path_of_the_cluster_benchmark_gives_the_oracles_bronze_and_silver(tmp_path: Path) -> None:
    dataset = generate_order_events(seed=SEED, days=DAYS, scale=SCALE)
    valid = sum(m.valid for m in dataset.messages)
    orders, lines = len(dataset.expected_orders()), len(dataset.expected_order_lines())
    assert 0 < valid < len(dataset.messages)  # the planted malformed and invalid messages

    figures = measure_scale(SCALE, DAYS, SEED, [1, 2], tmp_path)

    assert figures["messages"] == len(dataset.messages)
    assert set(figures["bronze"]) == {"process", "engine_1_workers", "engine_2_workers"}
    reference = figures["bronze"]["process"]["checksums"]
    assert reference["bronze/order_events"].startswith(f"{valid} rows, ")
    assert reference["bronze/order_events_dlq"].startswith(f"{len(dataset.messages) - valid} rows, ")
    for path, bronze in figures["bronze"].items():
        assert (bronze["rows"], bronze["dead_letters"]) == (valid, len(dataset.messages) - valid), path
        assert bronze["checksums"] == reference, path
    # the engine path's tasks ran on every worker of each topology
    assert set(figures["bronze"]["engine_1_workers"]["executor_tasks"]) == {"0"}
    tasks = figures["bronze"]["engine_2_workers"]["executor_tasks"]
    assert set(tasks) == {"0", "1"} and min(tasks.values()) > 0

    assert set(figures["silver"]) == {"sail", "local", "cluster", "cluster_folder_lake", "local_s3_lake"}
    for engine, silver in figures["silver"].items():
        assert silver["succeeded"], engine
        assert silver["checksums"]["silver/orders"].startswith(f"{orders} rows, "), engine
        assert silver["checksums"]["silver/order_lines"].startswith(f"{lines} rows, "), engine
        assert silver["checksums"] == figures["silver"]["sail"]["checksums"], engine
    engines = {name: (run["engine"], run["staging"]) for name, run in figures["silver"].items()}
    assert engines == {
        "sail": ("sail", "lake"),
        "local": ("local", "lake"),
        "cluster": ("connect", "folder"),  # the topology stages on a folder its workers share
        "cluster_folder_lake": ("connect", "folder"),
        "local_s3_lake": ("local", "folder"),
    }
    assert figures["identical"] is True
