"""Cross-table rules on real Delta tables: referential integrity and reconciliation, exact outcomes.

A small fact (two order_date partitions) refers to a dimension that lacks one key; a reference table
in silver holds the per-day totals, one of which disagrees.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from platform_assets.contracts.rules import RECONCILIATION, REFERENTIAL, RuleError, parse_rules
from platform_assets.engine.delta_io import overwrite_table
from platform_assets.engine.lake_catalog import LakeTables, TableNotFound
from platform_assets.lake.location import Lake
from platform_assets.quality.evaluate import evaluate

CROSS_TABLE_EXPECTATIONS = {REFERENTIAL, RECONCILIATION}
D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
FACTS = [(D1, 1, 10.0), (D1, 2, 5.0), (D1, None, 1.0), (D2, 3, 7.5), (D2, 9, 2.5), (D2, 9, 1.0)]


@pytest.fixture(scope="module")
def spark():
    from platform_assets.engine import SparkEngine

    return SparkEngine().get_session()


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("cross") / "lake"))
    overwrite_table(spark.createDataFrame([(1,), (2,), (3,)], "key long"), lake.uri("gold/dim_key"))
    totals = spark.createDataFrame([(D1, 16.0), (D2, 10.0)], "day date, total double")  # D2 is 11.0
    overwrite_table(totals, lake.uri("silver/day_totals"))
    return lake


RULES = [
    {REFERENTIAL: {"column": "key", "table": "gold/dim_key"}, "name": "key_referential"},
    {
        RECONCILIATION: {
            "column": "amount",
            "query": "SELECT day, total FROM silver.day_totals",
            "tolerance": 0.001,
        },
        "name": "amount_reconciles",
    },
]


def test_referential_and_reconciliation_outcomes(spark, lake: Lake) -> None:
    facts = spark.createDataFrame(FACTS, "order_date date, key long, amount double")
    report, flagged = evaluate(facts, parse_rules(RULES), "order_date", tables=LakeTables(spark, lake))
    outcomes = {o.rule.name: o for o in report.outcomes}
    referential = outcomes["key_referential"]
    # the null key is not evaluated; key 9 is missing from the dimension (twice, both in D2)
    assert (referential.evaluated, referential.failed) == (5, 2)
    assert referential.failed_by_partition == {D2.isoformat(): 2}
    assert sorted(r["key"] for r in referential.sample) == [9, 9]
    assert flagged.where("_dq_fail_key_referential").count() == 2
    reconciled = outcomes["amount_reconciles"]
    assert (reconciled.evaluated, reconciled.failed_partitions) == (2, [D2.isoformat()])
    assert reconciled.sample == [{"order_date": "2026-11-02", "gold_total": 11.0, "reference_total": 10.0}]
    assert report.blocked_partitions() == {D2.isoformat()}


def test_without_the_lake_cross_table_rules_fail_with_a_reason(spark) -> None:
    facts = spark.createDataFrame(FACTS, "order_date date, key long, amount double")
    report, _ = evaluate(facts, parse_rules(RULES), "order_date")
    for outcome in report.outcomes:
        assert not outcome.passed and "needs the lake" in outcome.message


def test_a_reference_query_on_a_missing_table_names_it(spark, lake: Lake) -> None:
    rule = {RECONCILIATION: {"column": "amount", "query": "SELECT d, t FROM silver.nope"}, "name": "r"}
    facts = spark.createDataFrame(FACTS, "order_date date, key long, amount double")
    report, _ = evaluate(facts, parse_rules([rule]), "order_date", tables=LakeTables(spark, lake))
    assert "no lake table silver.nope" in report.outcomes[0].message
    with pytest.raises(TableNotFound, match=r"silver\.nope"):
        LakeTables(spark, lake).sql("SELECT * FROM silver.nope")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({"column": "k", "table": "dim_key"}, "'table' must be a dataset"),
        ({"column": "k"}, "needs \\['table'\\]"),
    ],
)
def test_bad_referential_rules_are_refused(args: dict, reason: str) -> None:
    with pytest.raises(RuleError, match=reason):
        parse_rules([{REFERENTIAL: args}])


def test_reconciliation_needs_a_query_and_a_sane_tolerance() -> None:
    with pytest.raises(RuleError, match="'query' must be"):
        parse_rules([{RECONCILIATION: {"column": "a", "query": " "}}])
    with pytest.raises(RuleError, match="'tolerance' must be"):
        parse_rules([{RECONCILIATION: {"column": "a", "query": "SELECT 1, 2", "tolerance": -1}}])


def test_a_rule_naming_a_table_outside_upstream_is_refused(tmp_path: Path) -> None:
    from platform_assets.contracts.model import Contract

    with pytest.raises(ValueError, match="names table 'gold/dim_key', which is not in upstream"):
        Contract.model_validate(
            {
                "dataset": "gold/f",
                "description": "d",
                "owners": ["team:x"],
                "domain": "d",
                "schema": [{"name": "k", "type": "long", "description": "k"}],
                "quality": {"rules": [{REFERENTIAL: {"column": "k", "table": "gold/dim_key"}}]},
                "retention": {"days": 1},
            }
        )
