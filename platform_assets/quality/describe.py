"""Rules as sentences a stakeholder reads ("ccy must be present"), derived from the expectation."""

from __future__ import annotations

from typing import Any

from platform_assets.contracts.rules import Rule

_ACTION = {
    "critical": "Critical: a partition that fails it is not published.",
    "warning": "Warning: reported, the data is published.",
    "drop": "Drop: failing rows are quarantined, the rest is published.",
}


def _names(columns: tuple[str, ...]) -> str:
    return columns[0] if len(columns) == 1 else "(" + ", ".join(columns) + ")"


def _mostly(args: dict[str, Any]) -> str:
    mostly = args.get("mostly")
    return f" in at least {float(mostly) * 100:g}% of rows" if mostly is not None else ""


def _bounds(args: dict[str, Any], what: str) -> str:
    low, high = args.get("min_value"), args.get("max_value")
    above = "above" if args.get("strict_min") else "at least"
    below = "below" if args.get("strict_max") else "at most"
    if low is not None and high is not None:
        if not args.get("strict_min") and not args.get("strict_max"):
            return f"{what} must be between {low:g} and {high:g}"
        return f"{what} must be {above} {low:g} and {below} {high:g}"
    if low is not None:
        return f"{what} must be {above} {low:g}"
    return f"{what} must be {below} {high:g}"


def rule_sentence(rule: Rule) -> str:
    """What the rule requires, in plain words; an unknown expectation falls back to its call."""
    args, cols = rule.args, rule.columns
    kind = rule.expectation
    if kind == "expect_column_values_to_not_be_null":
        return f"{_names(cols)} must be present{_mostly(args)}"
    if kind == "expect_column_values_to_be_between":
        return _bounds(args, _names(cols)) + _mostly(args)
    if kind == "expect_column_values_to_be_unique":
        return f"{_names(cols)} must be unique{_mostly(args)}"
    if kind == "expect_compound_columns_to_be_unique":
        return f"each {_names(cols)} must appear only once{_mostly(args)}"
    if kind == "expect_column_values_to_be_in_set":
        values = ", ".join(str(v) for v in args["value_set"])
        return f"{_names(cols)} must be one of {values}{_mostly(args)}"
    if kind == "expect_column_values_to_match_regex":
        return f"{_names(cols)} must match the pattern {args['regex']}{_mostly(args)}"
    if kind == "expect_column_to_exist":
        return f"the table must have a {_names(cols)} column"
    if kind == "expect_table_row_count_to_be_between":
        return _bounds(args, "the row count of each partition")
    if kind == "expect_dead_letter_rate_to_be_at_most":
        return (
            f"at most {float(args['max_value']) * 100:g}% of received records may go to the dead-letter table"
        )
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"{kind}({shown})"


def describe_rule(rule: Rule) -> str:
    """The contract's own description (when given), the sentence, and what a failure does."""
    sentence = rule_sentence(rule)
    parts = [rule.description.strip()] if rule.description.strip() else []
    parts += [sentence + ".", _ACTION[rule.severity.value]]  # a column name keeps its case
    return " ".join(parts)
