"""bronze/fx_rates: the FX API's rate records, by the day they were published."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.ingest_asset import DailyPages, build_bronze_asset

FX_API_SOURCE = dg.AssetSpec(
    key=dg.AssetKey(["sources", "fx_api_rates"]),
    description="Daily FX rate publications served by the FX REST API (GET /v1/rates).",
    group_name="sources",
    kinds={"rest"},
    owners=["team:data-platform"],
    tags={"source": "fx_api"},
)


@contextmanager
def _open_fx_api(context: dg.AssetExecutionContext) -> Iterator[DailyPages]:
    with context.resources.fx_api.connector() as connector:
        yield connector.iter_rate_pages


def build(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    return build_bronze_asset(
        contracts["bronze/fx_rates"],
        contracts,
        open_source=_open_fx_api,
        source_label="fx_api:/v1/rates",
        resource_keys={"fx_api"},
        kinds={"rest"},
        deps=[FX_API_SOURCE.key],
    )
