"""The demo: sandbox sources -> bronze -> silver -> gold on the embedded defaults, then a summary.

FX: it plays the sandbox's publication days in order, moving the FX service's clock to the end of each
day. Customers: it starts a real PostgreSQL, lets the DMS-like task replicate the full load and four
change batches into DMS files. After each step the real sensor (``fx_publications_sensor``,
``rds_customers_dms_sensor``) decides what to run, and its requests run in-process against the
Dagster instance in ``DAGSTER_HOME``, so the UI on that home shows them.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
from dagster._core.remote_origin import RemoteRepositoryOrigin

from platform_assets.contracts import load_contracts
from platform_assets.definitions import build_definitions, build_resources
from platform_assets.demo_gold import gold_demo, print_gold_summary
from platform_assets.lake.delta_tables import count_by, row_count
from platform_assets.lake.location import Lake
from platform_assets.layers.specs import RANGE_END, RANGE_START
from platform_assets.operations.checksum import TableSum, lake_checksums
from platform_assets.operations.instance_sensor import workspace_repository_origin
from platform_assets.operations.sensor_driver import SensorDriver
from platform_assets.operations.ui_services import prepare_home, reset_home
from platform_assets.quality.check_events import partition_results
from platform_assets.settings import PlatformSettings

if TYPE_CHECKING:
    from sandbox.services.tls import SandboxCA


@dataclass
class CheckTally:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class RunOutcome:
    run_id: str
    partitions: str
    success: bool
    checks: CheckTally
    stopped_at: list[str]  # assets whose step failed (a blocking check, or an error)
    not_run: list[str]  # assets of the job that were not materialized because of that


@functools.cache
def _origin() -> RemoteRepositoryOrigin:
    """The code location's origin: the demo's runs and ticks are recorded under it, as the UI shows them."""
    return workspace_repository_origin(SINGLETON_REPOSITORY_NAME)


def _outcome(driver: SensorDriver, request: dg.RunRequest) -> RunOutcome:
    """Run a request and sum up what happened: checks, the assets that stopped or did not run."""
    result = driver.execute(request)
    job = driver.defs.resolve_job_def(driver.sensor.job_name)
    tally = CheckTally()
    stopped: list[str] = []
    materialized: set[str] = set()
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            for part in partition_results(evaluation):  # a rule's result on each partition of the run
                (tally.passed if part.passed else tally.failed).append(name)
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            materialized.add(event.event_specific_data.materialization.asset_key.to_user_string())
        elif event.event_type_value == "STEP_FAILURE" and event.step_key:
            stopped.append(event.step_key.replace("__", "/", 1))
    job_assets = [key.to_user_string() for key in job.asset_layer.executable_asset_keys]
    start = request.tags.get(RANGE_START, request.partition_key or "")
    end = request.tags.get(RANGE_END, start)
    span = start if start == end else f"{start}..{end}"
    not_run = sorted(a for a in job_assets if a not in materialized and a not in stopped)
    return RunOutcome(result.run_id, span, result.success, tally, stopped, not_run)


def _report(label: str, outcome: RunOutcome) -> None:
    verdict = "ok" if outcome.success else "STOPPED"
    failed = f"; failed checks: {', '.join(outcome.checks.failed)}" if outcome.checks.failed else ""
    print(
        f"{label}  sensor -> run {outcome.run_id[:8]} partitions {outcome.partitions}: {verdict} "
        f"({len(outcome.checks.passed)} checks passed{failed})"
    )
    if outcome.stopped_at:
        print(
            f"            stopped at {', '.join(outcome.stopped_at)}; "
            f"not refreshed: {', '.join(outcome.not_run) or 'nothing'}"
        )


def _tick(driver: SensorDriver, label: str) -> list[RunOutcome]:
    """One tick of a sensor, its requests run, one line each."""
    tick = driver.evaluate()
    if not tick.run_requests:
        print(f"{label}  sensor: nothing new")
    outcomes = [_outcome(driver, r) for r in tick.run_requests]
    for outcome in outcomes:
        _report(label, outcome)
    return outcomes


def _fx_demo(
    settings: PlatformSettings,
    instance: dg.DagsterInstance,
    start: date,
    days: int,
    seed: int,
    ca: SandboxCA,
) -> list[RunOutcome]:
    from sandbox.generator.fx import generate_fx
    from sandbox.services.fx_api import FxApiServer

    dataset = generate_fx(seed=seed, start=start, days=days)
    print(
        f"FX REST API (sandbox): {len(dataset.publications)} publications for {start}..{dataset.as_of_dates[-1]}"
    )
    outcomes: list[RunOutcome] = []
    with FxApiServer(dataset, ca=ca) as fx_service:
        os.environ["FX_API_TOKEN"] = fx_service.token  # resolved at run time (dg.EnvVar), never in config
        os.environ["FX_API_CA_PATH"] = str(ca.ca_path)
        settings = replace(
            settings,
            fx_api_url=fx_service.base_url,
            fx_api_token=fx_service.token,
            fx_api_ca_path=str(ca.ca_path),
        )
        defs = build_definitions(settings)
        driver = SensorDriver(defs, instance, build_resources(settings), "fx_publications_sensor", _origin())
        for offset in range(days):
            day = start + timedelta(days=offset)
            fx_service.set_clock(datetime.combine(day, time(23, 59, 59)).isoformat() + "Z")
            outcomes += _tick(driver, str(day))
    return outcomes


def _customers_demo(
    settings: PlatformSettings, instance: dg.DagsterInstance, seed: int, ca: SandboxCA
) -> list[RunOutcome]:
    """PostgreSQL -> logical replication -> DMS files -> bronze -> silver, if PostgreSQL is installed."""
    import contextlib

    import psycopg2

    from platform_assets.sources.dms.s3_store import S3FileStore
    from sandbox.generator.customers import apply_batch, generate_customers, load_initial
    from sandbox.services.dms_task import DmsTask
    from sandbox.services.postgres import CUSTOMERS_PUBLICATION, DEFAULT_BIN_DIR, PostgresServer

    if not (DEFAULT_BIN_DIR / "postgres").exists():
        print(f"\nRDS customers: skipped (no PostgreSQL server binaries in {DEFAULT_BIN_DIR})")
        return []
    dataset = generate_customers(seed=seed, batches=4)
    defs = build_definitions(settings)
    driver = SensorDriver(defs, instance, build_resources(settings), "rds_customers_dms_sensor", _origin())
    outcomes: list[RunOutcome] = []
    landing = settings.dms_landing_root
    # on S3 the task writes each file durably into a folder of the home first, then PUTs it (DmsTask)
    s3 = S3FileStore.from_uri(landing) if landing.startswith("s3://") else None
    folder = Path(os.environ["DAGSTER_HOME"]) / "dms-staging" if s3 else Path(landing)
    with (
        PostgresServer(ca=ca) as pg,  # TLS only; the DMS task and the loader verify it (verify-full)
        DmsTask(pg.dsn, "demo", CUSTOMERS_PUBLICATION, folder, publish_to=s3) as task,
    ):
        print(f"\nRDS customers: PostgreSQL on port {pg.port}, replicated as DMS files into {landing}")
        with contextlib.closing(psycopg2.connect(pg.dsn)) as conn:
            load_initial(conn, dataset)
            task.full_load()
            outcomes += _tick(driver, f"full load ({len(dataset.state_after(0))} customers)")
            for batch in dataset.batches:
                apply_batch(conn, batch)
                task.poll(timeout_seconds=10)
                outcomes += _tick(driver, f"change batch {batch.number} ({len(batch.changes)} changes)")
    return outcomes


def _salesforce_demo(
    settings: PlatformSettings, instance: dg.DagsterInstance, ca: SandboxCA
) -> list[RunOutcome]:
    """The sandbox org over the real Salesforce REST query API (TLS), by exact watermark."""
    from sandbox.generator.salesforce import generate_salesforce
    from sandbox.services.salesforce_api import SalesforceApiServer

    dataset = generate_salesforce()
    outcomes: list[RunOutcome] = []
    with SalesforceApiServer(dataset, ca=ca) as org:
        os.environ.update(
            SALESFORCE_INSTANCE_URL=org.instance_url,
            SALESFORCE_SESSION_ID=org.session_id,
            SALESFORCE_CA_PATH=str(org.ca_path),
        )
        print(f"\nSalesforce (sandbox org, REST query API over TLS): {org.instance_url}")
        defs = build_definitions(settings)
        driver = SensorDriver(
            defs, instance, build_resources(settings), "salesforce_watermark_sensor", _origin()
        )
        outcomes += _tick(driver, "initial extraction")
        for _ in range(len(dataset.rounds)):
            round_no = org.apply_next_round()["applied_round"]
            outcomes += _tick(driver, f"change round {round_no}")
    return outcomes


def _products_demo(
    settings: PlatformSettings, instance: dg.DagsterInstance, ca: SandboxCA
) -> list[RunOutcome]:
    """The product catalogue in a Snowflake stand-in (fakesnow), by exact `updated_at` watermark."""
    from sandbox.generator.products import generate_products
    from sandbox.services.snowflake_server import FakeSnowflakeServer, apply_round, seed_products

    dataset = generate_products()
    outcomes: list[RunOutcome] = []
    with FakeSnowflakeServer(ca=ca) as warehouse:
        params = warehouse.conn_params
        table = seed_products(params, dataset)
        os.environ.update(
            SNOWFLAKE_ACCOUNT=params["account"],
            SNOWFLAKE_USER=params["user"],
            SNOWFLAKE_PASSWORD=params["password"],
            SNOWFLAKE_HOST=params["host"],
            SNOWFLAKE_PORT=str(params["port"]),
            SNOWFLAKE_PROTOCOL=params["protocol"],
            SNOWFLAKE_CA_PATH=params["ca_path"],
            SNOWFLAKE_PRODUCTS_TABLE=table,
        )
        print(f"\nSnowflake (fakesnow over HTTPS on port {params['port']}): {table}")
        defs = build_definitions(settings)
        driver = SensorDriver(
            defs, instance, build_resources(settings), "snowflake_products_watermark_sensor", _origin()
        )
        outcomes += _tick(driver, "initial extraction")
        for round_no in range(1, dataset.round_count + 1):
            apply_round(params, dataset, round_no)
            outcomes += _tick(driver, f"change round {round_no}")
    return outcomes


def _orders_demo(
    settings: PlatformSettings, instance: dg.DagsterInstance, seed: int, ca: SandboxCA
) -> list[RunOutcome]:
    """A real Kafka broker (KRaft) with the order stream and its planted defects, read exactly once."""
    from sandbox.generator.order_stream import generate_order_events
    from sandbox.services.kafka_broker import KafkaBroker, KafkaBrokerError, kafka_libs_dir
    from sandbox.services.order_producer import produce_order_events

    if not any(kafka_libs_dir().glob("*.jar")):
        print(f"\nOrders (Kafka): skipped (no Kafka jars in {kafka_libs_dir()}: run `make kafka-jars`)")
        return []
    dataset = generate_order_events(seed=seed)
    outcomes: list[RunOutcome] = []
    broker = KafkaBroker(ca=ca)  # an SSL listener; the platform's client verifies it
    try:
        broker.start()
    except KafkaBrokerError as exc:
        print(f"\nOrders (Kafka): skipped, the broker did not start: {exc}")
        return []
    try:
        topic = "orders.events"
        broker.create_topic(topic, partitions=3, exist_ok=True)
        os.environ.update(broker.client_env(), ORDERS_TOPIC=topic)
        print(f"\nOrders (Kafka over TLS {broker.bootstrap_servers}, topic {topic}, 3 partitions)")
        defs = build_definitions(settings)
        resources = build_resources(settings)
        ingest = SensorDriver(defs, instance, resources, "orders_kafka_sensor", _origin())
        apply = SensorDriver(defs, instance, resources, "orders_apply_sensor", _origin())
        half = len(dataset.messages) // 2
        rounds = [(dataset.messages[:half], f"{half} events produced")]
        rounds.append((dataset.messages[half:], f"{len(dataset.messages)} events produced"))
        rounds.append(((), "no new events"))
        for messages, label in rounds:
            if messages:
                produce_order_events(
                    broker.bootstrap_servers,
                    topic,
                    replace(dataset, messages=messages),
                    security=broker.security,
                )
            outcomes += _tick(ingest, label)
            outcomes += _tick(apply, f"{label} (order dates)")
    finally:
        broker.stop()
    return outcomes


def _operations_demo(settings: PlatformSettings, instance: dg.DagsterInstance) -> None:
    """The alerts the demo's checks raise, then the alerts, quarantine and DLQ tables observed (no runs)."""
    defs, resources = build_definitions(settings), build_resources(settings)
    print()
    for name in ("platform_alerts_sensor", "platform_tables_sensor"):
        print(f"{name}: {SensorDriver(defs, instance, resources, name, _origin()).evaluate().skip_message}")


