"""Quality rules: parsing, exact outcomes of the Spark evaluator, and conformance with Great Expectations 1.x.

One small hand-made table (three ``as_of_date`` partitions) carries every kind of defect: nulls, duplicates,
out-of-range values and the range bounds themselves, a currency outside the set, codes missing the regex.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import yaml

from platform_assets.contracts.rules import (
    DEAD_LETTER_EXPECTATION,
    EXPECTATIONS,
    PARSE_EXPECTATION,
    Rule,
    RuleError,
    Severity,
    parse_rules,
)
from platform_assets.quality.evaluate import ALL, QualityReport, RuleOutcome, evaluate
from platform_assets_tests.test_quality_cross_table import CROSS_TABLE_EXPECTATIONS

D1, D2, D3 = "2024-01-01", "2024-01-02", "2024-01-03"
PARTITIONS = {D1, D2, D3}
SCHEMA = "as_of_date date, id long, ccy string, rate double, code string"
#      as_of_date          id    ccy    rate    code
ROWS = [
    (date(2024, 1, 1), 1, "USD", 1.0, "AB-1"),
    (date(2024, 1, 1), 2, "EUR", 0.0, "AB-2"),  # rate on the lower bound; id repeated
    (date(2024, 1, 1), 2, "GBP", 1000.0, "zz"),  # rate on the upper bound; id repeated; code misses
    (date(2024, 1, 1), 3, None, 5.0, None),  # ccy null: (D1, null) twice; code null
    (date(2024, 1, 1), None, None, 6.0, "AB-5"),  # id and ccy null: (null, null) ignored
    (date(2024, 1, 2), 4, "USD", -1.0, "AB-6"),  # rate below; (D2, USD) twice
    (date(2024, 1, 2), 5, "JPY", 1500.0, "AB-7"),  # rate above; JPY not in the set
    (date(2024, 1, 2), 6, "EUR", None, "ab-8"),  # rate null; code misses (lower case)
    (date(2024, 1, 2), None, "USD", 2.0, "AB-9"),  # id null; (D2, USD) twice
    (date(2024, 1, 3), 7, "CHF", 3.0, "AB-10"),  # (D3, CHF) twice
    (date(2024, 1, 3), 8, "CHF", 4.0, "AB-11"),
    (date(2024, 1, 3), None, None, 7.0, "AB-12"),  # id and ccy null: (null, null) ignored
]
CCYS = ["USD", "EUR", "GBP", "CHF"]
CODE_REGEX = r"^[A-Z]{2}-\d+$"


def _ids(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples, in a stable order (None sorts by its repr)."""
    return sorted(((str(r["as_of_date"]), r["id"], r["ccy"], r["rate"], r["code"]) for r in rows), key=repr)


def _rows(*indexes: int) -> list[tuple[Any, ...]]:
    return sorted(((str(ROWS[i][0]), *ROWS[i][1:]) for i in indexes), key=repr)


def _rule(expectation: str, args: Any, name: str, severity: str = "critical") -> dict[str, Any]:
    return {expectation: args, "name": name, "severity": severity}


@pytest.fixture(scope="module")
def spark():
    from platform_assets.engine import SparkEngine

    return SparkEngine().get_session()


@pytest.fixture(scope="module")
def df(spark):
    return spark.createDataFrame(ROWS, SCHEMA)


