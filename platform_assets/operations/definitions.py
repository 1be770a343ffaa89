"""The operations part of the code location (maintenance, DR, cost, lineage), from the contracts."""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.operations.budgets import build_budget_sensor, load_budgets
from platform_assets.operations.cost import build_cost_asset
from platform_assets.operations.dr_assets import dr_definitions
from platform_assets.operations.lineage import build_lineage_sensor
from platform_assets.operations.maintenance_assets import maintenance_definitions


def operations_definitions(
    contracts: dict[str, Contract], domain_defs: list[dg.Definitions]
) -> dg.Definitions:
    """``domain_defs`` are the domains' definitions: maintenance runs take their writers' run tags."""
    cost_asset = build_cost_asset(contracts)
    cost_job = dg.define_asset_job("ops_cost", selection=[cost_asset.key], description="Rebuilds ops/cost.")
    cost = dg.Definitions(
        assets=[cost_asset],
        jobs=[cost_job],
        schedules=[dg.ScheduleDefinition(job=cost_job, cron_schedule="15 * * * *", name="ops_cost_hourly")],
        sensors=[build_budget_sensor(load_budgets()), build_lineage_sensor(contracts)],
    )
    return dg.Definitions.merge(maintenance_definitions(contracts, domain_defs), dr_definitions(), cost)
