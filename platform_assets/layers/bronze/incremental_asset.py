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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext

from platform_assets.contracts.model import Contract
from platform_assets.engine.delta_io import read_delta
from platform_assets.lake.delta_tables import in_predicate, read_table
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import (
    PositionConflict,
    PositionSnapshot,
    append_with_positions,
    read_positions,
)
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


BATCHES_PER_RUN = 10  # a run drains a backlog in at most this many commits; the rest waits for the next


@dataclass
class _Typed:
    """One batch read and typed against ``snapshot``, ready to commit."""

    snapshot: PositionSnapshot
    meta: Batch
    source_batch: SourceBatch
    conformed: Conformed


def _read_and_type(
    lake: Lake,
    contract: Contract,
    batch_meta: Batch,
    read: Callable[[Committed], SourceBatch],
    snapshot: PositionSnapshot,
    committed: Committed,
) -> _Typed:
    # stamped after the positions were read: a positioned commit then always carries a later
    # _ingested_at than the commits before it, which the _ingested_at cursors downstream (silver
    # apply, sensors) rely on
    batch_meta = replace(batch_meta, ingested_at=max(batch_meta.ingested_at, datetime.now(UTC)))
    source_batch = read(committed)
    # typed on the engine already, or here
    conformed = source_batch.conformed or conform_by_contract(contract, source_batch.records)
    assert conformed.table is not None
    conformed.table = drop_suppressed_table(lake, conformed.table)  # erased people a source sends again
    return _Typed(snapshot, batch_meta, source_batch, conformed)


def _commit(lake: Lake, contract: Contract, typed: _Typed) -> tuple[int | None, int]:
    """Steps 2-3 for one typed batch: its dead letters, then its rows with the positions in one
    commit conditional on ``typed.snapshot``; returns the table version written (None: nothing to
    write) and the batch's dead-letter count."""
    source_batch, conformed = typed.source_batch, typed.conformed
    dead = write_dead_letters(lake, contract, conformed, typed.meta)
    if not (source_batch.records or source_batch.positions or source_batch.offsets):
        return typed.snapshot.version, dead
    version = append_with_positions(
        lake.uri(contract.ref),
        typed_bronze_table(contract, conformed, typed.meta),
        partition_by=["_proc_date"],
        offsets=source_batch.offsets,
        positions=source_batch.positions,
        commit_metadata={"batch_id": typed.meta.batch_id, "source": typed.meta.source},
        storage_options=lake.storage_options,
        read=typed.snapshot,
    )
    return version, dead


def _after(snapshot: PositionSnapshot, source_batch: SourceBatch) -> Committed:
    """The positions the table will hold once ``source_batch`` is committed over ``snapshot``."""
    offsets = dict(source_batch.offsets)
    return Committed(
        {**snapshot.positions, **source_batch.positions},
        lambda app_id: offsets[app_id] if app_id in offsets else snapshot.offset(app_id),
    )


Ingested = tuple[SourceBatch, Conformed, int]  # a committed batch, its conformance and DLQ count


def ingest_batches(
    lake: Lake,
    contract: Contract,
    batch_meta: Batch,
    read: Callable[[Committed], SourceBatch],
    max_batches: int = BATCHES_PER_RUN,
    on_commit: Callable[[SourceBatch, Conformed, int], None] = lambda source_batch, conformed, dead: None,
) -> int:
    """Steps 1-4 of the module docstring for consecutive batches, one commit each, while the reader
    says there is more (``SourceBatch.more``), at most ``max_batches``.

    Batch k+1 is read and typed while batch k is being committed (delta-rs writes without the GIL),
    from the positions batch k will leave. It is committed only against the version batch k wrote:
    if another writer committed in between, it is dropped and read again from the winner's positions
    (as after a ``PositionConflict``, up to ``CONFLICT_ATTEMPTS`` times in all). A failure stops
    the run after the commits already made; nothing is committed twice or skipped.

    ``on_commit`` gets each committed batch (source batch, conformance, DLQ count) as it lands; only
    what it keeps outlives the batch, so a run holds at most two batches whatever its length. Returns
    the number of commits.
    """
    uri = lake.uri(contract.ref)

    def from_the_table() -> _Typed:  # the next batch after the positions the table holds now
        snapshot = read_positions(uri, lake.storage_options)
        committed = Committed(snapshot.positions, snapshot.offset)
        return _read_and_type(lake, contract, batch_meta, read, snapshot, committed)

    done = conflicts = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bronze-commit") as committer:
        typed = from_the_table()
        while True:
            pending = committer.submit(_commit, lake, contract, typed)
            following = None
            # a batch with a breaking type change ends the run (it fails on it); so does the budget
            if typed.source_batch.more and done + 1 < max_batches and not typed.conformed.breaking_fields():
                # the next batch, from the positions this commit leaves, while it is written
                after = _after(typed.snapshot, typed.source_batch)
                following = _read_and_type(lake, contract, batch_meta, read, typed.snapshot, after)
            try:
                version, dead = pending.result()
            except PositionConflict:
                pass  # another writer committed first: this batch and the one after are dropped
            else:
                done += 1
                on_commit(typed.source_batch, typed.conformed, dead)
                if following is None:
                    break
                snapshot = read_positions(uri, lake.storage_options)
                if snapshot.version == version:  # nobody committed in between: the next batch stands
                    typed = replace(following, snapshot=snapshot)
                    continue
            # another writer committed first, or between two batches: read again from its positions
            conflicts += 1
            if conflicts == CONFLICT_ATTEMPTS:
                raise PositionConflict(f"{uri}: other writers kept committing first ({conflicts} times)")
            typed = from_the_table()
    if typed.source_batch.acknowledge is not None:  # the last batch's covers the ones before
        typed.source_batch.acknowledge()
    return done


