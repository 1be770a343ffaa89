"""``platform validate``: a contract's rules run against its table as it is now (for CI/CD gates).

The table is read through the configured engine (Sail by default), optionally one partition, and
evaluated with the same code the gate uses; the outcome exits non-zero when a critical rule fails.
With ``record`` the evaluations are appended to ``ops/quality_results`` (run id ``validate-...``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake
from platform_assets.quality.describe import rule_sentence
from platform_assets.quality.evaluate import QualityReport, evaluate


class ValidateError(ValueError):
    """Nothing to validate: no such table or partition column."""


@dataclass
class Validation:
    dataset: str
    partition: str | None
    report: QualityReport
    run_id: str
    recorded: int = 0
    rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def critical_failed(self) -> list[str]:
        return [r["rule"] for r in self.rules if not r["passed"] and r["severity"] == "critical"]

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "partition": self.partition,
            "run_id": self.run_id,
            "rows": sum(self.report.rows_by_partition.values()),
            "passed": not self.critical_failed,
            "critical_failed": self.critical_failed,
            "rules": self.rules,
            "recorded": self.recorded,
        }


def validate_table(
    spark: Any, lake: Lake, contract: Contract, partition: str | None = None, record: bool = False
) -> Validation:
    from platform_assets.engine.delta_io import read_delta
    from platform_assets.quality.results import evaluations, write_evaluations

    uri = lake.uri(contract.ref)
    if open_table(uri, lake.storage_options) is None:
        raise ValidateError(f"{contract.dataset}: no table at {uri}")
    part_col = contract.partitioning.column if contract.partitioning else None
    if partition and not part_col:
        raise ValidateError(f"{contract.dataset} is not partitioned; drop --partition")
    where = f"{part_col} = '{partition}'" if partition else None
    report, _ = evaluate(read_delta(spark, uri, where), contract.rules, part_col)
    run_id = f"validate-{uuid.uuid4().hex[:12]}"
    result = Validation(contract.dataset, partition, report, run_id)
    for outcome in report.outcomes:
        result.rules.append(
            {
                "rule": outcome.rule.name,
                "description": rule_sentence(outcome.rule),
                "severity": outcome.rule.severity.value,
                "dimension": outcome.rule.dimension,
                "passed": outcome.passed,
                "evaluated_rows": outcome.evaluated,
                "failed_rows": outcome.failed,
                "failed_partitions": outcome.failed_partitions,
                "error": outcome.message or None,
            }
        )
    if record:
        rows = evaluations(contract, report, report.blocked_partitions(), run_id)
        rows = [replace(r, action="validated") for r in rows]  # nothing was published by a check
        result.recorded = write_evaluations(lake, rows, run_id, contract.dataset, 1)
    return result


def render_text(result: Validation) -> str:
    where = f" partition {result.partition}" if result.partition else ""
    rows = sum(result.report.rows_by_partition.values())
    lines = [f"{result.dataset}{where}: {rows} row(s), {len(result.rules)} rule(s)"]
    for rule in result.rules:
        mark = "PASS" if rule["passed"] else "FAIL"
        detail = f"{rule['failed_rows']} of {rule['evaluated_rows']} row(s) failing"
        if rule["failed_partitions"]:
            detail += f" in {', '.join(rule['failed_partitions'])}"
        if rule["error"]:
            detail = rule["error"]
        lines.append(f"  {mark} [{rule['severity']}] {rule['rule']}: {rule['description']} ({detail})")
    verdict = (
        "critical rule(s) failed: " + ", ".join(result.critical_failed)
        if result.critical_failed
        else "no critical rule failed"
    )
    lines.append(f"{result.dataset}: {verdict}")
    return "\n".join(lines)
