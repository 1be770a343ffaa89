"""A content checksum of a Delta table version that does not depend on file layout or row order.

Each row is hashed (MD5 of its values as text, NULL marked) by delta-rs' SQL engine; the hashes are
summed modulo 2**64 over the streamed batches, so compaction, Z-order or a copy elsewhere keep the
checksum, any changed, added or lost row changes it, and no table is collected into memory.

``lake_checksums`` sums up a lake's silver and gold tables so that two runs of the platform over the same
sandbox seed can be compared (the embedded demo against the cluster topology): it leaves out the columns
whose values record the run itself rather than the sources' data, found through the contracts' column
lineage from the bronze columns in ``RUN_COLUMNS``, and compares doubles to ``SIGNIFICANT_DIGITS``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder

from platform_assets.contracts.model import Contract

_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Checksum:
    rows: int
    digest: str


# Bronze columns that record the run, not the source: when and in which batch (run id) the platform
# received a record, the ingestion day of the sources read "as of now", and for DMS the commit time and
# file name, which the sandbox's PostgreSQL and DMS task take from the wall clock.
RUN_COLUMNS = frozenset({"_ingested_at", "_batch_id", "_proc_date", "_dms_commit_ts", "_dms_file"})
# Doubles are compared to 12 significant digits: aggregates summed in another order differ in the last
# bits (two Sail runs of the demo gave 11371.700063999999 and 11371.700064 for one day's revenue).
SIGNIFICANT_DIGITS = 12


def table_checksum(
    uri: str,
    version: int | None = None,
    storage_options: dict[str, str] | None = None,
    exclude: Collection[str] = (),
    significant_digits: int | None = None,
) -> Checksum:
    """The checksum of a table version over all its columns but ``exclude``; with ``significant_digits``,
    float and double values are rounded to that many significant digits first (a sum of doubles depends
    on the order an engine adds them in, in the last bits)."""
    table = DeltaTable(uri, version=version, storage_options=storage_options or None)
    fields = [f for f in table.schema().fields if f.name not in exclude]
    floats = {f.name for f in fields if getattr(f.type, "type", "") in ("double", "float")}
    columns = {
        f.name: _rounded(f'"{f.name}"', significant_digits)
        if f.name in floats and significant_digits
        else f'"{f.name}"'
        for f in fields
    }
    values = ", ".join(f"COALESCE(CAST({columns[n]} AS VARCHAR), '\\N')" for n in sorted(columns))
    sql = f"SELECT md5(concat_ws('|', {values})) AS h FROM t"
    reader = pa.RecordBatchReader.from_stream(QueryBuilder().register("t", table).execute(sql))
    rows = total = 0
    for batch in reader:
        for digest in batch.column(0).to_pylist():
            total = (total + int(digest[:16], 16)) & _MASK
        rows += batch.num_rows
    return Checksum(rows, f"{total:016x}")


def _rounded(column: str, digits: int) -> str:
    exponent = f"CAST(floor(log10(abs({column}))) AS INT)"
    return f"CASE WHEN {column} = 0 OR isnan({column}) THEN {column} ELSE round({column}, {digits - 1} - {exponent}) END"


def run_dependent_columns(contracts: Mapping[str, Contract]) -> dict[str, set[str]]:
    """Per dataset, its columns whose lineage reaches a bronze ``RUN_COLUMNS`` column, however indirectly
    (e.g. ``gold/fact_order_lines.customer_key`` <- ``gold/dim_customer.customer_key`` <-
    ``silver/customers_history.valid_from`` <- ``bronze/rds_customers_cdc._dms_commit_ts``)."""
    tainted = {f"{n}.{c}" for n in contracts if n.startswith("bronze/") for c in RUN_COLUMNS}
    changed = True
    while changed:  # lineage is a DAG a few layers deep: a handful of passes
        changed = False
        for name, contract in contracts.items():
            for column in contract.columns:
                ref = f"{name}.{column.name}"
                if ref not in tainted and any(source in tainted for source in column.lineage):
                    tainted.add(ref)
                    changed = True
    found: dict[str, set[str]] = {}
    for ref in tainted:
        name, _, column = ref.rpartition(".")
        found.setdefault(name, set()).add(column)
    return found


@dataclass(frozen=True)
class TableSum:
    name: str
    checksum: Checksum
    without: tuple[str, ...]  # the run-dependent columns left out


def lake_checksums(
    uri_of: Mapping[str, str],
    contracts: Mapping[str, Contract],
    storage_options: dict[str, str] | None = None,
) -> list[TableSum]:
    """Checksums of the tables ``uri_of`` names (dataset -> location) without their run-dependent columns."""
    run_columns = run_dependent_columns(contracts)
    sums = []
    for name, uri in sorted(uri_of.items()):
        without = tuple(sorted(run_columns.get(name, ())))
        checksum = table_checksum(
            uri, storage_options=storage_options, exclude=without, significant_digits=SIGNIFICANT_DIGITS
        )
        sums.append(TableSum(name, checksum, without))
    return sums