def run_demo(start: date, days: int, seed: int, fresh: bool = True, ui_hint: bool = True) -> int:
    """The whole path on the topology the environment configures; ``ui_hint``: say how to open the UI on
    the demo's home afterwards (not when the instance goes away with the topology)."""
    settings = PlatformSettings.from_env()
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    lake = settings.lake
    if fresh:
        for folder in (lake.root, settings.dms_landing_root):
            if "://" not in folder and Path(folder).exists():
                print(f"Removing the previous demo data at {folder}")
                shutil.rmtree(folder)
        reset_home(dagster_home)  # the instance's runs, ticks and cursors go with the lake they describe
    prepare_home(dagster_home)
    print(f"Engine: {settings.engine}; lake: {settings.lake_root}; Dagster home: {dagster_home}\n")
    with dg.DagsterInstance.get() as instance:
        if fresh and type(instance.run_storage).__name__ == "PostgresRunStorage":
            # history in PostgreSQL is not in the home folder reset above: it goes with the lake too
            instance.wipe()
            instance.wipe_all_schedules()
        from sandbox.services.tls import SandboxCA

        # every source serves TLS from one sandbox CA; the platform's clients verify against it
        ca = SandboxCA.in_folder(dagster_home / "sandbox_tls")
        os.environ["PLATFORM_CA_PATH"] = str(ca.ca_path)
        outcomes = _fx_demo(settings, instance, start, days, seed, ca)
        outcomes += _customers_demo(settings, instance, seed, ca)
        outcomes += _salesforce_demo(settings, instance, ca)
        outcomes += _products_demo(settings, instance, ca)
        outcomes += _orders_demo(settings, instance, seed, ca)
        gold_demo(settings, instance)
        _operations_demo(settings, instance)
    _print_summary(lake, outcomes, dagster_home, ui_hint)
    print_gold_summary(settings)
    from platform_assets.demo_reports import demo_reports  # the ops reports, on the same instance

    demo_reports(settings)
    print_checksums(lake)
    return 0


