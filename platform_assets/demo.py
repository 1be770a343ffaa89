"""The demo: sandbox sources -> bronze -> silver -> gold on the embedded defaults, then a summary.

It plays the sandbox's publication days in order. Each day it moves the FX service's clock to the
end of that day, lets the real ``fx_publications_sensor`` decide what to run, and runs its requests
in-process against the Dagster instance in ``DAGSTER_HOME``, so the UI on that home shows them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import dagster as dg

from platform_assets.contracts import load_contracts
from platform_assets.definitions import FX_JOB, build_definitions, build_resources
from platform_assets.lake.delta_tables import count_by, row_count
from platform_assets.lake.location import Lake
from platform_assets.settings import PlatformSettings

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the demo prints its own lines
REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


@dataclass
class CheckTally:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class RunOutcome:
    run_id: str
    partitions: str
    success: bool
    checks: CheckTally
    stopped_at: list[str]  # assets whose step failed (a blocking check, or an error)
    not_run: list[str]  # assets of the job that were not materialized because of that


def prepare_home(dagster_home: Path) -> None:
    """A Dagster home with the repo's instance settings, so `dagster dev` on it shows the runs."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    if not target.exists() and REPO_DAGSTER_YAML.exists():
        shutil.copy(REPO_DAGSTER_YAML, target)


def _run_request(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest, sensor_name: str
) -> RunOutcome:
    job = defs.resolve_job_def(FX_JOB)
    tags = {**request.tags, "dagster/sensor_name": sensor_name}
    if request.run_key:
        tags["dagster/run_key"] = request.run_key
    result = job.execute_in_process(instance=instance, tags=tags, run_config=QUIET, raise_on_error=False)
    tally = CheckTally()
    stopped: list[str] = []
    materialized: set[str] = set()
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            (tally.passed if evaluation.passed else tally.failed).append(name)
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            materialized.add(event.event_specific_data.materialization.asset_key.to_user_string())
        elif event.event_type_value == "STEP_FAILURE" and event.step_key:
            stopped.append(event.step_key.replace("__", "/", 1))
    job_assets = [key.to_user_string() for key in job.asset_layer.executable_asset_keys]
    start = request.tags.get("dagster/asset_partition_range_start", "")
    end = request.tags.get("dagster/asset_partition_range_end", "")
    span = start if start == end else f"{start}..{end}"
    not_run = sorted(a for a in job_assets if a not in materialized and a not in stopped)
    return RunOutcome(result.run_id, span, result.success, tally, stopped, not_run)


def run_demo(start: date, days: int, seed: int, fresh: bool = True) -> int:
    from sandbox.generator.fx import generate_fx
    from sandbox.services.fx_api import FxApiServer

    settings = PlatformSettings.from_env()
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    prepare_home(dagster_home)
    lake = Lake(settings.lake_root, settings.storage_options)
    if fresh and not lake.is_remote and Path(lake.root).exists():
        print(f"Removing the previous demo lake at {lake.root}")
        shutil.rmtree(lake.root)

    dataset = generate_fx(seed=seed, start=start, days=days)
    print(
        f"Sandbox: FX REST API with {len(dataset.publications)} publications for {start}..{dataset.as_of_dates[-1]}"
    )
    outcomes: list[RunOutcome] = []
    with FxApiServer(dataset) as fx_service, dg.DagsterInstance.get() as instance:
        settings = replace(settings, fx_api_url=fx_service.base_url, fx_api_token=fx_service.token)
        defs = build_definitions(settings)
        resources = build_resources(settings)
        sensor = defs.resolve_sensor_def("fx_publications_sensor")
        cursor: str | None = None
        print(f"Engine: {settings.engine}; lake: {settings.lake_root}; Dagster home: {dagster_home}\n")
        for offset in range(days):
            day = start + timedelta(days=offset)
            fx_service.set_clock(datetime.combine(day, time(23, 59, 59)).isoformat() + "Z")
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            tick = sensor.evaluate_tick(context)
            cursor = tick.cursor or cursor
            if not tick.run_requests:
                print(f"{day}  sensor: nothing new")
                continue
            for request in tick.run_requests:
                outcome = _run_request(defs, instance, request, sensor.name)
                outcomes.append(outcome)
                verdict = "ok" if outcome.success else "STOPPED"
                failed = (
                    f"; failed checks: {', '.join(outcome.checks.failed)}" if outcome.checks.failed else ""
                )
                print(
                    f"{day}  sensor -> run {outcome.run_id[:8]} partitions {outcome.partitions}: {verdict} "
                    f"({len(outcome.checks.passed)} checks passed{failed})"
                )
                if outcome.stopped_at:
                    print(
                        f"            stopped at {', '.join(outcome.stopped_at)}; "
                        f"not refreshed: {', '.join(outcome.not_run) or 'nothing'}"
                    )
    _print_summary(lake, outcomes, dagster_home)
    return 0


def _print_summary(lake: Lake, outcomes: list[RunOutcome], dagster_home: Path) -> None:
    contracts = load_contracts()
    print("\nTables")
    for name in sorted(contracts, key=lambda n: ("bronze", "silver", "gold").index(n.split("/")[0])):
        uri = lake.uri(name)
        print(f"  {name:<22} {row_count(uri, lake.storage_options):>6} rows   {uri}")
        quarantine = lake.quarantine_uri(name)
        held = row_count(quarantine, lake.storage_options)
        if held:
            print(f"  {'  quarantined':<22} {held:>6} rows   {quarantine}")
        partitioning = contracts[name].partitioning
        if held and partitioning:
            blocked = count_by(quarantine, partitioning.column, "_action = 'blocked'", lake.storage_options)
            published = count_by(uri, partitioning.column, None, lake.storage_options)
            unpublished = sorted(set(blocked) - set(published))
            if unpublished:
                print(f"  {'  held at the gate':<22} {', '.join(unpublished)}")
    passed = sum(len(o.checks.passed) for o in outcomes)
    failed = [name for o in outcomes for name in o.checks.failed]
    print(f"\nRuns: {len(outcomes)} ({sum(o.success for o in outcomes)} succeeded)")
    print(f"Check evaluations: {passed} passed, {len(failed)} failed")
    for name in sorted(set(failed)):
        print(f"  failed: {name} ({failed.count(name)}x)")
    print(f"\nLake:        {lake.root}")
    print(f"Dagster home: {dagster_home}")
    print("See the runs, checks, lineage and freshness in the UI on the same home:")
    print(
        f"  DAGSTER_HOME={dagster_home} PLATFORM_LAKE_ROOT={lake.root} .venv/bin/dagster dev -w workspace.yaml"
    )
    print("  then open http://127.0.0.1:3000")
