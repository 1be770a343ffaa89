"""The stakeholder report, Data Docs, `platform validate` and platform health after a demo-like run.

Known inputs: the FX range run of 2026-11-01..07 (its 11-03 partition held by a null currency) and a
silver/customers table planted with one null customer_id (critical) and one malformed email
(warning), then fixed.
"""

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from platform_assets.cli import main
from platform_assets.contracts import load_contracts
from platform_assets.lake.delta_tables import read_table
from platform_assets.quality.results import quality_results_uri
from platform_assets.reporting.definitions import refresh_request
from platform_assets.reporting.publish import write_data_docs, write_report
from platform_assets_tests.browser import dump_dom, screenshot
from platform_assets_tests.fx_platform import QUIET, FxPlatform, fx_platform

BAD_EMAIL = "jane.doe.at.example.com"  # no @: fails the email rule, and is PII


def _customers(bad: bool) -> pa.Table:
    at = datetime(2026, 11, 5, 12, tzinfo=UTC)
    rows = [
        {"customer_id": 1, "name": "Ann Lee", "email": "ann.lee@example.com", "country": "US"},
        {
            "customer_id": None if bad else 2,
            "name": "Bob Roe",
            "email": "bob.roe@example.com",
            "country": "DE",
        },
        {
            "customer_id": 3,
            "name": "Jane Doe",
            "email": BAD_EMAIL if bad else "jane.doe@example.com",
            "country": "FR",
        },
    ]
    return pa.table(
        {
            "customer_id": pa.array([r["customer_id"] for r in rows], pa.int64()),
            "name": [r["name"] for r in rows],
            "email": [r["email"] for r in rows],
            "phone": ["+1 555 0100"] * 3,
            "address": ["1 Main St"] * 3,
            "country": [r["country"] for r in rows],
            "updated_at": pa.array([at] * 3, pa.timestamp("us", tz="UTC")),
            "_commit_ts": pa.array([at] * 3, pa.timestamp("us", tz="UTC")),
            "_change_seq": ["1", "2", "3"],
            "_is_deleted": [False] * 3,
        }
    )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FxPlatform]:
    with fx_platform(tmp_path_factory.mktemp("reports")) as running:
        running.run("2026-11-01", "2026-11-07")
        yield running


