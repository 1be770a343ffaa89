"""Everything Dagster needs to know about a dataset, derived from its contract.

Keys are ``[layer, table]``, groups are layers, owners/tags/description come from the contract,
partitions from its partitioning, checks from its rules, and the freshness policy from its SLA.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import dagster as dg

from platform_assets.contracts.model import Contract, DatasetRef, parse_duration
from platform_assets.quality.checks import check_specs

PLATFORM_OWNER = "team:data-platform"
# run tags of a single-run partition range (what a backfill of a range sets)
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# the governance PII scan's check on every table: it runs in its own daily job, never inside a pipeline
# run (a scan of every table per run would cost more than the run's own checks)
PII_CHECK_NAME = "pii_classification"


def asset_key(dataset: DatasetRef | str) -> dg.AssetKey:
    ref = DatasetRef.parse(dataset) if isinstance(dataset, str) else dataset
    return dg.AssetKey([ref.layer, ref.table])


def ops_asset_kwargs(
    key: dg.AssetKey, description: str, kinds: set[str], resource_keys: set[str], **extra
) -> dict:
    """Keyword arguments for ``@dg.asset`` of a platform (``ops``) asset: owner, group, layer tag."""
    return {
        "key": key,
        "description": description,
        "owners": [PLATFORM_OWNER],
        "group_name": "ops",
        "kinds": kinds,
        "tags": {"layer": "ops"},
        "required_resource_keys": resource_keys,
        **extra,
    }


def table_name(contract: Contract) -> str:
    return f"{contract.ref.layer}.{contract.ref.table}"


def partitions_def(contract: Contract) -> dg.DailyPartitionsDefinition | None:
    """Daily partitions up to and including today (a publication may be for today)."""
    if contract.partitioning is None:
        return None
    return dg.DailyPartitionsDefinition(start_date=contract.partitioning.start.isoformat(), end_offset=1)


def freshness_policy(contract: Contract) -> dg.FreshnessPolicy | None:
    if contract.freshness is None:
        return None
    warn = contract.freshness.warn_after
    return dg.FreshnessPolicy.time_window(
        fail_window=parse_duration(contract.freshness.fail_after),
        warn_window=parse_duration(warn) if warn else None,
    )


def _dependency(contract: Contract, upstream: Contract) -> dg.AssetDep:
    """A business-date partition reads its own day and ``lookahead_days`` later ingestion days."""
    mapping = None
    if contract.partitioning and upstream.partitioning:
        mapping = dg.TimeWindowPartitionMapping(
            start_offset=0,
            end_offset=contract.partitioning.lookahead_days,
            allow_nonexistent_upstream_partitions=True,
        )
    return dg.AssetDep(asset_key(upstream.ref), partition_mapping=mapping)


def column_schema(contract: Contract) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.type,
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
                tags={"classification": c.classification.value},
            )
            for c in contract.columns
        ]
    )


def column_lineage(contract: Contract) -> dg.TableColumnLineage:
    deps_by_column: dict[str, list[dg.TableColumnDep]] = {}
    for column in contract.columns:
        for item in column.lineage:
            dataset, _, source_column = item.rpartition(".")
            deps_by_column.setdefault(column.name, []).append(
                dg.TableColumnDep(asset_key=asset_key(dataset), column_name=source_column)
            )
    return dg.TableColumnLineage(deps_by_column=deps_by_column)


def asset_tags(contract: Contract) -> dict[str, str]:
    tags = {"layer": contract.ref.layer, "domain": contract.domain, **contract.tags}
    if contract.source:
        tags["source"] = contract.source
    pii = [c.name for c in contract.columns if c.classification.value == "pii"]
    tags["contains_pii"] = "true" if pii else "false"
    return tags


def asset_kwargs(contract: Contract, contracts: dict[str, Contract], kinds: set[str]) -> dict:
    """Keyword arguments for ``@dg.asset`` shared by every layer."""
    key = asset_key(contract.ref)
    parts = partitions_def(contract)
    return {
        "key": key,
        "description": " ".join(contract.description.split()),
        "owners": contract.owners,
        "group_name": contract.ref.layer,
        "kinds": {"delta", *kinds},
        "tags": asset_tags(contract),
        "partitions_def": parts,
        "backfill_policy": dg.BackfillPolicy.single_run() if parts else None,
        "deps": [_dependency(contract, contracts[u]) for u in contract.upstream],
        "check_specs": check_specs(contract, key),
        "freshness_policy": freshness_policy(contract),
        "metadata": {
            "dagster/table_name": table_name(contract),
            "dagster/column_schema": column_schema(contract),
            # also on each materialization; here too, so the lineage is known before the first run
            "dagster/column_lineage": column_lineage(contract),
            "contract": contract.dataset,
            "keys": dg.MetadataValue.json(contract.keys),
            "sequence_by": dg.MetadataValue.json(contract.sequence_by),
            "retention_days": contract.retention.days,
        },
    }


def partition_dates(context: dg.AssetExecutionContext) -> list[date]:
    """The days this run covers: one partition or a single-run range."""
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    return [first + timedelta(days=i) for i in range((end - first).days)]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min)


def bronze_asset_kwargs(
    contract: Contract,
    contracts: dict[str, Contract],
    resource_keys: set[str],
    kinds: set[str] | None,
    deps: list[dg.AssetKey] | None,
) -> dict:
    """``asset_kwargs`` for a bronze ingestion asset: the source dependency and resources."""
    if contract.partitioning is None or contract.partitioning.column != "_proc_date":
        raise ValueError(f"{contract.dataset}: bronze tables are partitioned by _proc_date")
    kwargs = asset_kwargs(contract, contracts, {"python", *(kinds or set())})
    kwargs["deps"] = [*kwargs["deps"], *(deps or [])]
    kwargs["required_resource_keys"] = {"spark", "lake", *resource_keys}
    # no RetryPolicy: it would retry deterministic errors too; the asset bodies are wrapped in
    # layers/retries.retry_transient_errors, which retries only network, throttling and commit conflicts
    return kwargs


def pipeline_selection(*assets: dg.AssetsDefinition) -> dg.AssetSelection:
    """A pipeline job's selection: the assets and their quality checks, not the scheduled PII scan."""
    scans = [dg.AssetCheckKey(key, PII_CHECK_NAME) for a in assets for key in a.keys]
    return dg.AssetSelection.assets(*assets) - dg.AssetSelection.checks(*scans)
