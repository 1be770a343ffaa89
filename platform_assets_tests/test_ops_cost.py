"""Cost telemetry on the real FX pipeline: every materialization's cost/* metadata, ops/cost equals
their sums, and the budget alert fires once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.resource import LakeResource
from platform_assets.operations.budgets import Budget, evaluate_budgets, load_budgets
from platform_assets.operations.cost import MEASURES, PriceModel, build_cost_asset, cost_uri
from platform_assets_tests.fx_platform import FxPlatform, fx_platform

FX = ("bronze/fx_rates", "silver/fx_rates", "gold/dim_currency")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FxPlatform]:
    with fx_platform(tmp_path_factory.mktemp("cost")) as running:
        assert running.run("2026-11-01", "2026-11-02").success
        assert running.run("2026-11-03").success is not None  # day 3's null currency stops silver
        yield running


def _materializations(platform: FxPlatform, dataset: str) -> list[dict]:
    """The cost reports: a partition range's result is one report recorded once per partition."""
    records = platform.instance.fetch_materializations(dg.AssetKey(dataset.split("/")), limit=100).records
    reports = {}
    for record in records:
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        reports.setdefault(metadata["cost/report_id"], metadata)
    return list(reports.values())


def _log_adds(uri: str, version: int) -> tuple[int, int]:
    lines = (Path(uri) / "_delta_log" / f"{version:020d}.json").read_text().splitlines()
    adds = [json.loads(line)["add"] for line in lines if '"add"' in line]
    return len(adds), sum(a["size"] for a in adds)


def test_every_materialization_records_cost_metadata(platform: FxPlatform) -> None:
    bronze = _materializations(platform, "bronze/fx_rates")
    assert len(bronze) == 2  # days 1-2 (a single-run range: one commit, two events) and day 3
    for metadata in bronze:
        assert metadata["cost/rows"] == metadata["dagster/row_count"]
        assert metadata["cost/compute_seconds"] > 0
        assert metadata["cost/bytes_read"] == 0  # bronze reads a source, no table
    # the last bronze run made exactly one commit: its add actions are what the metadata counts
    newest = bronze[0]
    files, size = _log_adds(platform.lake.uri("bronze/fx_rates"), newest["delta_version"])
    assert (newest["cost/files_written"], newest["cost/bytes_written"]) == (files, size)
    # the range run reported two partitions from one step: each commit is counted once overall
    versions = {m["delta_version"] for m in bronze}
    total = [_log_adds(platform.lake.uri("bronze/fx_rates"), v) for v in range(max(versions) + 1)]
    assert sum(m["cost/files_written"] for m in bronze) == sum(f for f, _ in total)
    assert sum(m["cost/bytes_written"] for m in bronze) == sum(b for _, b in total)
    silver = _materializations(platform, "silver/fx_rates")
    assert all(m["cost/bytes_read"] > 0 and m["cost/files_written"] >= 1 for m in silver)


def test_ops_cost_rows_equal_the_sum_of_the_runs_metadata(platform: FxPlatform) -> None:
    prices = PriceModel()
    result = dg.materialize(
        [build_cost_asset(_contracts())],
        resources={"lake": LakeResource(root=platform.lake.root)},
        instance=platform.instance,
        run_config={"ops": {"ops__cost": {"config": prices.model_dump()}}},
    )
    assert result.success
    rows = read_table(cost_uri(platform.lake)).to_pylist()
    for dataset in FX:
        mine = [r for r in rows if r["dataset"] == dataset]
        metadata = _materializations(platform, dataset)
        assert sum(r["reports"] for r in mine) == len(metadata)
        for measure in MEASURES:
            expected = sum(m[f"cost/{measure}"] for m in metadata)
            assert sum(r[measure] for r in mine) == pytest.approx(expected, abs=1e-3), (dataset, measure)
        for r in mine:
            engine = "python" if dataset.startswith("bronze") else "sail"
            compute = r["compute_seconds"] * prices.compute_second_usd[engine]
            assert r["compute_usd"] == pytest.approx(compute)
            assert r["cost_usd"] == pytest.approx(r["compute_usd"] + r["scan_usd"] + r["storage_usd"])
    assert {r["domain"] for r in rows} == {"finance"}


def test_budget_alert_fires_once(platform: FxPlatform) -> None:
    assert set(load_budgets()) >= {"finance", "sales", "catalog"}
    today = read_table(cost_uri(platform.lake)).column("day").to_pylist()[0]
    now = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    spent = sum(r["cost_usd"] for r in read_table(cost_uri(platform.lake)).to_pylist())
    tight = {"finance": Budget(monthly_usd=spent, alert_at=0.5)}  # any projection passes half of it
    loose = {"finance": Budget(monthly_usd=spent * 10_000, alert_at=1.0)}

    assert evaluate_budgets(platform.lake, loose, now) == []
    first = evaluate_budgets(platform.lake, tight, now)
    second = evaluate_budgets(platform.lake, tight, now)

    assert [(a.kind, a.dataset, a.severity) for a in first] == [("budget", "finance", "WARN")]
    assert "projected spend" in first[0].message and second == []
    alerts = read_table(f"{platform.lake.root}/ops/alerts").to_pylist()
    assert [(a["kind"], a["dataset"]) for a in alerts] == [("budget", "finance")]