def demo_checksums(lake: Lake) -> list[TableSum]:
    """Content checksums of every silver and gold table, without the columns that record the run."""
    contracts = load_contracts()
    names = [n for n in contracts if n.split("/")[0] in ("silver", "gold")]
    return lake_checksums({n: lake.uri(n) for n in names}, contracts, lake.storage_options)


def print_checksums(lake: Lake) -> None:
    print(
        "\nTable checksums (silver and gold; equal on every topology for the same seed, docs/deployment.md)"
    )
    for table in demo_checksums(lake):
        without = f"  (without {', '.join(table.without)})" if table.without else ""
        print(f"  {table.name:<30} {table.checksum.rows:>6} rows  {table.checksum.digest}{without}")


def _print_summary(lake: Lake, outcomes: list[RunOutcome], dagster_home: Path, ui_hint: bool = True) -> None:
    contracts = load_contracts()
    print("\nTables")
    for name in sorted(contracts, key=lambda n: ("bronze", "silver", "gold").index(n.split("/")[0])):
        uri = lake.uri(name)
        rows = row_count(uri, lake.storage_options)
        live = ""
        if contracts[name].cdc is not None and rows:  # tombstones are kept; say how many rows are live
            where = "NOT _is_deleted" + (" AND is_current" if contracts[name].cdc.mode == "scd2" else "")
            live = f" ({row_count(uri, lake.storage_options, where=where)} live)"
        print(f"  {name:<30} {rows:>6} rows{live:<12} {uri}")
        dead = row_count(lake.uri(f"{name}_dlq"), lake.storage_options) if name.startswith("bronze/") else 0
        if dead:
            print(f"  {'  dead letters':<30} {dead:>6} rows{'':<12} {lake.uri(f'{name}_dlq')}")
        quarantine = lake.quarantine_uri(name)
        held = row_count(quarantine, lake.storage_options)
        if held:
            print(f"  {'  quarantined':<30} {held:>6} rows{'':<12} {quarantine}")
        partitioning = contracts[name].partitioning
        if held and partitioning:
            blocked = count_by(quarantine, partitioning.column, "_action = 'blocked'", lake.storage_options)
            published = count_by(uri, partitioning.column, None, lake.storage_options)
            unpublished = sorted(set(blocked) - set(published))
            if unpublished:
                print(f"  {'  held at the gate':<30} {', '.join(unpublished)}")
    passed = sum(len(o.checks.passed) for o in outcomes)
    failed = [name for o in outcomes for name in o.checks.failed]
    print(f"\nRuns: {len(outcomes)} ({sum(o.success for o in outcomes)} succeeded)")
    print(f"Check evaluations: {passed} passed, {len(failed)} failed")
    for name in sorted(set(failed)):
        print(f"  failed: {name} ({failed.count(name)}x)")
    print(f"\nLake:        {lake.root}")
    print(f"Dagster home: {dagster_home}")
    if not ui_hint:
        return
    print("See the runs, checks, lineage and freshness in the UI on the same home:")
    print(f"  DAGSTER_HOME={dagster_home} PLATFORM_LAKE_ROOT={lake.root} .venv/bin/platform ui  (or make ui)")
    print("  then open http://127.0.0.1:3000")
