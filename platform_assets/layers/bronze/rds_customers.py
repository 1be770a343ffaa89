"""bronze/rds_customers_cdc: DMS files of the RDS `customers` table, each change once, in DMS order.

The position committed with the rows is the set of files processed (``sources/dms/discovery.py``):
a run reads at most ``MAX_FILES_PER_RUN`` of the pending files, in DMS order, and the files it did not
get to stay pending for the next run. The contract's ``ingest`` picks where the files are read and
typed: in the Dagster process, or on the Spark engine (``engine_dms.py``); same rows, dead letters,
positions and errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.dms_batch import file_records, plan_dms_batch, table_columns
from platform_assets.layers.bronze.engine_dms import read_dms_on_engine
from platform_assets.layers.bronze.incremental_asset import build_incremental_bronze_asset
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.dms.discovery import position_key
from platform_assets.sources.dms.reader import DmsFileError, FileStore

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


def read_dms_batch(
    landing: Path | str | FileStore,
    committed: Committed,
    log: Callable[[str], None] | None = None,
    columns: tuple[str, ...] = (),
) -> SourceBatch:
    """The next pending files under ``landing`` (at most ``MAX_FILES_PER_RUN``), and the position after;
    every file must carry ``columns`` (``DmsFileError`` otherwise)."""
    plan = plan_dms_batch(landing, committed, POSITION, MAX_FILES_PER_RUN)
    if not plan.files:
        return SourceBatch(records=[])
    records = [record for f in plan.files for record in file_records(f, columns)]
    if log is not None:
        log(plan.describe())
    return SourceBatch(records=records, positions={POSITION: plan.position()})


def reader(contract: Contract) -> Callable[[dg.AssetExecutionContext, Committed], SourceBatch]:
    """The batch reader the contract's ``ingest`` picks: in this process, or on the Spark engine."""
    columns = tuple(table_columns(contract))

    def read_dms_customers(context: dg.AssetExecutionContext, committed: Committed) -> SourceBatch:
        landing = context.resources.dms_landing.table_store("public", "customers")
        try:
            if contract.ingest == "engine":
                spark = context.resources.spark.get_session()
                return read_dms_on_engine(
                    spark, landing, contract, committed, POSITION, MAX_FILES_PER_RUN, context.log.info
                )
            return read_dms_batch(landing, committed, context.log.info, columns)
        except DmsFileError as exc:  # the file will not read differently on a retry
            raise dg.Failure(description=str(exc), allow_retries=False) from exc

    return read_dms_customers


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    contract = contracts["bronze/rds_customers_cdc"]
    return build_incremental_bronze_asset(
        contract,
        contracts,
        reader(contract),
        source_label="rds_dms:public.customers",
        resource_keys={"dms_landing"},
        kinds={"postgres"},
        deps=[RDS_CUSTOMERS_SOURCE.key],
    )
