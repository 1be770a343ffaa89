"""Silver change-apply assets: validate the new changes, then apply them with AUTO-CDC semantics.

One factory for every CDC table; the contract's ``cdc`` section says SCD1 or SCD2 and which changes
are deletes, and the table supplies only its change feed (a transform over bronze). A run applies
the bronze rows ingested after the point recorded on the asset's last materialization
(``applied_through``). Re-applying rows is harmless (the apply is idempotent), so a crash between
the apply and the record costs a re-read, never a wrong state.

A table partitioned by a business date (``partitioning`` in the contract, e.g. silver/orders by
order_date) keeps that point per partition. A run for some partitions reads the bronze rows
ingested after the oldest of their points (the feed prunes by ingestion day), applies the changes
that belong to them and reads and merges only those partitions. Critical rules hold back the
partitions they fail in; the others are applied and recorded one by one. Partitions never applied
before read from their first date on.

The rules check what can reach the table: for SCD1 the newest change per key of the run (so a bad
change that a later correction supersedes stops blocking), for SCD2 every change (each is a version).

The engine work (feed, rules, gate, quarantine, apply) is ``apply_changes``, which knows no Dagster
context: the step runs it in-process, or under PLATFORM_ENGINE=emr_serverless sends its reading plan
(what it read from the instance) to an EMR Serverless job run that runs it (``_as_job``,
platform_assets/emr_job.py); either way the step records the outcome with ``materializations``.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import reduce
from typing import Any, Protocol

import dagster as dg
from dagster import AssetExecutionContext
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from platform_assets.cdc import ChangeSpec, apply_scd1, apply_scd2
from platform_assets.cdc.spec import DELETED
from platform_assets.contracts.model import Contract
from platform_assets.engine import delta_io
from platform_assets.lake.delta_tables import INGESTED_AT, count_by, row_count
from platform_assets.lake.location import Lake
from platform_assets.layers.emr_asset import BLOCKED_PARTITIONS, ROWS_BY_PARTITION, submit_job
from platform_assets.layers.materialization import record_commit
from platform_assets.layers.silver.business_date_range import RULE, out_of_range, quarantine_out_of_range
from platform_assets.layers.spark_asset import TransformInputs
from platform_assets.layers.specs import asset_kwargs, partition_dates
from platform_assets.quality.check_events import check_events
from platform_assets.quality.evaluate import (
    FLAG_PREFIX,
    QualityReport,
    evaluate,
    flag_column,
    with_rule_flags,
)
from platform_assets.quality.results import record_quality_results
from platform_assets.quality.staging import staged

APPLIED_THROUGH = "applied_through"  # newest bronze _ingested_at applied, on the materialization

# (inputs, applied_through or None) -> change rows with the contract's columns, the delete marker's
# columns and _ingested_at
ChangeFeed = Callable[[TransformInputs, datetime | None], DataFrame]
# the costly part of a feed (parsing, per-row aggregates), run on the changes the rules check (for
# SCD1 the newest per key), after the reduction instead of on every bronze row
Enrich = Callable[[DataFrame], DataFrame]
# since (None: from the start) -> the partitions that read from it (None: the unpartitioned table)
Plan = dict[datetime | None, list[date] | None]
IN_SCOPE, STRAY = "_in_scope", "_stray"  # staged feed flags: belongs to the run's partitions / to none
WINNER, SEEN = "_winner", "_seen"  # the newest change of its key (SCD1); newest _ingested_at of its group


def _newest_per_key(feed: DataFrame, spec: ChangeSpec) -> DataFrame:
    """An SCD1 feed reduced before it is staged: per key (in scope or not) the newest change, marked
    ``_winner`` (what ``winning_changes`` picks), plus every stray change (each is quarantined).

    Each row carries ``_seen``, the newest ``_ingested_at`` of its key's group, so the newest of the
    staged copy is the whole read's. The staged copy holds about one row per key instead of every
    event, so the stage and everything read from it are that much smaller.

    ``_seen`` is taken over the unordered group (the same rows as an ordered window framed from
    first to last) and after the winner: on Sail the framed form was a second window pass over the
    wide rows (the stage took 6.0-7.3 s instead of 3.3-3.5 s at 1M events), and Spark reuses the
    winner's sort for the unordered group only in this order (docs/performance.md).
    """
    key_group = Window.partitionBy(*spec.keys, IN_SCOPE)
    return (
        feed.withColumn(DELETED, spec.is_delete())
        .withColumn(WINNER, F.row_number().over(key_group.orderBy(*spec.newest_first())) == 1)
        .withColumn(SEEN, F.max(INGESTED_AT).over(key_group))
        .where(F.col(WINNER) | F.col(STRAY))
        .drop(DELETED)
    )


def _utc(moment: datetime) -> datetime:
    """Spark hands timestamps back naive, in the session time zone (UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _through(event: dg.EventLogEntry | None) -> datetime | None:
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get(APPLIED_THROUGH) if materialization else None
    return _utc(datetime.fromisoformat(value.value)) if value is not None else None


def _partition_point(context: AssetExecutionContext, day: date) -> datetime | None:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[day.isoformat()]), limit=1
    ).records
    return _through(records[0].event_log_entry) if records else None