@pytest.fixture
def env(platform: FxPlatform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PLATFORM_LAKE_ROOT", platform.lake.root)
    monkeypatch.setenv("PLATFORM_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return tmp_path / "reports"


def test_01_validate_fails_on_a_planted_critical_defect_and_passes_after_the_fix(
    platform: FxPlatform, env: Path, capsys: pytest.CaptureFixture
) -> None:
    uri = platform.lake.uri("silver/customers")
    write_deltalake(uri, _customers(bad=True), mode="overwrite")
    assert main(["validate", "silver/customers", "--format", "json", "--record"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["critical_failed"] == ["customer_id_not_null"] and out["rows"] == 3
    email = next(r for r in out["rules"] if r["rule"] == "email_matches_regex")
    assert (email["passed"], email["failed_rows"]) == (False, 1)
    assert out["recorded"] == len(load_contracts()["silver/customers"].rules)  # one row per rule
    write_deltalake(uri, _customers(bad=False), mode="overwrite")
    assert main(["validate", "silver/customers", "--record"]) == 0  # the fix, recorded: resolves the incident
    assert "silver/customers: no critical rule failed" in capsys.readouterr().out
    assert main(["validate", "silver/nope"]) == 2
    assert main(["validate", "silver/fx_rates", "--partition", "2026-11-03"]) == 0  # held: never published


def test_02_contracts_check_lists_every_problem(capsys: pytest.CaptureFixture) -> None:
    assert main(["contracts", "check"]) == 0
    assert capsys.readouterr().out.strip().endswith("0 problem(s)")


def test_03_report_renders_in_headless_chromium(platform: FxPlatform, env: Path) -> None:
    files = write_report(platform.lake, load_contracts(), env, platform.instance)
    snap = files.snapshot
    dom, log = dump_dom(files.report.as_uri())
    assert f'id="platform-score">{snap.platform.score:.2f}%<' in dom
    incident = next(i for i in snap.open_incidents if i.dataset == "silver/fx_rates")
    assert (incident.partition, incident.rule_name, incident.action) == (
        "2026-11-03",
        "ccy_not_null",
        "blocked",
    )
    assert "2026-11-03" in dom.split('id="incidents"')[1].split("</table>")[0]
    fixed = next(i for i in snap.incidents if i.dataset == "silver/customers")
    assert fixed.resolved_at is not None and fixed.resolved_at > fixed.opened_at
    assert [i.dataset for i in snap.open_incidents] == ["silver/fx_rates"]
    # samples show the report role's view (report_reader: pii redacted), not the stored partial mask
    assert "[REDACTED]" in dom and "j***" not in dom and BAD_EMAIL not in dom and "Jane Doe" not in dom
    text = files.report.read_text()
    assert "<svg" in dom  # charts inline; nothing for the browser to fetch (namespace URIs are names)
    assert not any(ref in text for ref in ("<link", "<script", 'src="http', "url(http", 'href="http'))
    assert "Uncaught" not in log and "ERROR:CONSOLE" not in log
    shot = screenshot(files.report.as_uri(), env / "report.png")
    assert shot.stat().st_size > 20_000
    shutil.copy(shot, Path("/tmp") / "platform_report.png")


def test_04_data_docs_have_one_page_per_validation(platform: FxPlatform, env: Path) -> None:
    site = write_data_docs(platform.lake, load_contracts(), env)
    rows = read_table(
        quality_results_uri(platform.lake), columns=["run_id", "dataset", "partition"]
    ).to_pylist()
    validations = {(r["run_id"], r["dataset"], r["partition"]) for r in rows}
    assert len(validations) == 7 + 7 + 2  # bronze and silver FX per day, the two recorded customers checks
    pages = list((site.index.parent / "validations").rglob("*.html"))
    assert site.validations == len(pages) == len(validations)
    dom, _ = dump_dom(site.index.as_uri())
    assert "silver.fx_rates" in dom or "silver/fx_rates" in dom


def test_05_report_assets_record_scores_and_are_refreshed_by_the_sensor(
    platform: FxPlatform, env: Path
) -> None:
    from platform_assets.definitions import build_definitions
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env()
    defs = build_definitions(settings)
    job = defs.resolve_job_def("ops_reports_job")
    result = job.execute_in_process(instance=platform.instance, run_config=QUIET)
    assert result.success
    report = platform.instance.get_latest_materialization_event(dg.AssetKey(["ops", "data_quality_report"]))
    metadata = report.asset_materialization.metadata
    assert isinstance(metadata["dq_score"].value, float) and metadata["dq_score/finance"].value < 100
    assert metadata["report"].value.startswith("file://") and "Platform DQ score" in metadata["summary"].value
    health = platform.instance.get_latest_materialization_event(dg.AssetKey(["ops", "platform_health"]))
    values = health.asset_materialization.metadata
    assert values["reliability_runs_percent"].value < 100  # the FX range run failed at the gate
    assert values["cost_per_gb_usd"].value > 0
    bronze = platform.instance.get_latest_materialization_event(dg.AssetKey(["bronze", "fx_rates"]))
    assert bronze.asset_materialization.metadata["bytes_written"].value > 0
    lake = defs.resources["lake"].lake
    first = refresh_request(lake, None)
    assert isinstance(first, dg.SensorResult) and first.run_requests[0].run_key.startswith("quality_results@")
    assert isinstance(refresh_request(lake, first.cursor), dg.SkipReason)


def test_06_platform_report_writes_both_from_the_command_line(
    platform: FxPlatform, env: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["report", "--out", str(env / "cli")]) == 0
    out = capsys.readouterr().out
    assert "platform DQ score" in out and "1 open incident(s)" in out
    assert (env / "cli" / "data_quality_report.html").exists()
    assert (env / "cli" / "data_docs/gx/uncommitted/data_docs/local_site/index.html").exists()
