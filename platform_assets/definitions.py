"""The code location: every domain's assets, jobs and sensors plus the shared resources, in one place."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg

from platform_assets.contracts import load_contracts
from platform_assets.contracts.loader import CONTRACTS_DIR
from platform_assets.domains import customers, fx, gold, orders, products, salesforce
from platform_assets.engine import SparkEngine
from platform_assets.governance.definitions import governance_definitions
from platform_assets.lake.resource import LakeResource
from platform_assets.operations.definitions import operations_definitions
from platform_assets.operations.lake_observations import build_tables_sensor, table_specs
from platform_assets.reporting import definitions as reporting
from platform_assets.sensors.alerts import build_alerts_sensor
from platform_assets.settings import PlatformSettings

FX_JOB = fx.FX_JOB
CUSTOMERS_JOB = customers.CUSTOMERS_JOB
DOMAINS = (fx, customers, salesforce, products, orders, gold, reporting)  # reporting: the ops group

# single-run backfills and nonexistent-upstream partition mappings are beta in Dagster 1.13; we rely on
# them knowingly (docs/architecture.md), so their warnings would only bury real ones
warnings.filterwarnings("ignore", category=dg.BetaWarning)
# Preview APIs of 1.13 the platform may touch (checks are not partitioned any more: one evaluation per
# rule and run, quality/check_events.py) would only bury real warnings
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def shared_resources(settings: PlatformSettings) -> dict[str, dg.ConfigurableResource]:
    return {
        "lake": LakeResource(
            root=settings.lake_root,
            storage_options=settings.storage_options,
            staging_root=settings.staging_root,
        ),
        "spark": SparkEngine.from_settings(settings),
    }


def run_executor(settings: PlatformSettings) -> dg.ExecutorDefinition:
    """In-process by default: a step subprocess re-imports Dagster and the platform and starts its own
    engine (~5 s each, with 1-7 steps per job), while the steps would contend for the same cores anyway.
    Multiprocess pays off only where steps can overlap on a cluster (docs/deployment.md)."""
    if settings.run_executor == "multiprocess":
        return dg.multiprocess_executor
    return dg.in_process_executor


def build_definitions(
    settings: PlatformSettings | None = None, contracts_dir: Path = CONTRACTS_DIR
) -> dg.Definitions:
    """Everything, from the contracts in ``contracts_dir``; a bad contract raises ContractError here."""
    settings = settings or PlatformSettings.from_env()
    contracts = load_contracts(contracts_dir)
    domain_defs = [domain.definitions(contracts, settings) for domain in DOMAINS]
    return dg.Definitions.merge(
        *domain_defs,
        operations_definitions(contracts, domain_defs),
        governance_definitions(contracts, Path(settings.reports_dir)),  # PII scan, catalog site
        dg.Definitions(
            assets=table_specs(
                contracts
            ),  # ops/alerts, quarantine/*, *_dlq (operations/lake_observations.py)
            sensors=[build_alerts_sensor(contracts, settings.alerts_webhook), build_tables_sensor(contracts)],
            resources=shared_resources(settings),
            executor=run_executor(settings),
        ),
    )


def build_resources(settings: PlatformSettings) -> dict[str, object]:
    """Every resource the definitions bind (for sensors evaluated outside the daemon, as in the demo)."""
    return dict(build_definitions(settings).resources)


defs = build_definitions()
