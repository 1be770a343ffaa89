"""Every materialization of a contract's table is a row in ``ops/audit_log`` (action ``materialize``).

Pipelines write through many paths (bronze appends, CDC merges, gold rebuilds, DLQ replays, runs from
the UI, backfills), and each of them ends in a Dagster materialization event; so rather than a hook in
each path, one sensor reads the instance's materialization events after its cursor and appends one
audit row per event: who launched the run (the ``dagster/user`` or ``platform/user`` run tag, else the
service), the service role the pipeline ran as, the dataset and partition, the run, the rows written
(``dagster/row_count``) and when. The cursor (per dataset, the last storage id audited) is saved only
after the audit commit, so a failed write is retried on the next tick and no event is skipped; an
event can be audited twice only if the tick dies between the commit and the cursor update.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.governance.audit import AuditEvent, record
from platform_assets.governance.policy_audit import audit_policy_version
from platform_assets.lake.location import Lake

AUDIT_SENSOR = "platform_write_audit_sensor"
SERVICE_ROLE = "pipeline"  # policies.yaml service_role: what pipelines run as
PAGE = 500
USER_TAGS = ("dagster/user", "platform/user")


def _asset_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(dataset.split("/"))


def _launcher(instance: dg.DagsterInstance, run_id: str, cache: dict[str, str]) -> str:
    if run_id not in cache:
        run = instance.get_run_by_id(run_id)
        tags = run.tags if run else {}
        cache[run_id] = next((tags[t] for t in USER_TAGS if tags.get(t)), "service:dagster")
    return cache[run_id]


def materialization_events(
    instance: dg.DagsterInstance, datasets: list[str], after: dict[str, int]
) -> tuple[list[AuditEvent], dict[str, int]]:
    """Audit events for the materializations after ``after`` (dataset -> storage id), and the new cursor."""
    events: list[AuditEvent] = []
    cursor = dict(after)
    users: dict[str, str] = {}
    for dataset in datasets:
        while True:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=_asset_key(dataset), after_storage_id=cursor.get(dataset)),
                limit=PAGE,
                ascending=True,
            ).records
            for item in records:
                materialization = item.asset_materialization
                metadata = materialization.metadata if materialization else {}
                rows = metadata.get("dagster/row_count")
                partition = materialization.partition if materialization else None
                events.append(
                    AuditEvent(
                        user=_launcher(instance, item.run_id, users),
                        role=SERVICE_ROLE,
                        action="materialize",
                        allowed=True,
                        datasets=[dataset],
                        statement=f"materialize {dataset}"
                        + (f" partition {partition}" if partition else "")
                        + f" (run {item.run_id})",
                        row_count=int(rows.value) if rows is not None else None,
                        at=datetime.fromtimestamp(item.timestamp, UTC),
                    )
                )
                cursor[dataset] = item.storage_id
            if len(records) < PAGE:
                break
    return events, cursor


def audit_materializations(
    instance: dg.DagsterInstance, lake: Lake, datasets: list[str], after: dict[str, int]
) -> tuple[int, dict[str, int]]:
    events, cursor = materialization_events(instance, datasets, after)
    if events:
        record(lake, events)
    return len(events), cursor


def build_write_audit_sensor(contracts: dict[str, Contract]) -> dg.SensorDefinition:
    datasets = sorted(contracts)

    @dg.sensor(
        name=AUDIT_SENSOR,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"lake"},
        description=(
            "Appends one ops/audit_log row (action materialize: who, role, dataset, partition, run, rows "
            "written, when) for every materialization of a contract's table."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        after = {k: int(v) for k, v in json.loads(context.cursor).items()} if context.cursor else {}
        lake = context.resources.lake.lake
        audit_policy_version(lake)
        count, cursor = audit_materializations(context.instance, lake, datasets, after)
        context.update_cursor(json.dumps(cursor, sort_keys=True))
        return dg.SkipReason(f"{count} materialization(s) audited")

    return _sensor