# Every expectation, with the exact outcome on ROWS partitioned by as_of_date:
# name -> (rule, evaluated, failed_by_partition, failed_partitions, indexes of the failing rows)
CASES: dict[str, tuple[dict[str, Any], int, dict[str, int], list[str], tuple[int, ...]]] = {
    "exists": (_rule("expect_column_to_exist", "ccy", "exists"), 1, {}, [], ()),
    "ccy_not_null": (
        _rule("expect_column_values_to_not_be_null", "ccy", "ccy_not_null"),
        12,
        {D1: 2, D3: 1},
        [D1, D3],
        (3, 4, 11),
    ),
    "rate_between": (
        _rule(
            "expect_column_values_to_be_between",
            {"column": "rate", "min_value": 0, "max_value": 1000},
            "rate_between",
        ),
        11,  # the null rate is not evaluated
        {D2: 2},
        [D2],
        (5, 6),
    ),
    "rate_between_strict": (
        _rule(
            "expect_column_values_to_be_between",
            {"column": "rate", "min_value": 0, "max_value": 1000, "strict_min": True, "strict_max": True},
            "rate_between_strict",
        ),
        11,
        {D1: 2, D2: 2},
        [D1, D2],
        (1, 2, 5, 6),
    ),
    "rate_above_zero": (
        _rule(
            "expect_column_values_to_be_between",
            {"column": "rate", "min_value": 0, "strict_min": True},
            "rate_above_zero",
        ),
        11,
        {D1: 1, D2: 1},
        [D1, D2],
        (1, 5),
    ),
    "rate_at_most_1000": (
        _rule(
            "expect_column_values_to_be_between", {"column": "rate", "max_value": 1000}, "rate_at_most_1000"
        ),
        11,
        {D2: 1},
        [D2],
        (6,),
    ),
    "id_unique": (
        _rule("expect_column_values_to_be_unique", "id", "id_unique"),
        9,  # three null ids are not evaluated
        {D1: 2},
        [D1],
        (1, 2),
    ),
    "date_ccy_unique": (  # a null key value is a value: (D1, null) twice is a duplicate
        _rule("expect_compound_columns_to_be_unique", ["as_of_date", "ccy"], "date_ccy_unique"),
        12,
        {D1: 2, D2: 2, D3: 2},
        [D1, D2, D3],
        (3, 4, 5, 8, 9, 10),
    ),
    "id_ccy_unique": (  # rows whose key values are all null are ignored, so (null, null) twice is fine
        _rule("expect_compound_columns_to_be_unique", ["id", "ccy"], "id_ccy_unique"),
        10,
        {},
        [],
        (),
    ),
    "ccy_in_set": (
        _rule("expect_column_values_to_be_in_set", {"column": "ccy", "value_set": CCYS}, "ccy_in_set"),
        9,
        {D2: 1},
        [D2],
        (6,),
    ),
    "ccy_in_set_with_null": (  # a null in the set must not hide the misses
        _rule(
            "expect_column_values_to_be_in_set",
            {"column": "ccy", "value_set": [*CCYS, None]},
            "ccy_in_set_with_null",
        ),
        9,
        {D2: 1},
        [D2],
        (6,),
    ),
    "ccy_not_chf": (  # the forbidden value's rows fail; nulls are not evaluated
        _rule(
            "expect_column_values_to_not_be_in_set", {"column": "ccy", "value_set": ["CHF"]}, "ccy_not_chf"
        ),
        9,
        {D3: 2},
        [D3],
        (9, 10),
    ),
    "code_regex": (
        _rule("expect_column_values_to_match_regex", {"column": "code", "regex": CODE_REGEX}, "code_regex"),
        11,
        {D1: 1, D2: 1},
        [D1, D2],
        (2, 7),
    ),
    "row_count": (  # per partition: D1 5 rows, D2 4, D3 3; failed_by_partition holds the row count
        _rule("expect_table_row_count_to_be_between", {"min_value": 4, "max_value": 5}, "row_count"),
        3,
        {D3: 3},
        [D3],
        (),
    ),
}


@pytest.fixture(scope="module")
def partitioned(df) -> tuple[QualityReport, Any]:
    rules = parse_rules([case[0] for case in CASES.values()])
    return evaluate(df, rules, "as_of_date", sample_size=10)


# platform expectations (not in GX): tested below, left out of the GX conformance
PLATFORM_EXPECTATIONS = {PARSE_EXPECTATION, DEAD_LETTER_EXPECTATION}


def test_every_expectation_has_a_case() -> None:
    covered = {key for case in CASES.values() for key in case[0] if key not in ("name", "severity")}
    assert covered | PLATFORM_EXPECTATIONS | CROSS_TABLE_EXPECTATIONS == set(
        EXPECTATIONS
    )  # cross-table: test_quality_cross_table.py


