"""The traffic generator: keeps every sandbox source moving at a realistic pace, deterministically.

The scenario is ``days`` business days from ``start``, each lasting ``day_seconds`` of wall time:

- **FX**: at the start of business day ``d`` the FX service's clock moves to the end of that day, so
  the day's publications (and the planted late JPY, null currency, duplicate EUR correction and
  out-of-range BRL of the FX generator) become visible in the order they were published.
- **Orders**: the order stream of the whole scenario (``generate_order_events``: its planted
  malformed JSON, contract violations, duplicates, out-of-order, late events and the schema change)
  is produced to Kafka in produce order, a slice every ``order_interval`` seconds.
- **RDS customers**: change batch ``d`` is committed to PostgreSQL at the start of day ``d`` (one
  transaction); the sandbox's DMS task turns it into a CDC file.
- **Salesforce**: the org's change round ``d`` is applied at the start of day ``d``.
- **Snowflake catalogue**: change round ``d`` of the product catalogue is written at the start of day ``d``.

Everything is a function of the parameters (``plan``): the same seed and parameters give the same
events in the same order at the same offsets. The services' own datasets are rebuilt from the
parameters they recorded in their ``<name>.ready`` files (``sandbox/sources.py``). Progress is written
to ``traffic.status`` (JSON) in the sandbox home after every step; one line per step goes to the log.
When the scenario is over the generator idles until stopped.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx

from sandbox.detached import DetachedService, read_text
from sandbox.services.tls import sandbox_ca_path, service_ca, verify_with

STATUS_FILE = "traffic.status"
ORDERS_TOPIC = "orders.events"


@dataclass(frozen=True)
class TrafficParameters:
    seed: int = 7
    start: date = date(2026, 11, 1)
    days: int = 30
    day_seconds: float = 60.0
    order_interval: float = 3.0
    orders_per_day: int = 40


@dataclass(frozen=True)
class Step:
    """One action at ``at`` seconds after the generator started."""

    at: float
    source: str  # fx | orders | customers | salesforce | products
    number: int  # business day index (fx, customers, salesforce, products) or order slice index
    first: int = 0  # orders: the slice of messages [first, last)
    last: int = 0


def plan(params: TrafficParameters, order_messages: int) -> list[Step]:
    """Every step of the scenario, in execution order (a pure function of its arguments)."""
    steps: list[Step] = []
    for day in range(params.days):
        at = day * params.day_seconds
        steps.append(Step(at, "fx", day))
        if day >= 1:
            steps += [Step(at, source, day) for source in ("customers", "salesforce", "products")]
    slices = max(1, int(params.days * params.day_seconds / params.order_interval))
    for k in range(slices):
        first, last = k * order_messages // slices, (k + 1) * order_messages // slices
        if last > first:
            steps.append(Step(k * params.order_interval, "orders", k, first, last))
    return sorted(steps, key=lambda s: (s.at, s.source != "fx", s.source))


def fx_clock(params: TrafficParameters, day: int) -> str:
    return datetime.combine(params.start + timedelta(days=day), dtime(23, 59, 59)).isoformat() + "Z"


@dataclass
class Sources:
    """Where each source answers (from the sandbox home) and the datasets the traffic plays."""

    home: Path
    params: TrafficParameters
    counts: dict[str, int] = field(default_factory=dict)

    def address(self, name: str) -> str:
        value = read_text(self.home / f"{name}.address")
        if not value:
            raise RuntimeError(
                f"the sandbox {name} service is not running in {self.home} (no {name}.address)"
            )
        return value

    def ready(self, name: str) -> dict[str, Any]:
        from sandbox.sources import ready_parameters

        found = ready_parameters(self.home, name)
        if found is None:
            raise RuntimeError(f"the sandbox {name} service is not ready in {self.home}")
        return found


class TrafficGenerator:
    def __init__(self, home: Path, params: TrafficParameters, log: Callable[[str], None] = print) -> None:
        from sandbox.generator.customers import generate_customers, late_customer_id
        from sandbox.generator.order_stream import generate_order_events
        from sandbox.generator.products import generate_products

        self.home, self.params, self.log = home, params, log
        self.sources = Sources(home, params)
        pg = self.sources.ready("postgres")
        sf = self.sources.ready("snowflake")
        self.salesforce_rounds = int(self.sources.ready("salesforce")["rounds"])
        self.customers = generate_customers(seed=int(pg["seed"]), batches=int(pg["batches"]))
        self.products = generate_products(seed=int(sf["seed"]), rounds=int(sf["rounds"]))
        self.products_table = str(sf["table"])
        late = late_customer_id(int(pg["seed"]), 1, int(pg["batches"]))
        self.orders = generate_order_events(
            seed=params.seed,
            start=params.start,
            days=params.days,
            orders_per_day=params.orders_per_day,
            late_customer_id=late,
        )
        self.steps = plan(params, len(self.orders.messages))
        self.done = 0
        self.counts = {
            s: 0 for s in ("fx_days", "orders", "customer_batches", "salesforce_rounds", "product_rounds")
        }

    def run(self, stop: threading.Event) -> None:
        from sandbox.services.kafka_broker import client_security, create_topic

        security = client_security(service_ca(self.home, "kafka"))
        create_topic(self.sources.address("kafka"), ORDERS_TOPIC, 3, exist_ok=True, security=security)
        began = time.monotonic()
        with self._connections() as connections:
            for step in self.steps:
                if stop.wait(max(0.0, began + step.at - time.monotonic())):
                    return
                self.log(f"t+{step.at:5.0f}s {self._apply(step, connections)}")
                self.done += 1
                self._write_status(finished=self.done == len(self.steps))
        self.log("scenario complete: every step played; idling until stopped")
        stop.wait()

    @contextlib.contextmanager
    def _connections(self) -> Iterator[dict[str, Any]]:
        import psycopg2

        from sandbox.sources import postgres_dsn

        ca = service_ca(self.home, "postgres")
        pg = psycopg2.connect(postgres_dsn(self.sources.address("postgres"), ca_path=ca))
        try:
            yield {"postgres": pg}
        finally:
            pg.close()

    def _apply(self, step: Step, connections: dict[str, Any]) -> str:
        day = self.params.start + timedelta(days=step.number)
        if step.source == "fx":
            clock = fx_clock(self.params, step.number)
            url = self.sources.address("fx")
            ca = service_ca(self.home, "fx")
            httpx.post(
                f"{url}/_sandbox/clock",
                json={"now": clock},
                timeout=10,
                trust_env=False,
                verify=verify_with(ca),
            ).raise_for_status()
            self.counts["fx_days"] += 1
            return f"{day} FX: clock -> {clock} (the day's publications visible)"
        if step.source == "orders":
            from sandbox.services.kafka_broker import client_security
            from sandbox.services.order_producer import produce_order_events

            chunk = self.orders.messages[step.first : step.last]
            produce_order_events(
                self.sources.address("kafka"),
                ORDERS_TOPIC,
                replace(self.orders, messages=chunk),
                security=client_security(service_ca(self.home, "kafka")),
            )
            self.counts["orders"] += len(chunk)
            defects = sorted({m.defect for m in chunk if m.defect})
            planted = f" (planted: {', '.join(defects)})" if defects else ""
            return f"orders: {len(chunk)} event(s) produced, {self.counts['orders']} in all{planted}"
        if step.source == "customers":
            return self._customers(step.number, connections["postgres"])
        if step.source == "salesforce":
            return self._salesforce(step.number)
        return self._products(step.number)

    def _customers(self, number: int, conn: Any) -> str:
        from sandbox.generator.customers import apply_batch

        if number > len(self.customers.batches):
            return f"RDS customers: no batch {number} (the dataset has {len(self.customers.batches)})"
        batch = self.customers.batches[number - 1]
        apply_batch(conn, batch)
        self.counts["customer_batches"] += 1
        m = batch.manifest
        return f"RDS customers: batch {number} committed ({m.inserts} I, {m.updates} U, {m.deletes} D)"

    def _salesforce(self, number: int) -> str:
        if number > self.salesforce_rounds:
            return f"Salesforce: no round {number} (the org has {self.salesforce_rounds})"
        url = self.sources.address("salesforce")
        with httpx.Client(
            timeout=10, trust_env=False, verify=verify_with(sandbox_ca_path(self.home))
        ) as client:
            response = client.post(f"{url}/_sandbox/rounds")
        response.raise_for_status()
        self.counts["salesforce_rounds"] += 1
        return f"Salesforce: change round {number} applied ({response.json()['changes']} changes)"

    def _products(self, number: int) -> str:
        if number > self.products.round_count:
            return f"Snowflake catalogue: no round {number} (the dataset has {self.products.round_count})"
        from sandbox.services.snowflake_server import apply_round

        host, _, port = self.sources.address("snowflake").rpartition(":")
        params = {"account": "fakesnow", "user": "fake", "password": "snow", "host": host, "port": int(port)}
        ca = service_ca(self.home, "snowflake")
        tls = {"protocol": "https", "ca_path": str(ca)} if ca else {"protocol": "http"}
        changed = apply_round(params | tls, self.products, number)
        self.counts["product_rounds"] += 1
        return f"Snowflake catalogue: change round {number} written ({changed} statements)"

    def _write_status(self, finished: bool) -> None:
        status = {"steps_done": self.done, "steps": len(self.steps), "finished": finished, **self.counts}
        path = self.home / STATUS_FILE
        path.with_suffix(".tmp").write_text(json.dumps(status) + "\n")
        path.with_suffix(".tmp").replace(path)


def read_status(home: Path) -> dict[str, Any] | None:
    raw = read_text(home / STATUS_FILE)
    return json.loads(raw) if raw else None


def serve_traffic(args: Any) -> int:
    import signal

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    params = TrafficParameters(
        seed=args.seed,
        start=args.start_date,
        days=args.days,
        day_seconds=args.day_seconds,
        order_interval=args.order_interval,
        orders_per_day=args.orders_per_day,
    )
    generator = TrafficGenerator(args.home, params, log=lambda line: print(line, flush=True))
    print(
        f"traffic: {len(generator.steps)} steps over {params.days} business days from {params.start}",
        flush=True,
    )
    generator.run(stop)
    return 0


def _traffic_answers(home: Path, address: str, pid: int) -> bool:
    """Ready once its first step (FX day one, the first orders) is played: sources are moving."""
    status = read_status(home)
    return status is not None and int(status["steps_done"]) >= 1


TRAFFIC = DetachedService(
    "traffic",
    "traffic",
    b"serve-traffic",
    _traffic_answers,
    start_timeout=60.0,
    stop_timeout=15.0,
    extra_state=(STATUS_FILE,),
)
