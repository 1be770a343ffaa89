"""The business dates a bronze batch touched, reported on its materialization.

Bronze is partitioned by ingestion day, its consumers by business day (an order's date). A batch can
hold events of any business day, days late included, so each bronze materialization records the
business dates of its rows (``partitioning.business_date`` in the contract), and a sensor turns them
into downstream partition runs (``sensors/business_dates.py``).
"""

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from platform_assets.contracts.model import Contract

BUSINESS_DATES = "business_dates"  # materialization metadata: sorted ISO dates


def business_dates(contract: Contract, rows: Iterable[Mapping[str, Any]] | pa.Table) -> list[str] | None:
    """Sorted distinct business dates of ``rows`` (typed records, or a typed table), None if the
    contract declares none."""
    column = contract.partitioning.business_date if contract.partitioning else None
    if column is None:
        return None
    if isinstance(rows, pa.Table):  # typed timestamps are UTC: their date is the UTC day
        days = pc.unique(pc.cast(rows.column(column), pa.date32())).drop_null().to_pylist()
        return [d.isoformat() for d in sorted(days)]
    found: set[date] = set()
    for row in rows:
        value = row.get(column)
        if isinstance(value, datetime):  # typed timestamps are UTC
            found.add(value.date())
        elif isinstance(value, date):
            found.add(value)
    return [d.isoformat() for d in sorted(found)]