def test_values_parse_fails_rows_whose_raw_value_did_not_type(df) -> None:
    from pyspark.sql import functions as F

    (rule,) = parse_rules([_rule(PARSE_EXPECTATION, {}, "values_parse")])
    report, _ = evaluate(df, [rule], "as_of_date")
    assert report.outcomes[0].passed and report.outcomes[0].evaluated == 12  # no raw companion
    # the raw text of rate next to it: 'n/a' where the typed rate is NULL (row 7), absent elsewhere
    with_raw = df.withColumn(
        "_raw_rate", F.when(F.col("rate").isNull(), F.lit("n/a")).otherwise(F.col("rate").cast("string"))
    )
    report, _ = evaluate(with_raw, [rule], "as_of_date")
    (outcome,) = report.outcomes
    assert (outcome.evaluated, outcome.failed, outcome.failed_partitions) == (12, 1, [D2])
    assert outcome.sample[0]["_raw_rate"] == "n/a" and _ids(outcome.sample) == _rows(7)
    # a raw value that is NULL itself is a missing value, for the not-null rules, not a parse failure
    report, _ = evaluate(with_raw.withColumn("_raw_rate", F.lit(None).cast("string")), [rule], "as_of_date")
    assert report.outcomes[0].passed


def test_dead_letter_rate_takes_a_fraction() -> None:
    (rule,) = parse_rules({DEAD_LETTER_EXPECTATION: 0.2}, Severity.WARNING)
    assert (rule.name, rule.args, rule.row_level) == ("dead_letter_rate", {"max_value": 0.2}, False)
    with pytest.raises(RuleError, match="between 0 and 1"):
        parse_rules({DEAD_LETTER_EXPECTATION: 5})


@pytest.mark.parametrize("name", list(CASES))
def test_exact_outcome_per_partition(partitioned, name: str) -> None:
    report, _ = partitioned
    _, evaluated, by_partition, failed_partitions, failing = CASES[name]
    outcome = next(o for o in report.outcomes if o.rule.name == name)
    assert outcome.message == ""
    assert outcome.evaluated == evaluated
    assert outcome.failed_by_partition == by_partition
    assert outcome.failed_partitions == failed_partitions
    assert outcome.passed is (not failed_partitions)
    if outcome.rule.row_level:
        assert outcome.failed == sum(by_partition.values()) == len(failing)
        assert _ids(outcome.sample) == _rows(*failing)
    else:
        assert outcome.failed == len(failed_partitions)
        assert outcome.sample == []


def test_rows_by_partition_and_flags(partitioned) -> None:
    report, flagged = partitioned
    assert report.rows_by_partition == {D1: 5, D2: 4, D3: 3}
    rows = flagged.where("_dq_fail_code_regex").collect()
    assert _ids([r.asDict() for r in rows]) == _rows(2, 7)
    assert "_dq_fail_row_count" not in flagged.columns  # a table-level rule has no row flag


def test_sample_is_capped(df) -> None:
    rules = parse_rules({"expect_compound_columns_to_be_unique": ["as_of_date", "ccy"]})
    report, _ = evaluate(df, rules, "as_of_date", sample_size=2)
    (outcome,) = report.outcomes
    assert outcome.failed == 6
    assert len(outcome.sample) == 2
    assert set(_ids(outcome.sample)) <= set(_rows(3, 4, 5, 8, 9, 10))


def _outcomes(
    df, rules: list[dict[str, Any]], partition: str | None = "as_of_date"
) -> dict[str, RuleOutcome]:
    report, _ = evaluate(df, parse_rules(rules), partition)
    return {o.rule.name: o for o in report.outcomes}


