"""``ops/quality_results``: every rule evaluation, one row per rule and partition, written once.

The asset factories (bronze ingest, silver/gold transforms, change apply) call
``record_quality_results`` with the report the gate acted on. The rows of one step are appended in
one Delta commit carrying an app transaction ``quality_results/<run id>/<dataset>``; a retried step
(same run) finds it and writes nothing, so a retry never double-counts. A new run of the same
partition is a new evaluation with its own rows; scores read the latest evaluation of each
(dataset, partition, rule) (see ``reporting/score.py``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from platform_assets.contracts.masking import mask_row, pii_columns
from platform_assets.contracts.model import Contract
from platform_assets.contracts.rules import Rule, Severity
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import PositionConflict, append_with_positions, committed_offset
from platform_assets.quality.describe import rule_sentence
from platform_assets.quality.evaluate import ALL, QualityReport, RuleOutcome

DATASET = "ops/quality_results"
SAMPLE_ROWS = 5
CONFLICT_ATTEMPTS = 5  # concurrent appenders of ops/quality_results (one per dataset run)
CONFLICT_BACKOFF_SECONDS = 0.2
PUBLISHED, BLOCKED, DROPPED = "published", "blocked", "dropped"

SCHEMA = pa.schema(
    [
        ("evaluation_id", pa.string()),
        ("run_id", pa.string()),
        ("step_attempt", pa.int32()),
        ("dataset", pa.string()),
        ("layer", pa.string()),
        ("domain", pa.string()),
        ("partition", pa.string()),
        ("rule_name", pa.string()),
        ("expectation", pa.string()),
        ("rule_description", pa.string()),
        ("columns", pa.list_(pa.string())),
        ("dimension", pa.string()),
        ("severity", pa.string()),
        ("action", pa.string()),
        ("rows_evaluated", pa.int64()),
        ("rows_failed", pa.int64()),
        ("failed_percent", pa.float64()),
        ("passed", pa.bool_()),
        ("error", pa.string()),
        ("failing_sample", pa.string()),
        ("evaluated_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class Evaluation:
    """One rule evaluated on one partition (``partition`` None: an unpartitioned table)."""

    evaluation_id: str
    run_id: str
    step_attempt: int
    dataset: str
    layer: str
    domain: str
    partition: str | None
    rule_name: str
    expectation: str
    rule_description: str
    columns: list[str]
    dimension: str
    severity: str
    action: str
    rows_evaluated: int
    rows_failed: int
    failed_percent: float
    passed: bool
    error: str | None
    failing_sample: str | None
    evaluated_at: datetime


def quality_results_uri(lake: Lake) -> str:
    return f"{lake.root.rstrip('/')}/{DATASET}"


def evaluation_id(run_id: str, dataset: str, partition: str | None, rule: str) -> str:
    text = "|".join([run_id, dataset, partition or "", rule])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _counts(outcome: RuleOutcome, label: str, rows: int) -> tuple[int, int, bool]:
    """Rows evaluated, rows failed and passed, for one rule in one partition."""
    rule = outcome.rule
    passed = label not in outcome.failed_partitions and not outcome.message
    if not rule.row_level and label in outcome.evaluated_by_partition:  # a table-level rule that counts
        return outcome.evaluated_by_partition[label], outcome.failed_by_partition.get(label, 0), passed
    if not rule.row_level:  # table-level rules are one evaluation per partition
        return 1, 0 if passed else 1, passed
    if outcome.message:  # the rule could not run (a missing column): the whole partition fails it
        return max(rows, 1), max(rows, 1), False
    return outcome.evaluated_by_partition.get(label, 0), outcome.failed_by_partition.get(label, 0), passed


def _action(rule: Rule, label: str, failed: int, blocked: set[str]) -> str:
    if label in blocked:
        return BLOCKED
    return DROPPED if rule.severity is Severity.DROP and failed else PUBLISHED


def _sample(outcome: RuleOutcome, label: str, part_col: str | None, pii: set[str]) -> str | None:
    rows = [r for r in outcome.sample if part_col is None or str(r.get(part_col)) == label]
    if not rows:
        return None
    masked = [mask_row(r, pii) for r in rows[:SAMPLE_ROWS]]
    return json.dumps(masked, default=str, sort_keys=True)


def evaluations(
    contract: Contract,
    report: QualityReport,
    blocked: Iterable[str],
    run_id: str,
    step_attempt: int = 1,
    now: datetime | None = None,
) -> list[Evaluation]:
    """The rows of one step's report: every rule on every partition it evaluated."""
    now = now or datetime.now(UTC)
    blocked_set = set(blocked)
    part_col = contract.partitioning.column if contract.partitioning else None
    labels = report.rows_by_partition or {ALL: 0}
    pii = pii_columns(contract)
    found: list[Evaluation] = []
    for outcome in report.outcomes:
        rule = outcome.rule
        for label, rows in sorted(labels.items()):
            evaluated, failed, passed = _counts(outcome, label, rows)
            partition = None if label == ALL else label
            found.append(
                Evaluation(
                    evaluation_id=evaluation_id(run_id, contract.dataset, partition, rule.name),
                    run_id=run_id,
                    step_attempt=step_attempt,
                    dataset=contract.dataset,
                    layer=contract.ref.layer,
                    domain=contract.domain,
                    partition=partition,
                    rule_name=rule.name,
                    expectation=rule.expectation,
                    rule_description=rule_sentence(rule),
                    columns=list(rule.columns),
                    dimension=rule.dimension,
                    severity=rule.severity.value,
                    action=_action(rule, label, failed, blocked_set),
                    rows_evaluated=evaluated,
                    rows_failed=failed,
                    failed_percent=round(100.0 * failed / evaluated, 4) if evaluated else 0.0,
                    passed=passed,
                    error=outcome.message or None,
                    failing_sample=_sample(outcome, label, part_col, pii) if failed else None,
                    evaluated_at=now,
                )
            )
    return found


