"""PLATFORM_ENGINE=emr_serverless: gold/dim_currency (a Spark asset), silver/customers (a change
apply), and silver/orders + silver/order_lines (partitioned, a day held at the gate in a range run)
submitted as job runs through dagster-aws Pipes.

EMR Serverless cannot run on this machine, so the AWS side is moto's mock (``mock_aws``: EMR Serverless
and CloudWatch Logs) -- the one mock the rules allow, for a cloud service. Everything else is real: the
Dagster step runs ``PipesEMRServerlessClient`` unchanged; it starts the job run on moto and injects the
Pipes context into the driver's environment (``spark.emr-serverless.driverEnv.*`` in
``sparkSubmitParameters``). moto does not execute jobs, so the test plays EMR's part: when the job run
starts (a botocore ``after-call`` hook) it runs the package's entry point (``python -m
platform_assets.emr_job``) with exactly the driver environment the client submitted, on Sail, and ships
the entry point's stdout to the driver's CloudWatch stream, as EMR Serverless does. The Pipes client
then reads the job's logs, check results and materialization metadata back from CloudWatch (moto).
moto lacks ``GetDashboardForJobRun``, which the client calls on completion; a ``before-call`` hook
answers it with a fixed URL.

The materialization must carry what the entry point reported (rows, gate outcome, job engine) and the
job run's id, and the table the job wrote must equal the in-process (Sail) run's; for the change apply,
after each of two increments, with the same ``applied_through``; for the range runs, the same
per-partition materializations, check results and held-at-gate observations as in-process.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import dagster as dg
import pyarrow as pa
import pytest
from dagster_pipes import decode_param
from deltalake import write_deltalake
from moto import mock_aws

from platform_assets.contracts import load_contracts
from platform_assets.engine import delta_io
from platform_assets.engine.emr_serverless import settings_environment
from platform_assets.engine.spark_resource import SparkEngine
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import Lake
from platform_assets.lake.resource import LakeResource
from platform_assets.layers.bronze.conform import arrow_schema
from platform_assets.layers.emr_asset import HELD_AT_GATE
from platform_assets.layers.gold import dim_currency
from platform_assets.layers.silver import customers, orders
from platform_assets.layers.silver.change_apply_asset import APPLIED_THROUGH
from platform_assets.layers.silver.fx_rates import conform_fx_rates
from platform_assets.layers.spark_asset import TRANSFORMS, TransformInputs
from platform_assets.operations.checksum import table_checksum
from platform_assets.quality.check_events import PARTITION_RESULTS
from platform_assets.quality.gate import publish_with_gate
from platform_assets.quality.results import quality_results_uri
from platform_assets_tests.test_engine_local_spark import AS_OF_DATES, _bronze_table

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/platform-emr-job"
ENTRY_POINT = "s3://platform-artifacts/emr/emr_job.py"
LOG_GROUP = "/aws/emr-serverless"
DATASET = "gold/dim_currency"
CUSTOMERS = "silver/customers"
DRIVER_ENV = "--conf spark.emr-serverless.driverEnv."


def _driver_env(submit_parameters: str) -> dict[str, str]:
    words = shlex.split(submit_parameters)
    confs = [words[i + 1] for i, w in enumerate(words) if w == "--conf"]
    prefix = DRIVER_ENV.split(" ", 1)[1]
    return dict(c[len(prefix) :].split("=", 1) for c in confs if c.startswith(prefix))


class EmrServerlessStandIn:
    """Runs the entry point when moto accepts a job run, and ships its stdout to CloudWatch (moto)."""

    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []
        self.job_stderr = ""

    def install(self, session: boto3.Session) -> None:
        events = session.events
        events.register("provide-client-params.emr-serverless.StartJobRun", self._capture)
        events.register("after-call.emr-serverless.StartJobRun", self._run_job)
        events.register("before-call.emr-serverless.GetDashboardForJobRun", self._dashboard)

    def _capture(self, params: dict[str, Any], **_: Any) -> None:
        self.submitted.append(params)

    def _dashboard(self, **_: Any) -> tuple[Any, dict[str, str]]:
        return SimpleNamespace(status_code=200, headers={}), {"url": "https://dashboard.invalid/job"}

    def _run_job(self, parsed: dict[str, Any], **_: Any) -> None:
        params = self.submitted[-1]
        spark_submit = params["jobDriver"]["sparkSubmit"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_PIPES", "PLATFORM_"))}
        env |= _driver_env(spark_submit["sparkSubmitParameters"]) | {"PLATFORM_JOB_ENGINE": "sail"}
        job = subprocess.run(
            [sys.executable, "-m", "platform_assets.emr_job"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.job_stderr = job.stderr
        assert job.returncode == 0, job.stderr[-3000:]
        logs = boto3.client("logs", region_name=REGION)
        stream = f"/applications/{parsed['applicationId']}/jobs/{parsed['jobRunId']}/SPARK_DRIVER"
        for name, text in (("stdout", job.stdout), ("stderr", job.stderr)):
            logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=f"{stream}/{name}")
            lines = [line for line in text.splitlines() if line.strip()][-5000:]
            now = int(time.time() * 1000)
            if lines:
                logs.put_log_events(
                    logGroupName=LOG_GROUP,
                    logStreamName=f"{stream}/{name}",
                    logEvents=[{"timestamp": now, "message": line} for line in lines],
                )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        boto3.setup_default_session(region_name=REGION)
        stand_in = EmrServerlessStandIn()
        stand_in.install(boto3.DEFAULT_SESSION)
        try:
            yield stand_in
        finally:
            boto3.DEFAULT_SESSION = None


def test_a_transform_runs_as_an_emr_serverless_job_and_reports_back_through_pipes(
    aws: EmrServerlessStandIn, tmp_path: Path
) -> None:
    emr = boto3.client("emr-serverless")
    app_id = emr.create_application(name="platform", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
    boto3.client("logs").create_log_group(logGroupName=LOG_GROUP)
    lakes = {name: Lake(str(tmp_path / name)) for name in ("emr", "in_process")}
    contracts = load_contracts()
    spark = SparkEngine(engine="sail").get_session()
    for lake in lakes.values():  # the input: silver/fx_rates of AS_OF_DATES, published in-process
        write_deltalake(lake.uri("bronze/fx_rates"), _bronze_table(), partition_by=["_proc_date"])
        silver = conform_fx_rates(delta_io.read_delta(spark, lake.uri("bronze/fx_rates")), AS_OF_DATES)
        publish_with_gate(silver, contracts["silver/fx_rates"], lake, AS_OF_DATES, run_id="input")
    engine = SparkEngine(
        engine="emr_serverless",
        emr_application_id=app_id,
        emr_execution_role_arn=ROLE,
        emr_entry_point=ENTRY_POINT,
        emr_submit_parameters="--conf spark.archives=s3://platform-artifacts/emr/venv.tar.gz#environment",
    )
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [dim_currency.build(contracts)],
        instance=instance,
        resources={"lake": LakeResource(root=lakes["emr"].root), "spark": engine},
        raise_on_error=False,
    )
    assert result.success, aws.job_stderr[-3000:]

    # the submission: one job run of the package's entry point, with the Pipes context and the lake
    (run,) = emr.list_job_runs(applicationId=app_id)["jobRuns"]
    job = emr.get_job_run(applicationId=app_id, jobRunId=run["id"])["jobRun"]
    submit = job["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"] == ENTRY_POINT
    driver_env = _driver_env(submit["sparkSubmitParameters"])
    assert {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES", "PLATFORM_LAKE_ROOT"} <= set(driver_env)
    assert driver_env["PLATFORM_LAKE_ROOT"] == lakes["emr"].root
    assert (
        "spark.archives=s3://platform-artifacts/emr/venv.tar.gz#environment"
        in submit["sparkSubmitParameters"]
    )
    assert "AWS_SECRET_ACCESS_KEY" not in submit["sparkSubmitParameters"]
    assert job["executionRole"] == ROLE and job["tags"]["dagster/run-id"] == result.run_id

    # the round trip: what the entry point reported is on the materialization and the checks
    (materialization,) = result.asset_materializations_for_node(result.all_node_events[0].node_name)
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    in_process = _in_process(lakes["in_process"], contracts)
    assert metadata["published_rows"] == in_process.published_rows == 4  # EUR, GBP, JPY, unknown (-1)
    assert metadata["dagster/row_count"] == 4
    assert metadata["blocked_partitions"] == [] and metadata["quarantined_rows"] == 0
    assert metadata["job_engine"] == "sail" and metadata["job_seconds"] > 0
    assert metadata["AWS EMR Serverless Job Run ID"] == run["id"]
    checks = result.get_asset_check_evaluations()
    assert sorted(c.check_name for c in checks) == sorted(r.name for r in contracts[DATASET].rules)
    assert all(c.passed for c in checks)
    assert all("evaluated_rows" in c.metadata for c in checks)
    # the job's Pipes log lines reached the Dagster event log
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(f"{DATASET}: 4 row(s) published" in m for m in logs), logs[-20:]
    # and the job wrote exactly what the in-process step writes
    assert table_checksum(lakes["emr"].uri(DATASET)).rows == 4
    assert table_checksum(lakes["emr"].uri(DATASET)) == table_checksum(lakes["in_process"].uri(DATASET))


def _in_process(lake: Lake, contracts: dict) -> Any:
    spark = SparkEngine(engine="sail").get_session()
    candidate = TRANSFORMS[DATASET](TransformInputs(spark, lake, None))
    return publish_with_gate(candidate, contracts[DATASET], lake, None, run_id="in-process")


# silver/customers (a change apply) from two DMS deliveries: a full load, then updates and a delete
_FULL_LOAD = [  # (Op, customer_id, name, email, country)
    ("I", 1, "Ada", "ada@example.com", "GB"),
    ("I", 2, "Bo", "bo@example.com", "SE"),
    ("I", 3, "Cy", "cy@example.com", "US"),
]
_CDC = [("U", 2, "Bo B", "bo.b@example.com", "SE"), ("D", 3, "Cy", "cy@example.com", "US")]
SECRET = "lake-secret-never-in-the-job"


def _dms_rows(file: str, rows: list[tuple], ingested_at: datetime) -> pa.Table:
    commit = ingested_at - timedelta(minutes=5)
    records = [
        {
            "Op": op,
            "_dms_commit_ts": commit,
            "customer_id": cid,
            "name": name,
            "email": email,
            "phone": None,
            "address": None,
            "country": country,
            "updated_at": commit,
            "_dms_file": file,
            "_dms_row": n,
            "_proc_date": ingested_at.date(),
            "_ingested_at": ingested_at,
            "_source": "rds_dms:customers",
            "_batch_id": f"dms-{file}",
            "_position": f"{file}:{n}",
        }
        for n, (op, cid, name, email, country) in enumerate(rows, start=1)
    ]
    ts, text = pa.timestamp("us", tz="UTC"), pa.string()
    types = {"_dms_commit_ts": ts, "updated_at": ts, "_ingested_at": ts, "_proc_date": pa.date32()}
    types |= {"customer_id": pa.int64(), "_dms_row": pa.int64()}
    schema = pa.schema([(name, types.get(name, text)) for name in records[0]])
    return pa.Table.from_pylist(records, schema=schema)


def _pipes_extras(submitted: dict[str, Any]) -> dict[str, Any]:
    env = _driver_env(submitted["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"])
    return decode_param(env["DAGSTER_PIPES_CONTEXT"])["data"]["extras"]


def test_a_change_apply_runs_as_an_emr_serverless_job_from_the_instances_applied_through(
    aws: EmrServerlessStandIn, tmp_path: Path
) -> None:
    """silver/customers under emr_serverless and in-process, from the same two bronze deliveries:
    the same table and applied_through after each; the second job reads from the first's point."""
    emr = boto3.client("emr-serverless")
    app_id = emr.create_application(name="platform", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
    boto3.client("logs").create_log_group(logGroupName=LOG_GROUP)
    contracts = load_contracts()
    asset = customers.build(contracts)[0]
    secrets = {"AWS_ACCESS_KEY_ID": "lake-key", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": REGION}
    modes = {
        "emr": (
            LakeResource(root=str(tmp_path / "emr"), storage_options=secrets),
            SparkEngine(
                engine="emr_serverless",
                emr_application_id=app_id,
                emr_execution_role_arn=ROLE,
                emr_entry_point=ENTRY_POINT,
            ),
        ),
        "in_process": (LakeResource(root=str(tmp_path / "in_process")), SparkEngine(engine="sail")),
    }
    instances = {mode: dg.DagsterInstance.ephemeral() for mode in modes}
    first, second = datetime(2026, 11, 2, 9, tzinfo=UTC), datetime(2026, 11, 3, 9, tzinfo=UTC)
    deliveries = [("LOAD00000001.csv", _FULL_LOAD, first), ("20261103-090000000.csv", _CDC, second)]
    metadata: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for file, rows, ingested_at in deliveries:
        for mode, (lake, engine) in modes.items():
            bronze = lake.lake.uri("bronze/rds_customers_cdc")
            write_deltalake(
                bronze, _dms_rows(file, rows, ingested_at), mode="append", partition_by=["_proc_date"]
            )
            result = dg.materialize(
                [asset],
                instance=instances[mode],
                resources={"lake": lake, "spark": engine},
                raise_on_error=False,
            )
            assert result.success, aws.job_stderr[-3000:]
            (materialization,) = result.asset_materializations_for_node(result.all_node_events[0].node_name)
            metadata[mode].append({k: v.value for k, v in materialization.metadata.items()})
            checks = result.get_asset_check_evaluations()
            assert sorted(c.check_name for c in checks) == sorted(r.name for r in contracts[CUSTOMERS].rules)
            assert all(c.passed for c in checks)
        emr_table = table_checksum(modes["emr"][0].lake.uri(CUSTOMERS))
        assert emr_table == table_checksum(modes["in_process"][0].lake.uri(CUSTOMERS))
    emr_first, emr_second = metadata["emr"]
    for key in (APPLIED_THROUGH, "changes_applied", "live_rows", "dagster/row_count"):
        assert [m[key] for m in metadata["emr"]] == [m[key] for m in metadata["in_process"]], key
    assert (
        emr_first[APPLIED_THROUGH] == first.isoformat() and emr_second[APPLIED_THROUGH] == second.isoformat()
    )
    # the second increment applied only the new changes: 3 inserts, then 1 update and 1 delete
    assert (emr_first["changes_applied"], emr_second["changes_applied"]) == (3, 2)
    assert (emr_first["live_rows"], emr_second["live_rows"]) == (3, 2)
    assert emr_second["job_engine"] == "sail" and "AWS EMR Serverless Job Run ID" in emr_second
    live = read_table(
        modes["emr"][0].lake.uri(CUSTOMERS), where="NOT _is_deleted", columns=["customer_id", "name"]
    )
    assert sorted(live.to_pylist(), key=lambda r: r["customer_id"]) == [
        {"customer_id": 1, "name": "Ada"},
        {"customer_id": 2, "name": "Bo B"},
    ]
    # what the step read from its instance went to the job as extras: the first job read from the
    # start, the second from the first's applied_through
    first_job, second_job = (_pipes_extras(p) for p in aws.submitted)
    assert (first_job["kind"], first_job["dataset"], first_job["partitions"]) == (
        "change_apply",
        CUSTOMERS,
        None,
    )
    assert first_job["plan"] == [[None, None]] and second_job["plan"] == [[first.isoformat(), None]]
    # the job recorded its rule evaluations as the in-process step does
    quality = {mode: read_table(quality_results_uri(lake.lake)).num_rows for mode, (lake, _) in modes.items()}
    assert quality["emr"] == quality["in_process"] == 2 * len(contracts[CUSTOMERS].rules)
    # the lake's credentials stayed with the step: the job reads S3 with its role
    for submitted in aws.submitted:
        parameters = submitted["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
        assert SECRET not in parameters and "lake-key" not in parameters
        assert not set(_driver_env(parameters)) & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        options = settings_environment(_driver_env(parameters))["PLATFORM_STORAGE_OPTIONS"]
        assert json.loads(options) == {"AWS_REGION": REGION}


# silver/orders (a partitioned change apply) and silver/order_lines (a partitioned Spark asset), three
# days in one range run each: (order_id, currency, lines (line_no, quantity, unit_price)) by order date
_D1, _D2, _D3 = (datetime(2026, 11, day, tzinfo=UTC) for day in (2, 3, 4))
_ORDERS = {
    _D1: [
        ("ord-1", "USD", [(1, 2, 10.0)]),
        # passes every orders rule, but its two lines share a line_no: order_lines holds this day
        ("ord-2", "EUR", [(1, 1, 5.0), (1, 1, 5.0)]),
    ],
    _D2: [("ord-3", "XXX", [(1, 1, 7.5)]), ("ord-4", "GBP", [(1, 3, 1.0)])],  # XXX: orders holds this day
    _D3: [("ord-5", "JPY", [(1, 4, 100.0), (2, 1, 50.0)])],
}
ORDERS, LINES = "silver/orders", "silver/order_lines"


def _order_events(contracts: dict) -> pa.Table:
    contract = contracts["bronze/order_events"]
    rows = []
    for day, day_orders in _ORDERS.items():
        for n, (order_id, currency, lines) in enumerate(day_orders):
            created = day + timedelta(hours=9, minutes=n)
            items = [{"line_no": no, "product_id": 7, "quantity": q, "unit_price": p} for no, q, p in lines]
            rows.append(
                {
                    "event_id": f"evt-{order_id}",
                    "event_type": "created",
                    "order_id": order_id,
                    "customer_id": 1,
                    "currency": currency,
                    "lines": json.dumps(items),
                    "order_total": sum(q * p for _, q, p in lines),
                    "event_time": created,
                    "created_time": created,
                    "schema_version": 2,
                    "channel": "web",
                    "_topic": "orders",
                    "_partition": 0,
                    "_offset": len(rows),
                    "_key": order_id,
                    "_proc_date": day.date(),
                    "_ingested_at": day + timedelta(hours=10),
                    "_source": "kafka:orders",
                    "_batch_id": f"kafka-{day.date()}",
                    "_position": f"orders-0@{len(rows)}",
                }
            )
    return pa.Table.from_pylist(rows, schema=arrow_schema(contract, [c.name for c in contract.columns]))


def _gate_events(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """What a range run recorded: the partitions materialized (with their row counts), the observations of the partitions held
    at the gate, and each rule's evaluation (passed, per-partition results)."""

    def recorded(kind: str) -> list[Any]:
        return [e.event_specific_data for e in result.all_events if e.event_type_value == kind]

    observed = [o.asset_observation for o in recorded("ASSET_OBSERVATION")]
    return {
        "materialized": {
            m.materialization.partition: m.materialization.metadata["dagster/row_count"].value
            for m in recorded("ASSET_MATERIALIZATION")
        },
        "held": {
            o.partition: {k: v.value for k, v in o.metadata.items()}
            for o in observed
            if "held_at_gate" in o.metadata
        },
        "checks": {
            c.check_name: (c.passed, c.metadata[PARTITION_RESULTS].value)
            for c in result.get_asset_check_evaluations()
        },
    }


def test_a_partitioned_change_apply_and_spark_asset_hold_a_partition_as_jobs_as_in_process(
    aws: EmrServerlessStandIn, tmp_path: Path
) -> None:
    """silver/orders then silver/order_lines for 2026-11-02..04, as job runs and in-process: a critical
    rule holds one day of each (orders: an unknown currency on the 3rd; order_lines: a repeated line
    number on the 2nd), the other days are applied; the same tables, per-partition materializations,
    per-partition check results and held-at-gate observations either way."""
    emr = boto3.client("emr-serverless")
    app_id = emr.create_application(name="platform", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
    boto3.client("logs").create_log_group(logGroupName=LOG_GROUP)
    contracts = load_contracts()
    assets = dict(zip((ORDERS, LINES), orders.build(contracts), strict=True))
    job_engine = SparkEngine(
        engine="emr_serverless",
        emr_application_id=app_id,
        emr_execution_role_arn=ROLE,
        emr_entry_point=ENTRY_POINT,
    )
    modes = {"emr": job_engine, "in_process": SparkEngine(engine="sail")}
    days = {
        "dagster/asset_partition_range_start": "2026-11-02",
        "dagster/asset_partition_range_end": "2026-11-04",
    }
    seen: dict[str, dict[str, Any]] = {mode: {} for mode in modes}
    job_results: dict[str, dg.ExecuteInProcessResult] = {}
    lakes = {mode: Lake(str(tmp_path / mode)) for mode in modes}
    for mode, engine in modes.items():
        write_deltalake(
            lakes[mode].uri("bronze/order_events"), _order_events(contracts), partition_by=["_proc_date"]
        )
        instance = dg.DagsterInstance.ephemeral()
        for dataset, asset in assets.items():
            result = dg.materialize(
                [asset],
                instance=instance,
                resources={"lake": LakeResource(root=lakes[mode].root), "spark": engine},
                tags=days,
                raise_on_error=False,
            )
            assert not result.success  # the failed blocking check fails the step, after its records
            seen[mode][dataset] = _gate_events(result)
            if mode == "emr":
                job_results[dataset] = result
    assert seen["emr"] == seen["in_process"]
    assert [_pipes_extras(s)["partitions"] for s in aws.submitted] == [
        ["2026-11-02", "2026-11-03", "2026-11-04"]
    ] * 2
    for dataset in (ORDERS, LINES):
        emr_table = table_checksum(lakes["emr"].uri(dataset))
        assert emr_table == table_checksum(lakes["in_process"].uri(dataset)), dataset

    orders_run, lines_run = seen["emr"][ORDERS], seen["emr"][LINES]
    # orders: the 3rd held (ord-3's XXX), the 2nd and 4th applied and recorded one by one
    assert orders_run["materialized"] == {"2026-11-02": 2, "2026-11-04": 1}
    currency = "currency_in_set"
    assert orders_run["held"] == {
        "2026-11-03": {
            "held_at_gate": True,
            "blocked_by": [currency],
            "why": "currency must be one of USD, EUR, GBP, JPY, CAD, CHF",
        }
    }
    passed, results = orders_run["checks"][currency]
    assert not passed
    assert [(r["partition"], r["passed"], r["evaluated_rows"], r["failed_rows"]) for r in results] == [
        ("2026-11-02", True, 2, 0),
        ("2026-11-03", False, 2, 1),
        ("2026-11-04", True, 1, 0),
    ]
    live = read_table(lakes["emr"].uri(ORDERS), columns=["order_id"]).to_pylist()
    assert sorted(r["order_id"] for r in live) == ["ord-1", "ord-2", "ord-5"]  # nothing of the 3rd
    # order_lines: the 2nd held (ord-2's two line 1s), the others published
    unique = "order_id_line_no_unique"
    assert lines_run["held"] == {
        "2026-11-02": {
            "held_at_gate": True,
            "blocked_by": [unique],
            "why": "each (order_id, line_no) must appear only once",
        }
    }
    assert lines_run["materialized"] == {"2026-11-03": 0, "2026-11-04": 2}  # the 3rd: no orders
    passed, results = lines_run["checks"][unique]
    assert not passed
    assert [(r["partition"], r["passed"], r["failed_rows"]) for r in results] == [
        ("2026-11-02", False, 2),
        ("2026-11-03", True, 0),
        ("2026-11-04", True, 0),
    ]
    lines = read_table(lakes["emr"].uri(LINES), columns=["order_id", "line_no"]).to_pylist()
    assert sorted((r["order_id"], r["line_no"]) for r in lines) == [("ord-5", 1), ("ord-5", 2)]
    # the job runs' materializations: recorded by the step with the job run's id, and what the job
    # reported of the gate went into the observations, not the materialization
    for dataset, result in job_results.items():
        recorded = [
            e.event_specific_data.materialization
            for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
        ]
        assert recorded and all("AWS EMR Serverless Job Run ID" in m.metadata for m in recorded), dataset
        assert not any(HELD_AT_GATE in m.metadata for m in recorded), dataset