def test_mostly_thresholds(df) -> None:
    rules = [
        # ccy nulls: D1 2 of 5 (60% pass), D3 1 of 3 (67%), D2 none; whole table 9 of 12 (75%)
        _rule("expect_column_values_to_not_be_null", {"column": "ccy", "mostly": 0.6}, "nn_60"),
        _rule("expect_column_values_to_not_be_null", {"column": "ccy", "mostly": 0.61}, "nn_61"),
        _rule("expect_column_values_to_not_be_null", {"column": "ccy", "mostly": 0.67}, "nn_67"),
        # rate out of range in D2: 2 of its 3 non-null rates (the null one does not count)
        _rule(
            "expect_column_values_to_be_between",
            {"column": "rate", "min_value": 0, "max_value": 1000, "mostly": 0.33},
            "b_33",
        ),
        _rule(
            "expect_column_values_to_be_between",
            {"column": "rate", "min_value": 0, "max_value": 1000, "mostly": 0.5},
            "b_50",
        ),
        # id duplicates in D1: 2 of its 4 non-null ids
        _rule("expect_column_values_to_be_unique", {"column": "id", "mostly": 0.5}, "u_50"),
        _rule("expect_column_values_to_be_unique", {"column": "id", "mostly": 0.51}, "u_51"),
        # (D2, USD) twice: 2 of D2's 4 rows
        _rule(
            "expect_compound_columns_to_be_unique",
            {"column_list": ["as_of_date", "ccy"], "mostly": 0.5},
            "c_50",
        ),
        # JPY: 1 of D2's 4 non-null ccys
        _rule(
            "expect_column_values_to_be_in_set", {"column": "ccy", "value_set": CCYS, "mostly": 0.75}, "s_75"
        ),
        _rule(
            "expect_column_values_to_be_in_set", {"column": "ccy", "value_set": CCYS, "mostly": 0.76}, "s_76"
        ),
        # code misses: D1 1 of 4 non-null codes, D2 1 of 4
        _rule(
            "expect_column_values_to_match_regex",
            {"column": "code", "regex": CODE_REGEX, "mostly": 0.75},
            "r_75",
        ),
        _rule(
            "expect_column_values_to_match_regex",
            {"column": "code", "regex": CODE_REGEX, "mostly": 0.8},
            "r_80",
        ),
    ]
    by_name = _outcomes(df, rules)
    expected = {
        "nn_60": [],
        "nn_61": [D1],
        "nn_67": [D1, D3],
        "b_33": [],
        "b_50": [D2],
        "u_50": [],
        "u_51": [D1],
        "c_50": [D3],  # D1 2 of 5 and D2 2 of 4 rows fail: within; D3 2 of 3: not
        "s_75": [],
        "s_76": [D2],
        "r_75": [],
        "r_80": [D1, D2],
    }
    assert {name: o.failed_partitions for name, o in by_name.items()} == expected
    # mostly decides pass or fail; the counts stay exact
    assert by_name["nn_60"].failed == 3 and by_name["nn_60"].failed_by_partition == {D1: 2, D3: 1}
    assert by_name["nn_60"].passed and not by_name["nn_61"].passed

    whole = _outcomes(
        df,
        [
            _rule("expect_column_values_to_not_be_null", {"column": "ccy", "mostly": 0.75}, "nn_75"),
            _rule("expect_column_values_to_not_be_null", {"column": "ccy", "mostly": 0.76}, "nn_76"),
            # 2 of 11 non-null rates fail: 9/11 = 0.818
            _rule(
                "expect_column_values_to_be_between",
                {"column": "rate", "min_value": 0, "max_value": 1000, "mostly": 0.81},
                "b_81",
            ),
            _rule(
                "expect_column_values_to_be_between",
                {"column": "rate", "min_value": 0, "max_value": 1000, "mostly": 0.82},
                "b_82",
            ),
        ],
        partition=None,
    )
    assert {name: o.passed for name, o in whole.items()} == {
        "nn_75": True,
        "nn_76": False,
        "b_81": True,
        "b_82": False,
    }
    assert whole["nn_76"].failed_partitions == [ALL]


