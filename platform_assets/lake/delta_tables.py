"""Delta table operations with delta-rs: partition replace, SCD1 merge, filtered reads, history.

Bronze ingestion writes through here straight from the Dagster process. Reads go through delta-rs'
SQL ``QueryBuilder`` (not ``to_pyarrow_table``, which can abort the interpreter at exit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, QueryBuilder, write_deltalake
from deltalake.exceptions import TableNotFoundError

PROC_DATE, INGESTED_AT = "_proc_date", "_ingested_at"  # a bronze row's ingestion day and time


def _sql_literal(value: Any) -> str:
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def in_predicate(column: str, values: Iterable[Any]) -> str:
    """``column IN (...)`` as delta-rs and Spark SQL both read it."""
    literals = ", ".join(_sql_literal(v) for v in sorted(set(values)))
    return f"{column} IN ({literals})"


def open_table(uri: str, storage_options: dict[str, str] | None = None) -> DeltaTable | None:
    """The table at ``uri``, or None when nothing has been written there yet."""
    try:
        return DeltaTable(uri, storage_options=storage_options or None)
    except TableNotFoundError:
        return None


def replace_partitions(
    uri: str,
    data: pa.Table,
    partition_column: str,
    partitions: Sequence[date],
    *,
    storage_options: dict[str, str] | None = None,
    commit_metadata: dict[str, str] | None = None,
) -> int:
    """Atomically replace the given partitions with ``data`` (one commit); returns the new version.

    Replacing rather than appending makes a re-run of the same partition idempotent. New columns in
    ``data`` are added to the table (additive schema evolution).
    """
    if not partitions:
        raise ValueError(f"{uri}: replace_partitions needs at least one partition")
    stray = set(data.column(partition_column).to_pylist()) - set(partitions)
    if stray:
        raise ValueError(f"{uri}: rows for partitions {sorted(map(str, stray))} outside {list(partitions)}")
    write_deltalake(
        uri,
        data,
        partition_by=[partition_column],
        mode="overwrite",
        predicate=in_predicate(partition_column, partitions),
        schema_mode="merge",
        storage_options=storage_options or None,
        commit_properties=CommitProperties(custom_metadata=commit_metadata or {}),
    )
    table = open_table(uri, storage_options)
    assert table is not None
    return table.version()


def _newer_than(source: str, target: str, sequence_by: Sequence[str]) -> str:
    """SQL for "source row is later than target row" in the lexicographic order of sequence_by."""
    clauses = []
    for position, column in enumerate(sequence_by):
        equal_before = [f"{source}.{c} = {target}.{c}" for c in sequence_by[:position]]
        clauses.append(" AND ".join([*equal_before, f"{source}.{column} > {target}.{column}"]))
    return " OR ".join(f"({c})" for c in clauses)


def merge_latest(
    uri: str,
    changes: pa.Table,
    keys: Sequence[str],
    sequence_by: Sequence[str],
    *,
    storage_options: dict[str, str] | None = None,
    commit_metadata: dict[str, str] | None = None,
) -> dict[str, int]:
    """SCD1 merge: per key, keep the row with the highest sequence; older changes never win.

    ``changes`` must hold at most one row per key (de-duplicate first). Returns delta-rs' merge metrics.
    """
    if changes.num_rows and changes.group_by(list(keys)).aggregate([]).num_rows != changes.num_rows:
        raise ValueError(f"{uri}: merge source has several rows for one key {list(keys)}; de-duplicate first")
    table = open_table(uri, storage_options)
    if table is None:
        write_deltalake(
            uri,
            changes,
            mode="error",
            storage_options=storage_options or None,
            commit_properties=CommitProperties(custom_metadata=commit_metadata or {}),
        )
        return {"num_target_rows_inserted": changes.num_rows, "num_target_rows_updated": 0}
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    metrics = (
        table.merge(
            changes,
            predicate=on,
            source_alias="s",
            target_alias="t",
            merge_schema=True,
            commit_properties=CommitProperties(custom_metadata=commit_metadata or {}),
        )
        .when_matched_update_all(predicate=_newer_than("s", "t", sequence_by))
        .when_not_matched_insert_all()
        .execute()
    )
    return {k: int(v) for k, v in metrics.items() if isinstance(v, int | float)}


def _query(table: DeltaTable, sql: str) -> pa.Table:
    """Run SQL over the table (registered as ``t``) with delta-rs' engine; a pyarrow table back."""
    return pa.RecordBatchReader.from_stream(QueryBuilder().register("t", table).execute(sql)).read_all()


def read_table(
    uri: str,
    *,
    where: str | None = None,
    columns: Sequence[str] | None = None,
    order_by: Sequence[str] | None = None,
    storage_options: dict[str, str] | None = None,
) -> pa.Table:
    """Rows of a table (filtered: never read a whole large table into memory by accident)."""
    table = open_table(uri, storage_options)
    if table is None:
        raise FileNotFoundError(f"no Delta table at {uri}")
    select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    sql = f"SELECT {select} FROM t"
    if where:
        sql += f" WHERE {where}"
    if order_by:
        sql += " ORDER BY " + ", ".join(order_by)
    return _query(table, sql)


