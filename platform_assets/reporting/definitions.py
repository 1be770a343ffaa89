"""The ops group: ops/quality_results (written by the asset factories), the DQ report, Data Docs,
platform health, and the sensor that refreshes them when quality results change."""

from pathlib import Path

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake
from platform_assets.lake.resource import LakeResource
from platform_assets.layers.specs import PLATFORM_OWNER
from platform_assets.operations.cost import COST_KEY
from platform_assets.quality.results import DATASET, SCHEMA
from platform_assets.sensors.in_flight import run_in_flight
from platform_assets.sensors.lake_sensor import lake_sensor

QUALITY_RESULTS = dg.AssetKey(["ops", "quality_results"])
REPORT = dg.AssetKey(["ops", "data_quality_report"])
DATA_DOCS = dg.AssetKey(["ops", "data_docs"])
HEALTH = dg.AssetKey(["ops", "platform_health"])
REPORTS_JOB = "ops_reports_job"
REFRESH_SENSOR = "quality_results_sensor"
_COMMON = {"group_name": "ops", "owners": [PLATFORM_OWNER], "required_resource_keys": {"lake"}}

QUALITY_RESULTS_SPEC = dg.AssetSpec(
    QUALITY_RESULTS,
    description=(
        "Every rule evaluation (one row per rule and partition per run), appended once per (run, "
        "dataset) by the bronze, silver and gold assets as they validate. Written outside Dagster's "
        "materializations: the refresh sensor watches its Delta version."
    ),
    group_name="ops",
    owners=[PLATFORM_OWNER],
    kinds={"delta"},
    metadata={
        "dagster/table_name": "ops.quality_results",
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(f.name, str(f.type)) for f in SCHEMA]
        ),
    },
)


def _url(path: Path) -> dg.MetadataValue:
    return dg.MetadataValue.url(path.resolve().as_uri())


def _score_metadata(files) -> dict:
    snap = files.snapshot
    metadata: dict = {
        "dq_score": float(snap.platform.score) if snap.platform.score is not None else float("nan"),
        "validation_coverage": float(snap.platform_coverage.percent or 0.0),
        "open_incidents": len(snap.open_incidents),
        "rules_failed": snap.platform.rules_failed,
    }
    for domain, (score, cov) in snap.domains.items():
        if score.score is not None:
            metadata[f"dq_score/{domain}"] = float(score.score)
        metadata[f"validation_coverage/{domain}"] = float(cov.percent or 0.0)
    for card in snap.cards:
        if card.score.score is not None:
            metadata[f"dq_score/{card.dataset}"] = float(card.score.score)
    return metadata


def _summary(files) -> str:
    snap = files.snapshot
    lines = [
        f"**Platform DQ score: {snap.platform.score if snap.platform.score is not None else 'n/a'}%** "
        f"(target > 99%), validation coverage {snap.platform_coverage.percent}%",
        "",
        "| domain | score | coverage |",
        "|---|---|---|",
        *[f"| {d} | {s.score} | {c.percent} |" for d, (s, c) in snap.domains.items()],
        "",
        f"Open incidents: {len(snap.open_incidents)}",
        *[
            f"- {i.dataset} {i.partition or ''}: {i.rule_description} (since {i.opened_at:%Y-%m-%d %H:%M})"
            for i in snap.open_incidents
        ],
    ]
    return "\n".join(lines)


def definitions(contracts: dict[str, Contract], settings) -> dg.Definitions:
    out = Path(settings.reports_dir)

    @dg.asset(
        key=REPORT,
        deps=[QUALITY_RESULTS],
        kinds={"html", "python"},
        description=(
            "The stakeholder data-quality report: one self-contained HTML file (platform score and "
            "trend, scorecards per domain and dataset, incidents, quarantined and dead-lettered "
            "records, masked failing rows, platform health)."
        ),
        **_COMMON,
    )
    def data_quality_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from platform_assets.reporting.publish import write_report

        lake_resource: LakeResource = context.resources.lake
        files = write_report(lake_resource.lake, contracts, out, context.instance)
        return dg.MaterializeResult(
            metadata={
                **_score_metadata(files),
                "report": _url(files.report),
                "path": dg.MetadataValue.path(str(files.report)),
                "summary": dg.MetadataValue.md(_summary(files)),
            }
        )

    @dg.asset(
        key=DATA_DOCS,
        deps=[QUALITY_RESULTS],
        kinds={"html", "great_expectations"},
        description=(
            "Great Expectations Data Docs built from ops/quality_results: every dataset's rules as a "
            "suite and one page per validation (run, dataset, partition)."
        ),
        **_COMMON,
    )
    def data_docs(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from platform_assets.reporting.publish import write_data_docs

        lake_resource: LakeResource = context.resources.lake
        site = write_data_docs(lake_resource.lake, contracts, out)
        return dg.MaterializeResult(
            metadata={
                "validations": site.validations,
                "index": _url(site.index),
                "summary": dg.MetadataValue.md(
                    f"{site.validations} validation page(s): [{site.index}]({site.index.as_uri()})"
                ),
            }
        )

    @dg.asset(
        key=HEALTH,
        deps=[QUALITY_RESULTS, COST_KEY],  # cost per GB processed reads ops/cost
        kinds={"python"},
        description=(
            "The seed's success metrics (DQ score, coverage, freshness vs SLA, reliability, issue "
            "resolution time, cost per GB processed), each with how it is computed and its target."
        ),
        **_COMMON,
    )
    def platform_health(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from platform_assets.reporting.health import platform_health as compute
        from platform_assets.reporting.snapshot import snapshot

        lake_resource: LakeResource = context.resources.lake
        lake = lake_resource.lake
        metrics = compute(snapshot(lake, contracts, context.instance), contracts, context.instance, lake)
        table = "\n".join(
            ["| metric | value | target | met | how |", "|---|---|---|---|---|"]
            + [f"| {m.name} | {m.display} | {m.target_text} | {m.met} | {m.how} |" for m in metrics]
        )
        numeric = {m.key: float(m.value) for m in metrics if m.value is not None}
        return dg.MaterializeResult(metadata={**numeric, "summary": dg.MetadataValue.md(table)})

    assets = [data_quality_report, data_docs, platform_health]
    job = dg.define_asset_job(  # ops/cost first: platform health reads it
        REPORTS_JOB,
        selection=dg.AssetSelection.assets(*assets, COST_KEY),
        description="Refresh ops/cost and the ops reports.",
    )

    @lake_sensor(
        name=REFRESH_SENSOR,
        job=job,
        description=f"Refreshes the ops reports when {DATASET} has a new Delta version.",
    )
    def refresh(context: dg.SensorEvaluationContext, lake: Lake):
        in_flight = run_in_flight(context, REPORTS_JOB)  # it will read the newest version: wait for it
        if in_flight is not None:
            return dg.SkipReason(f"run {in_flight} of {REPORTS_JOB} is queued or running; waiting for it")
        return refresh_request(lake, context.cursor)

    return dg.Definitions(assets=[QUALITY_RESULTS_SPEC, *assets], jobs=[job], sensors=[refresh])


def refresh_request(lake: Lake, cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    """One run per new version of ops/quality_results (the run key makes a version run once)."""
    from platform_assets.quality.results import quality_results_uri

    table = open_table(quality_results_uri(lake), lake.storage_options)
    if table is None:
        return dg.SkipReason(f"{DATASET} does not exist yet")
    version = table.version()
    if cursor is not None and version <= int(cursor):
        return dg.SkipReason(f"{DATASET} unchanged at version {version}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"quality_results@{version}")], cursor=str(version)
    )
