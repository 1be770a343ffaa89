"""`platform sql --role R`: one query through the governed read path, audited before it is returned."""

from __future__ import annotations

from pyspark.sql import SparkSession

from platform_assets.engine.lake_catalog import names_in
from platform_assets.engine.query import QueryError, QueryResult, one_line
from platform_assets.governance.decision import Caller
from platform_assets.governance.policy_audit import audit_policy_version
from platform_assets.governance.read_path import (
    AccessDenied,
    Governance,
    GovernedTables,
    StatementRefused,
    audit_read,
)
from platform_assets.lake.location import Lake


def run_governed(
    query: str,
    spark: SparkSession,
    lake: Lake,
    caller: Caller,
    limit: int,
    governance: Governance | None = None,
) -> QueryResult:
    """At most ``limit`` rows the caller may see; every outcome (rows, denial, error) is audited."""
    governance = governance or Governance.load()
    audit_policy_version(lake)  # a new policies version is audited before it is applied
    datasets = names_in(query)
    tables = GovernedTables(spark, lake, governance, caller)
    try:
        frame, decisions = tables.sql(query)
    except AccessDenied as exc:
        audit_read(lake, caller, query, datasets, [], allowed=False, reason=str(exc))
        raise QueryError(f"access denied: {exc}") from None
    except (StatementRefused, LookupError) as exc:
        audit_read(lake, caller, query, datasets, [], allowed=False, reason=str(exc))
        raise QueryError(str(exc)) from None
    except Exception as exc:  # the engine's analysis/parse errors: one line, no stack
        audit_read(lake, caller, query, datasets, [], allowed=True, reason=f"failed: {one_line(exc)}")
        raise QueryError(one_line(exc)) from None
    try:
        rows = frame.limit(limit + 1).collect()
    except Exception as exc:
        audit_read(lake, caller, query, datasets, decisions, allowed=True, reason=f"failed: {one_line(exc)}")
        raise QueryError(one_line(exc)) from None
    kept = rows[:limit]
    audit_read(lake, caller, query, datasets, decisions, allowed=True, row_count=len(kept))
    return QueryResult(frame.columns, [tuple(r) for r in kept], len(rows) > limit)