def reading_plan(context: AssetExecutionContext, partitions: list[date] | None) -> Plan:
    """What to read: ``since`` -> the partitions that read from it (None: the unpartitioned table).

    Partitions applied before read from the oldest of their points; partitions never applied read
    from the start (the feed then prunes by their dates), so a new day does not re-read old ones.
    """
    if partitions is None:
        return {_through(context.instance.get_latest_materialization_event(context.asset_key)): None}
    points = {day: _partition_point(context, day) for day in partitions}
    plan: Plan = {}
    known = [point for point in points.values() if point is not None]
    if known:
        plan[min(known)] = [day for day, point in points.items() if point is not None]
    fresh = [day for day, point in points.items() if point is None]
    if fresh:
        plan[None] = fresh
    return plan


def _quarantine(changes: DataFrame, flagged: DataFrame, contract: Contract, lake: Lake, run_id: str) -> int:
    blocking = [flag_column(r) for r in contract.rules if r.blocking and flag_column(r) in flagged.columns]
    if not blocking:
        return 0
    failing = flagged.where(" OR ".join(f"`{f}`" for f in blocking))
    labels = [
        F.when(F.col(flag_column(r)), F.lit(r.name)) for r in contract.rules if flag_column(r) in blocking
    ]
    rows = failing.select(
        *changes.columns,
        F.concat_ws(",", *labels).alias("_failed_rules"),
        F.lit("blocked").alias("_action"),
        F.lit(contract.dataset).alias("_dataset"),
        F.lit(run_id).alias("_run_id"),
        F.current_timestamp().alias("_quarantined_at"),
    )
    count = rows.count()
    if count:
        delta_io.append(rows, lake.quarantine_uri(contract.ref))
    return count


def _quarantine_strays(
    strays: list[DataFrame], contract: Contract, spec: ChangeSpec, lake: Lake, run_id: str, log: "_Log"
) -> int:
    if not strays or contract.partitioning is None or spec.partition_by is None:
        return 0
    count = quarantine_out_of_range(
        reduce(DataFrame.unionByName, strays),
        spec.partition_by,
        contract.partitioning.start,
        [*spec.keys, *spec.sequence_by],
        contract.dataset,
        lake,
        run_id,
    )
    if count:
        log.warning(
            f"{contract.dataset}: {count} change(s) with a {spec.partition_by} no partition takes "
            f"quarantined in {lake.quarantine_uri(contract.ref)} ({RULE})"
        )
    return count