def row_count(uri: str, storage_options: dict[str, str] | None = None, where: str | None = None) -> int:
    """Row count from the transaction log's file statistics (no data read) unless filtered."""
    table = open_table(uri, storage_options)
    if table is None:
        return 0
    if where:
        sql = f"SELECT COUNT(*) AS n FROM t WHERE {where}"
        return int(_query(table, sql).column("n")[0].as_py())
    actions = table.get_add_actions(flatten=True)
    counts = pa.table(actions).column("num_records").to_pylist()
    return int(sum(c or 0 for c in counts))


def partitions_with_values_after(
    uri: str,
    partition_column: str,
    column: str,
    after: datetime,
    storage_options: dict[str, str] | None = None,
) -> list[Any]:
    """Partition values of the files that may hold a ``column`` value after ``after``.

    From the transaction log's file statistics, no data read. Delta keeps timestamp statistics in
    milliseconds (the maximum rounded down), so a file counts when its maximum is within a
    millisecond of ``after``; a file without statistics always counts.
    """
    table = open_table(uri, storage_options)
    if table is None:
        return []
    actions = pa.table(table.get_add_actions(flatten=True))
    values = actions.column(f"partition.{partition_column}").to_pylist()
    name = f"max.{column}"
    maxima = actions.column(name).to_pylist() if name in actions.column_names else [None] * len(values)
    slack = timedelta(milliseconds=1)
    return sorted({v for v, m in zip(values, maxima, strict=True) if m is None or m + slack > after})


def dates_ingested_after(
    uri: str,
    date_column: str,
    after: datetime | None,
    storage_options: dict[str, str] | None = None,
) -> tuple[list[date], datetime | None]:
    """The UTC dates of ``date_column`` in a bronze table's rows ingested after ``after`` (all when
    None), and the newest ``_ingested_at`` among them; only files that can hold such rows are read."""
    table = open_table(uri, storage_options)
    if table is None:
        return [], None
    sql = f'SELECT CAST("{date_column}" AS DATE) AS d, MAX("{INGESTED_AT}") AS newest FROM t'
    if after is not None:
        days = partitions_with_values_after(uri, PROC_DATE, INGESTED_AT, after, storage_options)
        if not days:
            return [], None
        sql += f" WHERE {in_predicate(PROC_DATE, days)} AND \"{INGESTED_AT}\" > '{after.isoformat()}'"
    found = _query(table, sql + " GROUP BY 1").to_pylist()
    dates = sorted(r["d"] for r in found if r["d"] is not None)
    return dates, max((r["newest"] for r in found), default=None)


def count_by(
    uri: str, column: str, where: str | None = None, storage_options: dict[str, str] | None = None
) -> dict[str, int]:
    """Row counts per value of ``column`` (a partition column: only the matching files are read)."""
    table = open_table(uri, storage_options)
    if table is None:
        return {}
    sql = f'SELECT CAST("{column}" AS VARCHAR) AS k, COUNT(*) AS n FROM t'
    sql += f" WHERE {where}" if where else ""
    counts = _query(table, sql + f' GROUP BY "{column}"')
    return dict(zip(counts.column("k").to_pylist(), counts.column("n").to_pylist(), strict=True))


def count_missing(
    uri: str,
    column: str,
    where: str,
    other_uri: str,
    other_column: str,
    storage_options: dict[str, str] | None = None,
) -> int:
    """Distinct values of ``column`` (rows matching ``where``) that ``other_uri``'s ``other_column`` lacks.

    One anti-join in delta-rs' engine: the values never become SQL literals (an ``IN`` list of a
    hundred thousand ids crashed delta-rs' planner at 1M order events).
    """
    table = open_table(uri, storage_options)
    if table is None:
        return 0
    other = open_table(other_uri, storage_options)
    values = f'SELECT DISTINCT "{column}" AS v FROM t WHERE {where} AND "{column}" IS NOT NULL'
    if other is None:
        sql = f"SELECT COUNT(*) AS n FROM ({values}) s"
        builder = QueryBuilder().register("t", table)
    else:
        sql = (
            f"SELECT COUNT(*) AS n FROM ({values}) s WHERE NOT EXISTS "
            f'(SELECT 1 FROM o WHERE o."{other_column}" = s.v)'
        )
        builder = QueryBuilder().register("t", table).register("o", other)
    found = pa.RecordBatchReader.from_stream(builder.execute(sql)).read_all()
    return int(found.column("n")[0].as_py())


def history(uri: str, limit: int | None = None, storage_options: dict[str, str] | None = None) -> list[dict]:
    """Commits, newest first: version, timestamp, operation, parameters, metrics, custom metadata."""
    table = open_table(uri, storage_options)
    return [] if table is None else table.history(limit)


def latest_rows(
    uri: str, columns: Sequence[str], order_by: str, limit: int, storage_options: dict[str, str] | None = None
) -> pa.Table:
    """The ``limit`` newest rows by ``order_by`` (only those rows are read into memory)."""
    table = open_table(uri, storage_options)
    if table is None:
        raise FileNotFoundError(f"no Delta table at {uri}")
    select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    return _query(table, f'SELECT {select} FROM t ORDER BY "{order_by}" DESC LIMIT {int(limit)}')
