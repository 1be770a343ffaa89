"""A running FX platform for tests: the sandbox FX service, a lake folder, a Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from platform_assets.definitions import FX_JOB, build_definitions, build_resources
from platform_assets.lake.location import Lake
from platform_assets.quality.check_events import partition_results
from platform_assets.settings import PlatformSettings
from sandbox.generator.fx import FxDataset, generate_fx
from sandbox.services.fx_api import FxApiServer

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class RunReport:
    result: dg.ExecuteInProcessResult
    checks: dict[str, dg.AssetCheckEvaluation] = field(default_factory=dict)  # a failure over a pass
    failed_partitions: dict[str, list[str]] = field(default_factory=dict)  # check -> partitions it failed
    evaluations: dict[str, list[dg.AssetCheckEvaluation]] = field(default_factory=dict)  # one a run
    materialized: dict[str, list[str | None]] = field(default_factory=dict)
    skipped_or_failed_steps: list[str] = field(default_factory=list)

    def failed_rows(self, name: str) -> int:
        """A check's failing rows summed over the partitions of the run (each evaluation's results)."""
        return sum(r.failed_rows or 0 for e in self.evaluations.get(name, []) for r in partition_results(e))

    @property
    def success(self) -> bool:
        return self.result.success


@dataclass
class FxPlatform:
    dataset: FxDataset
    server: FxApiServer
    lake: Lake
    settings: PlatformSettings
    defs: dg.Definitions
    instance: dg.DagsterInstance

    def resources(self) -> dict:
        return build_resources(self.settings)

    def run(self, start: str, end: str | None = None, selection: list[str] | None = None) -> RunReport:
        """Materialize the FX job (or a subset of it) for the partition range start..end in one run."""
        tags = {
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": end or start,
        }
        job = self.defs.resolve_job_def(FX_JOB)
        selected = [dg.AssetKey(key.split("/")) for key in selection] if selection else None
        result = job.execute_in_process(
            instance=self.instance,
            tags=tags,
            run_config=QUIET,
            raise_on_error=False,
            asset_selection=selected,
        )
        report = RunReport(result)
        for event in result.all_events:
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                report.evaluations.setdefault(name, []).append(evaluation)
                if name not in report.checks or report.checks[name].passed:
                    report.checks[name] = evaluation
                for result in partition_results(evaluation):
                    if not result.passed:
                        report.failed_partitions.setdefault(name, []).append(result.partition)
            elif event.event_type_value == "ASSET_MATERIALIZATION":
                materialization = event.event_specific_data.materialization
                key = materialization.asset_key.to_user_string()
                report.materialized.setdefault(key, []).append(materialization.partition)
            elif event.event_type_value in ("STEP_FAILURE", "STEP_SKIPPED") and event.step_key:
                report.skipped_or_failed_steps.append(event.step_key)
        return report


@contextmanager
def fx_platform(root: Path, dataset: FxDataset | None = None) -> Iterator[FxPlatform]:
    dataset = dataset or generate_fx()
    with FxApiServer(dataset, token="test-token") as server, dg.instance_for_test() as instance:
        settings = PlatformSettings.from_env(
            {
                "PLATFORM_LAKE_ROOT": str(root / "lake"),
                "FX_API_URL": server.base_url,
                "FX_API_TOKEN": "test-token",
            }
        )
        lake = settings.lake
        yield FxPlatform(dataset, server, lake, settings, build_definitions(settings), instance)
