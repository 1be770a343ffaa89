"""The gold sensor's "does a date name a customer gold/dim_customer lacks?" at 1M-event size.

Known input: one order date with 150,000 distinct customers (about what 1M order events over 3 days
hold), plus a deleted order; gold/dim_customer holds all of them, then all but one. The ids used to
be sent to delta-rs as one SQL ``IN`` list, which crashed the process (SIGSEGV in its planner) in
``platform bench --scales 4270``; now they are an anti-join.
"""

from datetime import date
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from platform_assets.lake.location import Lake
from platform_assets.sensors.gold_inputs import _new_customers

DAY = date(2026, 11, 3)
CUSTOMERS = 150_000


def _lake(root: Path, known: list[int]) -> Lake:
    lake = Lake(str(root), {})
    ids = list(range(1, CUSTOMERS + 1))
    orders = pa.table(
        {
            "order_date": pa.array([DAY] * (CUSTOMERS + 1), pa.date32()),
            "customer_id": pa.array([*ids, 999_999_999], pa.int64()),
            "_is_deleted": pa.array([False] * CUSTOMERS + [True]),  # a deleted order's customer never counts
        }
    )
    write_deltalake(lake.uri("silver/orders"), orders, partition_by=["order_date"])
    write_deltalake(lake.uri("gold/dim_customer"), pa.table({"customer_id": pa.array(known, pa.int64())}))
    return lake


def test_a_date_with_every_customer_known_needs_no_dimension_rebuild(tmp_path: Path) -> None:
    assert not _new_customers(_lake(tmp_path, list(range(1, CUSTOMERS + 1))), {DAY})


def test_one_unknown_customer_among_150000_is_found(tmp_path: Path) -> None:
    known = [c for c in range(1, CUSTOMERS + 1) if c != 74_321]
    assert _new_customers(_lake(tmp_path, known), {DAY})
    assert not _new_customers(_lake(tmp_path / "other", known), {date(2026, 11, 4)})  # no order that day
