"""Salesforce Accounts and Opportunities by watermark: REST query API -> bronze -> silver/accounts, opportunities.

The Salesforce connection comes from environment variables (read here, defaults fit the sandbox org):

| variable | default | meaning |
|---|---|---|
| SALESFORCE_INSTANCE_URL | https://127.0.0.1:8443 | the org's instance URL |
| SALESFORCE_SESSION_ID | sandbox-session | session id / OAuth access token |
| SALESFORCE_CA_PATH | $PLATFORM_CA_PATH, else the system store | PEM CA bundle to verify the server with (the sandbox's own CA) |
| SALESFORCE_API_VERSION | 59.0 | REST API version |
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.env_secrets import env_secret
from platform_assets.layers.bronze import salesforce as bronze_salesforce
from platform_assets.layers.silver import salesforce as silver_salesforce
from platform_assets.layers.specs import pipeline_selection
from platform_assets.sensors.watermark_probe import build_watermark_probe_sensor
from platform_assets.settings import PlatformSettings, source_ca_path
from platform_assets.sources.salesforce import SalesforceResource
from platform_assets.sources.watermark import Watermark

SALESFORCE_JOB = "salesforce_cdc_job"
SENSOR = "salesforce_watermark_sensor"
POSITIONS = {
    bronze_salesforce.position_key(sobject): dataset
    for sobject, dataset in bronze_salesforce.DATASETS.items()
}


def salesforce_resource(env: Mapping[str, str] = os.environ) -> SalesforceResource:
    return SalesforceResource(
        instance_url=env.get("SALESFORCE_INSTANCE_URL") or "https://127.0.0.1:8443",
        session_id=env_secret("SALESFORCE_SESSION_ID", "sandbox-session", env),
        ca_path=source_ca_path("SALESFORCE_CA_PATH", env),
        api_version=env.get("SALESFORCE_API_VERSION") or "59.0",
    )


def probe(
    context: dg.SensorEvaluationContext, committed: dict[str, Watermark | None]
) -> dict[str, Watermark]:
    """Per object, the watermark after the newest record past the committed one (Id and stamps only)."""
    newest: dict[str, Watermark] = {}
    with context.resources.salesforce.connector() as connector:
        for sobject in bronze_salesforce.DATASETS:
            key = bronze_salesforce.position_key(sobject)
            batch = connector.fetch_changes(sobject, ["Id"], committed[key])
            if not batch.is_empty and batch.watermark is not None:
                newest[key] = batch.watermark
    return newest


def definitions(contracts: dict[str, Contract], settings: PlatformSettings) -> dg.Definitions:
    assets = [*bronze_salesforce.build(contracts), *silver_salesforce.build(contracts)]
    job = dg.define_asset_job(
        SALESFORCE_JOB,
        selection=pipeline_selection(*assets),
        description="Salesforce: Accounts and Opportunities changed since the watermark, to bronze and silver.",
        tags={"platform/dataset": "salesforce"},
    )
    sensor = build_watermark_probe_sensor(
        SENSOR,
        job,
        POSITIONS,
        "salesforce",
        probe,
        "Requests a run when Salesforce holds Accounts or Opportunities after the committed watermarks.",
    )
    return dg.Definitions(
        assets=[bronze_salesforce.SALESFORCE_SOURCE, *assets],
        jobs=[job],
        sensors=[sensor],
        resources={"salesforce": salesforce_resource()},
    )
