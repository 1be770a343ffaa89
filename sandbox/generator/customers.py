"""Deterministic customers for the sandbox RDS PostgreSQL source: a population and batches of changes.

Same seed and scale, same data. ``generate_customers`` returns the initial population (``50 * scale``
customers, ids ``1..50*scale``) and ``batches`` change batches; each batch is applied in ONE PostgreSQL
transaction (``apply_batch``), so all of its changes share one commit timestamp in the replication stream.

Planted scenarios (see each ``BatchManifest.scenarios``):

- initial: some NULL phones, one empty-string address (NULL and '' must stay distinct), an address with
  a comma and a newline and a name with a double quote (CSV quoting).
- batch 1 ``mixed``: inserts, updates and deletes of distinct customers.
- batch 2 ``delete_reinsert_same_batch``: a customer deleted and re-inserted (new data) in one transaction;
  ``insert_then_update``: a new customer inserted then updated in the same transaction;
  ``delete_for_later_reinsert``: a customer deleted here and re-inserted in batch 3.
- batch 3 ``reinsert_after_delete`` (the batch-2 customer comes back), ``multi_update`` (one customer
  updated three times in the transaction), ``null_and_empty`` (phone set to NULL, address set to ''),
  ``delete_recent_insert`` (a customer inserted in batch 1 is deleted).
- batch 4 and later: ``mixed`` again.

The oracle is ``CustomersDataset.state_after(n)`` / ``final_state()``; ``Customer.as_text()`` renders a
row the way PostgreSQL prints it (UTC session), which is what the DMS files carry.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from psycopg2.extensions import connection as PgConnection

COLUMNS: tuple[str, ...] = ("customer_id", "name", "email", "phone", "address", "country", "updated_at")
TABLE = "public.customers"
INITIAL_PER_SCALE = 50
MIN_BATCHES = 3  # the planted scenarios live in batches 1..3
CLOCK_START = datetime(2026, 1, 1, tzinfo=UTC)

Op = Literal["I", "U", "D"]

_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Leslie")
_LAST = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Lamport",
)
_COUNTRIES = ("US", "GB", "DE", "FR", "JP", "BR", "IN", "CA", "AU", "SG")
_STREETS = ("Main St", "High St", "Market Rd", "Harbour Way", "Station Rd", "Elm Ave")


@dataclass(frozen=True)
class Customer:
    customer_id: int
    name: str
    email: str | None
    phone: str | None
    address: str | None
    country: str | None
    updated_at: datetime

    def values(self) -> tuple[Any, ...]:
        return (
            self.customer_id,
            self.name,
            self.email,
            self.phone,
            self.address,
            self.country,
            self.updated_at,
        )

    def as_text(self) -> dict[str, str | None]:
        """The row as PostgreSQL's text output prints it in a UTC session (whole-second timestamps)."""
        stamp = self.updated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
        return {
            "customer_id": str(self.customer_id),
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "address": self.address,
            "country": self.country,
            "updated_at": stamp,
        }


@dataclass(frozen=True)
class Change:
    """One row change: ``before`` is set for U and D, ``after`` for I and U."""

    op: Op
    customer_id: int
    before: Customer | None
    after: Customer | None
    scenario: str = ""

    @property
    def image(self) -> Customer:
        """The image a DMS CDC row carries: the after image for I/U, the before image for D."""
        image = self.before if self.op == "D" else self.after
        if image is None:
            raise ValueError(f"change {self.op} of customer {self.customer_id} has no image")
        return image


@dataclass(frozen=True)
class BatchManifest:
    number: int
    inserts: int
    updates: int
    deletes: int
    scenarios: tuple[str, ...]  # "<scenario>:<customer_id>" entries, in the order they happen


@dataclass(frozen=True)
class ChangeBatch:
    number: int
    changes: tuple[Change, ...]
    manifest: BatchManifest


@dataclass(frozen=True)
class CustomersDataset:
    seed: int
    scale: int
    initial: tuple[Customer, ...]
    initial_scenarios: tuple[str, ...]
    batches: tuple[ChangeBatch, ...]

    @property
    def manifest(self) -> tuple[BatchManifest, ...]:
        return tuple(batch.manifest for batch in self.batches)

    def state_after(self, batch_number: int) -> dict[int, Customer]:
        """The table after batches 1..batch_number (0 = the initial population)."""
        state = {c.customer_id: c for c in self.initial}
        for batch in self.batches[:batch_number]:
            _apply_to_state(state, batch.changes)
        return state

    def final_state(self) -> dict[int, Customer]:
        return self.state_after(len(self.batches))


