"""ops/quality_results after a demo-like FX run: exactly the expected evaluations, the hand-computed
DQ score of silver/fx_rates, and no double counting on a retried step or a re-run.

Known inputs (sandbox FX generator, seed 7, 2026-11-01..07, one range run): 13 currencies a day,
JPY for 11-02 published late on 11-04, one extra null-currency record on 11-03, EUR sent twice on
11-04 (and corrected), BRL at 1500.0 on 11-05.
"""

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.contracts import load_contracts
from platform_assets.lake.delta_tables import read_table
from platform_assets.quality.check_events import partition_results
from platform_assets.quality.evaluate import QualityReport, RuleOutcome
from platform_assets.quality.results import quality_results_uri, record_quality_results
from platform_assets.reporting.config import DIMENSION_WEIGHTS
from platform_assets.reporting.score import coverage_of, latest_counts, scores
from platform_assets_tests.fx_platform import QUIET, FxPlatform, fx_platform

DAYS = [(date(2026, 11, 1) + timedelta(days=i)).isoformat() for i in range(7)]
COLUMNS = [
    "dataset",
    "partition",
    "rule_name",
    "dimension",
    "action",
    "rows_evaluated",
    "rows_failed",
    "passed",
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FxPlatform]:
    with fx_platform(tmp_path_factory.mktemp("fxq")) as running:
        report = running.run(DAYS[0], DAYS[-1])
        assert not report.success  # 11-03 is held at the gate
        yield running


def _rows(platform: FxPlatform, where: str | None = None) -> list[dict]:
    return read_table(
        quality_results_uri(platform.lake),
        where=where,
        columns=COLUMNS,
        order_by=["dataset", "partition", "rule_name"],
    ).to_pylist()


def _silver_rows_per_day(platform: FxPlatform) -> dict[str, int]:
    """The oracle: silver's candidate per day is the latest record per currency, plus null currencies."""
    counts = {}
    for day in DAYS:
        d = date.fromisoformat(day)
        nulls = sum(1 for r in platform.dataset.all_records() if r["as_of_date"] == day and r["ccy"] is None)
        counts[day] = len(platform.dataset.expected_silver(d)) + nulls
    return counts


def test_the_run_records_every_rule_on_every_partition_once(platform: FxPlatform) -> None:
    rows = _rows(platform)
    bronze = [r for r in rows if r["dataset"] == "bronze/fx_rates"]
    silver = [r for r in rows if r["dataset"] == "silver/fx_rates"]
    # every rule on every day: 3 bronze rules x 7 ingestion days, the silver contract's rules (explicit
    # and implicit not-null) x 7 business days; gold did not run (11-03 held)
    rules = len(load_contracts()["silver/fx_rates"].rules)
    assert len(bronze) == 3 * 7 and len(silver) == rules * 7 and len(rows) == 21 + rules * 7
    failed = {
        (r["dataset"], r["partition"], r["rule_name"]): r["rows_failed"] for r in rows if not r["passed"]
    }
    assert failed == {
        ("bronze/fx_rates", "2026-11-04", "no_resent_records"): 2,  # EUR and its re-sent copy
        ("silver/fx_rates", "2026-11-03", "ccy_not_null"): 1,
        ("silver/fx_rates", "2026-11-05", "rate_to_base_between"): 1,  # BRL at 1500
    }
    actions = {r["partition"]: r["action"] for r in silver}
    assert actions == {day: ("blocked" if day == "2026-11-03" else "published") for day in DAYS}
    per_day = _silver_rows_per_day(platform)
    not_null = {r["partition"]: r["rows_evaluated"] for r in silver if r["rule_name"] == "ccy_not_null"}
    assert not_null == per_day and sum(per_day.values()) == 92
    dims = {r["rule_name"]: r["dimension"] for r in silver}
    assert {
        k: dims[k] for k in ("ccy_exists", "ccy_not_null", "as_of_date_ccy_unique", "rate_to_base_between")
    } == {
        "ccy_exists": "validity",
        "ccy_not_null": "completeness",
        "as_of_date_ccy_unique": "uniqueness",
        "rate_to_base_between": "validity",
    }


def test_dq_score_of_silver_fx_rates_is_the_hand_computed_value(platform: FxPlatform) -> None:
    n = sum(_silver_rows_per_day(platform).values())  # 92 rows, 7 partitions
    rules = load_contracts()["silver/fx_rates"].rules
    not_null = sum(1 for r in rules if r.expectation == "expect_column_values_to_not_be_null")
    completeness = 100 * (not_null * n - 1) / (not_null * n)  # only ccy_not_null fails, once
    uniqueness = 100.0
    # validity: the rows each validity rule was taken over (as recorded), one failure (BRL at 1500)
    evaluated = sum(
        r["rows_evaluated"]
        for r in _rows(platform, "dataset = 'silver/fx_rates'")
        if r["dimension"] == "validity"
    )
    validity = 100 * (evaluated - 1) / evaluated
    w = DIMENSION_WEIGHTS
    expected = (
        w["completeness"] * completeness + w["uniqueness"] * uniqueness + w["validity"] * validity
    ) / (w["completeness"] + w["uniqueness"] + w["validity"])
    silver = scores(latest_counts(platform.lake)).by_dataset["silver/fx_rates"]
    assert silver.score == pytest.approx(expected, abs=1e-3)
    assert silver.by_dimension == pytest.approx(
        {"completeness": completeness, "uniqueness": uniqueness, "validity": validity}, abs=1e-3
    )
    assert (silver.rules_passed, silver.rules_failed) == (len(rules) * 7 - 2, 2)


