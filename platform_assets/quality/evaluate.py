"""Evaluate contract rules on a Spark DataFrame in one aggregate pass, per partition.

Semantics follow Great Expectations 1.x: column-map rules ignore missing values (null, and NaN in
floating-point columns) except the not-null rule, which counts them,
uniqueness counts every row of a repeated value, and ``mostly`` is the fraction of non-null rows that
must pass. Each row-level rule becomes a boolean "this row fails" column, so the same flags drive
both the counts and the quarantine of failing rows; nothing is collected but the per-partition counts
and a few sample rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from platform_assets.contracts.rules import PARSE_EXPECTATION, Rule
from platform_assets.quality import cross_table
from platform_assets.quality.raw_values import unparsed

ALL = "__all__"  # the partition label of an unpartitioned table
FLAG_PREFIX = "_dq_fail_"


@dataclass
class RuleOutcome:
    """One rule's result over the evaluated data, with a per-partition breakdown."""

    rule: Rule
    evaluated: int = 0
    failed: int = 0
    failed_partitions: list[str] = field(default_factory=list)
    failed_by_partition: dict[str, int] = field(default_factory=dict)
    evaluated_by_partition: dict[str, int] = field(default_factory=dict)  # rows the rule was taken over
    message: str = ""
    sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failed_partitions and not self.message

    @property
    def failed_percent(self) -> float:
        return round(100.0 * self.failed / self.evaluated, 4) if self.evaluated else 0.0


@dataclass
class QualityReport:
    outcomes: list[RuleOutcome]
    rows_by_partition: dict[str, int]

    def blocked_partitions(self) -> set[str]:
        """Partitions a failed critical rule keeps from being published."""
        blocked: set[str] = set()
        for outcome in self.outcomes:
            if outcome.rule.blocking and not outcome.passed:
                blocked |= (
                    set(outcome.failed_partitions) if not outcome.message else set(self.rows_by_partition)
                )
        return blocked


def flag_column(rule: Rule) -> str:
    return FLAG_PREFIX + rule.name


def _present(name: str, float_columns: set[str]) -> Column:
    """Not missing: not null, and for floating-point columns not NaN (GX treats NaN as missing)."""
    present = F.col(name).isNotNull()
    return present & ~F.isnan(F.col(name)) if name in float_columns else present


def _failure_expression(rule: Rule, float_columns: set[str], columns: Sequence[str] = ()) -> Column:
    """A boolean column: true where the row breaks the rule (``columns``: those of the data)."""
    args = rule.args
    if rule.expectation == PARSE_EXPECTATION:
        return unparsed(columns)
    if rule.expectation == "expect_column_values_to_not_be_null":
        return ~_present(args["column"], float_columns)
    if rule.expectation == "expect_column_values_to_be_between":
        col = F.col(args["column"])
        broken = F.lit(False)
        if args.get("min_value") is not None:
            low = F.lit(args["min_value"])
            broken = broken | ((col <= low) if args.get("strict_min") else (col < low))
        if args.get("max_value") is not None:
            high = F.lit(args["max_value"])
            broken = broken | ((col >= high) if args.get("strict_max") else (col > high))
        return _present(args["column"], float_columns) & broken
    if rule.expectation == "expect_column_values_to_be_in_set":
        col = F.col(args["column"])
        # a null in the set would make `isin` unknown (not true) for every miss, hiding all failures
        allowed = [value for value in args["value_set"] if value is not None]
        return _present(args["column"], float_columns) & ~col.isin(allowed)
    if rule.expectation == "expect_column_values_to_not_be_in_set":
        forbidden = [value for value in rule.args["value_set"] if value is not None]
        return _present(rule.args["column"], float_columns) & F.col(rule.args["column"]).isin(forbidden)
    if rule.expectation == "expect_column_values_to_match_regex":
        col = F.col(args["column"])
        return _present(args["column"], float_columns) & ~col.rlike(args["regex"])
    if rule.expectation in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        columns = list(rule.columns)
        repeated = F.count(F.lit(1)).over(Window.partitionBy(*columns)) > 1
        # GX ignores a row only when all of its key values are missing
        any_present = F.lit(False)
        for name in columns:
            any_present = any_present | _present(name, float_columns)
        return any_present & repeated
    raise ValueError(f"rule {rule.name}: {rule.expectation} is not a row-level rule")


def _nonnull_base(rule: Rule, float_columns: set[str]) -> Column:
    """The rows a rule's ``mostly`` fraction is taken over (GX: non-null rows, all rows for not-null)."""
    if rule.expectation == "expect_column_values_to_not_be_null" or not rule.columns:
        return F.lit(True)
    present = F.lit(False)
    for name in rule.columns:
        present = present | _present(name, float_columns)
    return present


def _float_columns(schema: T.StructType) -> set[str]:
    return {f.name for f in schema.fields if isinstance(f.dataType, T.FloatType | T.DoubleType)}


def _allowed_failures(rule: Rule, base_rows: int) -> int:
    mostly = rule.args.get("mostly")
    return 0 if mostly is None else math.floor(base_rows * (1 - float(mostly)) + 1e-9)


