"""Rules read as sentences, and each has a DQ dimension (derived, or set by the contract)."""

import pytest

from platform_assets.contracts.rules import RuleError, parse_rules
from platform_assets.quality.describe import describe_rule, rule_sentence


def _rule(block: list) -> object:
    return parse_rules(block)[0]


@pytest.mark.parametrize(
    ("block", "sentence", "dimension"),
    [
        ([{"expect_column_values_to_not_be_null": "ccy"}], "ccy must be present", "completeness"),
        (
            [{"expect_column_values_to_not_be_null": {"column": "ccy", "mostly": 0.95}}],
            "ccy must be present in at least 95% of rows",
            "completeness",
        ),
        (
            [{"expect_column_values_to_be_between": {"column": "rate", "min_value": 0, "max_value": 1000}}],
            "rate must be between 0 and 1000",
            "validity",
        ),
        (
            [{"expect_column_values_to_be_between": {"column": "qty", "min_value": 0, "strict_min": True}}],
            "qty must be above 0",
            "validity",
        ),
        (
            [{"expect_compound_columns_to_be_unique": ["d", "ccy"]}],
            "each (d, ccy) must appear only once",
            "uniqueness",
        ),
        (
            [{"expect_column_values_to_be_in_set": {"column": "s", "value_set": ["A", "B"]}}],
            "s must be one of A, B",
            "validity",
        ),
        ([{"expect_column_to_exist": "ccy"}], "the table must have a ccy column", "validity"),
        (
            [{"expect_table_row_count_to_be_between": {"min_value": 1}}],
            "the row count of each partition must be at least 1",
            "completeness",
        ),
    ],
)
def test_sentence_and_dimension(block: list, sentence: str, dimension: str) -> None:
    rule = _rule(block)
    assert rule_sentence(rule) == sentence
    assert rule.dimension == dimension


def test_contract_overrides_the_dimension_and_a_wrong_one_is_refused() -> None:
    rule = _rule(
        [
            {
                "expect_column_values_to_be_in_set": {"column": "ccy", "value_set": ["USD"]},
                "dimension": "consistency",
            }
        ]
    )
    assert rule.dimension == "consistency"
    with pytest.raises(RuleError, match="dimension 'accuracy' is not one of"):
        _rule([{"expect_column_to_exist": "x", "dimension": "accuracy"}])


def test_description_keeps_the_contracts_words_and_says_what_a_failure_does() -> None:
    rule = _rule(
        [
            {
                "expect_column_values_to_not_be_null": "ccy",
                "severity": "warning",
                "description": "Needed for joins.",
            }
        ]
    )
    assert (
        describe_rule(rule)
        == "Needed for joins. ccy must be present. Warning: reported, the data is published."
    )
