"""A range run's checks in Dagster: one evaluation per rule, whatever the number of partitions, with
every partition's result inside; the failing partition is the one named, held and alerted on.

Known input: silver/fx_rates' rules over a 30-day range run (2026-11-01..30), 10 rows a day, where
``ccy_not_null`` fails on 2026-11-17 only (2 rows) and every other rule passes everywhere. The gate's
own behaviour on real data (the failing day not published, the others published) is shown on the FX
pipeline in test_quality_results.py; here the report is given, so the test is about what Dagster
records and what the alerts sensor reads from it.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from platform_assets.contracts import load_contracts
from platform_assets.layers.specs import RANGE_END, RANGE_START, asset_key
from platform_assets.quality.check_events import check_events, partition_results, rule_evaluations
from platform_assets.quality.checks import check_specs
from platform_assets.quality.evaluate import QualityReport, RuleOutcome
from platform_assets.sensors.alerts import check_failure_alerts

DATASET = "silver/fx_rates"
DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
LABELS = [d.isoformat() for d in DAYS]
BAD_DAY = "2026-11-17"
FAILING_RULE = "ccy_not_null"


def _report() -> QualityReport:
    contract = load_contracts()[DATASET]
    outcomes = []
    for rule in contract.rules:
        outcome = RuleOutcome(
            rule, evaluated=10 * len(DAYS), evaluated_by_partition=dict.fromkeys(LABELS, 10)
        )
        if rule.name == FAILING_RULE:
            outcome.failed, outcome.failed_partitions = 2, [BAD_DAY]
            outcome.failed_by_partition = {BAD_DAY: 2}
            outcome.sample = [{"as_of_date": BAD_DAY, "ccy": None}, {"as_of_date": BAD_DAY, "ccy": None}]
        outcomes.append(outcome)
    return QualityReport(outcomes, dict.fromkeys(LABELS, 10))


def _asset() -> dg.AssetsDefinition:
    contract = load_contracts()[DATASET]
    key = asset_key(DATASET)

    @dg.asset(
        key=key,
        partitions_def=dg.DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-12-01"),
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=check_specs(contract, key),
        output_required=False,
    )
    def _fx(context: dg.AssetExecutionContext) -> Iterator:
        report = _report()
        blocked = report.blocked_partitions()
        for label in LABELS:  # what the gate publishes: every partition but the blocked one
            if label not in blocked:
                yield dg.AssetMaterialization(asset_key=key, partition=label)
        yield from check_events(context, contract, report, DAYS, blocked)

    return _fx


def test_a_30_partition_range_run_records_one_evaluation_per_rule_and_alerts_on_the_failing_day() -> None:
    contract = load_contracts()[DATASET]
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [_asset()],
            instance=instance,
            tags={RANGE_START: LABELS[0], RANGE_END: LABELS[-1]},
            raise_on_error=False,
        )
        assert not result.success  # the failed blocking ERROR evaluation fails the step
        evaluations = [
            e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        # 30 partitions, one evaluation per rule (per rule and partition would be 30 times as many)
        assert sorted(e.check_name for e in evaluations) == sorted(r.name for r in contract.rules)
        by_name = {e.check_name: e for e in evaluations}
        failed = by_name[FAILING_RULE]
        assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
        assert failed.metadata["failed_partitions"].value == [BAD_DAY]
        assert failed.metadata["partition"].value == "2026-11-01..2026-11-30"
        assert (failed.metadata["evaluated_rows"].value, failed.metadata["failed_rows"].value) == (300, 2)
        results = partition_results(failed)
        assert [r.partition for r in results] == LABELS
        assert [(r.partition, r.failed_rows) for r in results if not r.passed] == [(BAD_DAY, 2)]
        assert all(e.passed for name, e in by_name.items() if name != FAILING_RULE)

        published = instance.get_materialized_partitions(asset_key(DATASET))
        assert published == set(LABELS) - {BAD_DAY}
        held = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=asset_key(DATASET), asset_partitions=[BAD_DAY]), limit=5
        ).records
        assert held[0].asset_observation.metadata["blocked_by"].value == [FAILING_RULE]

        alerts, _ = check_failure_alerts(instance, {DATASET: contract}, None, datetime.now(UTC))
        assert [(a.state, a.partition, a.severity) for a in alerts] == [(FAILING_RULE, BAD_DAY, "ERROR")]
        assert (
            alerts[0].message
            == f"{DATASET}: check {FAILING_RULE} failed in partition {BAD_DAY} (2 failing row(s))"
        )


def test_an_unpartitioned_assets_check_sample_masks_the_contracts_pii_columns() -> None:
    """silver/customers is unpartitioned: its failing-row samples go through ``check_result``, whose
    metadata everyone with UI access reads; the contract's PII columns are masked there too."""
    contract = load_contracts()["silver/customers"]
    rule = next(r for r in contract.rules if r.name == "email_matches_regex")
    bad = {"customer_id": 7, "email": "ann.smith-at-example.com", "name": "Ann Smith", "country": "DE"}
    outcome = RuleOutcome(rule, evaluated=3, failed=1, failed_partitions=["__all__"], sample=[bad])
    key = asset_key(contract.dataset)
    (result,) = rule_evaluations(key, contract, QualityReport([outcome], {"__all__": 3}), None)
    assert not result.passed
    assert result.metadata["failing_rows_sample"].value == [
        {"customer_id": 7, "email": "a***", "name": "A***", "country": "DE"}
    ]