def _apply_to_state(state: dict[int, Customer], changes: Iterable[Change]) -> None:
    for change in changes:
        if change.op == "D":
            del state[change.customer_id]
        else:
            assert change.after is not None
            state[change.customer_id] = change.after


class _Builder:
    """Simulates the table while a batch is built, so every change carries correct before images."""

    def __init__(self, rng: random.Random, state: dict[int, Customer], next_id: int, number: int) -> None:
        self.rng = rng
        self.state = state
        self.next_id = next_id
        self.number = number
        self.changes: list[Change] = []
        self.scenarios: list[str] = []
        self.touched: set[int] = set()
        self._tick = 0
        # sorted(set(state) - touched), kept between picks: touched only grows, and every state
        # change touches its id, so the list is stale exactly when touched grew by other means
        self._untouched: list[int] = []
        self._untouched_at = -1  # len(touched) the list was built for

    def now(self) -> datetime:
        # Batch n happens in hour n of the sandbox clock; each change one second later than the last.
        self._tick += 1
        return CLOCK_START + timedelta(hours=self.number, seconds=self._tick)

    def pick_untouched(self) -> int:
        if self._untouched_at != len(self.touched):
            self._untouched = sorted(set(self.state) - self.touched)
        candidates = self._untouched
        if not candidates:
            raise ValueError(f"customers batch {self.number}: no untouched customer left to change")
        index = self.rng._randbelow(len(candidates))  # what rng.choice(candidates) draws
        choice = candidates.pop(index)
        self.touched.add(choice)
        self._untouched_at = len(self.touched)
        return choice

    def insert(self, customer_id: int | None = None, scenario: str = "") -> int:
        if customer_id is None:
            customer_id = self.next_id
            self.next_id += 1
        row = _random_customer(self.rng, customer_id, self.now())
        self._record(Change("I", customer_id, None, row, scenario))
        return customer_id

    def update(self, customer_id: int, scenario: str = "", **fields: Any) -> None:
        before = self.state[customer_id]
        if not fields:
            fields = _random_edit(self.rng, before)
        after = replace(before, **fields, updated_at=self.now())
        self._record(Change("U", customer_id, before, after, scenario))

    def delete(self, customer_id: int, scenario: str = "") -> None:
        self._record(Change("D", customer_id, self.state[customer_id], None, scenario))

    def _record(self, change: Change) -> None:
        self.touched.add(change.customer_id)
        self.changes.append(change)
        _apply_to_state(self.state, [change])
        if change.scenario:
            entry = f"{change.scenario}:{change.customer_id}"
            if entry not in self.scenarios:
                self.scenarios.append(entry)

    def build(self) -> ChangeBatch:
        ops = [c.op for c in self.changes]
        manifest = BatchManifest(
            self.number, ops.count("I"), ops.count("U"), ops.count("D"), tuple(self.scenarios)
        )
        return ChangeBatch(self.number, tuple(self.changes), manifest)


