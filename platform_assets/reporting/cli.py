"""The reporting commands of ``platform`` (docs/commands.md): report, validate, contracts check."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from platform_assets.contracts import load_contracts
from platform_assets.lake.location import Lake
from platform_assets.settings import PlatformSettings


def _lake(settings: PlatformSettings) -> Lake:
    return settings.lake


def report(out: Path | None, data_docs: bool = True) -> int:
    from platform_assets.reporting.publish import write_data_docs, write_report

    settings = PlatformSettings.from_env()
    folder = out or Path(settings.reports_dir)
    contracts = load_contracts()
    instance = None
    if os.environ.get("DAGSTER_HOME"):
        import dagster as dg

        instance = dg.DagsterInstance.get()
    files = write_report(_lake(settings), contracts, folder, instance)
    score = files.snapshot.platform.score
    print(f"report: {files.report}")
    print(
        f"  platform DQ score {f'{score:.2f}' if score is not None else 'n/a'}% (target > 99%), validation coverage "
        f"{files.snapshot.platform_coverage.percent}%, {len(files.snapshot.open_incidents)} open incident(s)"
    )
    if data_docs:
        site = write_data_docs(_lake(settings), contracts, folder)
        print(f"data docs: {site.index} ({site.validations} validation page(s))")
    return 0


def validate(dataset: str, partition: str | None, fmt: str, record: bool) -> int:
    from platform_assets.engine import SparkEngine
    from platform_assets.reporting.validate import ValidateError, render_text, validate_table

    contracts = load_contracts()
    if dataset not in contracts:
        print(f"validate: {dataset!r} has no contract", file=sys.stderr)
        return 2
    settings = PlatformSettings.from_env()
    spark = SparkEngine.from_settings(settings).get_session()
    try:
        result = validate_table(spark, _lake(settings), contracts[dataset], partition, record)
    except ValidateError as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_json(), indent=2) if fmt == "json" else render_text(result))
    return 1 if result.critical_failed else 0


def contracts_check() -> int:
    from platform_assets.contracts.check import check_contracts

    count, problems = check_contracts()
    for problem in problems:
        print(problem)
    print(f"{count} contract file(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0
