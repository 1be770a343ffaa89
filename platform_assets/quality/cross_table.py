"""Cross-table rules: referential integrity (a row-level flag by join) and reconciliation (per group).

Both read other lake tables through a ``Tables`` reader (the gate passes the lake's), so the rules stay
ordinary contract rules: a referential failure quarantines its rows and blocks its partition like any
critical row rule; a reconciliation mismatch blocks the groups (partitions) whose totals differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from platform_assets.contracts.rules import RECONCILIATION, REFERENTIAL, Rule

ROW_KINDS = frozenset({REFERENTIAL})
TABLE_KINDS = frozenset({RECONCILIATION})


class Tables(Protocol):
    def read(self, dataset: str) -> DataFrame: ...

    def sql(self, query: str) -> DataFrame: ...


def with_referential_flag(df: DataFrame, rule: Rule, tables: Tables, flag: str, present: Column) -> DataFrame:
    """``df`` plus ``flag``: true where the (present) value has no match in the other table's column."""
    column = rule.args["column"]
    other = rule.args.get("table_column", column)
    marker = f"{flag}__hit"
    keys = (
        tables.read(rule.args["table"])
        .select(F.col(other).alias(f"{flag}__key"))
        .distinct()
        .withColumn(marker, F.lit(True))
    )
    joined = df.join(keys, df[column] == keys[f"{flag}__key"], "left")
    return joined.withColumn(flag, present & F.col(marker).isNull()).drop(f"{flag}__key", marker)


@dataclass
class Reconciliation:
    groups: int = 0
    mismatched: dict[str, dict[str, Any]] = field(default_factory=dict)  # group -> got, expected


GROUPS = "{groups}"  # in a reconciliation query: the groups being checked, as SQL literals


def _literal(value: Any) -> str:
    if isinstance(value, date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return "NULL" if value is None else str(value)


def reconcile(df: DataFrame, rule: Rule, tables: Tables, partition_column: str | None) -> Reconciliation:
    """Compare ``sum(column)`` per group of ``df`` with the query's (group, total) rows, within tolerance.

    Only the groups ``df`` holds are compared (a run builds some partitions). A query that names
    ``{groups}`` gets them as a literal list there, so it reads only those groups' partitions (an
    incremental run over one day reads one day of silver, not the whole table).
    """
    group = rule.args.get("group_by") or partition_column
    if group is None:
        raise ValueError(f"rule {rule.name}: needs group_by on an unpartitioned table")
    tolerance = float(rule.args.get("tolerance", 0))
    got = {  # one row per group of this run: small
        row["_g"]: row["_got"]
        for row in df.groupBy(F.col(group).alias("_g"))
        .agg(F.sum(rule.args["column"]).alias("_got"))
        .collect()
    }
    query = rule.args["query"]
    if GROUPS in query:
        if not got:
            return Reconciliation()
        query = query.replace(GROUPS, ", ".join(_literal(g) for g in got))
    reference = tables.sql(query)
    ref_group, ref_total = reference.columns[0], reference.columns[1]
    wanted = reference.select(F.col(ref_group).alias("_g"), F.col(ref_total).alias("_want"))
    if GROUPS not in rule.args["query"]:
        wanted = wanted.where(F.col("_g").isin(list(got)))
    want = {row["_g"]: row["_want"] for row in wanted.collect()}
    outcome = Reconciliation(groups=len(got))
    for g, total in got.items():
        row = {"_g": g, "_got": total, "_want": want.get(g)}
        have, expected = float(row["_got"] or 0.0), row["_want"]
        if expected is None or abs(have - float(expected)) > tolerance:
            outcome.mismatched[str(row["_g"])] = {
                group: str(row["_g"]),
                "gold_total": round(have, 6),
                "reference_total": None if expected is None else round(float(expected), 6),
            }
    return outcome
