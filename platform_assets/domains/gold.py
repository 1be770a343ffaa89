"""Gold: the star schema over silver (dimensions, facts, aggregates), one job and its sensor.

`gold_job` holds every gold asset but gold/dim_currency (the FX slice builds it); a run covers a
range of order dates and rebuilds the (small, unpartitioned) dimensions first, so facts always join
the dimensions of the same run. `gold_inputs_sensor` requests the dates whose silver inputs changed.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.gold import (
    agg_daily_revenue,
    dim_customer,
    dim_date,
    dim_product,
    fact_order_lines,
    opportunities,
)
from platform_assets.layers.specs import partitions_def, pipeline_selection
from platform_assets.sensors.gold_inputs import build_gold_inputs_sensor
from platform_assets.settings import PlatformSettings

GOLD_JOB = "gold_job"
GOLD_SENSOR = "gold_inputs_sensor"


def build_assets(contracts: dict[str, Contract]) -> list[dg.AssetsDefinition]:
    return [
        dim_date.build(contracts),
        dim_customer.build(contracts),
        dim_product.build(contracts),
        fact_order_lines.build(contracts),
        agg_daily_revenue.build(contracts),
        *opportunities.build(contracts),
    ]


def definitions(contracts: dict[str, Contract], settings: PlatformSettings) -> dg.Definitions:
    assets = build_assets(contracts)
    job = dg.define_asset_job(
        GOLD_JOB,
        selection=pipeline_selection(*assets),
        description="Gold: dimensions, then order-line facts and daily revenue for a range of order dates.",
        tags={"platform/dataset": "gold"},
    )
    partitions = partitions_def(contracts["gold/fact_order_lines"])
    if partitions is None:
        raise ValueError("gold/fact_order_lines: the contract must partition the table by order_date")
    checks = {key: [c for c in a.check_keys if c.asset_key == key] for a in assets for key in a.keys}
    sensor = build_gold_inputs_sensor(job, partitions, GOLD_SENSOR, checks)
    return dg.Definitions(assets=assets, jobs=[job], sensors=[sensor])
