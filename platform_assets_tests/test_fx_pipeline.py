"""The FX slice end to end: real HTTP service -> bronze -> silver -> gold on real Delta tables.

Every expected number follows from the sandbox generator's planted defects (seed 7, 2026-11-01..07):
13 currencies a day; JPY for 11-02 published late on 11-04; a null currency on 11-03; EUR for 11-04
sent twice and corrected by revision 2; BRL at 1500.0 on 11-05.
"""

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder

from platform_assets.lake.audit_log import audit_uri
from platform_assets.lake.delta_tables import read_table, row_count
from platform_assets_tests.fx_platform import FxPlatform, fx_platform
from sandbox.generator.fx import generate_fx

SILVER_COLUMNS = ["as_of_date", "ccy", "rate_to_base", "revision", "publication_id"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FxPlatform]:
    with fx_platform(tmp_path_factory.mktemp("fx")) as running:
        yield running


def _silver(platform: FxPlatform, day: str) -> list[dict]:
    return read_table(
        platform.lake.uri("silver/fx_rates"),
        where=f"as_of_date = '{day}'",
        columns=SILVER_COLUMNS,
        order_by=["ccy"],
    ).to_pylist()


def _expected(platform: FxPlatform, day: str) -> list[dict]:
    return [
        {
            "as_of_date": date.fromisoformat(r["as_of_date"]),
            "ccy": r["ccy"],
            "rate_to_base": r["rate_to_base"],
            "revision": r["revision"],
            "publication_id": r["publication_id"],
        }
        for r in platform.dataset.expected_silver(date.fromisoformat(day))
    ]


def test_01_two_clean_days_reach_gold(platform: FxPlatform) -> None:
    report = platform.run("2026-11-01", "2026-11-02")
    assert report.success, report.skipped_or_failed_steps
    assert report.materialized["bronze/fx_rates"] == ["2026-11-01", "2026-11-02"]
    assert report.materialized["silver/fx_rates"] == ["2026-11-01", "2026-11-02"]
    assert report.materialized["gold/dim_currency"] == [None]
    assert all(check.passed for check in report.checks.values())
    assert row_count(platform.lake.uri("bronze/fx_rates")) == 13 + 12
    assert _silver(platform, "2026-11-01") == _expected(platform, "2026-11-01")
    assert [r["ccy"] for r in _silver(platform, "2026-11-02")] == sorted(
        set(platform.dataset.currencies) - {"JPY"}  # JPY for 11-02 has not been published yet
    )
    dim = read_table(platform.lake.uri("gold/dim_currency"), order_by=["ccy"]).to_pylist()
    assert len(dim) == 14  # 13 currencies + the unknown member
    assert {r["ccy"]: r["rate_days"] for r in dim}["JPY"] == 1
    unknown = next(r for r in dim if r["ccy"] == "UNK")
    assert unknown["currency_key"] == -1 and unknown["rate_days"] == 0
    usd = next(r for r in dim if r["ccy"] == "USD")
    assert usd["is_base_currency"] and usd["latest_rate_to_base"] == 1.0


def test_01b_each_materialization_is_audited_before_its_step_returns(platform: FxPlatform) -> None:
    """No sensor ran: the write path itself appended one materialize row per asset of test_01's run."""
    reader = (
        QueryBuilder()
        .register("t", DeltaTable(audit_uri(platform.lake)))
        .execute("SELECT * FROM t WHERE action = 'materialize' ORDER BY at")
    )
    rows = pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()
    run_id = platform.instance.get_runs(limit=1)[0].run_id
    assert [(r["datasets"], r["row_count"], r["user"], r["role"]) for r in rows] == [
        (["bronze/fx_rates"], 13 + 12, "service:dagster", "pipeline"),
        (["silver/fx_rates"], 13 + 12, "service:dagster", "pipeline"),
        (["gold/dim_currency"], 14, "service:dagster", "pipeline"),
    ]
    assert rows[0]["statement"].startswith(
        f"materialize bronze/fx_rates partition 2026-11-01..2026-11-02 (run {run_id}, version "
    )


def test_02_materialization_metadata_carries_lineage_schema_and_counts(platform: FxPlatform) -> None:
    record = platform.instance.get_latest_materialization_event(
        dg.AssetKey(["silver", "fx_rates"])
    ).asset_materialization
    metadata = record.metadata
    assert metadata["dagster/row_count"].value == 13 + 12
    assert metadata["dagster/table_name"].value == "silver.fx_rates"
    assert [c.name for c in metadata["dagster/column_schema"].schema.columns][:3] == [
        "as_of_date",
        "ccy",
        "base_ccy",
    ]
    lineage = metadata["dagster/column_lineage"].lineage.deps_by_column
    assert [(d.asset_key.to_user_string(), d.column_name) for d in lineage["base_ccy"]] == [
        ("bronze/fx_rates", "base")
    ]
    assert metadata["dagster/uri"].value == platform.lake.uri("silver/fx_rates")


def test_03_rerunning_a_bronze_partition_does_not_duplicate(platform: FxPlatform) -> None:
    for _ in range(2):
        report = platform.run("2026-11-02", selection=["bronze/fx_rates"])
        assert report.success
    assert row_count(platform.lake.uri("bronze/fx_rates"), where="_proc_date = '2026-11-02'") == 12
    batches = read_table(
        platform.lake.uri("bronze/fx_rates"), where="_proc_date = '2026-11-02'", columns=["_batch_id"]
    )
    assert set(batches.column("_batch_id").to_pylist()) == {f"{report.result.run_id}:2026-11-02"}


