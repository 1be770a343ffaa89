"""Silver and gold assets: read upstream tables, run a pure transform, validate, publish.

The factory is the one general mechanism; a table only supplies its transform function, which takes
``TransformInputs`` and returns a DataFrame, and never touches Dagster or the storage.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

import dagster as dg
from dagster import AssetExecutionContext
from pyspark.sql import DataFrame, SparkSession

from platform_assets.contracts.model import Contract, DatasetRef
from platform_assets.engine.delta_io import read_delta
from platform_assets.lake.delta_tables import (
    INGESTED_AT,
    PROC_DATE,
    in_predicate,
    partitions_with_values_after,
)
from platform_assets.lake.location import Lake
from platform_assets.layers.emr_asset import run_as_emr_serverless_job
from platform_assets.layers.materialization import record_commit
from platform_assets.layers.specs import asset_kwargs, partition_dates
from platform_assets.quality.check_events import check_events
from platform_assets.quality.gate import publish_with_gate
from platform_assets.quality.results import record_quality_results


@dataclass
class TransformInputs:
    """What a transform may use: the session, the partitions being built, and upstream readers."""

    spark: SparkSession
    lake: Lake
    partitions: list[date] | None

    def read(self, dataset: str, where: str | None = None) -> DataFrame:
        return read_delta(self.spark, self.lake.uri(DatasetRef.parse(dataset)), where)

    def read_ingested_after(
        self, dataset: str, since: datetime | None, first_day: date | None = None
    ) -> DataFrame:
        """A bronze table's rows ingested after ``since`` (all when None), none before ``first_day``.

        Only the ingestion days whose files can hold such rows are read (file statistics): the
        ingestion day of a row is its run's partition, which need not be the day of ``_ingested_at``
        (a queued run, a backfill), so pruning by the date of ``since`` could miss rows.
        """
        uri = self.lake.uri(DatasetRef.parse(dataset))
        floor = f"{PROC_DATE} >= DATE'{first_day.isoformat()}'" if first_day else None
        if since is None:
            return read_delta(self.spark, uri, floor)
        days = partitions_with_values_after(uri, PROC_DATE, INGESTED_AT, since, self.lake.storage_options)
        days = [d for d in days if first_day is None or d >= first_day]
        if not days:
            return read_delta(self.spark, uri, "FALSE")
        return read_delta(
            self.spark,
            uri,
            f"{in_predicate(PROC_DATE, days)} AND {INGESTED_AT} > TIMESTAMP'{since.isoformat()}'",
        )


Transform = Callable[[TransformInputs], DataFrame]

# dataset -> its transform, filled as the assets are built: what an EMR Serverless job run looks up
# (platform_assets/emr_job.py)
TRANSFORMS: dict[str, Transform] = {}


def build_spark_asset(
    contract: Contract, contracts: dict[str, Contract], transform: Transform, kinds: set[str] | None = None
) -> dg.AssetsDefinition:
    @dg.asset(
        **asset_kwargs(contract, contracts, {"spark", *(kinds or set())}),
        required_resource_keys={"spark", "lake"},
        output_required=False,
    )
    def _spark_asset(context: AssetExecutionContext) -> Iterator:
        lake: Lake = context.resources.lake.lake
        partitions = partition_dates(context) if contract.partitioning else None
        if context.resources.spark.submits_jobs:  # PLATFORM_ENGINE=emr_serverless
            yield from run_as_emr_serverless_job(context, contract, lake, partitions)
            return
        inputs = TransformInputs(context.resources.spark.get_session(), lake, partitions)
        candidate = transform(inputs)
        outcome = publish_with_gate(candidate, contract, lake, partitions, context.run.run_id)
        results = check_events(context, contract, outcome.report, partitions, outcome.blocked_partitions)
        record_quality_results(context, contract, outcome.report, outcome.blocked_partitions)
        summary = {
            "published_partitions": dg.MetadataValue.json(outcome.published_partitions),
            "blocked_partitions": dg.MetadataValue.json(outcome.blocked_partitions),
            "quarantined_rows": outcome.quarantined_rows,
        }
        if outcome.blocked_partitions:
            blocking = [o.rule.name for o in outcome.report.outcomes if o.rule.blocking and not o.passed]
            summary["blocking_rules"] = dg.MetadataValue.json(blocking)
            summary["quarantine"] = dg.MetadataValue.path(lake.quarantine_uri(contract.ref))
            context.log.error(
                f"{contract.dataset}: critical rule(s) {', '.join(blocking)} failed; not published: "
                f"{outcome.blocked_partitions}; {outcome.quarantined_rows} row(s) in "
                f"{lake.quarantine_uri(contract.ref)}"
            )
        if outcome.published and not outcome.blocked_partitions:
            summary["rows_by_partition"] = dg.MetadataValue.json(outcome.published_rows_by_partition)
            yield dg.MaterializeResult(
                metadata=record_commit(context, contract, lake, outcome.published_rows, summary),
            )
            yield from results
            return
        # Some partitions were held back: record exactly the published ones, and yield no output, so
        # downstream assets do not run on a partly published range (the blocking check also stops them).
        for partition, rows in outcome.published_rows_by_partition.items():
            yield dg.AssetMaterialization(
                asset_key=context.asset_key,
                partition=partition,
                metadata=record_commit(context, contract, lake, rows, summary, partition=partition),
            )
        yield from results

    TRANSFORMS[contract.dataset] = transform
    return _spark_asset
