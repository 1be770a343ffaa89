"""The incremental bronze asset factory: read what is new since the committed position, append it.

For change sources (Kafka offsets, Salesforce/Snowflake watermarks, DMS files) a run ingests
everything after the position stored in the bronze table itself, into the run's ingestion day:

1. read the committed positions from the table (never from the source's own bookkeeping), pinned
   to the table version they were read at (``lake/positions.read_positions``);
2. fetch the records after them and type them by the contract (``conform``); records that do not
   fit go to ``bronze/<table>_dlq`` with the raw payload, the error and the position. A dead letter
   is identified by its source position: one already in the DLQ (a retry after a crash between the
   DLQ commit and the data commit, or a concurrent run) is not written again, and the DLQ commit is
   itself conditional on the DLQ not having moved since it was read. So the pair is exactly-once;
3. append the rows and the new positions in ONE Delta commit (``lake/positions``), conditional on no
   other positioned commit since step 1: of two concurrent runs one commits, the other starts again
   from step 1 with the winner's positions (``PositionConflict``, up to ``CONFLICT_ATTEMPTS`` times);
4. only then acknowledge the source (consumer-group commit, replication-slot flush), which is
   for monitoring: a crash anywhere before step 3 re-reads the same records, after it resumes
   from the stored position; nothing is lost or duplicated;
5. a breaking type change stops the asset, naming the column and the contract, after 2-3;
6. the materialization reports the business dates of the batch when the contract names a
   ``partitioning.business_date`` column (see ``layers/bronze/business_dates.py``).
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext

from platform_assets.contracts.model import Contract
from platform_assets.engine.delta_io import read_delta
from platform_assets.lake.delta_tables import in_predicate, read_table
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import PositionConflict, append_with_positions, read_positions
from platform_assets.lake.suppression import drop_suppressed_table
from platform_assets.layers.bronze.batch_conform import conform_by_contract
from platform_assets.layers.bronze.business_dates import BUSINESS_DATES, business_dates
from platform_assets.layers.bronze.conform import (
    Conformed,
    SchemaDriftError,
    arrow_schema,
    raise_on_breaking_change,
)
from platform_assets.layers.bronze.dead_letter_rate import record_dead_letter_rate
from platform_assets.layers.bronze.records import METADATA_COLUMNS, Batch, metadata_arrays, source_columns
from platform_assets.layers.materialization import record_commit
from platform_assets.layers.retries import retry_transient_errors
from platform_assets.layers.specs import bronze_asset_kwargs, partition_dates
from platform_assets.quality.check_events import check_events
from platform_assets.quality.evaluate import evaluate
from platform_assets.quality.results import record_quality_results
from platform_assets.sources.batch import Committed, SourceBatch

ReadSource = Callable[[AssetExecutionContext, Committed], SourceBatch]


def dlq_dataset(contract: Contract) -> str:
    return f"bronze/{contract.ref.table}_dlq"


def typed_bronze_table(contract: Contract, conformed: Conformed, batch: Batch) -> pa.Table:
    columns = source_columns(contract)
    if conformed.table is not None:  # the batch path's typed rows
        typed = conformed.table
        arrays = {name: typed.column(name) for name in [*columns, *conformed.new_fields]}
        arrays.update(metadata_arrays(batch, typed.column("_position")))
        return pa.table({name: arrays[name] for name in [*columns, *conformed.new_fields, *METADATA_COLUMNS]})
    schema = arrow_schema(contract, columns)
    arrays = {f.name: pa.array([r.get(f.name) for r in conformed.rows], f.type) for f in schema}
    for name in conformed.new_fields:  # additive drift: kept as text
        arrays[name] = pa.array([r.get(name) for r in conformed.rows], pa.string())
    arrays.update(metadata_arrays(batch, [r["_position"] for r in conformed.rows]))
    return pa.table({name: arrays[name] for name in [*columns, *conformed.new_fields, *METADATA_COLUMNS]})


CONFLICT_ATTEMPTS = 5  # a run that keeps losing to concurrent writers fails, retryable, after this


def write_dead_letters(lake: Lake, contract: Contract, conformed: Conformed, batch: Batch) -> int:
    """Append the dead letters whose positions the DLQ does not hold yet; returns the batch's count.

    The check and the append are one conditional commit (``PositionConflict`` if another writer
    committed to the DLQ after it was read), so a position is dead-lettered once, whoever retries.
    """
    if not conformed.dead_letters:
        return 0
    uri = lake.uri(dlq_dataset(contract))
    snapshot = read_positions(uri, lake.storage_options)
    letters = conformed.dead_letters
    if snapshot.table is not None:
        positions = [d["_position"] for d in letters]
        present = read_table(
            uri,
            where=in_predicate("_position", positions),
            columns=["_position"],
            storage_options=lake.storage_options,
        )
        seen = set(present.column("_position").to_pylist())
        letters = [d for d in letters if d["_position"] not in seen]
    if not letters:
        return len(conformed.dead_letters)
    count = len(letters)
    table = pa.table(
        {
            "_dataset": [d["_dataset"] for d in letters],
            "_position": [d["_position"] for d in letters],
            "_error": [d["_error"] for d in letters],
            "_raw": [d["_raw"] for d in letters],
            "_raw_bytes": pa.array([d["_raw_bytes"] for d in letters], pa.binary()),
            "_context": pa.array([d["_context"] for d in letters], pa.string()),
            "_proc_date": pa.array([batch.proc_date] * count, pa.date32()),
            "_ingested_at": pa.array([batch.ingested_at] * count, pa.timestamp("us", tz="UTC")),
            "_batch_id": [batch.batch_id] * count,
        }
    )
    append_with_positions(
        uri, table, partition_by=["_proc_date"], storage_options=lake.storage_options, read=snapshot
    )
    return len(conformed.dead_letters)


def _ingest_once(
    lake: Lake, contract: Contract, batch_meta: Batch, read: Callable[[Committed], SourceBatch]
) -> tuple[SourceBatch, Conformed, int]:
    uri = lake.uri(contract.ref)
    snapshot = read_positions(uri, lake.storage_options)
    # stamped after the read: a positioned commit then always carries a later _ingested_at than the
    # commits before it, which the _ingested_at cursors downstream (silver apply, sensors) rely on
    batch_meta = replace(batch_meta, ingested_at=max(batch_meta.ingested_at, datetime.now(UTC)))
    source_batch = read(Committed(snapshot.positions, snapshot.offset))
    # typed on the engine already, or here
    conformed = source_batch.conformed or conform_by_contract(contract, source_batch.records)
    assert conformed.table is not None
    conformed.table = drop_suppressed_table(lake, conformed.table)  # erased people a source sends again
    dead = write_dead_letters(lake, contract, conformed, batch_meta)
    if source_batch.records or source_batch.positions or source_batch.offsets:
        append_with_positions(
            uri,
            typed_bronze_table(contract, conformed, batch_meta),
            partition_by=["_proc_date"],
            offsets=source_batch.offsets,
            positions=source_batch.positions,
            commit_metadata={"batch_id": batch_meta.batch_id, "source": batch_meta.source},
            storage_options=lake.storage_options,
            read=snapshot,
        )
    return source_batch, conformed, dead


def ingest_increment(
    lake: Lake, contract: Contract, batch_meta: Batch, read: Callable[[Committed], SourceBatch]
) -> tuple[SourceBatch, Conformed, int]:
    """Steps 1-4 of the module docstring; returns the source batch, its conformance and DLQ count.

    ``read`` may be called more than once: after losing a commit race it reads again from the
    winner's positions.
    """
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            source_batch, conformed, dead = _ingest_once(lake, contract, batch_meta, read)
            break
        except PositionConflict:
            if attempt == CONFLICT_ATTEMPTS:
                raise
    if source_batch.acknowledge is not None:
        source_batch.acknowledge()
    return source_batch, conformed, dead


def build_incremental_bronze_asset(
    contract: Contract,
    contracts: dict[str, Contract],
    read_source: ReadSource,
    source_label: str,
    resource_keys: set[str],
    kinds: set[str] | None = None,
    deps: list[dg.AssetKey] | None = None,
) -> dg.AssetsDefinition:
    kwargs = bronze_asset_kwargs(contract, contracts, resource_keys, kinds, deps)
    kwargs["backfill_policy"] = None  # one ingestion day per run: what is new lands today

    @dg.asset(**kwargs)
    @retry_transient_errors
    def _incremental_bronze(context: AssetExecutionContext) -> Iterator:
        lake: Lake = context.resources.lake.lake
        (day,) = partition_dates(context)
        batch_meta = Batch(day, datetime.now(UTC), source_label, f"{context.run.run_id}:{day.isoformat()}")
        source_batch, conformed, dead = ingest_increment(
            lake, contract, batch_meta, lambda committed: read_source(context, committed)
        )
        context.log.info(
            f"{contract.dataset}: {conformed.row_count} record(s) appended, {dead} to {dlq_dataset(contract)}"
        )
        try:
            raise_on_breaking_change(contract, conformed)
        except SchemaDriftError as exc:
            # a retry would find the position already past these records (they are in the DLQ) and
            # succeed; a type change must stay a failed run until someone fixes the contract or source
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        extra: dict[str, Any] = {}
        touched = business_dates(contract, conformed.table if conformed.table is not None else conformed.rows)
        if touched is not None:
            extra[BUSINESS_DATES] = dg.MetadataValue.json(touched)
            context.log.info(f"{contract.dataset}: business dates in this batch: {touched}")
        uri = lake.uri(contract.ref)
        written = read_delta(context.resources.spark.get_session(), uri, in_predicate("_proc_date", [day]))
        report, _ = evaluate(written, contract.rules, "_proc_date")
        record_dead_letter_rate(report, conformed.received, len(conformed.dead_letters), day.isoformat())
        record_quality_results(context, contract, report)
        yield dg.MaterializeResult(
            metadata=record_commit(
                context,
                contract,
                lake,
                conformed.row_count,
                {
                    "dead_letters": dead,
                    "new_source_fields": dg.MetadataValue.json(conformed.new_fields),
                    "positions": dg.MetadataValue.json(
                        json.loads(json.dumps(source_batch.positions, default=str))
                    ),
                    "offsets": dg.MetadataValue.json(source_batch.offsets),
                    **extra,
                },
            ),
        )
        yield from check_events(context, contract, report, [day])

    return _incremental_bronze
