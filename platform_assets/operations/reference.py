"""The silver order logic written by hand in DuckDB and in Polars: what `platform bench --reference`
compares the platform against, over the same bronze files.

Each engine reads the bronze Delta table's current Parquet files, keeps the newest event per order by
(event_time, event_id), parses the lines once per order, and writes silver orders and order lines as
Parquet; run as ``python -m platform_assets.operations.reference`` in a process of its own, so its
peak memory is its own. ``compare`` checks, in DuckDB, that two results hold exactly the same rows
(doubles rounded to 6 places: the engines sum a float in different orders). These are bench/dev tools:
duckdb and polars are dev dependencies.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ORDER_COLUMNS = (
    "order_id, status, customer_id, currency, channel, lines, round(order_total, 6) AS order_total, "
    "round(lines_total_gap, 6) AS lines_total_gap, min_quantity, created_time, order_date, event_type, "
    "schema_version, event_time, event_id"
)
LINE_COLUMNS = "order_id, line_no, product_id, quantity, round(unit_price, 6) AS unit_price, currency, status, order_date"
_DUCK_LINES = '[{"line_no":"BIGINT","product_id":"BIGINT","quantity":"BIGINT","unit_price":"DOUBLE"}]'


def run_duckdb(files: list[str], out: Path) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        """
        CREATE TEMP TABLE orders AS
        WITH latest AS (
            SELECT * FROM read_parquet(?)
            QUALIFY row_number() OVER (
                PARTITION BY order_id ORDER BY event_time DESC NULLS LAST, event_id DESC) = 1
        ), parsed AS (SELECT *, from_json(lines, ?) AS l FROM latest)
        SELECT order_id,
               CASE WHEN event_type = 'cancelled' THEN 'cancelled' ELSE 'open' END AS status,
               customer_id, currency, channel, lines, order_total,
               order_total - coalesce(list_sum(list_transform(l, lambda x: x.quantity * x.unit_price)), 0)
                   AS lines_total_gap,
               list_min(list_transform(l, lambda x: x.quantity)) AS min_quantity,
               created_time, CAST(created_time AS DATE) AS order_date,
               event_type, schema_version, event_time, event_id, l
        FROM parsed
        """,
        [files, _DUCK_LINES],
    )
    con.execute(f"COPY (SELECT * EXCLUDE (l) FROM orders) TO '{out}/orders.parquet' (FORMAT parquet)")
    con.execute(
        f"""COPY (SELECT order_id, x.line_no, x.product_id, x.quantity, x.unit_price, currency, status,
                  order_date FROM (SELECT *, unnest(l) AS x FROM orders))
            TO '{out}/order_lines.parquet' (FORMAT parquet)"""
    )


def run_polars(files: list[str], out: Path) -> None:
    import polars as pl

    line = pl.Struct(
        {"line_no": pl.Int64, "product_id": pl.Int64, "quantity": pl.Int64, "unit_price": pl.Float64}
    )
    latest = (
        pl.scan_parquet(files)
        .sort(["event_time", "event_id"], descending=True, nulls_last=True)
        .unique(subset=["order_id"], keep="first")
        .with_columns(pl.col("lines").str.json_decode(pl.List(line)).alias("l"))
    )
    item = pl.element().struct
    orders = latest.select(
        "order_id",
        pl.when(pl.col("event_type") == "cancelled")
        .then(pl.lit("cancelled"))
        .otherwise(pl.lit("open"))
        .alias("status"),
        "customer_id",
        "currency",
        "channel",
        "lines",
        "order_total",
        (
            pl.col("order_total")
            - pl.col("l").list.eval(item.field("quantity") * item.field("unit_price")).list.sum().fill_null(0)
        ).alias("lines_total_gap"),
        pl.col("l").list.eval(item.field("quantity")).list.min().alias("min_quantity"),
        "created_time",
        pl.col("created_time").dt.convert_time_zone("UTC").dt.date().alias("order_date"),
        "event_type",
        "schema_version",
        "event_time",
        "event_id",
        "l",
    ).collect()
    orders.drop("l").write_parquet(out / "orders.parquet")
    (
        orders.select("order_id", "l", "currency", "status", "order_date")
        .explode("l")
        .unnest("l")
        .select(
            "order_id", "line_no", "product_id", "quantity", "unit_price", "currency", "status", "order_date"
        )
        .write_parquet(out / "order_lines.parquet")
    )


ENGINES = {"duckdb": run_duckdb, "polars": run_polars}


def peak_rss_mib() -> float:
    """This process's resident high-water mark (VmHWM: getrusage's maxrss survives exec on Linux, so a
    child started from a big process would report its parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(engine: str, files: list[str], out: Path) -> dict[str, Any]:
    """Run one engine (in this process) and return its seconds, rows, rows/s and peak memory."""
    import duckdb

    importlib.import_module(engine)  # the import is a one-off cost, kept off the clock
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ENGINES[engine](files, out)
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()  # before counting
    rows = duckdb.sql(f"SELECT count(*) FROM '{out}/orders.parquet'").fetchall()[0][0]
    return {
        "engine": engine,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds, 1) if seconds else None,
        "peak_rss_mib": peak,
        "scans": 1,  # each reads the bronze files once
    }


def compare(left: dict[str, str], right: dict[str, str]) -> dict[str, int]:
    """Rows in one result and not the other, per table ({} when identical); sources are SQL FROMs."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    differences: dict[str, int] = {}
    for table, columns in (("orders", ORDER_COLUMNS), ("order_lines", LINE_COLUMNS)):
        a = f"SELECT {columns} FROM {left[table]}"
        b = f"SELECT {columns} FROM {right[table]}"
        missing = con.sql(f"SELECT count(*) FROM (({a}) EXCEPT ALL ({b}))").fetchall()[0][0]
        extra = con.sql(f"SELECT count(*) FROM (({b}) EXCEPT ALL ({a}))").fetchall()[0][0]
        if missing or extra:
            differences[table] = missing + extra
    return differences


def platform_sources(files: dict[str, list[str]]) -> dict[str, str]:
    """SQL FROMs over the platform's silver Delta files (partition column from the paths, live rows)."""

    def scan(table: str) -> str:
        listed = ", ".join(f"'{f}'" for f in files[table])
        return f"read_parquet([{listed}], hive_partitioning = true)"

    return {
        "orders": f"(SELECT * FROM {scan('orders')} WHERE NOT _is_deleted)",
        "order_lines": f"(SELECT * FROM {scan('order_lines')})",
    }


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="one hand-written reference run (platform bench --reference)"
    )
    parser.add_argument("--engine", choices=sorted(ENGINES), required=True)
    parser.add_argument("--files", type=Path, required=True, help="JSON list of the bronze Parquet files")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--platform", type=Path, help="JSON {orders: [files], order_lines: [files]} of the platform's silver"
    )
    args = parser.parse_args(argv)
    figures = measure(args.engine, json.loads(args.files.read_text()), args.out)
    if args.platform:  # checked here, so the bench process's own memory stays the platform's
        figures["differences_from_platform"] = compare(
            platform_sources(json.loads(args.platform.read_text())),
            {t: f"'{args.out}/{t}.parquet'" for t in ("orders", "order_lines")},
        )
    (args.out / "figures.json").write_text(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
