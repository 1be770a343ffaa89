"""Silver change-apply assets: validate the new changes, then apply them with AUTO-CDC semantics.

One factory for every CDC table; the contract's ``cdc`` section says SCD1 or SCD2 and which changes
are deletes, and the table supplies only its change feed (a transform over bronze). A run applies
the bronze rows ingested after the point recorded on the asset's last materialization
(``applied_through``). Re-applying rows is harmless (the apply is idempotent), so a crash between
the apply and the record costs a re-read, never a wrong state.
"""

from collections.abc import Callable, Iterator
from datetime import datetime

import dagster as dg
from dagster import AssetExecutionContext
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.cdc import ChangeSpec, apply_scd1, apply_scd2
from platform_assets.cdc.spec import DELETED
from platform_assets.contracts.model import Contract
from platform_assets.engine import delta_io
from platform_assets.lake.delta_tables import row_count
from platform_assets.lake.location import Lake
from platform_assets.layers.materialization import materialization_metadata
from platform_assets.layers.spark_asset import TransformInputs
from platform_assets.layers.specs import asset_kwargs
from platform_assets.quality.checks import check_result
from platform_assets.quality.evaluate import evaluate, flag_column

APPLIED_THROUGH = "applied_through"  # newest bronze _ingested_at applied, on the materialization
INGESTED_AT = "_ingested_at"

# (inputs, applied_through or None) -> change rows with the contract's columns, the delete marker's
# columns and _ingested_at
ChangeFeed = Callable[[TransformInputs, datetime | None], DataFrame]


def _applied_through(context: AssetExecutionContext) -> datetime | None:
    event = context.instance.get_latest_materialization_event(context.asset_key)
    value = (
        event.asset_materialization.metadata.get(APPLIED_THROUGH)
        if event and event.asset_materialization
        else None
    )
    return datetime.fromisoformat(value.value) if value is not None else None


def _quarantine(changes: DataFrame, flagged: DataFrame, contract: Contract, lake: Lake, run_id: str) -> int:
    blocking = [flag_column(r) for r in contract.rules if r.blocking and flag_column(r) in flagged.columns]
    if not blocking:
        return 0
    failing = flagged.where(" OR ".join(f"`{f}`" for f in blocking))
    labels = [
        F.when(F.col(flag_column(r)), F.lit(r.name)) for r in contract.rules if flag_column(r) in blocking
    ]
    rows = failing.select(
        *changes.columns,
        F.concat_ws(",", *labels).alias("_failed_rules"),
        F.lit("blocked").alias("_action"),
        F.lit(contract.dataset).alias("_dataset"),
        F.lit(run_id).alias("_run_id"),
        F.current_timestamp().alias("_quarantined_at"),
    )
    count = rows.count()
    if count:
        delta_io.append(rows, lake.quarantine_uri(contract.ref))
    return count


def build_change_apply_asset(
    contract: Contract, contracts: dict[str, Contract], change_feed: ChangeFeed
) -> dg.AssetsDefinition:
    spec = ChangeSpec.from_contract(contract)
    apply = apply_scd2 if contract.cdc is not None and contract.cdc.mode == "scd2" else apply_scd1

    @dg.asset(
        **asset_kwargs(contract, contracts, {"spark"}),
        required_resource_keys={"spark", "lake"},
        output_required=False,
    )
    def _change_apply(context: AssetExecutionContext) -> Iterator:
        lake: Lake = context.resources.lake.lake
        inputs = TransformInputs(context.resources.spark.get_session(), lake, None)
        since = _applied_through(context)
        changes = change_feed(inputs, since)
        report, flagged = evaluate(changes, contract.rules)  # the checks run on every run's changes
        results = [check_result(o) for o in report.outcomes]
        if not report.rows_by_partition:
            context.log.info(f"{contract.dataset}: no bronze changes after {since}; nothing to apply")
            yield from results
            return
        if report.blocked_partitions():
            held = _quarantine(changes, flagged, contract, lake, context.run.run_id)
            context.log.error(
                f"{contract.dataset}: critical rules failed; nothing applied, {held} change(s) quarantined"
            )
            yield from results
            return
        uri = lake.uri(contract.ref)
        through = changes.agg(F.max(INGESTED_AT).alias("t")).collect()[0]["t"]
        apply(changes, uri, spec, lake.storage_options)
        live = row_count(
            uri,
            lake.storage_options,
            where=f"NOT {DELETED}" + (" AND is_current" if apply is apply_scd2 else ""),
        )
        applied = sum(report.rows_by_partition.values())
        yield dg.MaterializeResult(
            metadata=materialization_metadata(
                contract,
                lake,
                row_count(uri, lake.storage_options),
                {
                    APPLIED_THROUGH: through.isoformat(),
                    "changes_applied": applied,
                    "live_rows": live,
                    "mode": contract.cdc.mode if contract.cdc else "scd1",
                },
            ),
            check_results=results,
        )

    return _change_apply
