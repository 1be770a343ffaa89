"""The publish gate: validate a candidate before it replaces anything, then publish what passed.

A blocking Dagster check does not undo its own asset's write, so the rules run *before* the write:
- a partition where a critical rule fails is not published (its previous version stays), and the
  rows that broke the rule go to the quarantine table with the rule names;
- rows failing a ``drop`` rule go to quarantine and the rest of their partition is published;
- ``warning`` rules only report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.contracts.rules import Severity
from platform_assets.engine import delta_io
from platform_assets.engine.lake_catalog import LakeTables
from platform_assets.lake.delta_tables import count_by, in_predicate, open_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.quality.evaluate import ALL, QualityReport, evaluate, flag_column, with_rule_flags
from platform_assets.quality.raw_values import raw_companions
from platform_assets.quality.schema import conform_with_schema
from platform_assets.quality.staging import staged

UNPLACED = str(None)  # the partition label of rows whose partition value is NULL


@dataclass
class PublishOutcome:
    report: QualityReport
    published_partitions: list[str] = field(default_factory=list)
    blocked_partitions: list[str] = field(default_factory=list)
    published_rows: int = 0
    published_rows_by_partition: dict[str, int] = field(default_factory=dict)
    quarantined_rows: int = 0

    @property
    def published(self) -> bool:
        return bool(self.published_partitions)


def _replace_table(good: DataFrame, contract: Contract, uri: str, lake: Lake) -> None:
    """The whole table becomes ``good``: overwritten, or merged by key so unchanged rows stay put (a
    table whose stored columns differ from the contract's, or a new one, is overwritten)."""
    table = open_table(uri, lake.storage_options) if contract.publish.mode == "merge" else None
    stored = [f.name for f in table.schema().fields] if table is not None else None
    if stored == contract.column_names:
        delta_io.merge_table(good, uri, contract.publish.merge_keys)
    else:
        delta_io.overwrite_table(good, uri)


def _any(flags: Sequence[str]) -> F.Column:
    condition = F.lit(False)
    for name in flags:
        condition = condition | F.col(name)
    return condition


def publish_with_gate(
    candidate: DataFrame,
    contract: Contract,
    lake: Lake,
    partitions: Sequence[date] | None,
    run_id: str,
) -> PublishOutcome:
    """Validate ``candidate`` against the contract and publish the partitions that pass.

    ``partitions`` are the partitions this run replaces (None: the table is replaced whole).
    """
    raw = raw_companions(candidate.columns, contract.column_names)  # checked, never published
    candidate, schema = conform_with_schema(candidate, contract, keep=raw)
    # cross-table rules (referential) are row flags too, so they are staged with the others
    tables = LakeTables(candidate.sparkSession, lake)
    flagged, _ = with_rule_flags(candidate, contract.rules, tables, schema=schema)
    with staged(flagged, lake, run_id, contract.dataset) as candidate:  # computed once, read from here
        return _gate(candidate, contract, lake, partitions, run_id, raw)


def _gate(
    candidate: DataFrame,
    contract: Contract,
    lake: Lake,
    partitions: Sequence[date] | None,
    run_id: str,
    raw: list[str],
) -> PublishOutcome:
    """The gate over a staged candidate that carries its rule flags."""
    part_col = contract.partitioning.column if contract.partitioning else None
    tables = LakeTables(candidate.sparkSession, lake)  # for cross-table rules
    report, flagged = evaluate(candidate, contract.rules, part_col, tables=tables)
    blocked = report.blocked_partitions()
    if part_col and UNPLACED in blocked:  # a failing row with no partition value may belong to any
        blocked |= {p.isoformat() for p in partitions or []}
    gate_flags = [
        flag_column(r)
        for r in contract.rules
        if r.severity in (Severity.CRITICAL, Severity.DROP) and flag_column(r) in flagged.columns
    ]
    drop_flags = [
        flag_column(r)
        for r in contract.rules
        if r.severity is Severity.DROP and flag_column(r) in flagged.columns
    ]
    partition_label = F.col(part_col).cast("string") if part_col else F.lit(ALL)
    outcome = PublishOutcome(report, blocked_partitions=sorted(blocked))
    uri = lake.uri(contract.ref)

    good = flagged.where(~partition_label.isin(sorted(blocked)) & ~_any(drop_flags))
    if part_col:
        targets = [p for p in partitions or [] if p.isoformat() not in blocked]
        if targets:
            good = good.where(F.col(part_col).isin(targets)).select(*contract.column_names)
            delta_io.overwrite_partitions(good, uri, part_col, targets, lake.storage_options)
            where = in_predicate(part_col, targets)
            counts = count_by(uri, part_col, where, lake.storage_options)
            outcome.published_rows_by_partition = {
                p.isoformat(): counts.get(p.isoformat(), 0) for p in targets
            }
            outcome.published_rows = sum(outcome.published_rows_by_partition.values())
        outcome.published_partitions = [p.isoformat() for p in targets]
    elif not blocked:
        _replace_table(good.select(*contract.column_names), contract, uri, lake)
        outcome.published_partitions = [ALL]
        outcome.published_rows = row_count(uri, lake.storage_options)
        outcome.published_rows_by_partition = {ALL: outcome.published_rows}

    to_quarantine = flagged.where(_any(gate_flags))
    failing = {o.rule.name for o in report.outcomes if o.failed and flag_column(o.rule) in gate_flags}
    if failing:
        labels = [F.when(F.col(flag_column(r)), F.lit(r.name)) for r in contract.rules if r.name in failing]
        quarantined = to_quarantine.select(
            *contract.column_names,
            *raw,
            F.concat_ws(",", *labels).alias("_failed_rules"),
            F.when(F.coalesce(partition_label, F.lit(UNPLACED)).isin(sorted(blocked)), F.lit("blocked"))
            .otherwise(F.lit("dropped"))
            .alias("_action"),
            F.lit(contract.dataset).alias("_dataset"),
            F.lit(run_id).alias("_run_id"),
            F.current_timestamp().alias("_quarantined_at"),
        )
        outcome.quarantined_rows = quarantined.count()
        if outcome.quarantined_rows:
            delta_io.append(quarantined, lake.quarantine_uri(contract.ref))
    return outcome
