"""Check results as Dagster should show them: one result per rule and partition, named by it.

A partitioned check spec (Preview in Dagster 1.13) is planned for every partition of a range run.
``AssetCheckResult`` carries no partition (Dagster sets one only in a single-partition run), so a
range run used to leave one real result plus a "Skipped"/"Execution failed" placeholder per
partition. Instead the factories yield an ``AssetCheckEvaluation`` per (rule, partition), which
resolves every planned partition and keeps blocking semantics (a failed blocking ERROR evaluation
still fails the step and stops downstream), and then the check's output so the step is complete.
A partition held at the gate also gets an observation naming the rules that held it.
See docs/data-quality.md ("Checks in the Dagster UI").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation

from platform_assets.contracts.masking import mask_row, pii_columns
from platform_assets.contracts.model import Contract
from platform_assets.quality.checks import check_result
from platform_assets.quality.describe import rule_sentence
from platform_assets.quality.evaluate import QualityReport, RuleOutcome

_SAMPLE_ROWS = 5


def _passed(outcome: RuleOutcome, label: str, has_rows: bool) -> bool:
    if outcome.message:
        return False
    if not has_rows:  # a partition without rows passes every rule but a minimum row count
        low = outcome.rule.args.get("min_value")
        return not (outcome.rule.expectation == "expect_table_row_count_to_be_between" and (low or 0) > 0)
    return label not in outcome.failed_partitions


def _metadata(outcome: RuleOutcome, label: str, contract: Contract) -> dict[str, Any]:
    rule = outcome.rule
    part_col = contract.partitioning.column if contract.partitioning else None
    rows = [r for r in outcome.sample if part_col is None or str(r.get(part_col)) == label]
    pii = pii_columns(contract)
    sample = json.loads(json.dumps([mask_row(r, pii) for r in rows[:_SAMPLE_ROWS]], default=str))
    if rule.row_level or label in outcome.evaluated_by_partition:  # counted rows (or records)
        evaluated = outcome.evaluated_by_partition.get(label, 0)
        failed = outcome.failed_by_partition.get(label, 0)
    else:  # a table-level rule: one evaluation of the partition
        evaluated, failed = 1, int(label in outcome.failed_partitions or bool(outcome.message))
    metadata: dict[str, Any] = {
        "partition": label,
        "rule": rule_sentence(rule),
        "dimension": rule.dimension,
        "evaluated_rows": evaluated,
        "failed_rows": failed,
        "failed_percent": round(100.0 * failed / evaluated, 4) if evaluated else 0.0,
        "severity": rule.severity.value,
        "expectation": rule.expectation,
        "failing_rows_sample": dg.MetadataValue.json(sample),
    }
    if outcome.message:
        metadata["error"] = outcome.message
    return metadata


def _stray_evaluation(
    key: dg.AssetKey, outcome: RuleOutcome, strays: list[str], contract: Contract
) -> AssetCheckEvaluation:
    """One result for the rows outside the run's partitions, counts summed over them."""
    parts = [_metadata(outcome, label, contract) for label in strays]
    rule = outcome.rule
    evaluated = sum(p["evaluated_rows"] for p in parts)
    failed = sum(p["failed_rows"] for p in parts)
    return AssetCheckEvaluation(
        asset_key=key,
        check_name=rule.name,
        passed=all(_passed(outcome, label, True) for label in strays),
        metadata={
            **parts[0],
            "partition": f"outside the run's partitions: {', '.join(strays)}",
            "evaluated_rows": evaluated,
            "failed_rows": failed,
            "failed_percent": round(100.0 * failed / evaluated, 4) if evaluated else 0.0,
        },
        severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN,
        description=f"rows outside the run's partitions ({', '.join(strays)}): "
        f"{outcome.message or rule_sentence(rule)}",
        blocking=rule.blocking,
        partition=None,
    )


def check_events(
    context: dg.AssetExecutionContext,
    contract: Contract,
    report: QualityReport,
    partitions: list[date] | None,
    blocked: Iterable[str] = (),
) -> list[Any]:
    """What the asset yields for its checks (after its materializations)."""
    if partitions is None or context.assets_def.partitions_def is None:
        return [check_result(o) for o in report.outcomes]
    # the run's partitions: exactly what Dagster planned; rows outside them (no business date, a
    # stray date) are not published by this run and get one evaluation without a partition
    labels = sorted(d.isoformat() for d in partitions)
    strays = sorted(set(report.rows_by_partition) - set(labels))
    key = context.asset_key
    events: list[Any] = []
    for outcome in report.outcomes:
        rule = outcome.rule
        for label in labels:
            events.append(
                AssetCheckEvaluation(
                    asset_key=key,
                    check_name=rule.name,
                    passed=_passed(outcome, label, label in report.rows_by_partition),
                    metadata=_metadata(outcome, label, contract),
                    severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN,
                    description=f"{label}: {outcome.message or rule_sentence(rule)}",
                    blocking=rule.blocking,
                    partition=label,
                )
            )
        if strays:
            events.append(_stray_evaluation(key, outcome, strays, contract))
        output = context.assets_def.get_output_name_for_asset_check_key(dg.AssetCheckKey(key, rule.name))
        events.append(dg.Output(None, output_name=output))
    for label in sorted(blocked):
        rules = [o.rule for o in report.outcomes if o.rule.blocking and not _passed(o, label, True)]
        events.append(
            dg.AssetObservation(
                asset_key=key,
                partition=label,
                metadata={
                    "held_at_gate": True,
                    "blocked_by": dg.MetadataValue.json([r.name for r in rules]),
                    "why": "; ".join(rule_sentence(r) for r in rules),
                },
                description=f"{contract.dataset} {label} was not published: a critical rule failed",
            )
        )
    return events
