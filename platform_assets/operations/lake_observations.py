"""The tables people react to, as Dagster assets: ``ops/alerts``, ``quarantine/*`` and ``bronze/*_dlq``.

Each is an external asset (the platform writes it as a side effect of other assets and of the alerts
sensor). ``platform_tables_sensor`` observes them every minute, without a run: when a table's Delta
version moved, it records an observation with the row count and the latest entries as a markdown
table, so the asset's page in the UI shows what was held back, dead-lettered or raised, and when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import latest_rows, open_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.sensors.lake_sensor import lake_sensor

TABLES_SENSOR = "platform_tables_sensor"
GROUP = "operations"
OWNERS = ["team:data-platform"]
LATEST = 5  # entries shown in the metadata


@dataclass(frozen=True)
class ObservedTable:
    key: str  # the asset key, as a path: ops/alerts, quarantine/silver_fx_rates, bronze/order_events_dlq
    dataset: str  # the dataset it belongs to ("ops/alerts" for the alerts)
    order_by: str  # newest entries first by this column
    columns: tuple[str, ...]  # shown in the latest-entries table
    description: str

    def uri(self, lake: Lake) -> str:
        return f"{lake.root.rstrip('/')}/{self.key}"

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(self.key.split("/"))


def observed_tables(contracts: dict[str, Contract]) -> list[ObservedTable]:
    tables = [
        ObservedTable(
            "ops/alerts",
            "ops/alerts",
            "raised_at",
            ("raised_at", "severity", "dataset", "state", "partition", "message"),
            "Alerts raised by platform_alerts_sensor: freshness SLA state changes and failed checks.",
        )
    ]
    for name, contract in sorted(contracts.items()):
        ref = contract.ref
        if ref.layer == "bronze":
            tables.append(
                ObservedTable(
                    f"bronze/{ref.table}_dlq",
                    name,
                    "_ingested_at",
                    ("_ingested_at", "_position", "_error"),
                    f"Dead letters of {name}: source records that do not fit its contract, kept raw "
                    "with the error; `platform replay-dlq` re-ingests those that fit now.",
                )
            )
        else:
            partition = (contract.partitioning.column,) if contract.partitioning else ()
            tables.append(
                ObservedTable(
                    f"quarantine/{ref.layer}_{ref.table}",
                    name,
                    "_quarantined_at",
                    ("_quarantined_at", *partition, "_action", "_failed_rules", "_run_id"),
                    f"Rows of {name} its quality gate held back (`_action` blocked: the partition was "
                    "not published; dropped: the row was left out), with the rules they failed.",
                )
            )
    return tables


def table_specs(contracts: dict[str, Contract]) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            t.asset_key,
            description=t.description,
            owners=OWNERS,
            group_name=GROUP,
            kinds={"delta"},
            metadata={"dataset": t.dataset, "observed_by": TABLES_SENSOR},
        )
        for t in observed_tables(contracts)
    ]


def _markdown(rows: pa.Table) -> str:
    names = rows.column_names
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows.to_pylist():
        cells = [str(row[n]).replace("|", "\\|").replace("\n", " ")[:160] for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def observe(table: ObservedTable, lake: Lake) -> tuple[int | None, dg.AssetObservation | None]:
    """The table's Delta version and, if it exists, an observation of its count and latest entries."""
    uri = table.uri(lake)
    delta = open_table(uri, lake.storage_options)
    if delta is None:
        return None, None
    present = [c for c in table.columns if c in delta.schema().to_arrow().names]
    latest = latest_rows(uri, present, table.order_by, LATEST, lake.storage_options)
    metadata = {
        "dagster/row_count": row_count(uri, lake.storage_options),
        "dagster/uri": uri,
        "table_version": delta.version(),
        "latest": dg.MetadataValue.md(_markdown(latest) if latest.num_rows else "(empty)"),
    }
    return delta.version(), dg.AssetObservation(asset_key=table.asset_key, metadata=metadata)


def build_tables_sensor(contracts: dict[str, Contract]) -> dg.SensorDefinition:
    tables = observed_tables(contracts)

    @lake_sensor(
        name=TABLES_SENSOR,
        description=(
            "Observes ops/alerts, the quarantine tables and the dead-letter tables (row count, latest "
            "entries) whenever one changed; no run."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SensorResult:
        seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        events, changed = [], []
        for table in tables:
            delta = open_table(table.uri(lake), lake.storage_options)
            if delta is None or seen.get(table.key) == delta.version():
                continue
            version, observation = observe(table, lake)
            if observation is not None:
                events.append(observation)
                changed.append(f"{table.key}: {observation.metadata['dagster/row_count'].value} rows")
                seen[table.key] = version
        reason = f"observed {'; '.join(changed)}" if changed else "no table changed"
        return dg.SensorResult(
            asset_events=events, cursor=json.dumps(seen, sort_keys=True), skip_reason=reason
        )

    return _sensor