def test_unpartitioned_row_count(df) -> None:
    by_name = _outcomes(
        df,
        [
            _rule("expect_table_row_count_to_be_between", {"min_value": 12, "max_value": 12}, "exactly_12"),
            _rule("expect_table_row_count_to_be_between", {"min_value": 13}, "at_least_13"),
        ],
        partition=None,
    )
    assert by_name["exactly_12"].passed and by_name["exactly_12"].evaluated == 1
    assert by_name["at_least_13"].failed_by_partition == {ALL: 12}
    assert by_name["at_least_13"].failed_partitions == [ALL]


def test_missing_column_blocks_every_partition_when_critical(df) -> None:
    rules = parse_rules(
        [
            _rule("expect_column_values_to_not_be_null", "missing", "missing_not_null"),
            _rule("expect_column_to_exist", "absent", "absent_exists", severity="warning"),
            _rule(
                "expect_compound_columns_to_be_unique",
                ["as_of_date", "nope"],
                "key_unique",
                severity="warning",
            ),
        ]
    )
    report, flagged = evaluate(df, rules, "as_of_date")
    by_name = {o.rule.name: o for o in report.outcomes}
    for name, column in (
        ("missing_not_null", "missing"),
        ("absent_exists", "absent"),
        ("key_unique", "nope"),
    ):
        outcome = by_name[name]
        assert column in outcome.message and "not in the data" in outcome.message
        assert outcome.passed is False
    assert by_name["absent_exists"].failed == 1
    assert report.blocked_partitions() == PARTITIONS
    assert not any(c.startswith("_dq_fail_") for c in flagged.columns)

    warnings_only = QualityReport(
        [o for o in report.outcomes if not o.rule.blocking], report.rows_by_partition
    )
    assert warnings_only.blocked_partitions() == set()


def test_only_critical_failures_block(df) -> None:
    rules = [
        _rule(
            "expect_column_values_to_be_between",
            {"column": "rate", "min_value": 0, "max_value": 1000},
            "rate",
            "critical",
        ),
        _rule("expect_column_values_to_not_be_null", "ccy", "ccy", "warning"),  # fails D1 and D3
        _rule(
            "expect_column_values_to_match_regex", {"column": "code", "regex": CODE_REGEX}, "code", "drop"
        ),  # D1, D2
        _rule("expect_table_row_count_to_be_between", {"min_value": 5}, "rows", "warning"),  # D2 and D3
        # critical, but within mostly everywhere: does not block
        _rule("expect_column_values_to_be_unique", {"column": "id", "mostly": 0.5}, "id", "critical"),
    ]
    report, _ = evaluate(df, parse_rules(rules), "as_of_date")
    by_name = {o.rule.name: o for o in report.outcomes}
    assert by_name["ccy"].failed_partitions == [D1, D3]
    assert by_name["code"].failed_partitions == [D1, D2]
    assert by_name["rows"].failed_partitions == [D2, D3]
    assert by_name["id"].failed == 2 and by_name["id"].passed
    assert report.blocked_partitions() == {D2}

    critical_row_count = parse_rules(
        [_rule("expect_table_row_count_to_be_between", {"min_value": 4}, "rows")]
    )
    report, _ = evaluate(df, critical_row_count, "as_of_date")
    assert report.blocked_partitions() == {D3}


# --- conformance with Great Expectations 1.x --------------------------------------------------------------