def with_rule_flags(
    df: DataFrame,
    rules: list[Rule],
    tables: cross_table.Tables | None = None,
    schema: T.StructType | None = None,
) -> tuple[DataFrame, list[Rule]]:
    """Add one failure flag per evaluable row-level rule; returns the frame and those rules.

    Referential rules need ``tables`` (the lake's other tables); without it they are not evaluable.
    ``schema``: ``df``'s, when the caller knows it already (e.g. from the contract), so the engine
    is not asked.
    """
    # the schema is asked for once at most: each ``columns`` of a new frame is a round trip to the engine
    schema = schema or df.schema
    names = schema.fieldNames()
    present_names = set(names)
    evaluable = [
        r
        for r in rules
        if r.row_level
        and all(c in present_names for c in r.columns)
        and (tables is not None or r.expectation not in cross_table.ROW_KINDS)
    ]
    floats = _float_columns(schema)
    data_columns = [c for c in names if not c.startswith(FLAG_PREFIX)]
    plain: list[tuple[str, Column]] = []
    for rule in evaluable:
        if flag_column(rule) in present_names:  # already computed (a staged candidate carries its flags)
            continue
        if rule.expectation in cross_table.ROW_KINDS:
            assert tables is not None
            present = _present(rule.args["column"], floats)
            df = cross_table.with_referential_flag(df, rule, tables, flag_column(rule), present)
        else:  # only the data's own columns matter to a row rule (the raw companions among them)
            plain.append((flag_column(rule), _failure_expression(rule, floats, data_columns)))
    if plain:  # one projection for all of them
        df = df.withColumns(dict(plain))
    return df, evaluable


def evaluate(
    df: DataFrame,
    rules: list[Rule],
    partition_column: str | None = None,
    sample_size: int = 5,
    tables: cross_table.Tables | None = None,
) -> tuple[QualityReport, DataFrame]:
    """Evaluate ``rules`` on ``df``; returns the report and ``df`` with the failure flags added.

    ``tables`` reads other lake tables, for cross-table rules (without it they report an error).
    """
    outcomes = {rule.name: RuleOutcome(rule) for rule in rules}
    columns = set(df.columns)
    for rule in rules:
        missing = [c for c in rule.columns if c not in columns]
        if missing:
            outcomes[rule.name].message = f"column(s) {missing} not in the data"
        elif tables is None and rule.expectation in cross_table.ROW_KINDS | cross_table.TABLE_KINDS:
            outcomes[rule.name].message = "a cross-table rule needs the lake's tables to evaluate"
    flagged, evaluable = with_rule_flags(df, rules, tables)
    data_columns = [c for c in df.columns if not c.startswith(FLAG_PREFIX)]

    floats = _float_columns(df.schema)
    part = F.col(partition_column).cast("string") if partition_column else F.lit(ALL)
    aggregates = [F.count(F.lit(1)).alias("_rows")]
    for index, rule in enumerate(evaluable):
        aggregates.append(F.sum(F.col(flag_column(rule)).cast("long")).alias(f"_f{index}"))
        aggregates.append(F.sum(_nonnull_base(rule, floats).cast("long")).alias(f"_b{index}"))
    grouped = flagged.groupBy(part.alias("_partition")).agg(*aggregates).collect()

    rows_by_partition = {str(r["_partition"]): int(r["_rows"]) for r in grouped}
    for index, rule in enumerate(evaluable):
        outcome = outcomes[rule.name]
        for row in grouped:
            failed, base = int(row[f"_f{index}"] or 0), int(row[f"_b{index}"] or 0)
            outcome.evaluated += base
            outcome.evaluated_by_partition[str(row["_partition"])] = base
            outcome.failed += failed
            if failed:
                outcome.failed_by_partition[str(row["_partition"])] = failed
            if failed > _allowed_failures(rule, base):
                outcome.failed_partitions.append(str(row["_partition"]))
        outcome.failed_partitions.sort()
        if outcome.failed:
            sample = flagged.where(F.col(flag_column(rule))).select(*data_columns).limit(sample_size)
            outcome.sample = [row.asDict() for row in sample.collect()]

    for rule in rules:
        outcome = outcomes[rule.name]
        if rule.expectation == "expect_table_row_count_to_be_between" and not outcome.message:
            low, high = rule.args.get("min_value"), rule.args.get("max_value")
            partitions = rows_by_partition or {ALL: 0}
            outcome.evaluated = len(partitions)
            for label, count in partitions.items():
                if (low is not None and count < low) or (high is not None and count > high):
                    outcome.failed_partitions.append(label)
                    outcome.failed_by_partition[label] = count
            outcome.failed = len(outcome.failed_partitions)
        elif rule.expectation in cross_table.TABLE_KINDS and tables is not None and not outcome.message:
            _reconcile_into(outcome, df, tables, partition_column)
        elif rule.expectation == "expect_column_to_exist":
            outcome.evaluated = 1
            outcome.failed = 1 if outcome.message else 0
    return QualityReport(list(outcomes.values()), rows_by_partition), flagged


def _reconcile_into(
    outcome: RuleOutcome, df: DataFrame, tables: cross_table.Tables, partition_column: str | None
) -> None:
    """A reconciliation's groups are its evaluated units; a mismatching group fails (and blocks) its label."""
    try:
        result = cross_table.reconcile(df, outcome.rule, tables, partition_column)
    except Exception as exc:  # a bad reference query is a failed rule with its reason, not a crash
        outcome.message = f"reconciliation query failed: {str(exc).splitlines()[0][:300]}"
        return
    outcome.evaluated = result.groups
    outcome.failed = len(result.mismatched)
    outcome.failed_partitions = sorted(result.mismatched)
    outcome.failed_by_partition = {label: 1 for label in result.mismatched}
    outcome.sample = [result.mismatched[label] for label in sorted(result.mismatched)][:5]
