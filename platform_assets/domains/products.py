"""Snowflake products by watermark: the catalogue table -> bronze/snowflake_products -> silver/products.

The Snowflake connection comes from environment variables (read here, defaults fit the sandbox's
fakesnow server):

| variable | default | meaning |
|---|---|---|
| SNOWFLAKE_ACCOUNT | fakesnow | account identifier |
| SNOWFLAKE_USER | fake | login name |
| SNOWFLAKE_PASSWORD | snow | password |
| SNOWFLAKE_HOST | 127.0.0.1 | host override (unset it for a real account: SNOWFLAKE_HOST=) |
| SNOWFLAKE_PORT | 8766 | port override |
| SNOWFLAKE_PROTOCOL | https | https (the certificate verified); http only as an explicit opt-out |
| SNOWFLAKE_CA_PATH | $PLATFORM_CA_PATH | PEM CA bundle to verify the server with (unset: system store) |
| SNOWFLAKE_WAREHOUSE, SNOWFLAKE_ROLE | (none) | warehouse and role |
| SNOWFLAKE_PRODUCTS_TABLE | SANDBOX.CATALOG.PRODUCTS | the catalogue table, fully qualified |
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.env_secrets import env_secret
from platform_assets.layers.bronze import snowflake_products as bronze_products
from platform_assets.layers.silver import products as silver_products
from platform_assets.layers.specs import pipeline_selection
from platform_assets.sensors.watermark_probe import Probe, build_watermark_probe_sensor
from platform_assets.settings import PlatformSettings, source_ca_path
from platform_assets.sources.snowflake import SnowflakeResource
from platform_assets.sources.watermark import Watermark

PRODUCTS_JOB = "products_cdc_job"
SENSOR = "snowflake_products_watermark_sensor"
DEFAULT_TABLE = "SANDBOX.CATALOG.PRODUCTS"


def products_table(env: Mapping[str, str] = os.environ) -> str:
    return env.get("SNOWFLAKE_PRODUCTS_TABLE") or DEFAULT_TABLE


def snowflake_resource(env: Mapping[str, str] = os.environ) -> SnowflakeResource:
    host = env.get("SNOWFLAKE_HOST", "127.0.0.1") or None
    port = env.get("SNOWFLAKE_PORT", "8766") or None
    return SnowflakeResource(
        account=env.get("SNOWFLAKE_ACCOUNT") or "fakesnow",
        user=env.get("SNOWFLAKE_USER") or "fake",
        password=env_secret("SNOWFLAKE_PASSWORD", "snow", env),
        warehouse=env.get("SNOWFLAKE_WAREHOUSE") or None,
        role=env.get("SNOWFLAKE_ROLE") or None,
        host=host,
        port=int(port) if port else None,
        protocol=env.get("SNOWFLAKE_PROTOCOL") or "https",
        ca_path=source_ca_path("SNOWFLAKE_CA_PATH", env),
    )


def build_probe(table: str) -> Probe:
    key = bronze_products.position_key(table)

    def probe(
        context: dg.SensorEvaluationContext, committed: dict[str, Watermark | None]
    ) -> dict[str, Watermark]:
        """The watermark after the newest row past the committed one (key and updated_at only)."""
        with context.resources.snowflake.connector() as connector:
            batch = connector.fetch_changes(
                table,
                committed[key],
                key_column=bronze_products.KEY_COLUMN,
                updated_at_column=bronze_products.UPDATED_AT_COLUMN,
                columns=[bronze_products.KEY_COLUMN, bronze_products.UPDATED_AT_COLUMN],
            )
        return {key: batch.watermark} if not batch.is_empty and batch.watermark is not None else {}

    return probe


def definitions(contracts: dict[str, Contract], settings: PlatformSettings) -> dg.Definitions:
    table = products_table()
    assets = [
        bronze_products.build(contracts, table),
        silver_products.build(contracts),
        silver_products.build_history(contracts),
    ]
    job = dg.define_asset_job(
        PRODUCTS_JOB,
        selection=pipeline_selection(*assets),
        description="Snowflake products: rows changed since the watermark, to bronze and MERGEd into silver.",
        tags={"platform/dataset": "snowflake_products"},
    )
    sensor = build_watermark_probe_sensor(
        SENSOR,
        job,
        {bronze_products.position_key(table): bronze_products.DATASET},
        "snowflake",
        build_probe(table),
        f"Requests a run when Snowflake {table} holds rows after the committed watermark.",
    )
    return dg.Definitions(
        assets=[bronze_products.SNOWFLAKE_PRODUCTS_SOURCE, *assets],
        jobs=[job],
        sensors=[sensor],
        resources={"snowflake": snowflake_resource()},
    )
