"""FX rates: the FX REST API -> bronze/fx_rates -> silver/fx_rates -> gold/dim_currency."""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.env_secrets import env_secret
from platform_assets.layers.bronze import fx_rates as bronze_fx_rates
from platform_assets.layers.gold import dim_currency
from platform_assets.layers.silver import fx_rates as silver_fx_rates
from platform_assets.layers.specs import pipeline_selection
from platform_assets.sensors.fx_publications import build_fx_publications_sensor
from platform_assets.settings import PlatformSettings
from platform_assets.sources.fx_api.resource import FxApiResource

FX_JOB = "fx_rates_job"


def definitions(contracts: dict[str, Contract], settings: PlatformSettings) -> dg.Definitions:
    assets = [
        bronze_fx_rates.build(contracts),
        silver_fx_rates.build(contracts),
        dim_currency.build(contracts),
    ]
    job = dg.define_asset_job(
        FX_JOB,
        selection=pipeline_selection(*assets),
        description="FX slice: rates from the FX API to bronze, silver and the currency dimension.",
        tags={"platform/dataset": "fx_rates"},
    )
    return dg.Definitions(
        assets=[bronze_fx_rates.FX_API_SOURCE, *assets],
        jobs=[job],
        sensors=[build_fx_publications_sensor(job)],
        resources={
            "fx_api": FxApiResource(
                base_url=settings.fx_api_url,
                token=env_secret("FX_API_TOKEN", settings.fx_api_token),
                ca_path=settings.fx_api_ca_path,
            )
        },
    )
