"""Deterministic product catalogue for the sandbox Snowflake warehouse, with change rounds that stress
an ``updated_at`` watermark.

Rows are ``(product_id, sku, name, category, list_price, currency, updated_at)``; ``updated_at`` is a
naive UTC timestamp with microseconds (Snowflake ``TIMESTAMP_NTZ``), ``list_price`` a ``Decimal`` with
two places (``NUMBER(12,2)``).

Every round (see ``ProductsDataset.manifest``):

- ``tie: boundary``: the first two changes carry exactly the newest ``updated_at`` of the previous state,
  on products that were not at that timestamp (``>`` loses them; ``>=`` without skipping keys re-delivers
  the previous tie group).
- ``multi_version``: one product is updated three times (increasing ``updated_at``); an extraction after
  the round sees only its last version, which is all the source still has.
- updates of about a tenth of the catalogue, one new product.
- ``tie: round_end``: the last three changes share one ``updated_at``, the next round's boundary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

COLUMNS: tuple[str, ...] = ("product_id", "sku", "name", "category", "list_price", "currency", "updated_at")
KEY = "product_id"
CATEGORIES = ("Hardware", "Software", "Services", "Accessories", "Subscriptions", "Training")
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD")
_ADJECTIVES = ("Compact", "Pro", "Ultra", "Smart", "Rugged", "Cloud", "Modular", "Quantum")
_NOUNS = ("Router", "Sensor", "Gateway", "Console", "Licence", "Dock", "Camera", "Hub", "Module")

BOUNDARY_TIES = 2
ROUND_END_TIES = 3
VERSIONS_OF_MULTI = 3

INSERT, UPDATE = "insert", "update"
TIE_BOUNDARY, TIE_ROUND_END, MULTI_VERSION = "boundary", "round_end", "multi_version"

Row = dict[str, Any]


@dataclass(frozen=True)
class ProductChange:
    """One row version written to the warehouse by a change round, in application order."""

    round: int
    kind: str
    row: Row
    tag: str | None = None  # TIE_BOUNDARY, TIE_ROUND_END, MULTI_VERSION or None

    @property
    def product_id(self) -> int:
        return self.row[KEY]

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "kind": self.kind,
            "product_id": self.product_id,
            "updated_at": self.row["updated_at"].isoformat(),
            "tag": self.tag,
        }


@dataclass(frozen=True)
class ProductsDataset:
    seed: int
    start: datetime  # naive UTC
    initial: tuple[Row, ...]
    rounds: tuple[tuple[ProductChange, ...], ...]

    @property
    def round_count(self) -> int:
        return len(self.rounds)

    @property
    def manifest(self) -> list[dict[str, Any]]:
        return [c.manifest_entry() for changes in self.rounds for c in changes]

    def changes_of(self, round_no: int) -> tuple[ProductChange, ...]:
        return self.rounds[round_no - 1]

    def multi_version_ids(self, round_no: int) -> list[int]:
        return sorted({c.product_id for c in self.changes_of(round_no) if c.tag == MULTI_VERSION})

    def state_after(self, round_no: int) -> dict[int, Row]:
        """product_id -> row once rounds 1..round_no are applied (0: the initial catalogue)."""
        if not 0 <= round_no <= self.round_count:
            raise ValueError(f"products dataset has rounds 0..{self.round_count}, got {round_no}")
        state = {r[KEY]: dict(r) for r in self.initial}
        for changes in self.rounds[:round_no]:
            for change in changes:
                state[change.product_id] = dict(change.row)
        return state

    def changed_in(self, after_round: int, upto_round: int) -> dict[int, Row]:
        """product_id -> latest row of every product touched in rounds after_round+1..upto_round: the
        oracle of an incremental extraction taken after ``after_round`` and again after ``upto_round``."""
        state = self.state_after(upto_round)
        touched = {c.product_id for r in range(after_round + 1, upto_round + 1) for c in self.changes_of(r)}
        return {i: state[i] for i in sorted(touched)}


def generate_products(
    seed: int = 13,
    start: datetime = datetime(2026, 11, 1, 6, 0),
    products: int = 60,
    rounds: int = 3,
    scale: float = 1.0,
) -> ProductsDataset:
    if start.tzinfo is not None:
        start = start.astimezone(UTC).replace(tzinfo=None)
    n = round(products * scale)
    if n < 20 or rounds < 1:
        raise ValueError(f"generate_products: needs at least 20 products and 1 round, got {n}, {rounds}")
    rng = random.Random(seed)
    state: dict[int, Row] = {}
    tie_ts = start - timedelta(minutes=5) + timedelta(microseconds=424_242)
    for i in range(1, n + 1):
        if i > n - ROUND_END_TIES:
            updated = tie_ts  # the newest initial rows share one timestamp: round 1's boundary
        else:
            updated = start - timedelta(days=rng.randint(1, 90), seconds=rng.randint(0, 86399))
            updated = min(
                updated + timedelta(microseconds=rng.randint(1, 999_999)), tie_ts - timedelta(seconds=1)
            )
        state[i] = _new_row(rng, i, updated)
    initial = tuple(dict(r) for r in state.values())
    changes = tuple(_round(rng, state, start, r) for r in range(1, rounds + 1))
    return ProductsDataset(seed, start, initial, changes)


def _new_row(rng: random.Random, product_id: int, updated_at: datetime) -> Row:
    return {
        "product_id": product_id,
        "sku": f"SKU-{product_id:06d}",
        "name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {product_id}",
        "category": rng.choice(CATEGORIES),
        "list_price": _price(rng),
        "currency": rng.choice(CURRENCIES),
        "updated_at": updated_at,
    }


def _price(rng: random.Random) -> Decimal:
    return Decimal(f"{rng.uniform(5, 5000):.2f}")


def _round(
    rng: random.Random, state: dict[int, Row], start: datetime, round_no: int
) -> tuple[ProductChange, ...]:
    boundary = max(r["updated_at"] for r in state.values())
    at_boundary = {i for i, r in state.items() if r["updated_at"] == boundary}
    ids = sorted(state)
    free = [i for i in ids if i not in at_boundary]
    boundary_ids = rng.sample(free, BOUNDARY_TIES)
    rest = [i for i in ids if i not in boundary_ids]
    multi = rng.choice(rest)
    rest.remove(multi)
    updates = rng.sample(rest, max(3, len(ids) // 10) + ROUND_END_TIES)
    plan: list[tuple[str, int, str | None]] = [(UPDATE, i, TIE_BOUNDARY) for i in boundary_ids]
    plan += [(UPDATE, multi, MULTI_VERSION)] * VERSIONS_OF_MULTI
    plan += [(UPDATE, i, None) for i in updates[:-ROUND_END_TIES]]
    plan.append((INSERT, max(ids) + 1, None))
    plan += [(UPDATE, i, TIE_ROUND_END) for i in updates[-ROUND_END_TIES:]]

    base = start + timedelta(days=round_no - 1, hours=1)
    end_ts = base + timedelta(seconds=len(plan) * 5 + 3, microseconds=987_654)
    changes: list[ProductChange] = []
    for index, (kind, product_id, tag) in enumerate(plan):
        if tag == TIE_BOUNDARY:
            ts = boundary
        elif tag == TIE_ROUND_END:
            ts = end_ts
        else:
            ts = base + timedelta(seconds=index * 5, microseconds=rng.randint(0, 999_999))
        if kind == INSERT:
            row = _new_row(rng, product_id, ts)
        else:
            row = dict(state[product_id])
            row["updated_at"] = ts
            if rng.random() < 0.5:
                row["list_price"] = _price(rng)
            else:
                row["name"] = (
                    f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {product_id} v{round_no}.{index}"
                )
        state[product_id] = row
        changes.append(ProductChange(round_no, kind, dict(row), tag))
    return tuple(changes)
