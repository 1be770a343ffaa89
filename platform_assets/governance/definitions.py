"""The governance part of the code location: the scheduled PII scan checks and the catalog site."""

from pathlib import Path

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.governance.pii_checks import pii_scan_definitions
from platform_assets.layers.specs import asset_key, ops_asset_kwargs

CATALOG_SITE = dg.AssetKey(["ops", "catalog_site"])
CATALOG_JOB = "governance_catalog_site"
CATALOG_SCHEDULE = "45 4 * * *"  # daily, after the maintenance and the PII scan


def catalog_site_definitions(contracts: dict[str, Contract], out: Path) -> dg.Definitions:
    @dg.asset(
        **ops_asset_kwargs(
            CATALOG_SITE,
            description=(
                "The data catalog as a static HTML site (governance/catalog_site.py): a page per dataset "
                "with owners, classification per column, rules, freshness SLA, retention, rows and last "
                "update from the lake, upstream/downstream datasets and column-level lineage, and an "
                f"index with a search that runs in the browser. Written to {out}."
            ),
            kinds={"html"},
            resource_keys={"lake"},
            deps=[asset_key(d) for d in sorted(contracts)],
        )
    )
    def catalog_site(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from platform_assets.governance.catalog_site import build_site
        from platform_assets.governance.policy_model import load_policies

        index = build_site(context.resources.lake.lake, contracts, load_policies(contracts), out)
        return dg.MaterializeResult(
            metadata={
                "datasets": len(contracts),
                "index": dg.MetadataValue.url(index.resolve().as_uri()),
                "path": dg.MetadataValue.path(str(index)),
            }
        )

    job = dg.define_asset_job(CATALOG_JOB, selection=[CATALOG_SITE], description="Rebuild the catalog site.")
    return dg.Definitions(
        assets=[catalog_site],
        jobs=[job],
        schedules=[
            dg.ScheduleDefinition(job=job, cron_schedule=CATALOG_SCHEDULE, name=f"{CATALOG_JOB}_daily")
        ],
    )


def governance_definitions(contracts: dict[str, Contract], reports_dir: Path) -> dg.Definitions:
    return dg.Definitions.merge(
        pii_scan_definitions(contracts), catalog_site_definitions(contracts, reports_dir / "catalog")
    )