def write_evaluations(lake: Lake, rows: list[Evaluation], run_id: str, dataset: str, attempt: int) -> int:
    """Append the rows once per (run, dataset): a retried step finds its commit and writes nothing."""
    uri = quality_results_uri(lake)
    app_id = f"quality_results/{run_id}/{dataset}"
    if not rows:
        return 0
    table = pa.Table.from_pylist([asdict(r) for r in rows], schema=SCHEMA)
    # Runs of different datasets append here at the same time (the run queue limits one run per
    # dataset, not per table): a lost commit race re-reads the positions and appends again.
    for race in range(1, CONFLICT_ATTEMPTS + 1):
        if committed_offset(uri, app_id, lake.storage_options) is not None:
            return 0
        try:
            append_with_positions(
                uri,
                table,
                offsets={app_id: 1},
                commit_metadata={"run_id": run_id, "dataset": dataset, "step_attempt": str(attempt)},
                storage_options=lake.storage_options,
            )
            return len(rows)
        except PositionConflict:
            if race == CONFLICT_ATTEMPTS:
                raise
            time.sleep(CONFLICT_BACKOFF_SECONDS * race)
    return 0  # not reached


def record_quality_results(
    context: Any, contract: Contract, report: QualityReport, blocked: Iterable[str] = ()
) -> int:
    """Called by every asset factory with the report its gate acted on; returns the rows written."""
    run_id = context.run.run_id
    attempt = int(getattr(context, "retry_number", 0)) + 1
    rows = evaluations(contract, report, blocked, run_id, attempt)
    written = write_evaluations(context.resources.lake.lake, rows, run_id, contract.dataset, attempt)
    if written:
        context.log.info(f"{contract.dataset}: {written} rule evaluation(s) recorded in {DATASET}")
    return written
