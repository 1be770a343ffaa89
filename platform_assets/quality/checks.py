"""Turn contract rules into Dagster check specs, and rule outcomes into check results."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg

from platform_assets.contracts.masking import mask_row, pii_columns
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


def masked_sample(outcome: RuleOutcome, contract: Contract, rows: int | None = None) -> list[dict[str, Any]]:
    """The failing rows a check shows, JSON-ready, with the contract's PII columns masked: a check's
    metadata is read by everyone with UI access, outside the governed read path."""
    pii = pii_columns(contract)
    return json.loads(json.dumps([mask_row(row, pii) for row in outcome.sample[:rows]], default=str))


def check_result(
    outcome: RuleOutcome, contract: Contract, extra: dict[str, Any] | None = None
) -> dg.AssetCheckResult:
    """The DLT-style record of one rule: evaluated, failed, percent, failing partitions, a sample."""
    rule = outcome.rule
    sample = masked_sample(outcome, contract)
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
