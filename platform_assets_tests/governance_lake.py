"""A small lake of real Delta tables (delta-rs) shaped like the platform's, with known people in it."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import pyarrow as pa
from deltalake import write_deltalake

from platform_assets.lake.location import Lake

UTC_TS = pa.timestamp("us", tz="UTC")
CUSTOMERS = [  # customer_id, name, email, phone, address, country, deleted
    (1, "Jane Doe", "jane@example.com", "+1 555 0101", "1 Main St", "US", False),
    (2, "Hans Meier", "hans@example.de", "+49 30 1234", "Berliner Str 2", "DE", False),
    (3, "Yuki Sato", "yuki@example.jp", "+81 3 5555", "3 Chome", "JP", True),
]
REGION = {"US": "AMER", "DE": "EMEA", "JP": "APAC"}
REVENUE = [  # order_date, region, category, revenue_usd, orders
    (date(2026, 11, 1), "AMER", "tools", 100.0, 2),
    (date(2026, 11, 1), "EMEA", "tools", 50.0, 1),
    (date(2026, 11, 2), "EMEA", "toys", 25.0, 1),
    (date(2026, 11, 2), "APAC", "toys", 10.0, 1),
]
DEAD_LETTER_RAW = '{"order_id": "o-9", "customer_id": 2, "email": "hans@example.de", "total": "x"}'


def token(value: object, salt: str) -> str:
    """What the hash mask must show, computed independently of the engine."""
    return hashlib.sha256(f"{salt}{value}".encode()).hexdigest()


def customer_key(customer_id: int) -> int:
    return 100 + customer_id


def build_governance_lake(lake: Lake) -> None:
    ts = datetime(2026, 11, 1, 9, 0)
    write_deltalake(
        lake.uri("silver/customers"),
        pa.table(
            {
                "customer_id": pa.array([c[0] for c in CUSTOMERS], pa.int64()),
                "name": [c[1] for c in CUSTOMERS],
                "email": [c[2] for c in CUSTOMERS],
                "phone": [c[3] for c in CUSTOMERS],
                "address": [c[4] for c in CUSTOMERS],
                "country": [c[5] for c in CUSTOMERS],
                "updated_at": pa.array([ts] * len(CUSTOMERS), UTC_TS),
                "_is_deleted": [c[6] for c in CUSTOMERS],
            }
        ),
    )
    write_deltalake(
        lake.uri("gold/dim_customer"),
        pa.table(
            {
                "customer_key": pa.array([customer_key(c[0]) for c in CUSTOMERS], pa.int64()),
                "customer_id": pa.array([c[0] for c in CUSTOMERS], pa.int64()),
                "name": [c[1] for c in CUSTOMERS],
                "country": [c[5] for c in CUSTOMERS],
                "region": [REGION[c[5]] for c in CUSTOMERS],
                "is_current": [True] * len(CUSTOMERS),
            }
        ),
    )
    write_deltalake(
        lake.uri("gold/agg_daily_revenue"),
        pa.table(
            {
                "order_date": pa.array([r[0] for r in REVENUE], pa.date32()),
                "region": [r[1] for r in REVENUE],
                "category": [r[2] for r in REVENUE],
                "revenue_usd": [r[3] for r in REVENUE],
                "orders": pa.array([r[4] for r in REVENUE], pa.int64()),
            }
        ),
        partition_by=["order_date"],
    )
    write_deltalake(
        lake.uri("bronze/order_events_dlq"),
        pa.table(
            {
                "_dataset": ["bronze/order_events"],
                "_position": ["orders.events-0:17"],
                "_error": ["bronze/order_events: field 'total': not a number"],
                "_raw": [DEAD_LETTER_RAW],
                "_proc_date": pa.array([date(2026, 11, 1)], pa.date32()),
            }
        ),
        partition_by=["_proc_date"],
    )