def generate_customers(seed: int = 7, scale: int = 1, batches: int = 4) -> CustomersDataset:
    if scale < 1:
        raise ValueError(f"customers generator: scale must be >= 1, got {scale}")
    if batches < MIN_BATCHES:
        raise ValueError(
            f"customers generator: batches must be >= {MIN_BATCHES} (planted scenarios), got {batches}"
        )
    rng = random.Random(seed)
    count = INITIAL_PER_SCALE * scale
    initial = [
        _random_customer(
            rng, i, CLOCK_START - timedelta(days=rng.randint(1, 900), seconds=rng.randint(0, 86399))
        )
        for i in range(1, count + 1)
    ]
    # CSV edge cases at fixed ids so they are easy to find in files.
    initial[1] = replace(initial[1], address="")
    initial[2] = replace(initial[2], address=f"{initial[2].address}, Suite 5\nBuilding B")
    initial[3] = replace(initial[3], name='Ada "The Countess" Lovelace')
    initial_scenarios = ("empty_address:2", "comma_newline_address:3", "quoted_name:4")

    state = {c.customer_id: c for c in initial}
    next_id = count + 1
    built: list[ChangeBatch] = []
    later_reinsert = 0
    recent_insert = 0
    for number in range(1, batches + 1):
        b = _Builder(rng, state, next_id, number)
        n = 2 * scale
        if number == 2:
            again = b.pick_untouched()
            b.delete(again, "delete_reinsert_same_batch")
            b.insert(again, "delete_reinsert_same_batch")
            fresh = b.insert(scenario="insert_then_update")
            b.update(fresh, "insert_then_update")
            later_reinsert = b.pick_untouched()
            b.delete(later_reinsert, "delete_for_later_reinsert")
            for _ in range(n):
                b.update(b.pick_untouched())
        elif number == 3:
            b.touched.add(recent_insert)  # reserved for the delete below
            b.insert(later_reinsert, "reinsert_after_delete")
            multi = b.pick_untouched()
            for _ in range(3):
                b.update(multi, "multi_update")
            b.update(b.pick_untouched(), "null_and_empty", phone=None, address="")
            b.delete(recent_insert, "delete_recent_insert")
            b.insert()
        else:
            inserted = [b.insert() for _ in range(n + 1)]
            if number == 1:
                recent_insert = inserted[0]
            for _ in range(n + 1):
                b.update(b.pick_untouched())
            for _ in range(n):
                b.delete(b.pick_untouched())
        built.append(b.build())
        next_id = b.next_id
    return CustomersDataset(seed, scale, tuple(initial), initial_scenarios, tuple(built))


def late_customer_id(seed: int = 7, scale: int = 1, batches: int = 4) -> int:
    """The first new customer the last change batch inserts: one the order stream names before RDS has it."""
    last = generate_customers(seed, scale, batches).batches[-1]
    known = set(generate_customers(seed, scale, batches).state_after(last.number - 1))
    return next(c.customer_id for c in last.changes if c.op == "I" and c.customer_id not in known)


def _random_customer(rng: random.Random, customer_id: int, updated_at: datetime) -> Customer:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return Customer(
        customer_id=customer_id,
        name=f"{first} {last}",
        email=f"{first}.{last}.{customer_id}@example.com".lower(),
        phone=None if rng.random() < 0.15 else f"+1-555-{rng.randint(0, 9999):04d}",
        address=f"{rng.randint(1, 999)} {rng.choice(_STREETS)}",
        country=rng.choice(_COUNTRIES),
        updated_at=updated_at,
    )


def _random_edit(rng: random.Random, before: Customer) -> dict[str, Any]:
    field = rng.choice(("email", "phone", "address", "country"))
    if field == "email":
        return {"email": f"c{before.customer_id}.{rng.randint(100, 999)}@example.org"}
    if field == "phone":
        return {"phone": f"+44-20-{rng.randint(0, 99999999):08d}"}
    if field == "address":
        return {"address": f"{rng.randint(1, 999)} {rng.choice(_STREETS)}"}
    return {"country": rng.choice([c for c in _COUNTRIES if c != before.country])}


_INSERT_SQL = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
_UPDATE_SQL = f"UPDATE {TABLE} SET {', '.join(f'{c} = %s' for c in COLUMNS[1:])} WHERE customer_id = %s"
_DELETE_SQL = f"DELETE FROM {TABLE} WHERE customer_id = %s"


def load_initial(conn: PgConnection, dataset: CustomersDataset) -> None:
    """Inserts the initial population in one transaction."""
    with conn, conn.cursor() as cur:
        cur.executemany(_INSERT_SQL, [c.values() for c in dataset.initial])


def apply_batch(conn: PgConnection, batch: ChangeBatch) -> None:
    """Executes the batch in ONE transaction (one commit timestamp); a change that misses its row aborts it."""
    with conn, conn.cursor() as cur:
        for index, change in enumerate(batch.changes, start=1):
            if change.op == "I":
                cur.execute(_INSERT_SQL, change.image.values())
            elif change.op == "U":
                assert change.after is not None
                cur.execute(_UPDATE_SQL, (*change.after.values()[1:], change.customer_id))
            else:
                cur.execute(_DELETE_SQL, (change.customer_id,))
            if cur.rowcount != 1:
                raise RuntimeError(
                    f"customers batch {batch.number}, change {index} ({change.op} customer_id="
                    f"{change.customer_id}) touched {cur.rowcount} rows of {TABLE}, expected 1"
                )
