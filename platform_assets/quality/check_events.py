"""Check results as Dagster should show them: one evaluation per rule and run, per partition inside.

A partitioned check spec (Preview in Dagster 1.13) made a range run record one evaluation per rule
and partition: 31 rules x 30 partitions are 930 events, each stored with its partition status, and
they cost most of a 30-day silver apply's time (docs/performance.md). The checks are therefore not
partitioned: each rule yields one ``AssetCheckEvaluation`` per run, and its metadata carries the
result of every partition of the run (``partition_results``: partition, passed, evaluated and failed
rows), the ``failed_partitions`` and the totals. It fails when any partition fails, so a failed
blocking ERROR evaluation still fails the step and stops downstream; the gate has already kept
exactly the failing partitions from being published. A partition held at the gate also gets an
observation naming the rules that held it, so its partition page shows why (an EMR Serverless job
reports ``held_at_gate``, and its step turns that into the same ``gate_observations``).
``partition_results`` turns an evaluation back into its per-partition results, for whatever
counts or alerts per partition (the demo's tally, the alerts sensor, the tests).
See docs/data-quality.md ("Checks in the Dagster UI").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation

from platform_assets.contracts.model import Contract
from platform_assets.quality.checks import check_result, masked_sample
from platform_assets.quality.describe import rule_sentence
from platform_assets.quality.evaluate import QualityReport, RuleOutcome

_SAMPLE_ROWS = 5
PARTITION_RESULTS = "partition_results"


def _passed(outcome: RuleOutcome, label: str, has_rows: bool) -> bool:
    if outcome.message:
        return False
    if not has_rows:  # a partition without rows passes every rule but a minimum row count
        low = outcome.rule.args.get("min_value")
        return not (outcome.rule.expectation == "expect_table_row_count_to_be_between" and (low or 0) > 0)
    return label not in outcome.failed_partitions


def _counts(outcome: RuleOutcome, label: str) -> tuple[int, int]:
    """(evaluated, failed) of one partition: counted rows (or records), or one table-level evaluation."""
    if outcome.rule.row_level or label in outcome.evaluated_by_partition:
        return outcome.evaluated_by_partition.get(label, 0), outcome.failed_by_partition.get(label, 0)
    return 1, int(label in outcome.failed_partitions or bool(outcome.message))


def _percent(failed: int, evaluated: int) -> float:
    return round(100.0 * failed / evaluated, 4) if evaluated else 0.0


def _result(label: str | None, passed: bool, evaluated: int, failed: int) -> dict[str, Any]:
    return {
        "partition": label,
        "passed": passed,
        "evaluated_rows": evaluated,
        "failed_rows": failed,
        "failed_percent": _percent(failed, evaluated),
    }


def _evaluation(
    key: dg.AssetKey,
    outcome: RuleOutcome,
    labels: list[str],
    strays: list[str],
    report: QualityReport,
    contract: Contract,
) -> AssetCheckEvaluation:
    """The rule's one evaluation of the run: every partition's result in its metadata."""
    rule = outcome.rule
    results = []
    for label in labels:
        evaluated, failed = _counts(outcome, label)
        results.append(
            _result(label, _passed(outcome, label, label in report.rows_by_partition), evaluated, failed)
        )
    if strays:  # rows outside the run's partitions (no business date, a stray date): not published
        counts = [_counts(outcome, label) for label in strays]
        passed = all(_passed(outcome, label, True) for label in strays)
        stray = _result(None, passed, sum(e for e, _ in counts), sum(f for _, f in counts))
        results.append({**stray, "outside_the_run": strays})
    failing = [r for r in results if not r["passed"]]
    evaluated = sum(r["evaluated_rows"] for r in results)
    failed = sum(r["failed_rows"] for r in results)
    span = labels[0] if len(labels) == 1 else f"{labels[0]}..{labels[-1]}"
    where = ", ".join(r["partition"] or f"outside the run ({', '.join(strays)})" for r in failing)
    metadata: dict[str, Any] = {
        "partition": span,
        "rule": rule_sentence(rule),
        "dimension": rule.dimension,
        "evaluated_rows": evaluated,
        "failed_rows": failed,
        "failed_percent": _percent(failed, evaluated),
        "failed_partitions": dg.MetadataValue.json([r["partition"] for r in failing]),
        PARTITION_RESULTS: dg.MetadataValue.json(results),
        "severity": rule.severity.value,
        "expectation": rule.expectation,
        "failing_rows_sample": dg.MetadataValue.json(masked_sample(outcome, contract, _SAMPLE_ROWS)),
    }
    if outcome.message:
        metadata["error"] = outcome.message
    if failing:
        verdict = "failed" if len(results) == 1 else f"failed in {where}"
    else:
        verdict = "passed" if len(results) == 1 else f"passed in {len(results)} partition(s)"
    return AssetCheckEvaluation(
        asset_key=key,
        check_name=rule.name,
        passed=not failing,
        metadata=metadata,
        severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN,
        description=f"{span}: {verdict}: {outcome.message or rule_sentence(rule)}",
        blocking=rule.blocking,
    )


def rule_evaluations(
    key: dg.AssetKey, contract: Contract, report: QualityReport, partitions: list[date] | None
) -> list[Any]:
    """One result per rule (``AssetCheckResult`` for a whole table, ``AssetCheckEvaluation`` with every
    partition's result for a partitioned run): what the step yields, and an EMR Serverless job reports."""
    if partitions is None:
        return [check_result(o, contract) for o in report.outcomes]
    # the run's partitions; rows outside them (no business date, a stray date) are not published by
    # this run and are reported apart, summed, in the same evaluation
    labels = sorted(d.isoformat() for d in partitions)
    strays = sorted(set(report.rows_by_partition) - set(labels))
    return [_evaluation(key, outcome, labels, strays, report, contract) for outcome in report.outcomes]


def check_events(
    context: dg.AssetExecutionContext,
    contract: Contract,
    report: QualityReport,
    partitions: list[date] | None,
    blocked: Iterable[str] = (),
) -> list[Any]:
    """What the asset yields for its checks (after its materializations)."""
    if partitions is None or context.assets_def.partitions_def is None:
        return rule_evaluations(context.asset_key, contract, report, None)
    key = context.asset_key
    events: list[Any] = []
    for evaluation in rule_evaluations(key, contract, report, partitions):
        events.append(evaluation)
        output = context.assets_def.get_output_name_for_asset_check_key(
            dg.AssetCheckKey(key, evaluation.check_name)
        )
        events.append(dg.Output(None, output_name=output))
    return events + gate_observations(key, contract, held_at_gate(report, blocked))


def held_at_gate(report: QualityReport, blocked: Iterable[str]) -> dict[str, list[str]]:
    """Each partition held at the gate -> the names of the critical rules that held it (what an EMR
    Serverless job reports, so that its step yields the same observations)."""
    return {
        label: [o.rule.name for o in report.outcomes if o.rule.blocking and not _passed(o, label, True)]
        for label in sorted(blocked)
    }


def gate_observations(
    key: dg.AssetKey, contract: Contract, held: Mapping[str, list[str]]
) -> list[dg.AssetObservation]:
    """One observation per partition held at the gate, naming the rules that held it and why."""
    rules = {r.name: r for r in contract.rules}
    return [
        dg.AssetObservation(
            asset_key=key,
            partition=label,
            metadata={
                "held_at_gate": True,
                "blocked_by": dg.MetadataValue.json(list(names)),
                "why": "; ".join(rule_sentence(rules[name]) for name in names),
            },
            description=f"{contract.dataset} {label} was not published: a critical rule failed",
        )
        for label, names in sorted(held.items())
    ]


@dataclass(frozen=True)
class PartitionResult:
    """One rule's result on one partition of a run (``partition`` None: rows outside the run's)."""

    partition: str | None
    passed: bool
    evaluated_rows: int | None
    failed_rows: int | None


def partition_results(
    evaluation: AssetCheckEvaluation, run_partition: str | None = None
) -> list[PartitionResult]:
    """The per-partition results an evaluation carries; an evaluation without them (an unpartitioned
    asset, a check of its own) is one result, on ``run_partition``."""
    results = evaluation.metadata.get(PARTITION_RESULTS)
    if results is None:
        failed = evaluation.metadata.get("failed_rows")
        evaluated = evaluation.metadata.get("evaluated_rows")
        return [
            PartitionResult(
                evaluation.partition or run_partition,
                evaluation.passed,
                evaluated.value if evaluated is not None else None,
                failed.value if failed is not None else None,
            )
        ]
    return [
        PartitionResult(r["partition"], r["passed"], r["evaluated_rows"], r["failed_rows"])
        for r in results.value
    ]