def _contracts() -> dict:
    from platform_assets.contracts import load_contracts

    contracts = load_contracts()
    return {c: contracts[c] for c in FX}


def test_platform_health_reads_cost_per_gb_from_ops_cost(tmp_path: Path) -> None:
    """Known cost reports -> ops/cost -> the health report's figure, exactly, against the $0.10 target."""
    from platform_assets.lake.location import Lake
    from platform_assets.reporting.health import platform_health
    from platform_assets.reporting.snapshot import snapshot

    contracts = _contracts()
    reports = {  # dataset -> (bytes_read, bytes_written, compute_seconds) of each report
        "silver/fx_rates": [(3e9, 1e9, 1000.0), (1e9, 1e9, 600.0)],
        "gold/dim_currency": [(2e9, 0, 400.0)],
    }
    # GB processed: 3 + 1 + 1 + 1 + 2 = 8; compute: 2000 s x $0.0005 = $1.00; scan: 6 GB x $0.01 = $0.06
    prices = PriceModel(
        compute_second_usd={"sail": 0.0005},
        gb_scanned_usd=0.01,
        gb_month_stored_usd={"standard": 0.0},
    )
    lake = Lake(str(tmp_path / "lake"))
    with dg.instance_for_test() as instance:
        for dataset, measures in reports.items():
            for n, (read, written, seconds) in enumerate(measures):
                metadata = {f"cost/{m}": 0 for m in MEASURES} | {
                    "cost/bytes_read": int(read),
                    "cost/bytes_written": int(written),
                    "cost/compute_seconds": seconds,
                    "cost/report_id": f"{dataset}-{n}",
                }
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(asset_key=dg.AssetKey(dataset.split("/")), metadata=metadata)
                )
        result = dg.materialize(
            [build_cost_asset(contracts)],
            resources={"lake": LakeResource(root=lake.root)},
            instance=instance,
            run_config={"ops": {"ops__cost": {"config": prices.model_dump()}}},
        )
        assert result.success
        now = datetime.now(UTC)
        metrics = {
            m.key: m
            for m in platform_health(snapshot(lake, contracts, instance), contracts, instance, lake, now)
        }
        later = platform_health(
            snapshot(lake, contracts, instance), contracts, instance, lake, now + timedelta(days=8)
        )
    rows = read_table(cost_uri(lake)).to_pylist()
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(1.06)
    cost = metrics["cost_per_gb_usd"]
    assert cost.value == pytest.approx(1.06 / 8) and cost.target == 0.10 and cost.met is False
    assert "$1.060000 over 8.000000 GB, 1 day(s)" in cost.how
    asset_figure = result.asset_materializations_for_node("ops__cost")[0].metadata["usd_per_gb_processed"]
    assert asset_figure.value == pytest.approx(0.1325)  # the asset and the report say the same
    stale = next(m for m in later if m.key == "cost_per_gb_usd")
    assert stale.value is None and "0 day(s)" in stale.how  # outside the 7-day window


def test_storage_is_priced_by_the_class_the_lifecycle_rules_put_each_file_in(tmp_path: Path) -> None:
    """bronze tiers files to infrequent access after 30 days and to archive after 180 (its contract)."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from platform_assets.lake.location import Lake
    from platform_assets.operations.cost import GB, cost_rows, stored_gb_by_class

    contracts = _contracts()
    lake = Lake(str(tmp_path / "lake"))
    uri = lake.uri("bronze/fx_rates")
    for day in range(3):  # three files
        write_deltalake(
            uri, pa.table({"n": list(range(day * 100, day * 100 + 50 * (day + 1)))}), mode="append"
        )
    now = datetime.now(UTC)
    ages = [200, 40, 0]  # days: archive, infrequent, standard
    log = Path(uri) / "_delta_log"
    for version, age in enumerate(ages):  # each commit added one file: backdate it as S3 would see it
        entry = log / f"{version:020d}.json"
        actions = [json.loads(line) for line in entry.read_text().splitlines()]
        for action in actions:
            if "add" in action:
                action["add"]["modificationTime"] = int((now.timestamp() - age * 86_400) * 1000)
        entry.write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    sizes = pa.table(DeltaTable(uri).get_add_actions(flatten=True)).sort_by("modification_time")
    archive, infrequent, standard = (s / GB for s in sizes.column("size_bytes").to_pylist())

    stored = stored_gb_by_class(lake, contracts["bronze/fx_rates"], now)

    assert stored == pytest.approx({"archive": archive, "infrequent": infrequent, "standard": standard})
    prices = PriceModel()
    with dg.instance_for_test() as instance:
        metadata = {f"cost/{m}": 0 for m in MEASURES} | {"cost/report_id": "one"}
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=dg.AssetKey(["bronze", "fx_rates"]), metadata=metadata)
        )
        (row,) = cost_rows(instance, contracts, lake, prices, now)
    month = prices.gb_month_stored_usd
    expected = (
        archive * month["archive"] + infrequent * month["infrequent"] + standard * month["standard"]
    ) / 30
    assert row["storage_usd"] == pytest.approx(expected) and row["cost_usd"] == pytest.approx(expected)
