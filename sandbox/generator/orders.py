"""Deterministic order events for the sandbox Kafka topic, with a manifest of planted defects.

Each order (``ord-YYYYMMDD-NNNN``, created on its business day) gets a ``created`` event, 0-2 ``updated``
events (its lines change) and sometimes a ``cancelled`` event. Every event carries the order's full
state (customer, currency, lines, ``order_total``, and ``created_time``, the time of the order's
``created`` event, which fixes its business date), so the current state of an order is its latest valid
event by ``event_time`` (ties broken by ``event_id``). Messages are keyed by ``order_id`` and produced in
``event_time`` order, apart from the planted defects below. ``customer_id`` (1..50*scale) and
``product_id`` (1..60*scale) are integers in the ranges the RDS customers and Snowflake products
generators start with; ``unit_price`` is in the order's currency (whole yen for JPY).

Planted defects (see ``OrderEventsDataset.defects``; ``position`` is the 0-based index in produce order).
Anchors are fractions of the clean stream (``n`` events), so positions move with seed and scale, but the
kinds and counts never do:

- ``malformed_json`` (2): bytes that are not a JSON document, keyed by the order at the anchor: a truncated
  event at 10% of the stream, non-UTF-8 garbage at 55%.
- ``contract_violation`` (2): an ``updated`` event with ``quantity: "three"`` (order at 35%) and a
  ``cancelled`` event without ``order_id`` (order at 65%, still keyed by it), each produced right after its
  order's last event with a later ``event_time``: accepting either would change the order's state.
- ``duplicate`` (3): the events at 25%, 50% and 75% are re-sent with the same bytes right after themselves
  (a producer retry).
- ``out_of_order`` (1): an ``updated`` event of an order with at least one update (at 15%) whose
  ``event_time`` is 10 minutes before the order's ``created`` event, produced after all its other events:
  last-write-wins in produce order keeps stale lines, ordering by ``event_time`` does not.
- ``late`` (2): an ``updated`` and a ``cancelled`` event of two orders of the first day, ``event_time``
  45 minutes after each order's last event, produced among events 2 days and 6 hours later (2-3
  days late). Both are valid and change their order's final state.
- ``schema_change`` (1 entry): from the middle of the produced stream on, every event has
  ``schema_version: 2`` and the additive field ``channel`` (web/sales/partner); before it version 1 has
  no ``channel``. The entry's position is the first version-2 message (a duplicate re-sent right at the
  middle keeps its original's version-1 bytes, so the switch moves one past it).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

# Conformed-source exceptions (``OrderEventsDataset.exceptions``).
LATE_CUSTOMER = "late_customer"
UNCATALOGUED_PRODUCT = "uncatalogued_product"
FX_RATE_MISSING = "fx_rate_missing"
UNCATALOGUED_PRODUCT_ID = 999_999
FX_MISSING_OFFSET, FX_MISSING_CCY = 1, "JPY"  # the FX generator's late publication (fx.LATE_OFFSET/CCY)
JPY_PER_USD_PRICE = 150  # yen prices are whole and about this many times a dollar price

# Defect kinds (the manifest's machine-readable vocabulary).
MALFORMED_JSON = "malformed_json"
CONTRACT_VIOLATION = "contract_violation"
DUPLICATE = "duplicate"
OUT_OF_ORDER = "out_of_order"
LATE = "late"
SCHEMA_CHANGE = "schema_change"

CURRENCIES: tuple[str, ...] = ("USD", "EUR", "GBP", "JPY", "CAD", "CHF")
CURRENCY_WEIGHTS: tuple[int, ...] = (50, 20, 12, 8, 5, 5)
CHANNELS: tuple[str, ...] = ("web", "sales", "partner")
# Integer ids in the ranges the sandbox catalogue (products.py: 60 * scale) and the RDS customers
# (customers.py: 50 * scale) start with, so that gold joins find them (deleted customers aside).
PRODUCTS_PER_SCALE = 60
CUSTOMERS_PER_SCALE = 50
MIN_DAYS = 3  # late events need a first day and a third one
MIN_ORDERS_PER_DAY = 8  # enough distinct orders for every planted defect

# Anchors: fractions of the clean stream where each defect is planted.
MALFORMED_ANCHORS = (0.10, 0.55)
DUPLICATE_ANCHORS = (0.25, 0.50, 0.75)
BAD_QUANTITY_ANCHOR = 0.35
MISSING_ORDER_ID_ANCHOR = 0.65
OUT_OF_ORDER_ANCHOR = 0.15
OUT_OF_ORDER_LEAD = timedelta(minutes=10)
LATE_AFTER_LAST_EVENT = timedelta(minutes=45)
LATE_BY = timedelta(days=2, hours=6)  # neighbours then sit 2-3 days after the event_time
LATE_LATEST_LAST_EVENT = timedelta(hours=12)  # late targets: last event before 12:00 of day 1

Record = dict[str, Any]


@dataclass(frozen=True)
class OrderDefect:
    """One planted defect message: what it is, where it is in produce order, and a readable note."""

    kind: str
    position: int
    order_id: str | None
    event_id: str | None
    detail: str


@dataclass(frozen=True)
class OrderException:
    """A planted business exception of the conformed sources (not a message defect)."""

    kind: str
    order_id: str
    detail: str


@dataclass(frozen=True)
class OrderMessage:
    """One Kafka message in produce order: key and value bytes, the event it encodes, its defect."""

    position: int
    key: bytes
    value: bytes
    event: Record | None  # None when the value is not JSON
    defect: str | None  # the planted defect kind this message is, if any

    @property
    def valid(self) -> bool:
        """Parses and fits the contract, so bronze keeps it (re-sends included); else a dead letter."""
        return self.event is not None and self.defect not in (MALFORMED_JSON, CONTRACT_VIOLATION)


@dataclass(frozen=True)
class OrderEventsDataset:
    """Everything the producer sends, plus the manifest of planted defects and the oracle."""

    seed: int
    start: date
    days: int
    orders_per_day: int
    messages: tuple[OrderMessage, ...]
    defects: tuple[OrderDefect, ...]
    exceptions: tuple[OrderException, ...] = ()

    @property
    def key_values(self) -> list[tuple[bytes, bytes]]:
        """``(key, value)`` pairs in produce order."""
        return [(m.key, m.value) for m in self.messages]

    @property
    def events(self) -> list[Record]:
        """Every message that parses as JSON (including contract violations and duplicates), in order."""
        return [m.event for m in self.messages if m.event is not None]

    @property
    def order_ids(self) -> list[str]:
        return sorted({m.key.decode() for m in self.messages})

    @property
    def schema_change_position(self) -> int:
        return self.defects_of(SCHEMA_CHANGE)[0].position

    def messages_by_day(self) -> dict[date, tuple[OrderMessage, ...]]:
        """Messages grouped by the day the producer sends them, in produce order.

        The producer sends events as they happen, so its clock is the latest ``event_time`` seen so far:
        a late or out-of-order event is sent on the day of the events around it, and a message that
        is not JSON on the day of the one before it.
        """
        days: dict[date, list[OrderMessage]] = {}
        clock = self.start
        for m in self.messages:
            if m.event is not None and "event_time" in m.event:
                clock = max(clock, _parse_time(m.event["event_time"]).date())
            days.setdefault(clock, []).append(m)
        return {day: tuple(messages) for day, messages in days.items()}

    def defects_of(self, kind: str) -> list[OrderDefect]:
        return [d for d in self.defects if d.kind == kind]

    def exception(self, kind: str) -> OrderException:
        return next(e for e in self.exceptions if e.kind == kind)

    def valid_events(self) -> list[Record]:
        """Parsable, contract-conforming events, de-duplicated by ``event_id`` (first copy kept)."""
        seen: set[str] = set()
        valid: list[Record] = []
        for m in self.messages:
            if m.valid and m.event is not None and m.event["event_id"] not in seen:
                seen.add(m.event["event_id"])
                valid.append(m.event)
        return valid

    def expected_orders(self) -> dict[str, Record]:
        """Current state per order (sorted by order_id): the latest valid event by (event_time, event_id).

        Deliberately naive (whole dataset, no windows) so that it is an independent oracle for silver.
        ``created_time`` is the order's ``created`` event time (its business date); ``channel`` is None
        when the winning event is schema version 1.
        """
        latest: dict[str, Record] = {}
        created: dict[str, str] = {}
        for event in self.valid_events():
            order_id = event["order_id"]
            if event["event_type"] == "created":
                created[order_id] = event["event_time"]
            held = latest.get(order_id)
            if held is None or (event["event_time"], event["event_id"]) > (
                held["event_time"],
                held["event_id"],
            ):
                latest[order_id] = event
        return {order_id: _state(latest[order_id], created[order_id]) for order_id in sorted(latest)}

    def expected_order_lines(self) -> list[Record]:
        """One row per line of every order's current state, sorted by (order_id, line_no)."""
        return [
            {"order_id": order_id, **line}
            for order_id, state in self.expected_orders().items()
            for line in state["lines"]
        ]


