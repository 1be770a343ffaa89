"""Checks that make a contract fail when definitions load rather than when a run reaches it.

Each raises ``ValueError("<field>: <reason>")``; the loader turns that into a ``ContractError``
naming the file. Key enforcement lives here too, so it is derived in one place.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from platform_assets.contracts.rules import Rule, Severity

_NUMERIC = re.compile(r"^(int|long|double|decimal\(\d+,\s*\d+\))$")
NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"
REGEX = "expect_column_values_to_match_regex"


def check_rule_columns(rules: Iterable[Rule], types: Mapping[str, str]) -> None:
    """Every rule names columns of the schema, and the column's type fits the rule."""
    for rule in rules:
        unknown = [c for c in rule.columns if c not in types]
        if unknown:
            raise ValueError(f"quality.rules: rule {rule.name!r} names columns not in the schema: {unknown}")
        column = rule.columns[0] if rule.columns else None
        if rule.expectation == BETWEEN and column and not _NUMERIC.match(types[column]):
            raise ValueError(
                f"quality.rules: rule {rule.name!r} is a numeric range on {column!r}, "
                f"which is {types[column]}: only int, long, double and decimal columns compare with numbers"
            )
        if rule.expectation == REGEX and column and types[column] != "string":
            raise ValueError(
                f"quality.rules: rule {rule.name!r} matches a regex on {column!r}, which is "
                f"{types[column]}, not string"
            )


def enforce_keys(rules: list[Rule], keys: Iterable[str]) -> list[Rule]:
    """A key that may be null is not a key: every key column gets a critical not-null rule.

    An all-rows not-null rule the contract (or ``implicit_rules``) already has for it is made
    critical; otherwise one named ``<key>_not_null`` (``<key>_required`` if that name is taken) is
    added. A lenient rule with ``mostly`` stays as written, next to the critical one.
    """
    result = list(rules)
    for key in keys:
        position = next(
            (
                i
                for i, r in enumerate(result)
                if r.expectation == NOT_NULL and r.columns == (key,) and r.args.get("mostly") is None
            ),
            None,
        )
        if position is not None:
            if result[position].severity is not Severity.CRITICAL:
                result[position] = dataclasses.replace(result[position], severity=Severity.CRITICAL)
            continue
        taken = {r.name for r in result}
        name = f"{key}_not_null" if f"{key}_not_null" not in taken else f"{key}_required"
        result.append(Rule(NOT_NULL, {"column": key}, Severity.CRITICAL, name, "Key column.", (key,)))
    return result


def condition_columns(condition: str) -> set[str]:
    """The columns a SQL boolean condition (Spark dialect) reads; refuses what is not one."""
    try:
        parsed = sqlglot.parse_one(condition, read="spark")
    except SqlglotError as exc:
        raise ValueError(f"{condition!r} is not a valid SQL condition: {exc}") from exc
    if not isinstance(parsed, exp.Condition) or isinstance(parsed, exp.Query) or parsed.find(exp.Query):
        raise ValueError(f"{condition!r} must be a boolean condition over a change row")
    if parsed.find(exp.AggFunc):
        raise ValueError(f"{condition!r} must not aggregate: it is evaluated per change row")
    return {column.name for column in parsed.find_all(exp.Column)}
