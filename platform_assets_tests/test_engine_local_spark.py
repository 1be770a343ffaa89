"""The silver FX transform and the publish gate give the same Delta table on Sail and on local Spark.

PySpark cannot hold a classic (local Spark) session and a Spark Connect (Sail) session in one
process: once a Connect session exists, every builder and function call goes to Spark Connect. So
the local-Spark half runs in a subprocess (``python -c`` importing ``run_silver`` from this module),
started first so that the JVM boots while Sail does its half here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from platform_assets.contracts import load_contracts
from platform_assets.engine import delta_io
from platform_assets.engine.spark_resource import SparkEngine, classic_spark_environment, delta_jars_dir
from platform_assets.lake.delta_tables import history, read_table
from platform_assets.lake.location import Lake
from platform_assets.layers.silver.fx_rates import conform_fx_rates
from platform_assets.quality.gate import publish_with_gate

pytestmark = pytest.mark.spark

REPO_ROOT = Path(__file__).resolve().parents[1]
AS_OF_DATES = [date(2026, 3, 2), date(2026, 3, 3)]
RESULT_MARK = "SILVER_OUTCOME="
SILVER_ORDER = ["as_of_date", "ccy"]

# (publication_id, as_of_date, ccy, base, rate_to_base, published_at, revision, _position), as received
_BATCHES = {
    date(2026, 3, 2): [
        # the duplicate: same as_of_date + ccy and published_at, revision 2 listed first so that only
        # the revision (not the later position) can make it win
        ("pub-0302", "2026-03-02", "EUR", "USD", "1.0842", "2026-03-02T16:00:00Z", "2", "p1:0"),
        ("pub-0302", "2026-03-02", "EUR", "USD", "1.0835", "2026-03-02T16:00:00Z", "1", "p1:1"),
        ("pub-0302", "2026-03-02", " gbp ", "usd", "1.265", "2026-03-02T16:00:00Z", "1", "p1:2"),
        ("pub-0302", "2026-03-02", "JPY", "USD", "0.0066", "2026-03-02T16:00:00Z", "1", "p1:3"),
        # a late record for a business date this run does not rebuild
        ("pub-0301", "2026-03-01", "CHF", "USD", "1.131", "2026-03-02T08:00:00Z", "1", "p2:0"),
    ],
    date(2026, 3, 3): [
        ("pub-0303", "2026-03-03", "EUR", "USD", "1.0851", "2026-03-03T16:00:00Z", "1", "p1:0"),
        ("pub-0303", "2026-03-03", "GBP", "USD", "1.2644", "2026-03-03T16:00:00Z", "1", "p1:1"),
    ],
}


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


EXPECTED_SILVER = [
    {
        "as_of_date": date(2026, 3, 2),
        "ccy": "EUR",
        "base_ccy": "USD",
        "rate_to_base": 1.0842,
        "published_at": _ts("2026-03-02T16:00:00Z"),
        "revision": 2,
        "publication_id": "pub-0302",
        "_batch_id": "fx-2026-03-02",
    },
    {
        "as_of_date": date(2026, 3, 2),
        "ccy": "GBP",
        "base_ccy": "USD",
        "rate_to_base": 1.265,
        "published_at": _ts("2026-03-02T16:00:00Z"),
        "revision": 1,
        "publication_id": "pub-0302",
        "_batch_id": "fx-2026-03-02",
    },
    {
        "as_of_date": date(2026, 3, 2),
        "ccy": "JPY",
        "base_ccy": "USD",
        "rate_to_base": 0.0066,
        "published_at": _ts("2026-03-02T16:00:00Z"),
        "revision": 1,
        "publication_id": "pub-0302",
        "_batch_id": "fx-2026-03-02",
    },
    {
        "as_of_date": date(2026, 3, 3),
        "ccy": "EUR",
        "base_ccy": "USD",
        "rate_to_base": 1.0851,
        "published_at": _ts("2026-03-03T16:00:00Z"),
        "revision": 1,
        "publication_id": "pub-0303",
        "_batch_id": "fx-2026-03-03",
    },
    {
        "as_of_date": date(2026, 3, 3),
        "ccy": "GBP",
        "base_ccy": "USD",
        "rate_to_base": 1.2644,
        "published_at": _ts("2026-03-03T16:00:00Z"),
        "revision": 1,
        "publication_id": "pub-0303",
        "_batch_id": "fx-2026-03-03",
    },
]


def _bronze_table() -> pa.Table:
    """Bronze rows as the contract types them: source fields as text, then the batch metadata."""
    names = ["publication_id", "as_of_date", "ccy", "base", "rate_to_base", "published_at", "revision"]
    rows: list[dict[str, Any]] = []
    for proc_date, records in _BATCHES.items():
        for *fields, position in records:
            row = dict(zip(names, fields, strict=True))
            row["_proc_date"] = proc_date
            row["_ingested_at"] = datetime(proc_date.year, proc_date.month, proc_date.day, 17, tzinfo=UTC)
            row["_source"] = "fx_api:/v1/publications"
            row["_batch_id"] = f"fx-{proc_date.isoformat()}"
            row["_position"] = position
            rows.append(row)
    schema = pa.schema(
        [pa.field(n, pa.string()) for n in names]
        + [
            pa.field("_proc_date", pa.date32(), nullable=False),
            pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("_source", pa.string(), nullable=False),
            pa.field("_batch_id", pa.string(), nullable=False),
            pa.field("_position", pa.string(), nullable=False),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def run_silver(engine: str, bronze_uri: str, lake_root: str) -> dict[str, Any]:
    """silver/fx_rates for AS_OF_DATES on ``engine``: the transform, then the publish gate."""
    contract = load_contracts()["silver/fx_rates"]
    spark = SparkEngine(engine=engine).get_session()
    candidate = conform_fx_rates(delta_io.read_delta(spark, bronze_uri), AS_OF_DATES)
    outcome = publish_with_gate(candidate, contract, Lake(lake_root), AS_OF_DATES, run_id=f"test-{engine}")
    return {
        "published_partitions": outcome.published_partitions,
        "blocked_partitions": outcome.blocked_partitions,
        "published_rows": outcome.published_rows,
        "quarantined_rows": outcome.quarantined_rows,
        "session": type(spark).__module__,
    }


def _start_local_spark(bronze_uri: str, lake_root: str) -> subprocess.Popen[str]:
    code = (
        "import json, sys\n"
        "from platform_assets_tests.test_engine_local_spark import RESULT_MARK, run_silver\n"
        "print(RESULT_MARK + json.dumps(run_silver('local', sys.argv[1], sys.argv[2])), flush=True)\n"
    )
    # JIT/GC flags for a short-lived JVM (about 20% off this run on 2 cores); results do not change
    # (a Sail session earlier in this test process marks the environment as Spark Connect mode)
    env = classic_spark_environment(
        {**os.environ, "JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, bronze_uri, lake_root],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _local_spark_outcome(process: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"local Spark run did not finish in 240 s:\n{stderr[-3000:]}")
    marked = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
    if process.returncode != 0 or not marked:
        pytest.fail(f"local Spark run failed (exit {process.returncode}):\n{stderr[-4000:]}")
    return json.loads(marked[-1][len(RESULT_MARK) :])


def test_silver_fx_rates_same_on_sail_and_local_spark(tmp_path: Path) -> None:
    jars_dir = delta_jars_dir()
    if not any(jars_dir.glob("*.jar")):
        pytest.fail(f"no Delta jars in {jars_dir}: run `make spark-jars` (PLATFORM_ENGINE=local needs them)")
    bronze_uri = str(tmp_path / "bronze" / "fx_rates")
    write_deltalake(bronze_uri, _bronze_table(), partition_by=["_proc_date"], mode="error")
    lakes = {"sail": Lake(str(tmp_path / "lake_sail")), "local": Lake(str(tmp_path / "lake_local"))}

    local_run = _start_local_spark(bronze_uri, lakes["local"].root)  # the JVM boots meanwhile
    try:
        sail_outcome = run_silver("sail", bronze_uri, lakes["sail"].root)
    except BaseException:
        local_run.kill()
        local_run.communicate()
        raise
    local_outcome = _local_spark_outcome(local_run)

    assert sail_outcome["session"] == "pyspark.sql.connect.session"
    assert local_outcome["session"] == "pyspark.sql.session"  # classic Spark, not Connect
    for outcome in (sail_outcome, local_outcome):
        assert outcome["published_partitions"] == ["2026-03-02", "2026-03-03"]
        assert outcome["blocked_partitions"] == []
        assert outcome["published_rows"] == len(EXPECTED_SILVER)
        assert outcome["quarantined_rows"] == 0

    # Same rows, types and partitioning. Not compared: the Delta schema's column order and
    # nullability, where the engines differ: Sail moves the partition column (as_of_date) to the
    # end and keeps NOT NULL from its input (_batch_id); Spark keeps the select order and writes
    # every column nullable. Readers address columns by name, so both tables read the same.
    columns = load_contracts()["silver/fx_rates"].column_names
    uris = {engine: lake.uri("silver/fx_rates") for engine, lake in lakes.items()}
    tables = {e: read_table(uri, columns=columns, order_by=SILVER_ORDER) for e, uri in uris.items()}
    assert tables["sail"].to_pylist() == EXPECTED_SILVER
    assert tables["local"].to_pylist() == EXPECTED_SILVER
    types = {e: [(f.name, f.type) for f in t.schema] for e, t in tables.items()}
    assert types["local"] == types["sail"]
    for uri in uris.values():
        assert DeltaTable(uri).metadata().partition_columns == ["as_of_date"]

    # the local table really was written by Apache Spark with Delta (not by delta-rs or Sail)
    local_engine = history(uris["local"], limit=1)[0].get("engineInfo", "")
    assert local_engine.startswith("Apache-Spark/4.2"), local_engine
    assert "Delta-Lake/" in local_engine
