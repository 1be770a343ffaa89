"""bronze/rds_customers_cdc: DMS files of the RDS `customers` table, each change once, in DMS order.

The position committed with the rows is the set of files processed (``sources/dms/discovery.py``):
a run reads at most ``MAX_FILES_PER_RUN`` of the pending files, in DMS order, and the files it did
not get to stay pending for the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.incremental_asset import build_incremental_bronze_asset
from platform_assets.layers.bronze.records import source_columns
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.dms.discovery import ProcessedFiles, position_key
from platform_assets.sources.dms.reader import DmsFileError, list_files, read_changes

POSITION = position_key("public", "customers")  # the DMS files ingested (identities + horizon)
MAX_FILES_PER_RUN = 50  # bounded runs; the sensor asks again while files remain

RDS_CUSTOMERS_SOURCE = dg.AssetSpec(
    key=dg.AssetKey(["sources", "rds_customers"]),
    description="RDS PostgreSQL `public.customers`, replicated by AWS DMS as full-load and CDC files.",
    group_name="sources",
    kinds={"postgres", "s3"},
    owners=["team:data-platform"],
    tags={"source": "rds_dms"},
)


def _bronze_record(change: dict) -> dict:
    """DMS record -> bronze fields: Op and commit time under their DMS names, plus file and row."""
    record = {k: v for k, v in change.items() if k not in ("op", "commit_ts", "_file", "_row")}
    record.update(
        Op=change["op"],
        _dms_commit_ts=change["commit_ts"],
        _dms_file=change["_file"],
        _dms_row=change["_row"],
    )
    return record


def table_columns(contract: Contract) -> list[str]:
    """The source table's columns a DMS file must carry: the contract's, less what bronze adds."""
    added = {"Op", "_dms_commit_ts", "_dms_file", "_dms_row"}
    return [c for c in source_columns(contract) if c not in added]


def read_dms_batch(
    prefix: Path,
    committed: Committed,
    log: Callable[[str], None] | None = None,
    columns: tuple[str, ...] = (),
) -> SourceBatch:
    """The next pending files under ``prefix`` (at most ``MAX_FILES_PER_RUN``), and the position after;
    every file must carry ``columns`` (``DmsFileError`` otherwise)."""
    processed = ProcessedFiles.from_json(committed.positions.get(POSITION))
    listed = list_files(prefix)
    files = processed.pending(listed)[:MAX_FILES_PER_RUN]
    if not files:
        return SourceBatch(records=[])
    records = [
        (f"{f.name}:{c['_row']}", _bronze_record(c))
        for f in files
        for c in read_changes(f, required_columns=columns)
    ]
    if log is not None:
        log(f"{len(files)} DMS file(s) of {len(listed)} listed: {[f.name for f in files]}")
    return SourceBatch(
        records=records, positions={POSITION: processed.after_reading(files, listed).to_json()}
    )


def read_dms_customers(
    context: dg.AssetExecutionContext, committed: Committed, columns: tuple[str, ...] = ()
) -> SourceBatch:
    prefix = context.resources.dms_landing.table_prefix("public", "customers")
    try:
        return read_dms_batch(prefix, committed, context.log.info, columns)
    except DmsFileError as exc:  # the file will not read differently on a retry
        raise dg.Failure(description=str(exc), allow_retries=False) from exc


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_incremental_bronze_asset(
        contracts["bronze/rds_customers_cdc"],
        contracts,
        partial(read_dms_customers, columns=tuple(table_columns(contracts["bronze/rds_customers_cdc"]))),
        source_label="rds_dms:public.customers",
        resource_keys={"dms_landing"},
        kinds={"postgres"},
        deps=[RDS_CUSTOMERS_SOURCE.key],
    )
