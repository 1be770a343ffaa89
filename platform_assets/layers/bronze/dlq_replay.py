"""Re-ingest a bronze table's dead letters after a contract (or parser) fix, each one exactly once.

The dead letters stay in ``bronze/<table>_dlq`` as the record of what arrived. A replay re-reads them
(``_raw`` parsed as JSON when it is a JSON object, else left as received), types them by the current
contract and appends the ones that now fit to the bronze table. The replay state is the data: a
replayed row carries its dead letter's ``_position`` and ``_source = dlq_replay:<dlq table>``, so
the marker of each replayed dead letter is committed with it, in the same Delta commit, and no
history scan can forget it. A crash before the commit replays nothing, a crash after it does not
replay them again. The commit is conditional on the bronze table's positions not having moved since
the replay read them (``lake/positions``): of two concurrent replays one commits, the other reads
the markers again and finds nothing left to do. Records that still do not fit are reported and stay
where they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.lake.audit_log import audit_write
from platform_assets.lake.delta_tables import open_table, read_table
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import PositionConflict, append_with_positions, read_positions
from platform_assets.layers.bronze.business_dates import BUSINESS_DATES, business_dates
from platform_assets.layers.bronze.conform import conform_records
from platform_assets.layers.bronze.field_checks import field_checks_for
from platform_assets.layers.bronze.incremental_asset import dlq_dataset, typed_bronze_table
from platform_assets.layers.bronze.records import Batch, source_columns
from platform_assets.layers.materialization import SERVICE_ROLE
from platform_assets.layers.specs import asset_key

REPLAYED = "dlq_replayed"  # former structured position of the replayed DLQ positions (still honoured)
CONFLICT_ATTEMPTS = 5


@dataclass(frozen=True)
class ReplayOutcome:
    replayed: int
    still_failing: dict[str, str]  # position -> error under the current contract
    already_replayed: int
    ingestion_day: date | None = None  # the bronze partition the replayed rows were appended to
    business_dates: list[str] | None = None  # of the replayed rows, when the contract declares them


def record_replay(instance: dg.DagsterInstance, contract: Contract, outcome: ReplayOutcome) -> bool:
    """Record a replay that appended rows as a materialization of the bronze partition it wrote, so the
    asset's history shows it (the business-date sensor reads the table, so it needs no record)."""
    if not outcome.replayed or outcome.ingestion_day is None:
        return False
    metadata: dict[str, Any] = {"dlq_replayed": outcome.replayed, "trigger": "platform replay-dlq"}
    if outcome.business_dates is not None:
        metadata[BUSINESS_DATES] = dg.MetadataValue.json(outcome.business_dates)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=asset_key(contract.ref),
            partition=outcome.ingestion_day.isoformat(),
            description=f"{outcome.replayed} dead letter(s) re-ingested from {dlq_dataset(contract)}",
            metadata=metadata,
        )
    )
    return True


def _record(raw: str) -> Any:
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return parsed if isinstance(parsed, dict) else raw


def replay_source(contract: Contract) -> str:
    """The ``_source`` of the rows a replay appends: with ``_position``, the replayed marker."""
    return f"dlq_replay:{dlq_dataset(contract)}"


def _replayed_positions(lake: Lake, contract: Contract, uri: str, legacy: list[str]) -> set[str]:
    if open_table(uri, lake.storage_options) is None:
        return set(legacy)
    source = replay_source(contract).replace("'", "''")
    rows = read_table(
        uri, where=f"_source = '{source}'", columns=["_position"], storage_options=lake.storage_options
    )
    return set(rows.column("_position").to_pylist()) | set(legacy)


def replay_dead_letters(lake: Lake, contract: Contract, now: datetime | None = None) -> ReplayOutcome:
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return _replay_once(lake, contract, now or datetime.now(UTC))
        except PositionConflict:
            if attempt == CONFLICT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _replay_once(lake: Lake, contract: Contract, now: datetime) -> ReplayOutcome:
    dlq_uri, uri = lake.uri(dlq_dataset(contract)), lake.uri(contract.ref)
    if open_table(dlq_uri, lake.storage_options) is None:
        return ReplayOutcome(0, {}, 0)
    snapshot = read_positions(uri, lake.storage_options)  # first: the commit is conditional on it
    stamp = max(now, datetime.now(UTC))  # after the read, as ingests do (commit order = _ingested_at)
    done = _replayed_positions(lake, contract, uri, snapshot.positions.get(REPLAYED, []))
    letters: dict[str, str] = {}  # position -> raw (a position dead-lettered twice is one record)
    for row in read_table(dlq_uri, columns=["_position", "_raw"]).to_pylist():
        letters.setdefault(row["_position"], row["_raw"])
    pending = [(p, _record(raw)) for p, raw in sorted(letters.items()) if p not in done]
    conformed = conform_records(
        contract, pending, source_columns(contract), field_checks_for(contract.dataset)
    )
    if conformed.rows:
        batch = Batch(now.date(), stamp, replay_source(contract), f"dlq-replay:{now.isoformat()}")
        append_with_positions(
            uri,
            typed_bronze_table(contract, conformed, batch),
            partition_by=["_proc_date"],
            commit_metadata={"batch_id": batch.batch_id, "source": batch.source},
            storage_options=lake.storage_options,
            read=snapshot,
        )
        audit_write(
            lake,
            "materialize",
            role=SERVICE_ROLE,
            datasets=[contract.dataset],
            statement=f"materialize {contract.dataset} partition {now.date().isoformat()} "
            f"(dead-letter replay from {dlq_dataset(contract)})",
            row_count=len(conformed.rows),
        )
    failing = {d["_position"]: d["_error"] for d in conformed.dead_letters}
    return ReplayOutcome(
        len(conformed.rows),
        failing,
        len(done & set(letters)),
        now.date() if conformed.rows else None,
        business_dates(contract, conformed.rows),
    )
