"""Gold test support: every sandbox source behind its real protocol, driven by the platform's sensors.

FX (REST, clocked), Salesforce (REST over TLS), Snowflake (fakesnow), RDS (PostgreSQL + DMS files) and
the order stream (a real Kafka broker) run at once on loopback; ``GoldWorld`` plays them forward in
steps and ticks the real sensors, whose run requests execute in-process on a test instance.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from platform_assets.definitions import build_definitions, build_resources
from platform_assets.domains.gold import GOLD_SENSOR
from platform_assets.lake.location import Lake
from platform_assets.operations.sensor_driver import SensorDriver
from platform_assets.settings import PlatformSettings
from sandbox.generator.customers import CustomersDataset, apply_batch, generate_customers, load_initial
from sandbox.generator.fx import FxDataset, generate_fx
from sandbox.generator.order_stream import generate_order_events
from sandbox.generator.orders import OrderEventsDataset
from sandbox.generator.products import ProductsDataset, generate_products
from sandbox.generator.salesforce import SalesforceDataset, generate_salesforce
from sandbox.services.dms_task import DmsTask
from sandbox.services.fx_api import FxApiServer
from sandbox.services.kafka_broker import KafkaBroker
from sandbox.services.order_producer import produce_order_events
from sandbox.services.postgres import CUSTOMERS_PUBLICATION, PostgresServer
from sandbox.services.salesforce_api import SalesforceApiServer
from sandbox.services.snowflake_server import FakeSnowflakeServer, apply_round, seed_products

TOPIC = "orders.events"
SENSORS = (
    "fx_publications_sensor",
    "salesforce_watermark_sensor",
    "snowflake_products_watermark_sensor",
    "rds_customers_dms_sensor",
    "orders_kafka_sensor",
    "orders_apply_sensor",
    GOLD_SENSOR,
)


@dataclass
class GoldWorld:
    fx: FxDataset
    customers: CustomersDataset
    products: ProductsDataset
    orders: OrderEventsDataset
    fx_service: FxApiServer
    broker: KafkaBroker
    pg_conn: object
    dms: DmsTask
    instance: dg.DagsterInstance
    settings: PlatformSettings
    lake: Lake
    defs: dg.Definitions
    drivers: dict[str, SensorDriver]
    salesforce: SalesforceDataset
    customer_batches_applied: int = 0
    fx_through: datetime | None = None
    gold_runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)

    def tick(self, sensor: str) -> list[dg.ExecuteInProcessResult]:
        driver = self.drivers[sensor]
        return [driver.execute(request) for request in driver.evaluate().run_requests]

    def publish_fx_through(self, last_day: date) -> None:
        """Move the FX service's clock to the end of each day up to ``last_day``, ticking the sensor."""
        day = (self.fx_through.date() + timedelta(days=1)) if self.fx_through else self.fx.start
        while day <= last_day:
            self.fx_through = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
            self.fx_service.set_clock(self.fx_through.strftime("%Y-%m-%dT%H:%M:%SZ"))
            self.tick("fx_publications_sensor")
            day += timedelta(days=1)

    def apply_customer_batches(self, through: int) -> None:
        for batch in self.customers.batches[self.customer_batches_applied : through]:
            apply_batch(self.pg_conn, batch)
            self.dms.poll(timeout_seconds=10)
            self.tick("rds_customers_dms_sensor")
        self.customer_batches_applied = through

    def produce(self, dataset: OrderEventsDataset) -> None:
        produce_order_events(self.broker.bootstrap_servers, TOPIC, dataset)
        self.tick("orders_kafka_sensor")
        self.tick("orders_apply_sensor")

    def gold(self) -> list[dg.ExecuteInProcessResult]:
        results = self.tick(GOLD_SENSOR)
        self.gold_runs += results
        return results


@contextmanager
def gold_world(root: Path) -> Iterator[GoldWorld]:
    """All sources started, the catalogue and accounts extracted through every round, the customers'
    full load replicated; nothing of FX, customer batches or orders yet."""
    fx, customers, products = generate_fx(), generate_customers(batches=4), generate_products()
    salesforce = generate_salesforce()
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        instance = stack.enter_context(dg.instance_for_test())
        fx_service = stack.enter_context(FxApiServer(fx))
        org = stack.enter_context(SalesforceApiServer(salesforce))
        warehouse = stack.enter_context(FakeSnowflakeServer())
        broker = stack.enter_context(KafkaBroker())
        pg = stack.enter_context(PostgresServer())
        broker.create_topic(TOPIC, partitions=3)
        params = warehouse.conn_params
        table = seed_products(params, products)
        env = {
            "PLATFORM_LAKE_ROOT": str(root / "lake"),
            "DMS_LANDING_ROOT": str(root / "landing"),
            "FX_API_URL": fx_service.base_url,
            "FX_API_TOKEN": fx_service.token,
            "SALESFORCE_INSTANCE_URL": org.instance_url,
            "SALESFORCE_SESSION_ID": org.session_id,
            "SALESFORCE_CA_PATH": str(org.ca_path),
            "SNOWFLAKE_ACCOUNT": params["account"],
            "SNOWFLAKE_USER": params["user"],
            "SNOWFLAKE_PASSWORD": params["password"],
            "SNOWFLAKE_HOST": params["host"],
            "SNOWFLAKE_PORT": str(params["port"]),
            "SNOWFLAKE_PROTOCOL": params["protocol"],
            "SNOWFLAKE_PRODUCTS_TABLE": table,
            **broker.client_env(),
            "ORDERS_TOPIC": TOPIC,
        }
        for name, value in env.items():
            mp.setenv(name, value)
        settings = PlatformSettings.from_env(env)
        defs = build_definitions(settings)
        resources = build_resources(settings)
        drivers = {name: SensorDriver(defs, instance, resources, name) for name in SENSORS}
        dms = stack.enter_context(
            DmsTask(pg.dsn, "gold", CUSTOMERS_PUBLICATION, Path(settings.dms_landing_root))
        )
        conn = stack.enter_context(contextlib.closing(psycopg2.connect(pg.dsn)))
        world = GoldWorld(
            fx, customers, products, generate_order_events(), fx_service, broker, conn, dms, instance,
            settings, Lake(settings.lake_root), defs, drivers, salesforce,
        )  # fmt: skip
        world.tick("salesforce_watermark_sensor")
        for _ in range(len(salesforce.rounds)):
            org.apply_next_round()
            world.tick("salesforce_watermark_sensor")
        world.tick("snowflake_products_watermark_sensor")
        for round_no in range(1, products.round_count + 1):
            apply_round(params, products, round_no)
            world.tick("snowflake_products_watermark_sensor")
        load_initial(conn, customers)
        dms.full_load()
        world.tick("rds_customers_dms_sensor")
        yield world


def with_messages(dataset: OrderEventsDataset, messages: tuple) -> OrderEventsDataset:
    return dataclasses.replace(dataset, messages=messages)
