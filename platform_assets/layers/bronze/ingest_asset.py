"""The bronze asset factory: fetch pages from a source for each ingestion day, replace the partitions.

Replacing the run's partitions in one Delta commit makes re-runs idempotent: a re-run of a day
yields the same rows, never duplicates. Bronze rules are warnings, evaluated on what was written.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext

from platform_assets.contracts.model import Contract
from platform_assets.engine.delta_io import read_delta
from platform_assets.lake.delta_tables import in_predicate, replace_partitions
from platform_assets.lake.location import Lake
from platform_assets.layers.bronze.records import Batch, to_bronze_table
from platform_assets.layers.materialization import record_commit
from platform_assets.layers.retries import retry_transient_errors
from platform_assets.layers.specs import bronze_asset_kwargs, partition_dates
from platform_assets.quality.check_events import check_events
from platform_assets.quality.evaluate import evaluate
from platform_assets.quality.results import record_quality_results

# given the run's context, open the source once per run (one HTTP client, one circuit breaker) and
# hand back: day -> pages of the raw records received that day
DailyPages = Callable[[date], Iterable[list[dict]]]
OpenSource = Callable[[AssetExecutionContext], AbstractContextManager[DailyPages]]


def build_bronze_asset(
    contract: Contract,
    contracts: dict[str, Contract],
    open_source: OpenSource,
    source_label: str,
    resource_keys: set[str],
    kinds: set[str] | None = None,
    deps: list[dg.AssetKey] | None = None,
) -> dg.AssetsDefinition:
    @dg.asset(**bronze_asset_kwargs(contract, contracts, resource_keys, kinds, deps))
    @retry_transient_errors
    def _bronze_asset(context: AssetExecutionContext) -> Iterator:
        lake: Lake = context.resources.lake.lake
        days = partition_dates(context)
        ingested_at = datetime.now(UTC)
        tables: list[pa.Table] = []
        drift: set[str] = set()
        with open_source(context) as pages_for:
            for day in days:
                batch = Batch(day, ingested_at, source_label, f"{context.run.run_id}:{day.isoformat()}")
                records = (
                    (f"{day.isoformat()}/page={page_no}/item={index}", record)
                    for page_no, page in enumerate(pages_for(day))
                    for index, record in enumerate(page)
                )
                table, extra = to_bronze_table(contract, records, batch)
                drift.update(extra)
                context.log.info(f"{contract.dataset} {day}: received {table.num_rows} record(s)")
                tables.append(table)
        data = pa.concat_tables(tables, promote_options="default")
        if drift:
            context.log.warning(
                f"{contract.dataset}: new source field(s) {sorted(drift)} kept as text columns"
            )
        uri = lake.uri(contract.ref)
        version = replace_partitions(
            uri,
            data,
            "_proc_date",
            days,
            storage_options=lake.storage_options,
            commit_metadata={
                "run_id": context.run.run_id,
                "source": source_label,
                "partitions": ",".join(map(str, days)),
            },
        )
        spark = context.resources.spark.get_session()
        written = read_delta(spark, uri, in_predicate("_proc_date", days))
        report, _ = evaluate(written, contract.rules, "_proc_date")
        record_quality_results(context, contract, report)
        yield dg.MaterializeResult(
            metadata=record_commit(
                context,
                contract,
                lake,
                data.num_rows,
                {
                    "rows_by_day": dg.MetadataValue.json(
                        {str(d): int(t.num_rows) for d, t in zip(days, tables, strict=True)}
                    ),
                    "new_source_fields": dg.MetadataValue.json(sorted(drift)),
                    "commit_version": version,
                },
            ),
        )
        yield from check_events(context, contract, report, days)

    return _bronze_asset
