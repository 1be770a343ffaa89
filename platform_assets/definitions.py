"""The code location: every asset, check, job, sensor and resource, assembled in one place."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg

from platform_assets.contracts import load_contracts
from platform_assets.contracts.loader import CONTRACTS_DIR
from platform_assets.engine import SparkEngine
from platform_assets.lake.resource import LakeResource
from platform_assets.layers.bronze import fx_rates as bronze_fx_rates
from platform_assets.layers.bronze import rds_customers as bronze_rds_customers
from platform_assets.layers.gold import dim_currency
from platform_assets.layers.silver import customers as silver_customers
from platform_assets.layers.silver import fx_rates as silver_fx_rates
from platform_assets.sensors.dms_files import build_dms_files_sensor
from platform_assets.sensors.fx_publications import build_fx_publications_sensor
from platform_assets.settings import PlatformSettings
from platform_assets.sources.dms.resource import DmsLandingResource
from platform_assets.sources.fx_api.resource import FxApiResource

FX_JOB = "fx_rates_job"
CUSTOMERS_JOB = "customers_cdc_job"

# single-run backfills and nonexistent-upstream partition mappings are beta in Dagster 1.13; we rely on
# them knowingly (docs/decisions.md), so their warnings would only bury real ones
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def build_resources(settings: PlatformSettings) -> dict[str, dg.ConfigurableResource]:
    return {
        "lake": LakeResource(root=settings.lake_root, storage_options=settings.storage_options),
        "spark": SparkEngine(engine=settings.engine, connect_url=settings.spark_connect_url),
        "fx_api": FxApiResource(base_url=settings.fx_api_url, token=settings.fx_api_token),
        "dms_landing": DmsLandingResource(root=settings.dms_landing_root),
    }


def build_definitions(
    settings: PlatformSettings | None = None, contracts_dir: Path = CONTRACTS_DIR
) -> dg.Definitions:
    """Everything, from the contracts in ``contracts_dir``; a bad contract raises ContractError here."""
    settings = settings or PlatformSettings.from_env()
    contracts = load_contracts(contracts_dir)
    fx_assets = [
        bronze_fx_rates.build(contracts),
        silver_fx_rates.build(contracts),
        dim_currency.build(contracts),
    ]
    fx_job = dg.define_asset_job(
        FX_JOB,
        selection=dg.AssetSelection.assets(*fx_assets),
        description="FX slice: rates from the FX API to bronze, silver and the currency dimension.",
        tags={"platform/dataset": "fx_rates"},
    )
    customer_assets = [bronze_rds_customers.build(contracts), *silver_customers.build(contracts)]
    customers_job = dg.define_asset_job(
        CUSTOMERS_JOB,
        selection=dg.AssetSelection.assets(*customer_assets),
        description="RDS customers: DMS files to bronze, applied to silver current state and history.",
        tags={"platform/dataset": "rds_customers"},
    )
    return dg.Definitions(
        assets=[
            bronze_fx_rates.FX_API_SOURCE,
            bronze_rds_customers.RDS_CUSTOMERS_SOURCE,
            *fx_assets,
            *customer_assets,
        ],
        jobs=[fx_job, customers_job],
        sensors=[
            build_fx_publications_sensor(fx_job),
            build_dms_files_sensor(customers_job, "public", "customers", "rds_customers_dms_sensor"),
        ],
        resources=build_resources(settings),
    )


defs = build_definitions()