GX_RULES = [case[0] for case in CASES.values()] + [
    _rule("expect_column_values_to_not_be_null", {"column": "ccy", "mostly": 0.75}, "gx_nn_75"),
    _rule("expect_column_values_to_not_be_null", {"column": "ccy", "mostly": 0.76}, "gx_nn_76"),
    _rule("expect_column_values_to_not_be_null", "rate", "gx_rate_not_null"),
    _rule("expect_column_values_to_not_be_null", "as_of_date", "gx_date_not_null"),
    _rule(
        "expect_column_values_to_be_between",
        {"column": "rate", "min_value": 0, "max_value": 1000, "mostly": 0.81},
        "gx_b_81",
    ),
    _rule(
        "expect_column_values_to_be_between",
        {"column": "rate", "min_value": 0, "max_value": 1000, "mostly": 0.82},
        "gx_b_82",
    ),
    _rule(
        "expect_column_values_to_be_between",
        {"column": "rate", "min_value": -5, "max_value": 2000},
        "gx_b_wide",
    ),
    _rule("expect_column_values_to_be_unique", {"column": "id", "mostly": 0.77}, "gx_u_77"),  # 7/9 = 0.778
    _rule("expect_column_values_to_be_unique", {"column": "id", "mostly": 0.78}, "gx_u_78"),
    _rule("expect_column_values_to_be_unique", "code", "gx_code_unique"),
    _rule(
        "expect_compound_columns_to_be_unique",
        {"column_list": ["as_of_date", "ccy"], "mostly": 0.5},
        "gx_c_50",
    ),
    _rule(
        "expect_compound_columns_to_be_unique",
        {"column_list": ["as_of_date", "ccy"], "mostly": 0.51},
        "gx_c_51",
    ),
    _rule("expect_compound_columns_to_be_unique", ["as_of_date", "id"], "gx_date_id_unique"),
    _rule("expect_column_values_to_be_in_set", {"column": "ccy", "value_set": [*CCYS, "JPY"]}, "gx_s_all"),
    _rule("expect_column_values_to_be_in_set", {"column": "ccy", "value_set": []}, "gx_s_empty"),
    _rule(
        "expect_column_values_to_be_in_set", {"column": "ccy", "value_set": CCYS, "mostly": 0.88}, "gx_s_88"
    ),  # 8/9
    _rule(
        "expect_column_values_to_be_in_set", {"column": "ccy", "value_set": CCYS, "mostly": 0.89}, "gx_s_89"
    ),
    _rule(
        "expect_column_values_to_match_regex", {"column": "code", "regex": "AB"}, "gx_r_search"
    ),  # not anchored
    _rule("expect_column_values_to_match_regex", {"column": "ccy", "regex": "^[A-Z]{3}$"}, "gx_r_ccy"),
    _rule(
        "expect_column_values_to_match_regex",
        {"column": "code", "regex": CODE_REGEX, "mostly": 0.81},
        "gx_r_81",
    ),
    _rule(
        "expect_column_values_to_match_regex",
        {"column": "code", "regex": CODE_REGEX, "mostly": 0.82},
        "gx_r_82",
    ),
    _rule("expect_table_row_count_to_be_between", {"min_value": 12, "max_value": 12}, "gx_rows_12"),
    _rule("expect_table_row_count_to_be_between", {"max_value": 11}, "gx_rows_max_11"),
    _rule("expect_column_to_exist", "missing", "gx_missing_exists"),
    _rule("expect_column_values_to_not_be_null", "missing", "gx_missing_not_null"),
    _rule("expect_compound_columns_to_be_unique", ["as_of_date", "missing"], "gx_missing_unique"),
]


def _gx_results(pdf, rules: list[Rule]) -> dict[str, Any]:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("rules")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="conformance"))
    for rule in rules:
        cls_name = "".join(part.capitalize() for part in rule.expectation.split("_"))
        suite.add_expectation(getattr(gx.expectations, cls_name)(**rule.args, meta={"rule": rule.name}))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="conformance", data=batch, suite=suite)
    )
    run = validation.run(batch_parameters={"dataframe": pdf}, result_format="SUMMARY")
    return {r.expectation_config.meta["rule"]: r for r in run.results}


