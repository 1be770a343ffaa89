"""The governed read path: every table a person's query names becomes a masked, filtered view.

For each ``layer.table`` in the query the policy engine decides (governance/decision.py); a single
denial denies the whole query. An allowed table is bound to a temporary view that applies the row
filter to the stored values first and then masks columns, so a filter on a masked column still sees
the real value while the caller never does. Only the user's SELECT then runs, on the same engine.

What a query may say is narrowed so it cannot step around the views: one SELECT (or WITH) statement,
no reads by path (``delta.`/path```), no engine view names (``gold__x``, ``global_temp.``). EXPLAIN
is refused too: a plan would show the masking salt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from platform_assets.contracts import load_contracts
from platform_assets.contracts.model import Contract
from platform_assets.engine.delta_io import read_delta
from platform_assets.engine.lake_catalog import names_in, to_view_names, view_name
from platform_assets.governance.decision import Caller, Decision, decide
from platform_assets.governance.masks import mask_expression, mask_salt
from platform_assets.governance.policy_model import MaskMethod, Policies, load_policies
from platform_assets.lake.audit_log import audit_write
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake

_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_PATH_READ = re.compile(r"\b[a-z_]+\s*\.\s*`", re.IGNORECASE)  # delta.`/x`, parquet.`s3://...`
_ENGINE_NAMES = re.compile(r"\b(bronze|silver|gold)__|\bglobal_temp\s*\.", re.IGNORECASE)


class AccessDenied(PermissionError):
    """The caller may not read what the query names; the message says which and why."""


class StatementRefused(ValueError):
    """A statement the governed path does not run."""


def check_statement(query: str) -> None:
    text = _COMMENT.sub(" ", query).strip().rstrip(";").strip()
    if ";" in text:
        raise StatementRefused("one statement at a time")
    if not re.match(r"^(select|with)\b", text, re.IGNORECASE):
        raise StatementRefused("only SELECT (or WITH ... SELECT) queries are served")
    if _PATH_READ.search(text):
        raise StatementRefused("tables are read by name (layer.table), not by path")
    if _ENGINE_NAMES.search(text):
        raise StatementRefused("name tables as layer.table (gold.dim_customer), not by engine view names")


@dataclass(frozen=True)
class Governance:
    """Policies and contracts, loaded once per command."""

    policies: Policies
    contracts: dict[str, Contract]

    @classmethod
    def load(cls) -> Governance:
        contracts = load_contracts()
        return cls(load_policies(contracts), contracts)


def governed_frame(spark: SparkSession, lake: Lake, decision: Decision) -> DataFrame:
    """The dataset as the decision lets the caller see it: rows filtered, then columns masked."""
    frame = read_delta(spark, lake.uri(decision.dataset))
    if decision.row_filter:
        frame = frame.where(decision.row_filter)
    salt = mask_salt() if MaskMethod.HASH in decision.masks.values() else ""
    return frame.selectExpr(
        *(mask_expression(c, t, decision.masks.get(c, MaskMethod.NONE), salt) for c, t in frame.dtypes)
    )


def decisions_for(
    lake: Lake, governance: Governance, caller: Caller, datasets: Iterable[str]
) -> list[Decision]:
    out = []
    for dataset in datasets:
        table = open_table(lake.uri(dataset), lake.storage_options)
        columns = [] if table is None else [f.name for f in table.schema().fields]
        out.append(decide(governance.policies, governance.contracts, caller, dataset, columns))
    return out


def masked_columns(decisions: Iterable[Decision]) -> list[str]:
    return [f"{d.dataset}.{c}:{m.value}" for d in decisions for c, m in sorted(d.masks.items())]


def applied_filters(decisions: Iterable[Decision]) -> list[str]:
    return [f"{d.dataset}: {d.row_filter}" for d in decisions if d.row_filter]


class GovernedTables:
    """Like engine/lake_catalog.LakeTables, but every table is seen through the caller's policies."""

    def __init__(self, spark: SparkSession, lake: Lake, governance: Governance, caller: Caller) -> None:
        self.spark, self.lake, self.governance, self.caller = spark, lake, governance, caller

    def sql(self, query: str) -> tuple[DataFrame, list[Decision]]:
        """The query over governed views; AccessDenied (with the decisions) when any table is denied."""
        check_statement(query)
        wanted = names_in(query)
        missing = [d for d in wanted if open_table(self.lake.uri(d), self.lake.storage_options) is None]
        if missing:
            names = ", ".join(m.replace("/", ".") for m in missing)
            raise LookupError(f"no lake table {names} under {self.lake.root} (has the pipeline built it?)")
        decisions = decisions_for(self.lake, self.governance, self.caller, wanted)
        denied = [d for d in decisions if not d.allowed]
        if denied:
            raise AccessDenied("; ".join(d.reason for d in denied))
        for decision in decisions:
            governed_frame(self.spark, self.lake, decision).createOrReplaceTempView(
                view_name(decision.dataset)
            )
        return self.spark.sql(to_view_names(query)), decisions


def audit_read(
    lake: Lake,
    caller: Caller,
    query: str,
    datasets: list[str],
    decisions: list[Decision],
    *,
    allowed: bool,
    row_count: int | None = None,
    reason: str = "",
) -> None:
    audit_write(
        lake,
        "read",
        user=caller.user,
        role=caller.role,
        allowed=allowed,
        datasets=datasets,
        statement=query,
        columns_masked=masked_columns(decisions),
        row_filters=applied_filters(decisions),
        row_count=row_count,
        reason=reason,
    )