@dataclass(frozen=True)
class ChangeApply:
    """A change-apply asset's engine work, as the step and an EMR Serverless job run it alike."""

    contract: Contract
    change_feed: ChangeFeed
    enrich: Enrich | None = None

    @property
    def spec(self) -> ChangeSpec:
        return ChangeSpec.from_contract(self.contract)

    @property
    def scd1(self) -> bool:  # SCD2 keeps every change as a version, so every change is checked
        return self.contract.cdc is None or self.contract.cdc.mode != "scd2"


# dataset -> its change apply, filled as the assets are built: what an EMR Serverless job run looks up
# (platform_assets/emr_job.py)
CHANGE_APPLIES: dict[str, ChangeApply] = {}


@dataclass
class ApplyOutcome:
    """What a change apply did: the report its gate acted on and what it applied (``applied`` None:
    nothing)."""

    report: QualityReport
    blocked: set[str]
    applying: list[date] | None
    applied: "_Applied | None"
    out_of_range_rows: int


class _Log(Protocol):  # the step's context.log, or the job's Pipes log
    def info(self, msg: str) -> Any: ...
    def warning(self, msg: str) -> Any: ...
    def error(self, msg: str) -> Any: ...


def apply_changes(
    cdc: ChangeApply,
    spark: SparkSession,
    lake: Lake,
    partitions: list[date] | None,
    plan: Plan,
    run_id: str,
    log: _Log,
) -> ApplyOutcome:
    """Read the feed of ``plan``, check it, quarantine what fails, apply the rest (the engine work)."""
    # the feed and the checked changes are each computed once and staged; removed at the end
    with ExitStack() as stages:
        contract, spec, scd1 = cdc.contract, cdc.spec, cdc.scd1
        reads: list[DataFrame] = []
        for since, days in plan.items():
            read = cdc.change_feed(TransformInputs(spark, lake, days), since)
            stray = (
                out_of_range(spec.partition_by, contract.partitioning.start)
                if spec.partition_by and contract.partitioning
                else F.lit(False)
            )  # dates no partition takes
            reads.append(read.withColumn(IN_SCOPE, F.expr(spec.within(days))).withColumn(STRAY, stray))
        read = reduce(DataFrame.unionByName, reads)
        # bronze is read once: the feed is staged (for SCD1 already reduced to the newest change per
        # key, see _newest_per_key), and counted, narrowed and applied from there
        feed = stages.enter_context(
            staged(
                _newest_per_key(read, spec) if scd1 else read.withColumn(SEEN, F.col(INGESTED_AT)),
                lake,
                run_id,
                f"{contract.dataset}/feed",
            )
        )
        # the whole read counts as seen, before it is narrowed to its partitions (the apply below
        # runs later, so it reads at least as much)
        found = feed.agg(F.max(SEEN).alias("t"), F.sum(F.col(STRAY).cast("long")).alias("s")).collect()[0]
        seen: list[datetime] = [_utc(found["t"])] if found["t"] is not None else []
        flags = [c for c in (IN_SCOPE, STRAY, WINNER, SEEN) if c in feed.columns]
        strays = [feed.where(STRAY).drop(*flags)] if found["s"] else []
        # SCD1: the newest change per key of the run (a bad change a later correction supersedes
        # stops blocking), the only ones the apply can write
        changes = feed.where(F.col(IN_SCOPE) & F.col(WINNER) if scd1 else F.col(IN_SCOPE)).drop(*flags)
        out_of_range_rows = _quarantine_strays(strays, contract, spec, lake, run_id, log)
        if cdc.enrich is not None:
            changes = cdc.enrich(changes)
        checked = stages.enter_context(
            staged(with_rule_flags(changes, contract.rules)[0], lake, run_id, f"{contract.dataset}/changes")
        )
        changes = checked.drop(*(c for c in checked.columns if c.startswith(FLAG_PREFIX)))
        through = max(seen, default=None)
        since = min((s for s in plan if s is not None), default=None)
        # every run checks its changes (the staged flags are reused, not recomputed)
        report, flagged = evaluate(checked, contract.rules, spec.partition_by)
        blocked = report.blocked_partitions()
        applying = None if partitions is None else [d for d in partitions if d.isoformat() not in blocked]
        outcome = ApplyOutcome(report, blocked, applying, None, out_of_range_rows)
        if not report.rows_by_partition or through is None:
            log.info(f"{contract.dataset}: no bronze changes after {since}; nothing to apply")
            return outcome
        if blocked:
            held = _quarantine(changes, flagged, contract, lake, run_id)
            kept = "nothing applied" if not applying else f"not applied: {sorted(blocked)}"
            log.error(f"{contract.dataset}: critical rules failed; {kept}, {held} change(s) quarantined")
            if not applying:
                return outcome
        uri = lake.uri(contract.ref)
        scoped = changes.where(spec.within(applying))
        if scd1:  # reduced to the newest per key when staged: no second window
            apply_scd1(scoped, uri, spec, lake.storage_options, applying, one_per_key=True)
        else:
            apply_scd2(scoped, uri, spec, lake.storage_options, applying)
        outcome.applied = _applied(contract, spec, lake, report, applying, through)
        outcome.applied.summary["out_of_range_quarantined"] = out_of_range_rows
        return outcome


