"""Quality rules in the Great-Expectations format, parsed into one normalized shape.

The seed's rule block is accepted verbatim, as a mapping of expectation name to arguments::

    expect_column_to_exist: ccy
    expect_compound_columns_to_be_unique: [as_of_date, ccy]
    expect_column_values_to_be_between: {column: rate_to_base, min_value: 0, max_value: 1000}

or as a list of such one-key mappings, each of which may also carry ``severity``, ``name`` and
``description``. Scalar shorthand becomes the expectation's main argument (``column`` or
``column_list``); argument names are those of GX 1.x.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """What a failing rule does: DLT's fail / warn / drop actions."""

    CRITICAL = "critical"  # blocking ERROR check: the failing partition is not published
    WARNING = "warning"  # WARN check: published, reported
    DROP = "drop"  # failing rows go to quarantine, the rest is published


class RuleError(ValueError):
    """A rule that cannot be understood; the loader adds the file and field."""


@dataclass(frozen=True)
class ExpectationKind:
    """The arguments one expectation takes: the first of ``required`` is its scalar shorthand."""

    name: str
    suffix: str  # default check name: <columns>_<suffix>
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    row_level: bool = True  # False: a table-level rule with no failing rows to quarantine


_MOSTLY = ("mostly",)
# every raw value a transform kept next to its typed column (``_raw_<column>``) parsed as that type
PARSE_EXPECTATION = "expect_values_to_parse_as_column_types"
# the share of a bronze batch's records that went to the dead-letter table is at most max_value
DEAD_LETTER_EXPECTATION = "expect_dead_letter_rate_to_be_at_most"
EXPECTATIONS: dict[str, ExpectationKind] = {
    kind.name: kind
    for kind in (
        ExpectationKind("expect_column_to_exist", "exists", ("column",), row_level=False),
        ExpectationKind("expect_column_values_to_not_be_null", "not_null", ("column",), _MOSTLY),
        ExpectationKind(
            "expect_column_values_to_be_between",
            "between",
            ("column",),
            ("min_value", "max_value", "strict_min", "strict_max", *_MOSTLY),
        ),
        ExpectationKind("expect_column_values_to_be_unique", "unique", ("column",), _MOSTLY),
        ExpectationKind("expect_compound_columns_to_be_unique", "unique", ("column_list",), _MOSTLY),
        ExpectationKind("expect_column_values_to_be_in_set", "in_set", ("column", "value_set"), _MOSTLY),
        ExpectationKind("expect_column_values_to_match_regex", "matches_regex", ("column", "regex"), _MOSTLY),
        ExpectationKind(
            "expect_table_row_count_to_be_between",
            "row_count_between",
            (),
            ("min_value", "max_value"),
            row_level=False,
        ),
        # platform expectations (not in GX), see docs/typing.md
        ExpectationKind(PARSE_EXPECTATION, "values_parse", ()),
        ExpectationKind(DEAD_LETTER_EXPECTATION, "dead_letter_rate", ("max_value",), row_level=False),
    )
}

# Cross-table rules (gold's consistency checks): evaluated with the lake's tables at hand
# (platform_assets/quality/cross_table.py). ``table`` is a dataset reference such as gold/dim_customer.
REFERENTIAL = "expect_column_values_to_exist_in_table"
RECONCILIATION = "expect_column_sum_to_match_query"
EXPECTATIONS.update(
    {
        kind.name: kind
        for kind in (
            ExpectationKind(
                "expect_column_values_to_not_be_in_set", "not_in_set", ("column", "value_set"), _MOSTLY
            ),
            ExpectationKind(REFERENTIAL, "referential", ("column", "table"), ("table_column", *_MOSTLY)),
            ExpectationKind(
                RECONCILIATION, "reconciles", ("column", "query"), ("group_by", "tolerance"), row_level=False
            ),
        )
    }
)
_TABLE_REF = re.compile(r"^(bronze|silver|gold)/[a-z][a-z0-9_]*$")


def _check_cross_table(kind: ExpectationKind, args: dict[str, Any]) -> None:
    if "table" in args and not (isinstance(args["table"], str) and _TABLE_REF.match(args["table"])):
        raise RuleError(
            f"{kind.name}: 'table' must be a dataset such as gold/dim_customer, got {args['table']!r}"
        )
    if "query" in args and not (isinstance(args["query"], str) and args["query"].strip()):
        raise RuleError(f"{kind.name}: 'query' must be a SQL SELECT returning the group and its total")
    tolerance = args.get("tolerance", 0)
    if not isinstance(tolerance, int | float) or tolerance < 0:
        raise RuleError(f"{kind.name}: 'tolerance' must be a non-negative number, got {tolerance!r}")


# The DQ dimension each expectation measures (docs/data-quality.md); a rule may override it with
# ``dimension:``. Expectations not listed measure validity.
DIMENSIONS = ("completeness", "uniqueness", "validity", "consistency", "timeliness")
DIMENSION_OF: dict[str, str] = {
    "expect_column_values_to_not_be_null": "completeness",
    "expect_table_row_count_to_be_between": "completeness",
    "expect_column_values_to_be_unique": "uniqueness",
    "expect_compound_columns_to_be_unique": "uniqueness",
    "expect_column_values_to_exist_in_table": "consistency",
    "expect_column_sum_to_match_query": "consistency",
}