def format_timestamp(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------- simulation
@dataclass
class _Order:
    order_id: str
    customer_id: int
    currency: str
    channel: str
    products: int  # product ids are 1..products
    events: list[Record] = field(default_factory=list)
    next_seq: int = 1
    created_time: str | None = None  # set by the created event; every later event repeats it

    @property
    def cancelled(self) -> bool:
        return any(e["event_type"] == "cancelled" for e in self.events)

    @property
    def last(self) -> Record:
        return self.events[-1]

    def event(self, event_type: str, at: datetime, lines: list[Record]) -> Record:
        """A new event of this order (not appended): the full order state at ``at``."""
        event_id = f"evt-{self.order_id.removeprefix('ord-')}-{self.next_seq:02d}"
        self.next_seq += 1
        if event_type == "created":
            self.created_time = format_timestamp(at)
        return {
            "event_id": event_id,
            "event_type": event_type,
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "currency": self.currency,
            "lines": lines,
            "order_total": _total(lines),
            "event_time": format_timestamp(at),
            "created_time": self.created_time,
        }


def _simulate_order(rng: random.Random, day: date, n: int, customers: int, products: int) -> _Order:
    order = _Order(
        order_id=f"ord-{day:%Y%m%d}-{n:04d}",
        customer_id=rng.randint(1, customers),
        products=products,
        currency=rng.choices(CURRENCIES, weights=CURRENCY_WEIGHTS)[0],
        channel=rng.choice(CHANNELS),
    )
    at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=rng.randrange(22 * 3600))
    lines = [_line(rng, i, order) for i in range(1, rng.randint(1, 4) + 1)]
    order.events.append(order.event("created", at, lines))
    for _ in range(rng.choices((0, 1, 2), weights=(40, 40, 20))[0]):
        at += timedelta(seconds=rng.randrange(5 * 60, 3 * 3600))
        lines = _changed_lines(rng, lines, order)
        order.events.append(order.event("updated", at, lines))
    if rng.random() < 0.15:
        at += timedelta(seconds=rng.randrange(10 * 60, 6 * 3600))
        order.events.append(order.event("cancelled", at, lines))
    return order


