"""Quarantined and dead-lettered records per dataset, with their reasons (counts, never the rows)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from deltalake import QueryBuilder

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake

REASON_CHARS = 120  # dead-letter errors name the record; group on their start


@dataclass(frozen=True)
class HeldRecords:
    dataset: str
    kind: str  # quarantine | dead letter
    reason: str
    action: str
    count: int


def _grouped(uri: str, lake: Lake, sql: str) -> list[dict]:
    table = open_table(uri, lake.storage_options)
    if table is None:
        return []
    reader = QueryBuilder().register("t", table).execute(sql)
    return pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()


def held_records(lake: Lake, contracts: dict[str, Contract]) -> list[HeldRecords]:
    found: list[HeldRecords] = []
    for dataset, contract in sorted(contracts.items()):
        quarantine = _grouped(
            lake.quarantine_uri(contract.ref),
            lake,
            'SELECT "_failed_rules" AS reason, "_action" AS action, COUNT(*) AS n FROM t GROUP BY 1, 2 ORDER BY 1, 2',
        )
        found += [HeldRecords(dataset, "quarantine", r["reason"], r["action"], r["n"]) for r in quarantine]
        if contract.ref.layer == "bronze":
            dead = _grouped(
                lake.uri(f"bronze/{contract.ref.table}_dlq"),
                lake,
                f'SELECT SUBSTR("_error", 1, {REASON_CHARS}) AS reason, COUNT(*) AS n FROM t GROUP BY 1 ORDER BY 1',
            )
            found += [
                HeldRecords(dataset, "dead letter", r["reason"], "held for replay", r["n"]) for r in dead
            ]
    return found