_RULE_OPTIONS = {"severity", "name", "description", "dimension"}
_CHECK_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class Rule:
    """One quality rule: an expectation with its arguments, a severity and a check name."""

    expectation: str
    args: dict[str, Any]
    severity: Severity
    name: str
    description: str = ""
    columns: tuple[str, ...] = field(default=())
    dimension_override: str | None = None

    @property
    def dimension(self) -> str:
        """completeness, uniqueness, validity, consistency or timeliness (the contract may say)."""
        return self.dimension_override or DIMENSION_OF.get(self.expectation, "validity")

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.CRITICAL

    @property
    def row_level(self) -> bool:
        return EXPECTATIONS[self.expectation].row_level


def _columns_of(args: dict[str, Any]) -> tuple[str, ...]:
    if "column_list" in args:
        return tuple(args["column_list"])
    if "column" in args:
        return (args["column"],)
    return ()


def _default_name(kind: ExpectationKind, columns: tuple[str, ...]) -> str:
    return "_".join([*columns, kind.suffix])


def _normalize_args(kind: ExpectationKind, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        if not kind.required:
            raise RuleError(f"{kind.name} takes a mapping of arguments, not {raw!r}")
        raw = {kind.required[0]: raw}
    unknown = set(raw) - set(kind.required) - set(kind.optional)
    if unknown:
        allowed = ", ".join((*kind.required, *kind.optional))
        raise RuleError(f"{kind.name} does not take {sorted(unknown)}; it takes: {allowed}")
    missing = [arg for arg in kind.required if arg not in raw]
    if missing:
        raise RuleError(f"{kind.name} needs {missing}")
    args = dict(raw)
    if "column" in args and not (isinstance(args["column"], str) and args["column"]):
        raise RuleError(f"{kind.name}: 'column' must be a column name, got {args['column']!r}")
    if "column_list" in args:
        cols = args["column_list"]
        if not (isinstance(cols, list) and cols and all(isinstance(c, str) for c in cols)):
            raise RuleError(f"{kind.name}: 'column_list' must be a non-empty list of names, got {cols!r}")
    if "value_set" in args and not isinstance(args["value_set"], list):
        raise RuleError(f"{kind.name}: 'value_set' must be a list")
    if "regex" in args:
        try:
            re.compile(args["regex"])
        except re.error as exc:
            raise RuleError(f"{kind.name}: 'regex' does not compile: {exc}") from exc
    for bound in ("min_value", "max_value"):
        if bound in args and args[bound] is not None and not isinstance(args[bound], int | float):
            raise RuleError(f"{kind.name}: '{bound}' must be a number, got {args[bound]!r}")
    low, high = args.get("min_value"), args.get("max_value")
    if kind.name == "expect_column_values_to_be_between" and low is None and high is None:
        raise RuleError(f"{kind.name} needs min_value or max_value")  # as GX: no bounds never fails
    if low is not None and high is not None and low > high:
        raise RuleError(f"{kind.name}: min_value {low} is above max_value {high}")
    rate = args.get("max_value")
    if kind.name == DEAD_LETTER_EXPECTATION and not (isinstance(rate, int | float) and 0 <= rate <= 1):
        raise RuleError(f"{kind.name}: 'max_value' is a fraction of the batch, between 0 and 1")
    if "mostly" in args and not (isinstance(args["mostly"], int | float) and 0 <= args["mostly"] <= 1):
        raise RuleError(f"{kind.name}: 'mostly' must be a fraction between 0 and 1")
    _check_cross_table(kind, args)
    return args


def parse_rule(expectation: str, raw_args: Any, options: dict[str, Any], default: Severity) -> Rule:
    kind = EXPECTATIONS.get(expectation)
    if kind is None:
        raise RuleError(f"unknown expectation {expectation!r}; known: {', '.join(sorted(EXPECTATIONS))}")
    args = _normalize_args(kind, raw_args)
    try:
        severity = Severity(options.get("severity", default))
    except ValueError as exc:
        choices = ", ".join(s.value for s in Severity)
        raise RuleError(f"severity {options.get('severity')!r} is not one of: {choices}") from exc
    if severity is Severity.DROP and not kind.row_level:
        raise RuleError(f"{expectation} is a table-level rule: severity 'drop' has no rows to drop")
    columns = _columns_of(args)
    name = options.get("name") or _default_name(kind, columns)
    if not _CHECK_NAME.match(name):
        raise RuleError(f"rule name {name!r} may only use letters, digits and underscores")
    dimension = options.get("dimension")
    if dimension is not None and dimension not in DIMENSIONS:
        raise RuleError(f"dimension {dimension!r} is not one of: {', '.join(DIMENSIONS)}")
    return Rule(expectation, args, severity, name, options.get("description", ""), columns, dimension)


def parse_rules(block: Any, default: Severity = Severity.CRITICAL) -> list[Rule]:
    """Parse a contract's ``quality.rules`` block (seed mapping or list form)."""
    if block is None:
        return []
    if isinstance(block, dict):
        items: list[tuple[str, Any, dict[str, Any]]] = [(k, v, {}) for k, v in block.items()]
    elif isinstance(block, list):
        items = []
        for position, entry in enumerate(block):
            if not isinstance(entry, dict):
                raise RuleError(f"rule #{position + 1} must be a mapping, got {entry!r}")
            expectations = [k for k in entry if k not in _RULE_OPTIONS]
            if len(expectations) != 1:
                raise RuleError(f"rule #{position + 1} must name exactly one expectation, got {expectations}")
            options = {k: v for k, v in entry.items() if k in _RULE_OPTIONS}
            items.append((expectations[0], entry[expectations[0]], options))
    else:
        raise RuleError(f"rules must be a mapping or a list, got {type(block).__name__}")
    rules = [parse_rule(exp, args, opts, default) for exp, args, opts in items]
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise RuleError(f"two rules are named {rule.name!r}: give one a 'name'")
        seen.add(rule.name)
    return rules