def materializations(
    context: AssetExecutionContext,
    contract: Contract,
    lake: Lake,
    applied: "_Applied",
    blocked: Iterable[str],
    applying: list[date] | None,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """What the step records of an apply (its own or a job's): the table, or the applied partitions."""
    if not blocked:
        yield dg.MaterializeResult(
            metadata=record_commit(context, contract, lake, applied.rows, applied.summary)
        )
        return
    # some partitions were held back: record exactly the applied ones, and no output, so that
    # downstream does not run on a partly applied range (the blocking check stops it too)
    for day in applying or []:
        label = day.isoformat()
        rows = applied.rows_by_partition.get(label, 0)
        yield dg.AssetMaterialization(
            asset_key=context.asset_key,
            partition=label,
            metadata=record_commit(context, contract, lake, rows, applied.summary, partition=label),
        )


def plan_to_extras(plan: Plan) -> list[list[Any]]:
    """The reading plan as JSON (Pipes extras): [[since or None, [day, ...] or None], ...]."""
    return [
        [since.isoformat() if since else None, [d.isoformat() for d in days] if days is not None else None]
        for since, days in plan.items()
    ]


def plan_from_extras(extras: list[list[Any]]) -> Plan:
    return {
        (_utc(datetime.fromisoformat(since)) if since else None): (
            [date.fromisoformat(d) for d in days] if days is not None else None
        )
        for since, days in extras
    }


# what the job reports besides the summary (platform_assets/emr_job.py)
APPLIED, ROWS, APPLYING = "applied", "rows", "applied_partitions"


def job_report(outcome: ApplyOutcome) -> dict[str, Any]:
    """The materialization a job reports of its apply: the summary plus what the step needs to record it."""
    applied = outcome.applied
    applying = [d.isoformat() for d in outcome.applying] if outcome.applying is not None else None
    metadata: dict[str, Any] = {
        APPLIED: applied is not None,
        APPLYING: dg.MetadataValue.json(applying),
        BLOCKED_PARTITIONS: dg.MetadataValue.json(sorted(outcome.blocked)),
        "out_of_range_quarantined": outcome.out_of_range_rows,
    }
    if applied is not None:
        metadata |= {ROWS: applied.rows, **applied.summary}
    return metadata


def _as_job(
    context: AssetExecutionContext,
    contract: Contract,
    lake: Lake,
    partitions: list[date] | None,
    plan: Plan,
) -> Iterator:
    """PLATFORM_ENGINE=emr_serverless: the engine work as a job run, given what the instance knows."""
    job = submit_job(context, contract, lake, "change_apply", partitions, {"plan": plan_to_extras(plan)})
    reported = job.reported
    yield from out_of_range_observation(context, int(reported.get("out_of_range_quarantined") or 0))
    if reported.get(APPLIED):
        labels = reported.get(APPLYING)
        applying = [date.fromisoformat(d) for d in labels] if labels is not None else None
        applied = _Applied(int(reported[ROWS]), reported.get(ROWS_BY_PARTITION) or {}, job.metadata)
        yield from materializations(
            context, contract, lake, applied, reported.get(BLOCKED_PARTITIONS) or [], applying
        )
    yield from job.results


def out_of_range_observation(context: AssetExecutionContext, rows: int) -> list[dg.AssetObservation]:
    """Changes quarantined for a date no partition takes: counted even when nothing else is applied."""
    if not rows:
        return []
    metadata = {"out_of_range_quarantined": rows, "quarantine_rule": RULE}
    return [dg.AssetObservation(asset_key=context.asset_key, metadata=metadata)]


def build_change_apply_asset(
    contract: Contract,
    contracts: dict[str, Contract],
    change_feed: ChangeFeed,
    enrich: Enrich | None = None,
) -> dg.AssetsDefinition:
    cdc = ChangeApply(contract, change_feed, enrich)

    @dg.asset(
        **asset_kwargs(contract, contracts, {"spark"}),
        required_resource_keys={"spark", "lake"},
        output_required=False,
    )
    def _change_apply(context: AssetExecutionContext) -> Iterator:
        lake: Lake = context.resources.lake.lake
        partitions = partition_dates(context) if cdc.spec.partition_by else None
        plan = reading_plan(context, partitions)  # what the instance says was applied before
        if context.resources.spark.submits_jobs:  # PLATFORM_ENGINE=emr_serverless
            yield from _as_job(context, contract, lake, partitions, plan)
            return
        spark = context.resources.spark.get_session()
        outcome = apply_changes(cdc, spark, lake, partitions, plan, context.run.run_id, context.log)
        yield from out_of_range_observation(context, outcome.out_of_range_rows)
        report = outcome.report
        results = check_events(context, contract, report, partitions, outcome.blocked)
        record_quality_results(context, contract, report, outcome.blocked)
        if outcome.applied is not None:
            yield from materializations(
                context, contract, lake, outcome.applied, outcome.blocked, outcome.applying
            )
        yield from results

    CHANGE_APPLIES[contract.dataset] = cdc
    return _change_apply


@dataclass
class _Applied:
    """What an apply left: rows in its scope (table or partitions), per partition, and the summary."""

    rows: int
    rows_by_partition: dict[str, int]
    summary: dict[str, Any]


def _applied(
    contract: Contract,
    spec: ChangeSpec,
    lake: Lake,
    report: QualityReport,
    applying: list[date] | None,
    through: datetime,
) -> _Applied:
    uri = lake.uri(contract.ref)
    scope = spec.within(applying)
    live = f"NOT {DELETED}" + (" AND is_current" if contract.cdc and contract.cdc.mode == "scd2" else "")
    labels = None if applying is None else {d.isoformat() for d in applying}
    summary: dict[str, Any] = {
        APPLIED_THROUGH: through.isoformat(),
        "changes_applied": sum(
            n for p, n in report.rows_by_partition.items() if labels is None or p in labels
        ),
        "live_rows": row_count(uri, lake.storage_options, where=f"{live} AND {scope}"),
        "mode": contract.cdc.mode if contract.cdc else "scd1",
    }
    if applying is None:
        return _Applied(row_count(uri, lake.storage_options), {}, summary)
    by_partition = count_by(uri, str(spec.partition_by), scope, lake.storage_options)
    summary["rows_by_partition"] = dg.MetadataValue.json(by_partition)
    return _Applied(sum(by_partition.values()), by_partition, summary)
