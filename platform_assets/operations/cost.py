"""``ops/cost``: what each dataset, domain and day cost, from the materializations' ``cost/*`` metadata.

The price model is run configuration of the asset (``PriceModel``): a price per compute second for each
engine (bronze runs in the Dagster process, "python"; silver and gold on the configured Spark engine),
per GB scanned, and per GB-month stored for each storage class (the tables' current files, each in the
class the S3 lifecycle rules have moved it to by its age, ``operations/lifecycle.py``; charged per day). The table is rebuilt from the instance's event log on each run, so
it always equals the sum of the runs' metadata.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext
from deltalake import write_deltalake
from pydantic import Field

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import open_table, read_table
from platform_assets.lake.location import Lake
from platform_assets.layers.cost_telemetry import COST_PREFIX
from platform_assets.layers.specs import asset_key, ops_asset_kwargs
from platform_assets.operations.lifecycle import storage_class

COST_KEY = dg.AssetKey(["ops", "cost"])
COST_TABLE = "ops/cost"
GB = 1e9
PAGE = 1000
MEASURES = ("bytes_read", "bytes_written", "files_written", "rows", "compute_seconds")
TARGET_USD_PER_GB_PROCESSED = 0.10  # the seed's target


class PriceModel(dg.Config):
    """USD prices (defaults: list prices of a small cloud deployment)."""

    compute_second_usd: dict[str, float] = Field(
        default_factory=lambda: {"python": 0.000012, "sail": 0.000025, "connect": 0.00011, "local": 0.00005}
    )
    gb_scanned_usd: float = 0.005
    gb_month_stored_usd: dict[str, float] = Field(
        default_factory=lambda: {"standard": 0.023, "infrequent": 0.0125, "archive": 0.0036}
    )
    engine: str = Field("sail", description="the engine silver and gold ran on")


_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("dataset", pa.string()),
        ("domain", pa.string()),
        ("reports", pa.int64()),  # materializations, a partition range's counted once
        *((m, pa.float64() if m == "compute_seconds" else pa.int64()) for m in MEASURES),
        ("compute_usd", pa.float64()),
        ("scan_usd", pa.float64()),
        ("storage_usd", pa.float64()),
        ("cost_usd", pa.float64()),
    ]
)


def cost_uri(lake: Lake) -> str:
    return f"{lake.root.rstrip('/')}/{COST_TABLE}"


@dataclass(frozen=True)
class CostPerGb:
    """Cost over GB processed (bytes read + bytes written) of some ``ops/cost`` rows."""

    total_usd: float
    gb_processed: float
    days: int

    @property
    def usd_per_gb(self) -> float | None:
        return self.total_usd / self.gb_processed if self.gb_processed else None


def cost_per_gb(rows: Iterable[dict]) -> CostPerGb:
    rows = list(rows)
    return CostPerGb(
        total_usd=sum(r["cost_usd"] for r in rows),
        gb_processed=sum(r["bytes_read"] + r["bytes_written"] for r in rows) / GB,
        days=len({r["day"] for r in rows}),
    )


def read_cost_per_gb(lake: Lake, since: date) -> CostPerGb | None:
    """From the ``ops/cost`` table, the days from ``since`` on; None before the table is first built."""
    if open_table(cost_uri(lake), lake.storage_options) is None:
        return None
    table = read_table(
        cost_uri(lake),
        where=f"day >= DATE '{since.isoformat()}'",
        columns=["day", "bytes_read", "bytes_written", "cost_usd"],
        storage_options=lake.storage_options,
    )
    return cost_per_gb(table.to_pylist())


def stored_gb_by_class(lake: Lake, contract: Contract, now: datetime) -> dict[str, float]:
    """GB of the table's live files per storage class, a file's class following its age (as S3 ages it)."""
    table = open_table(lake.uri(contract.dataset), lake.storage_options)
    if table is None:
        return {}
    files = pa.table(table.get_add_actions(flatten=True))
    stored: dict[str, float] = defaultdict(float)
    for size, written_ms in zip(
        files.column("size_bytes").to_pylist(), files.column("modification_time").to_pylist(), strict=True
    ):
        age_days = (now.timestamp() * 1000 - written_ms) / 86_400_000
        stored[storage_class(contract, age_days)] += size / GB
    return dict(stored)


def materialization_costs(instance: dg.DagsterInstance, dataset: str) -> list[tuple[date, dict[str, float]]]:
    """(UTC day, cost/* measures) of every cost report of ``dataset`` (once each, see cost_telemetry)."""
    found, cursor, seen = [], None, set()
    while True:
        page = instance.fetch_materializations(asset_key(dataset), limit=PAGE, cursor=cursor, ascending=True)
        for record in page.records:
            metadata = record.asset_materialization.metadata if record.asset_materialization else {}
            report = metadata.get(f"{COST_PREFIX}report_id")
            if report is None or report.value in seen:
                continue
            seen.add(report.value)
            day = datetime.fromtimestamp(record.timestamp, UTC).date()
            found.append((day, {m: float(metadata[f"{COST_PREFIX}{m}"].value) for m in MEASURES}))
        if not page.has_more:
            return found
        cursor = page.cursor


def cost_rows(
    instance: dg.DagsterInstance,
    contracts: dict[str, Contract],
    lake: Lake,
    prices: PriceModel,
    now: datetime | None = None,
) -> list[dict]:
    """One row per dataset and day with cost reports; storage is today's files at their classes' prices."""
    now = now or datetime.now(UTC)
    rows = []
    for dataset, contract in sorted(contracts.items()):
        engine = "python" if contract.ref.layer == "bronze" else prices.engine
        per_day: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for day, measures in materialization_costs(instance, dataset):
            per_day[day]["reports"] += 1
            for m, v in measures.items():
                per_day[day][m] += v
        stored = stored_gb_by_class(lake, contract, now)
        storage = sum(gb * prices.gb_month_stored_usd.get(c, 0.0) for c, gb in stored.items()) / 30
        for day, sums in sorted(per_day.items()):
            compute = sums["compute_seconds"] * prices.compute_second_usd.get(engine, 0.0)
            scan = sums["bytes_read"] / GB * prices.gb_scanned_usd
            rows.append(
                {
                    "day": day,
                    "dataset": dataset,
                    "domain": contract.domain,
                    "reports": int(sums["reports"]),
                    **{m: (round(sums[m], 3) if m == "compute_seconds" else int(sums[m])) for m in MEASURES},
                    "compute_usd": compute,
                    "scan_usd": scan,
                    "storage_usd": storage,
                    "cost_usd": compute + scan + storage,
                }
            )
    return rows


def build_cost_asset(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    @dg.asset(
        **ops_asset_kwargs(
            COST_KEY,
            "Cost per dataset, domain and day: bytes read and written, files, rows and compute seconds "
            "summed from every materialization's cost/* metadata, priced by the configurable price model.",
            kinds={"delta", "python"},
            resource_keys={"lake"},
            metadata={"dagster/table_name": "ops.cost"},
        )
    )
    def ops_cost(context: AssetExecutionContext, config: PriceModel) -> dg.MaterializeResult:
        lake = context.resources.lake.lake
        rows = cost_rows(context.instance, contracts, lake, config)
        table = pa.Table.from_pylist(rows, schema=_SCHEMA)
        write_deltalake(cost_uri(lake), table, mode="overwrite", storage_options=lake.storage_options or None)
        summary = cost_per_gb(rows)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(rows),
                "total_usd": round(summary.total_usd, 6),
                "gb_processed": round(summary.gb_processed, 6),
                "usd_per_gb_processed": round(summary.usd_per_gb or 0.0, 6),
                "target_usd_per_gb_processed": TARGET_USD_PER_GB_PROCESSED,
            }
        )

    return ops_cost
