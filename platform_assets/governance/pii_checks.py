"""The PII classification scan (pii_scan.py) as a scheduled asset check on every contract's table.

One check ``pii_classification`` per dataset, WARN severity and not blocking: a column holding emails,
phone numbers, card numbers or IBANs that its contract does not classify ``pii`` (or does not list at
all: a drift column) is shown unmasked by the governed read path, which is a finding for the owner,
not a reason to stop the pipeline. The checks run alone (no materialization) in a daily job.
"""

from collections.abc import Iterator

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.governance.pii_scan import DEFAULT_SAMPLE, scan_dataset
from platform_assets.layers.specs import PII_CHECK_NAME

CHECK_NAME = PII_CHECK_NAME
JOB_NAME = "governance_pii_scan"
SCHEDULE = "30 4 * * *"  # daily, after the nightly maintenance


def _key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(dataset.split("/"))


def build_pii_checks(
    contracts: dict[str, Contract], sample: int = DEFAULT_SAMPLE
) -> dg.AssetChecksDefinition:
    by_key = {_key(d): c for d, c in sorted(contracts.items())}

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                description=(
                    f"Samples {sample} rows of the text columns not classified pii (contract columns and "
                    "columns the contract does not list) for emails, phones, card numbers and IBANs."
                ),
                blocking=False,
            )
            for key in by_key
        ],
        required_resource_keys={"lake"},
        can_subset=True,
        name="pii_classification_scan",
    )
    def _checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        lake = context.resources.lake.lake
        for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.asset_key.to_string()):
            contract = by_key[check_key.asset_key]
            findings = scan_dataset(lake, contract, sample)
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=CHECK_NAME,
                passed=not findings,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "findings": len(findings),
                    "columns": dg.MetadataValue.json([f"{f.column}:{f.kind}" for f in findings]),
                    "detail": dg.MetadataValue.md("\n".join(f"- {f}" for f in findings) or "none"),
                },
            )

    return _checks


def pii_scan_definitions(contracts: dict[str, Contract]) -> dg.Definitions:
    checks = build_pii_checks(contracts)
    job = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.checks(checks),
        description="The PII classification scan of every contract's table (asset checks only).",
    )
    return dg.Definitions(
        asset_checks=[checks],
        jobs=[job],
        schedules=[dg.ScheduleDefinition(job=job, cron_schedule=SCHEDULE, name=f"{JOB_NAME}_daily")],
    )