def _raised(info: dict[str, Any]) -> bool:
    """GX puts exception info at the top level or keyed by the metric that raised."""
    if info.get("raised_exception"):
        return True
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def test_conformance_with_great_expectations(df) -> None:
    rules = parse_rules(GX_RULES)
    report, _ = evaluate(df, rules, partition_column=None)
    ours = {o.rule.name: o for o in report.outcomes}
    gx_results = _gx_results(df.toPandas(), rules)
    assert set(gx_results) == set(ours)

    mismatches = []
    for rule in rules:
        outcome, result = ours[rule.name], gx_results[rule.name]
        raised = _raised(result.exception_info)
        if rule.expectation == "expect_table_row_count_to_be_between":
            ours_value, gx_value = report.rows_by_partition[ALL], result.result.get("observed_value")
        elif rule.expectation == "expect_column_to_exist":
            ours_value, gx_value = outcome.failed, int(not result.success)
        elif outcome.message:  # GX raises on a missing column and reports failure
            ours_value, gx_value = outcome.message != "", raised
        else:
            ours_value, gx_value = outcome.failed, result.result.get("unexpected_count")
            if raised:
                mismatches.append((rule.name, "GX raised", result.exception_info))
        if (outcome.passed, ours_value) != (result.success, gx_value):
            mismatches.append((rule.name, (outcome.passed, ours_value), (result.success, gx_value)))
    assert mismatches == []
    # the comparison is not vacuous: both pass and fail occur, with failures counted
    assert {o.passed for o in ours.values()} == {True, False}
    assert ours["gx_nn_76"].failed == 3 and not ours["gx_nn_76"].passed and ours["gx_nn_75"].passed


# --- parsing ---------------------------------------------------------------------------------------------

SEED_BLOCK = (
    "expect_column_to_exist: ccy\n"
    "expect_column_values_to_not_be_null: ccy\n"
    "expect_compound_columns_to_be_unique: [as_of_date, ccy]\n"
    "expect_column_values_to_be_between: \n"  # the seed has a trailing space here
    "  column: rate_to_base\n"
    "  min_value: 0\n"
    "  max_value: 1000\n"
)


def test_seed_block_parses_verbatim() -> None:
    rules = parse_rules(yaml.safe_load(SEED_BLOCK))
    assert [(r.expectation, r.args, r.name, r.columns) for r in rules] == [
        ("expect_column_to_exist", {"column": "ccy"}, "ccy_exists", ("ccy",)),
        ("expect_column_values_to_not_be_null", {"column": "ccy"}, "ccy_not_null", ("ccy",)),
        (
            "expect_compound_columns_to_be_unique",
            {"column_list": ["as_of_date", "ccy"]},
            "as_of_date_ccy_unique",
            ("as_of_date", "ccy"),
        ),
        (
            "expect_column_values_to_be_between",
            {"column": "rate_to_base", "min_value": 0, "max_value": 1000},
            "rate_to_base_between",
            ("rate_to_base",),
        ),
    ]
    assert all(r.severity is Severity.CRITICAL and r.blocking for r in rules)
    assert [r.row_level for r in rules] == [False, True, True, True]
    assert parse_rules(yaml.safe_load(SEED_BLOCK), default=Severity.WARNING)[0].severity is Severity.WARNING


