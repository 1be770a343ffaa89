"""Turn contract rules into Dagster check specs, and rule outcomes into check results."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.contracts.rules import Rule
from platform_assets.quality.describe import describe_rule
from platform_assets.quality.evaluate import RuleOutcome

_MAX_SAMPLE_CHARS = 4000


def check_specs(contract: Contract, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """One check per rule; critical rules block downstream assets.

    Not partitioned, even on a partitioned asset: a run records one evaluation per rule with every
    partition's result in its metadata (``check_events``).
    """
    return [
        dg.AssetCheckSpec(
            name=rule.name,
            asset=key,
            description=_describe(rule),
            blocking=rule.blocking,
            metadata={
                "expectation": rule.expectation,
                "severity": rule.severity.value,
                "dimension": rule.dimension,
            },
        )
        for rule in contract.rules
    ]


def _describe(rule: Rule) -> str:
    return describe_rule(rule)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def check_result(outcome: RuleOutcome, extra: dict[str, Any] | None = None) -> dg.AssetCheckResult:
    """The DLT-style record of one rule: evaluated, failed, percent, failing partitions, a sample."""
    rule = outcome.rule
    sample = [{k: _jsonable(v) for k, v in row.items()} for row in outcome.sample]
    metadata: dict[str, Any] = {
        "evaluated_rows": outcome.evaluated,
        "failed_rows": outcome.failed,
        "failed_percent": outcome.failed_percent,
        "failed_partitions": dg.MetadataValue.json(outcome.failed_partitions),
        "failed_by_partition": dg.MetadataValue.json(outcome.failed_by_partition),
        "severity": rule.severity.value,
        "expectation": rule.expectation,
        "failing_rows_sample": dg.MetadataValue.json(sample) if sample else dg.MetadataValue.json([]),
    }
    if len(json.dumps(sample, default=str)) > _MAX_SAMPLE_CHARS:
        metadata["failing_rows_sample"] = dg.MetadataValue.json(sample[:1])
    if outcome.message:
        metadata["error"] = outcome.message
    metadata.update(extra or {})
    return dg.AssetCheckResult(
        check_name=rule.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=outcome.message or None,
    )