def _line(rng: random.Random, line_no: int, order: _Order) -> Record:
    yen = order.currency == "JPY"
    price = rng.uniform(5, 500) * (150 if yen else 1)  # yen prices in yen, whole
    return {
        "line_no": line_no,
        "product_id": rng.randint(1, order.products),
        "quantity": rng.randint(1, 10),
        "unit_price": round(price, 0 if yen else 2),
    }


def _changed_lines(rng: random.Random, lines: list[Record], order: _Order) -> list[Record]:
    """A copy with one change: a quantity, an added line, or a removed line (line_no stays stable)."""
    changed = [dict(line) for line in lines]
    action = rng.choice(("quantity", "add", "remove") if len(changed) > 1 else ("quantity", "add"))
    if action == "quantity":
        line = rng.choice(changed)
        line["quantity"] = rng.choice([q for q in range(1, 11) if q != line["quantity"]])
    elif action == "add":
        changed.append(_line(rng, max(line["line_no"] for line in changed) + 1, order))
    else:
        changed.remove(rng.choice(changed))
    return changed


def _total(lines: list[Record]) -> float:
    return round(sum(line["quantity"] * line["unit_price"] for line in lines), 2)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------------- planting
@dataclass
class _Planted:
    """A message to insert after clean-stream index ``after`` (-1: before everything)."""

    kind: str
    event: Record | None  # None: ``raw`` bytes
    key: str
    detail: str
    raw: bytes = b""
    duplicate_of: int | None = None  # clean-stream index whose bytes are re-sent


def _encode(event: Record, v2: bool) -> bytes:
    """The event as the producer sends it: version 1, or version 2 with the order's ``channel``."""
    sent = {key: value for key, value in event.items() if not key.startswith("_")}
    sent["schema_version"] = 2 if v2 else 1
    if v2:
        sent["channel"] = event["_channel"]
    return json.dumps(sent, separators=(",", ":")).encode()


def _state(event: Record, created_time: str) -> Record:
    return {
        "order_id": event["order_id"],
        "status": "cancelled" if event["event_type"] == "cancelled" else "open",
        "customer_id": event["customer_id"],
        "currency": event["currency"],
        "channel": event.get("channel"),
        "lines": [dict(line) for line in event["lines"]],
        "order_total": event["order_total"],
        "created_time": created_time,
        "last_event_id": event["event_id"],
        "last_event_type": event["event_type"],
        "last_event_time": event["event_time"],
    }
