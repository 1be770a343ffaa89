"""Dagster side of table maintenance: one ``ops/maintenance/<layer>/<table>`` asset per contract.

Each asset first enforces the contract's retention (rows older than ``retention.days`` are deleted,
operations/retention.py; the deletion is a row in ``ops/audit_log``), then runs
``maintenance.maintain_table`` with the contract's policy, whose vacuum removes files past the
time-travel window, and records files and bytes before/after and the time taken. Its runs carry the same ``platform/dataset`` tag as the jobs that write
the table, so the instance's per-dataset run limit (dagster.yaml) never lets maintenance race a writer;
one job and one nightly schedule per tag value.
"""

from datetime import UTC, datetime

import dagster as dg
from dagster import AssetExecutionContext
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

from platform_assets.contracts.model import Contract
from platform_assets.lake.audit_log import audit_write
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake
from platform_assets.layers.specs import PLATFORM_OWNER, asset_key
from platform_assets.operations.maintenance import maintain_table
from platform_assets.operations.retention import RetentionReport, enforce_held_retention, enforce_retention

DATASET_TAG = "platform/dataset"
SCHEDULE = "0 3 * * *"  # nightly, when the sources are quiet


def maintenance_key(dataset: str) -> dg.AssetKey:
    layer, table = dataset.split("/")
    return dg.AssetKey(["ops", "maintenance", layer, table])


def writer_tags(domain_defs: list[dg.Definitions]) -> dict[dg.AssetKey, str]:
    """The ``platform/dataset`` tag of the job(s) writing each asset (the first such job wins)."""
    assets = [a for d in domain_defs for a in (d.assets or []) if isinstance(a, dg.AssetsDefinition)]
    graph = AssetGraph.from_assets(assets)  # no resources needed, unlike Definitions.resolve_asset_graph
    tags: dict[dg.AssetKey, str] = {}
    for job in (j for d in domain_defs for j in (d.jobs or [])):
        value = (getattr(job, "tags", None) or {}).get(DATASET_TAG)
        selection = getattr(job, "selection", None)
        if value is None or selection is None:
            continue
        for key in selection.resolve(graph):
            tags.setdefault(key, value)
    return tags


def _build_asset(contract: Contract) -> dg.AssetsDefinition:
    dataset, policy = contract.dataset, contract.maintenance_policy

    @dg.asset(
        key=maintenance_key(dataset),
        deps=[asset_key(dataset)],
        description=(
            f"Maintenance of {dataset}: retention ({contract.retention.days} days by "
            f"{contract.retention_column or 'no column: rows are kept'}; its quarantine rows and dead "
            f"letters {contract.held_retention_days} days), compaction of partitions with small files, Z-order "
            f"{policy.z_order or 'none'}, checkpoint every {policy.checkpoint_interval} commits, vacuum "
            f"after {policy.vacuum_retention} (the time-travel window)."
        ),
        owners=[PLATFORM_OWNER],
        group_name="ops",
        kinds={"delta", "deltalake"},
        tags={"domain": contract.domain, "layer": "ops"},
        metadata={"table": dataset, "policy": dg.MetadataValue.json(policy.model_dump())},
        required_resource_keys={"lake"},
    )
    def _maintain(context: AssetExecutionContext) -> dg.MaterializeResult:
        lake = context.resources.lake.lake
        uri = lake.uri(dataset)
        if open_table(uri, lake.storage_options) is None:
            return dg.MaterializeResult(metadata={"skipped": "table not written yet"})
        retention = enforce_retention(uri, contract, datetime.now(UTC).date(), lake.storage_options)
        if retention.rows_deleted:
            _audit_retention(lake, retention, context.run.run_id)
        report = maintain_table(uri, policy, lake.storage_options, name=dataset)
        held = enforce_held_retention(lake, contract, datetime.now(UTC).date())
        for deleted in held:
            if deleted.rows_deleted:
                _audit_retention(lake, deleted, context.run.run_id, contract.held_retention_days)
            # the same time-travel window, so deleted dead letters leave storage as table rows do
            maintain_table(
                lake.root.rstrip("/") + "/" + deleted.table, policy, lake.storage_options, name=deleted.table
            )
        context.log.info(
            f"{dataset}: {retention.rows_deleted} row(s) past retention deleted; {report.files_before} -> {report.files_after} files, "
            f"{len(report.partitions_compacted)} partition(s) compacted, {report.vacuumed_files} vacuumed"
        )
        metadata = {k: v for k, v in report.as_dict().items() if k != "partitions_compacted"}
        metadata["partitions_compacted"] = dg.MetadataValue.json(report.partitions_compacted)
        metadata["retention_rows_deleted"] = retention.rows_deleted
        metadata["retention_cutoff"] = str(retention.cutoff) if retention.cutoff else "none"
        metadata["held_rows_deleted"] = dg.MetadataValue.json({h.table: h.rows_deleted for h in held})
        return dg.MaterializeResult(metadata=metadata)

    return _maintain


def _audit_retention(
    lake: Lake, retention: RetentionReport, run_id: str, held_days: int | None = None
) -> None:
    audit_write(
        lake,
        "retention",
        role="pipeline",
        datasets=[retention.table],
        statement=f"DELETE WHERE {retention.predicate}",
        row_count=retention.rows_deleted,
        reason=f"rows dated before {retention.cutoff} ("
        + (f"held rows kept {held_days} days" if held_days else "contract retention")
        + f"); run {run_id}",
    )


def maintenance_definitions(
    contracts: dict[str, Contract], domain_defs: list[dg.Definitions]
) -> dg.Definitions:
    tags = writer_tags(domain_defs)
    assets_by_tag: dict[str, list[dg.AssetsDefinition]] = {}
    for dataset, contract in sorted(contracts.items()):
        # a table no tagged job writes gets its own value: its maintenance runs still never overlap
        value = tags.get(asset_key(dataset), dataset.replace("/", "_"))
        assets_by_tag.setdefault(value, []).append(_build_asset(contract))
    jobs, schedules = [], []
    for value, assets in sorted(assets_by_tag.items()):
        job = dg.define_asset_job(
            f"maintenance_{value}",
            selection=dg.AssetSelection.assets(*assets),
            description=f"Table maintenance of the tables tagged {DATASET_TAG}={value}.",
            tags={DATASET_TAG: value},
        )
        jobs.append(job)
        schedules.append(
            dg.ScheduleDefinition(job=job, cron_schedule=SCHEDULE, name=f"maintenance_{value}_nightly")
        )
    return dg.Definitions(
        assets=[a for group in assets_by_tag.values() for a in group], jobs=jobs, schedules=schedules
    )
