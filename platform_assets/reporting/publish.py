"""Write the stakeholder report, the Data Docs site and platform health to the reports folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.lake.location import Lake
from platform_assets.reporting.data_docs import DataDocsSite, build_data_docs
from platform_assets.reporting.health import Metric, platform_health
from platform_assets.reporting.html import render_report
from platform_assets.reporting.snapshot import Snapshot, snapshot

REPORT_FILE = "data_quality_report.html"
HEALTH_FILE = "platform_health.json"
DATA_DOCS_DIR = "data_docs"


@dataclass(frozen=True)
class ReportFiles:
    report: Path
    snapshot: Snapshot
    health: list[Metric]


def write_report(
    lake: Lake, contracts: dict[str, Contract], out_dir: Path, instance: dg.DagsterInstance | None = None
) -> ReportFiles:
    out_dir.mkdir(parents=True, exist_ok=True)
    snap = snapshot(lake, contracts, instance)
    health = platform_health(snap, contracts, instance, lake)
    path = out_dir / REPORT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_report(snap, health), encoding="utf-8")
    tmp.replace(path)  # readers never see half a file
    (out_dir / HEALTH_FILE).write_text(json.dumps([asdict(m) for m in health], indent=2, default=str))
    return ReportFiles(path, snap, health)


def write_data_docs(lake: Lake, contracts: dict[str, Contract], out_dir: Path) -> DataDocsSite:
    return build_data_docs(lake, contracts, out_dir / DATA_DOCS_DIR)