def test_list_form_with_severity_name_and_description() -> None:
    block = yaml.safe_load(
        """
        - expect_column_values_to_be_in_set: {column: ccy, value_set: [USD, EUR]}
          severity: warning
          name: known_ccy
          description: ISO codes we quote
        - expect_column_values_to_match_regex: {column: code, regex: '^[A-Z]+$', mostly: 0.9}
          severity: drop
        - expect_table_row_count_to_be_between: {min_value: 1}
          name: has_rows
        - expect_column_values_to_be_unique: id
        """
    )
    rules = parse_rules(block, default=Severity.WARNING)
    assert [(r.name, r.severity, r.description) for r in rules] == [
        ("known_ccy", Severity.WARNING, "ISO codes we quote"),
        ("code_matches_regex", Severity.DROP, ""),
        ("has_rows", Severity.WARNING, ""),
        ("id_unique", Severity.WARNING, ""),
    ]
    assert rules[0].args == {"column": "ccy", "value_set": ["USD", "EUR"]}
    assert rules[1].args["mostly"] == 0.9 and not rules[1].blocking
    assert rules[2].columns == () and not rules[2].row_level
    assert parse_rules(None) == []


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        (
            {"expect_column_values_to_be_positive": "x"},
            "unknown expectation 'expect_column_values_to_be_positive'",
        ),
        (
            {"expect_column_values_to_be_between": {"column": "x", "min": 0}},
            "expect_column_values_to_be_between does not take ['min']; it takes: column, min_value",
        ),
        (
            {"expect_column_values_to_be_in_set": "ccy"},
            "expect_column_values_to_be_in_set needs ['value_set']",
        ),
        (
            {"expect_column_values_to_match_regex": {"regex": "x"}},
            "expect_column_values_to_match_regex needs ['column']",
        ),
        (
            [{"expect_column_values_to_not_be_null": "x", "severity": "fatal"}],
            "severity 'fatal' is not one of: critical, warning, drop",
        ),
        (
            {"expect_column_values_to_be_between": {"column": "x", "min_value": 5, "max_value": 1}},
            "min_value 5 is above max_value 1",
        ),
        (
            {"expect_table_row_count_to_be_between": {"min_value": 9, "max_value": 2}},
            "min_value 9 is above max_value 2",
        ),
        (
            {"expect_column_values_to_be_between": "x"},
            "expect_column_values_to_be_between needs min_value or max_value",
        ),
        (
            {"expect_column_values_to_match_regex": {"column": "x", "regex": "[A-Z"}},
            "'regex' does not compile",
        ),
        (
            [{"expect_column_values_to_not_be_null": "x"}, {"expect_column_values_to_not_be_null": "x"}],
            "two rules are named 'x_not_null'",
        ),
        (
            [
                {"expect_column_values_to_be_unique": "x", "name": "k"},
                {"expect_column_to_exist": "y", "name": "k"},
            ],
            "two rules are named 'k'",
        ),
        (
            [{"expect_table_row_count_to_be_between": {"min_value": 1}, "severity": "drop"}],
            "expect_table_row_count_to_be_between is a table-level rule: severity 'drop' has no rows to drop",
        ),
        (
            [{"expect_column_to_exist": "x", "severity": "drop"}],
            "expect_column_to_exist is a table-level rule: severity 'drop' has no rows to drop",
        ),
        (
            {"expect_column_values_to_be_between": {"column": "x", "mostly": 1.5, "min_value": 0}},
            "'mostly' must be a fraction",
        ),
        (
            {"expect_column_values_to_be_in_set": {"column": "x", "value_set": "USD"}},
            "'value_set' must be a list",
        ),
        ({"expect_compound_columns_to_be_unique": []}, "'column_list' must be a non-empty list of names"),
        ([{"expect_column_to_exist": "x", "name": "bad-name"}], "rule name 'bad-name' may only use letters"),
        (
            [{"expect_column_to_exist": "x", "expect_column_values_to_be_unique": "x"}],
            "must name exactly one expectation",
        ),
        (["expect_column_to_exist"], "rule #1 must be a mapping"),
        ("expect_column_to_exist", "rules must be a mapping or a list, got str"),
    ],
)
def test_rule_errors(block: Any, fragment: str) -> None:
    with pytest.raises(RuleError) as error:
        parse_rules(block)
    assert fragment in str(error.value)


def test_nan_counts_as_missing_like_in_great_expectations(spark) -> None:
    frame = spark.createDataFrame(
        [(1, 1.0), (2, float("nan")), (3, None), (4, 2000.0)], "id int, rate double"
    )
    rules = parse_rules(
        [
            {"expect_column_values_to_not_be_null": "rate"},
            {"expect_column_values_to_be_between": {"column": "rate", "min_value": 0, "max_value": 1000}},
        ]
    )
    report, _ = evaluate(frame, rules)
    outcomes = {o.rule.name: o for o in report.outcomes}
    assert (outcomes["rate_not_null"].evaluated, outcomes["rate_not_null"].failed) == (4, 2)
    # the range rule looks only at present values: 1.0 and 2000.0
    assert (outcomes["rate_between"].evaluated, outcomes["rate_between"].failed) == (2, 1)