def test_04_null_currency_stops_its_day_at_the_gate_and_is_quarantined(platform: FxPlatform) -> None:
    report = platform.run("2026-11-03")
    assert not report.success
    failed = report.checks["silver/fx_rates:ccy_not_null"]
    assert not failed.passed and failed.severity.value == "ERROR"
    assert failed.metadata["failed_rows"].value == 1
    assert report.failed_partitions["silver/fx_rates:ccy_not_null"] == ["2026-11-03"]
    assert failed.metadata["partition"].value == "2026-11-03"  # one evaluation per rule and run
    assert failed.metadata["failing_rows_sample"].value[0]["ccy"] is None
    assert report.checks["silver/fx_rates:as_of_date_ccy_unique"].passed
    # the critical failure published nothing and stopped gold
    assert "silver/fx_rates" not in report.materialized
    assert "gold/dim_currency" not in report.materialized
    assert "silver__fx_rates" in report.skipped_or_failed_steps
    assert _silver(platform, "2026-11-03") == []
    quarantined = read_table(platform.lake.quarantine_uri("silver/fx_rates")).to_pylist()
    assert len(quarantined) == 1
    assert quarantined[0]["ccy"] is None
    assert quarantined[0]["_failed_rules"] == "ccy_not_null"
    assert quarantined[0]["_action"] == "blocked"
    assert quarantined[0]["_run_id"] == report.result.run_id


def test_05_duplicate_and_correction_keep_the_latest_revision(platform: FxPlatform) -> None:
    report = platform.run("2026-11-04")
    assert report.success, report.skipped_or_failed_steps
    resent = report.checks["bronze/fx_rates:no_resent_records"]
    assert not resent.passed and resent.severity.value == "WARN"
    assert resent.metadata["failed_rows"].value == 2  # the EUR record and its re-sent copy
    assert row_count(platform.lake.uri("bronze/fx_rates"), where="_proc_date = '2026-11-04'") == 16
    silver = _silver(platform, "2026-11-04")
    assert silver == _expected(platform, "2026-11-04")
    eur = next(r for r in silver if r["ccy"] == "EUR")
    assert eur["revision"] == 2 and eur["publication_id"] == "fx-20261104-r2-eur"
    assert report.checks["silver/fx_rates:as_of_date_ccy_unique"].passed


def test_06_late_publication_lands_in_its_business_date(platform: FxPlatform) -> None:
    # what the sensor requests when the late JPY for 11-02 arrives on 11-04: 11-02..11-04 in one run
    report = platform.run("2026-11-02", "2026-11-04")
    assert _silver(platform, "2026-11-02") == _expected(platform, "2026-11-02")
    jpy = next(r for r in _silver(platform, "2026-11-02") if r["ccy"] == "JPY")
    assert jpy["publication_id"] == "fx-20261102-r1-jpy-late"
    # 11-03 is still blocked by its null currency; the other days of the range were published, and
    # exactly those are recorded as materialized, each with its own row count
    assert not report.success
    assert report.materialized["silver/fx_rates"] == ["2026-11-02", "2026-11-04"]
    latest = platform.instance.get_latest_materialization_event(dg.AssetKey(["silver", "fx_rates"]))
    assert latest.asset_materialization.metadata["dagster/row_count"].value == 13
    assert "gold/dim_currency" not in report.materialized
    assert report.failed_partitions["silver/fx_rates:ccy_not_null"] == ["2026-11-03"]
    assert _silver(platform, "2026-11-03") == []


def test_07_out_of_range_rate_warns_and_publishes(platform: FxPlatform) -> None:
    report = platform.run("2026-11-05")
    assert report.success
    between = report.checks["silver/fx_rates:rate_to_base_between"]
    assert not between.passed and between.severity.value == "WARN"
    assert between.metadata["failed_rows"].value == 1
    assert between.metadata["failing_rows_sample"].value[0]["ccy"] == "BRL"
    assert report.materialized["gold/dim_currency"] == [None]
    brl = next(r for r in _silver(platform, "2026-11-05") if r["ccy"] == "BRL")
    assert brl["rate_to_base"] == 1500.0


def test_08_final_silver_equals_the_generator_oracle(platform: FxPlatform) -> None:
    report = platform.run("2026-11-06", "2026-11-07")
    assert report.success
    for day in ["2026-11-01", "2026-11-02", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-07"]:
        assert _silver(platform, day) == _expected(platform, day), day
    assert row_count(platform.lake.uri("silver/fx_rates")) == 6 * 13
    dim = {r["ccy"]: r for r in read_table(platform.lake.uri("gold/dim_currency")).to_pylist()}
    assert dim["EUR"]["rate_days"] == 6 and str(dim["EUR"]["latest_rate_date"]) == "2026-11-07"


def test_09_schema_drift_in_the_source_flows_into_bronze_as_text(tmp_path: Path) -> None:
    dataset = generate_fx()
    first = dataset.publications[0]
    drifted = dict(first.records[0], source_bank="ECB")  # a field the contract does not know yet
    first = replace(first, records=(drifted, *first.records[1:]))
    dataset = replace(dataset, publications=(first, *dataset.publications[1:]))
    with fx_platform(tmp_path, dataset) as running:
        report = running.run("2026-11-01", selection=["bronze/fx_rates"])
        assert report.success
        rows = read_table(
            running.lake.uri("bronze/fx_rates"), columns=["ccy", "source_bank"], order_by=["ccy"]
        )
        values = dict(
            zip(rows.column("ccy").to_pylist(), rows.column("source_bank").to_pylist(), strict=True)
        )
        assert values[drifted["ccy"]] == "ECB"
        assert sum(v is not None for v in values.values()) == 1
        record = running.instance.get_latest_materialization_event(
            dg.AssetKey(["bronze", "fx_rates"])
        ).asset_materialization
        assert record.metadata["new_source_fields"].value == ["source_bank"]
