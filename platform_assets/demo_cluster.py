"""`platform demo --topology cluster`: the demo's whole path on the production topology, on loopback.

The topology (``sandbox.services.topology.ClusterTopology``: a Spark standalone cluster with its Spark
Connect server, SeaweedFS as the S3 lake, PostgreSQL as the Dagster instance's storage) is started, the
demo runs with ``PLATFORM_ENGINE=connect`` on it exactly as embedded, and everything is stopped at the end,
also on an error, Ctrl-C or SIGTERM. The integration test runs ``demo_on_topology`` on its own topology.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from platform_assets.demo import run_demo

if TYPE_CHECKING:
    from sandbox.services.topology import ClusterTopology


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block; afterwards the environment as it was before it, also
    without what the demo exported on its way (the sandbox sources' tokens and addresses)."""
    before = os.environ.copy()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def topology_environment(topology: ClusterTopology, home: Path, lake_prefix: str = "demo") -> dict[str, str]:
    """The platform pointed at ``topology``: DMS lands on its S3 beside the lake (as AWS DMS lands on S3);
    the Dagster home and reports under ``home``."""
    env = topology.environment(lake_prefix)
    bucket = env["PLATFORM_LAKE_ROOT"].removeprefix("s3://").split("/", 1)[0]
    return {
        **env,
        "DAGSTER_HOME": str(home / "dagster_home"),
        "DMS_LANDING_ROOT": f"s3://{bucket}/{lake_prefix}-landing/dms",
        "PLATFORM_REPORTS_DIR": str(home / "reports"),
    }


def demo_on_topology(
    topology: ClusterTopology, home: Path, start: date, days: int, seed: int, lake_prefix: str = "demo"
) -> int:
    """The demo (its summary and checksums) on a started topology, then the work each worker did."""
    from platform_assets.engine.spark_resource import SparkEngine
    from sandbox.services.spark_cluster import executor_tasks

    assert topology.cluster is not None
    with environment(topology_environment(topology, home, lake_prefix)):
        try:
            code = run_demo(start, days, seed, ui_hint=False)
        finally:  # the session goes before its server does
            SparkEngine(engine="connect", connect_url=topology.cluster.connect_url).stop_session()
    tasks = executor_tasks(topology.cluster.state.connect_ui_url)
    print(f"\nSpark executors (one per worker), tasks completed: {dict(sorted(tasks.items()))}")
    return code


def run_cluster_demo(start: date, days: int, seed: int, home: Path) -> int:
    from sandbox.services.topology import ClusterTopology

    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the topology is stopped either way
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    home = home.resolve()
    started = time.monotonic()
    print(f"Starting the cluster topology in {home} ...")
    try:
        with ClusterTopology(home) as topology:
            for line in topology.describe():
                print(f"  {line}")
            print(f"  started in {time.monotonic() - started:.0f} s\n")
            code = demo_on_topology(topology, home, start, days, seed)
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM during a run (operations/sensor_driver.py)
        print(f"\nInterrupted ({interrupt or 'Ctrl-C'}); the topology is stopped", flush=True)
        return 130
    print(
        f"\nTopology stopped (cluster, S3 lake and PostgreSQL instance with it); reports kept in "
        f"{home / 'reports'}. Wall time {time.monotonic() - started:.0f} s"
    )
    return code