def ingest_increment(
    lake: Lake, contract: Contract, batch_meta: Batch, read: Callable[[Committed], SourceBatch]
) -> Ingested:
    """Steps 1-4 of the module docstring for one batch; returns the source batch, its conformance and
    DLQ count.

    ``read`` may be called more than once: after losing a commit race it reads again from the
    winner's positions.
    """
    committed: list[Ingested] = []
    ingest_batches(lake, contract, batch_meta, read, 1, lambda *ingested: committed.append(ingested))
    return committed[0]


@dataclass
class RunSummary:
    """What a run's materialization reports of its committed batches, gathered as each one lands
    (``ingest_batches``' ``on_commit``), so no batch's rows outlive it."""

    contract: Contract
    rows: int = 0
    dead: int = 0  # the dead letters of the run's batches (each written to the DLQ once)
    received: int = 0
    new_fields: list[str] = field(default_factory=list)
    positions: dict[str, Any] = field(default_factory=dict)  # later batches' over earlier ones'
    offsets: dict[str, int] = field(default_factory=dict)
    business_dates: set[str] | None = None  # None: the contract declares no business date
    breaking: Conformed | None = None  # the batch with a breaking type change (it ends the run)

    def add(self, source_batch: SourceBatch, conformed: Conformed, dead: int) -> None:
        self.rows += conformed.row_count
        self.dead += dead
        self.received += conformed.received
        self.new_fields += [name for name in conformed.new_fields if name not in self.new_fields]
        self.positions.update(source_batch.positions)
        self.offsets.update(source_batch.offsets)
        rows = conformed.table if conformed.table is not None else conformed.rows
        touched = business_dates(self.contract, rows)
        if touched is not None:
            self.business_dates = (self.business_dates or set()) | set(touched)
        if conformed.breaking_fields():
            self.breaking = conformed


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
        run = RunSummary(contract)
        commits = ingest_batches(
            lake, contract, batch_meta, lambda committed: read_source(context, committed), on_commit=run.add
        )
        context.log.info(
            f"{contract.dataset}: {run.rows} record(s) appended in {commits} commit(s), "
            f"{run.dead} to {dlq_dataset(contract)}"
        )
        if run.breaking is not None:
            try:
                raise_on_breaking_change(contract, run.breaking)
            except SchemaDriftError as exc:
                # a retry would find the position already past these records (they are in the DLQ) and
                # succeed; a type change must stay a failed run until someone fixes the contract or source
                raise dg.Failure(description=str(exc), allow_retries=False) from exc
        extra: dict[str, Any] = {}
        if run.business_dates is not None:
            touched = sorted(run.business_dates)
            extra[BUSINESS_DATES] = dg.MetadataValue.json(touched)
            context.log.info(f"{contract.dataset}: business dates in this run: {touched}")
        uri = lake.uri(contract.ref)
        written = read_delta(context.resources.spark.get_session(), uri, in_predicate("_proc_date", [day]))
        report, _ = evaluate(written, contract.rules, "_proc_date")
        record_dead_letter_rate(report, run.received, run.dead, day.isoformat())
        record_quality_results(context, contract, report)
        yield dg.MaterializeResult(
            metadata=record_commit(
                context,
                contract,
                lake,
                run.rows,
                {
                    "dead_letters": run.dead,
                    "commits": commits,
                    "new_source_fields": dg.MetadataValue.json(run.new_fields),
                    "positions": dg.MetadataValue.json(json.loads(json.dumps(run.positions, default=str))),
                    "offsets": dg.MetadataValue.json(run.offsets),
                    **extra,
                },
            ),
        )
        yield from check_events(context, contract, report, [day])

    return _incremental_bronze
