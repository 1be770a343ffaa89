"""`platform sql`: one query over the lake's tables by name (``gold.fact_order_lines``), printed.

The query runs on the configured engine (``PLATFORM_ENGINE``); the names it mentions are bound to the
tables under the lake root (platform_assets/engine/lake_catalog.py). At most ``limit`` rows come back to
this process: a query is never collected whole. An error is one line naming what went wrong.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from platform_assets.engine.lake_catalog import LakeTables, TableNotFound
from platform_assets.engine.query import QueryError, QueryResult, one_line
from platform_assets.engine.spark_resource import SparkEngine
from platform_assets.settings import PlatformSettings

if TYPE_CHECKING:
    from platform_assets.governance.decision import Caller

DEFAULT_LIMIT = 1000
FORMATS = ("table", "csv", "json")


def run_query(
    query: str, settings: PlatformSettings, limit: int = DEFAULT_LIMIT, caller: Caller | None = None
) -> QueryResult:
    """With a caller, through the governed read path (policies, masks, filters, audit)."""
    if not query.strip():
        raise QueryError("the query is empty")
    spark = SparkEngine.from_settings(settings).get_session()
    lake = settings.lake
    if caller is not None:
        from platform_assets.governance.governed_sql import run_governed

        return run_governed(query, spark, lake, caller, limit)
    tables = LakeTables(spark, lake)
    try:
        frame = tables.sql(query)
        rows = frame.limit(limit + 1).collect()
    except TableNotFound as exc:
        raise QueryError(str(exc)) from None
    except Exception as exc:  # the engine's analysis/parse errors: one line, no stack
        raise QueryError(one_line(exc)) from None
    return QueryResult(frame.columns, [tuple(r) for r in rows[:limit]], len(rows) > limit)


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):  # six decimals at most, no trailing zeros
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def render(result: QueryResult, fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps(
            [{c: _jsonable(v) for c, v in zip(result.columns, r, strict=True)} for r in result.rows]
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(["" if v is None else _jsonable(v) for v in r] for r in result.rows)
        return out.getvalue().rstrip("\n")
    cells = [[_text(v) for v in r] for r in result.rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(result.columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    more = " (more rows exist: raise --limit)" if result.truncated else ""
    lines.append(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''}{more})")
    return "\n".join(lines)
