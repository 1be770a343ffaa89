"""RDS customers by CDC: DMS files -> bronze/rds_customers_cdc -> silver/customers (+ history)."""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze import rds_customers as bronze_rds_customers
from platform_assets.layers.silver import customers as silver_customers
from platform_assets.layers.specs import pipeline_selection
from platform_assets.sensors.dms_files import build_dms_files_sensor
from platform_assets.settings import PlatformSettings
from platform_assets.sources.dms.resource import DmsLandingResource

CUSTOMERS_JOB = "customers_cdc_job"


def definitions(contracts: dict[str, Contract], settings: PlatformSettings) -> dg.Definitions:
    assets = [bronze_rds_customers.build(contracts), *silver_customers.build(contracts)]
    job = dg.define_asset_job(
        CUSTOMERS_JOB,
        selection=pipeline_selection(*assets),
        description="RDS customers: DMS files to bronze, applied to silver current state and history.",
        tags={"platform/dataset": "rds_customers"},
    )
    return dg.Definitions(
        assets=[bronze_rds_customers.RDS_CUSTOMERS_SOURCE, *assets],
        jobs=[job],
        sensors=[
            build_dms_files_sensor(
                job, "public", "customers", "rds_customers_dms_sensor", "bronze/rds_customers_cdc"
            )
        ],
        resources={"dms_landing": DmsLandingResource(root=settings.dms_landing_root)},
    )