def test_a_rerun_is_a_new_evaluation_but_the_score_counts_the_latest(platform: FxPlatform) -> None:
    before = scores(latest_counts(platform.lake)).by_dataset["silver/fx_rates"].score
    platform.run(DAYS[0], selection=["silver/fx_rates"])
    rows = _rows(platform, "dataset = 'silver/fx_rates'")
    rules = len(load_contracts()["silver/fx_rates"].rules)
    assert len(rows) == rules * 7 + rules  # one new evaluation of 11-01's rules
    assert scores(latest_counts(platform.lake)).by_dataset["silver/fx_rates"].score == before


def test_a_retried_step_adds_no_rows(platform: FxPlatform, tmp_path: Path) -> None:
    """A real Dagster step retry: the first attempt records and then fails; the retry records again."""
    contract = load_contracts()["silver/fx_rates"]
    rule = contract.rules[1]
    report = QualityReport(
        [RuleOutcome(rule, evaluated=3, evaluated_by_partition={"2026-11-09": 3})], {"2026-11-09": 3}
    )
    attempts: list[int] = []

    @dg.asset(required_resource_keys={"lake"}, retry_policy=dg.RetryPolicy(max_retries=1))
    def flaky(context: dg.AssetExecutionContext) -> None:
        attempts.append(record_quality_results(context, contract, report))
        if context.retry_number == 0:
            raise RuntimeError("transient failure after the results were recorded")

    before = len(_rows(platform))
    result = dg.materialize(
        [flaky],
        resources={"lake": platform.resources()["lake"]},
        instance=platform.instance,
        run_config=QUIET,
    )
    assert result.success
    assert attempts == [1, 0]  # the retry found its evaluation committed
    assert len(_rows(platform)) == before + 1


def test_coverage_counts_critical_columns_with_a_rule() -> None:
    silver = load_contracts()["silver/fx_rates"]
    cov = coverage_of([silver])
    # keys and non-nullable source columns: as_of_date, ccy, base_ccy, rate_to_base (money too),
    # published_at, revision, publication_id (_batch_id is the platform's own)
    assert cov.critical == 7
    ruled = {c for r in silver.rules for c in r.columns}
    assert cov.covered == len(
        ruled
        & {"as_of_date", "ccy", "base_ccy", "rate_to_base", "published_at", "revision", "publication_id"}
    )


def test_a_range_run_records_one_evaluation_per_rule_with_every_partition_in_it(platform: FxPlatform) -> None:
    """The 7-day range run left one evaluation per rule (not per rule and partition), each carrying
    every partition's result; the failing day is held at the gate while the other six are published."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as S

    asset = dg.AssetKey(["silver", "fx_rates"])
    key = dg.AssetCheckKey(asset, "ccy_not_null")
    history = platform.instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    run_id = history[-1].run_id  # the fixture's range run, the oldest
    first_run = [r for r in history if r.run_id == run_id]
    # Dagster 1.13 plans the check for each partition of a range run, partitioned or not; those
    # planned rows are never resolved: the one result is the run's evaluation, without a partition
    resolved = [r for r in first_run if r.status is not S.PLANNED]
    assert [(r.partition, r.status) for r in resolved] == [(None, S.FAILED)]
    assert sorted(r.partition for r in first_run if r.status is S.PLANNED) == DAYS
    evaluation = resolved[0].event.asset_check_evaluation
    assert evaluation.metadata["partition"].value == f"{DAYS[0]}..{DAYS[-1]}"
    assert evaluation.metadata["failed_partitions"].value == ["2026-11-03"]
    assert evaluation.metadata["failed_rows"].value == 1
    assert evaluation.metadata["rule"].value == "ccy must be present"
    assert [(r.partition, r.passed, r.failed_rows) for r in partition_results(evaluation)] == [
        (day, day != "2026-11-03", int(day == "2026-11-03")) for day in DAYS
    ]
    rules = load_contracts()["silver/fx_rates"].rules
    logs = platform.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    silver = [e for e in logs if e.dagster_event.event_specific_data.asset_key == asset]
    assert len(silver) == len(rules)  # 7 partitions, one evaluation per rule
    written = platform.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    published = [e.dagster_event.partition for e in written if e.dagster_event.asset_key == asset]
    assert sorted(published) == [day for day in DAYS if day != "2026-11-03"]
    spec = next(
        s
        for s in platform.defs.get_assets_def(dg.AssetKey(["silver", "fx_rates"])).check_specs
        if s.name == "ccy_not_null"
    )
    assert spec.description.startswith("ccy must be present.")
    # the held partition is observed with the rule that held it
    observed = platform.instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["silver", "fx_rates"]), asset_partitions=["2026-11-03"]),
        limit=5,
    ).records
    assert observed[0].asset_observation.metadata["blocked_by"].value == ["ccy_not_null"]
