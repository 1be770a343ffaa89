"""Every write is a row in ops/audit_log: materializations (the write-audit sensor), restores and
policy changes (erasure and retention deletes have their own tests)."""

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder, write_deltalake

from platform_assets.cli import main
from platform_assets.contracts import load_contracts
from platform_assets.governance.audit import audit_uri
from platform_assets.governance.policy_audit import audit_policy_version
from platform_assets.governance.policy_model import POLICIES_FILE
from platform_assets.governance.write_audit import build_write_audit_sensor
from platform_assets.lake.location import Lake
from platform_assets.lake.resource import LakeResource


def _audit(lake: Lake, action: str) -> list[dict]:
    reader = (
        QueryBuilder()
        .register("t", DeltaTable(audit_uri(lake)))
        .execute(f"SELECT * FROM t WHERE action = '{action}' ORDER BY at, statement")
    )
    return pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()


DAYS = dg.StaticPartitionsDefinition(["2026-11-01", "2026-11-02"])


@dg.asset(key=["silver", "orders"], partitions_def=DAYS)
def orders(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 10 + int(context.partition_key[-1])})


@dg.asset(key=["gold", "dim_date"])
def dim_date() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 365})


def test_each_materialization_is_audited_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    sensor = build_write_audit_sensor(load_contracts())
    resources = {"lake": LakeResource(root=lake.root)}
    with dg.instance_for_test() as instance:
        dg.materialize([orders], instance=instance, partition_key="2026-11-01")
        dg.materialize([orders], instance=instance, partition_key="2026-11-02", tags={"dagster/user": "ann"})
        dg.materialize([dim_date], instance=instance)
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
        first = _audit(lake, "materialize")
        assert sorted((r["datasets"][0], r["row_count"], r["user"]) for r in first) == [
            ("gold/dim_date", 365, "service:dagster"),
            ("silver/orders", 11, "service:dagster"),
            ("silver/orders", 12, "ann"),
        ]
        assert {r["role"] for r in first} == {"pipeline"}
        assert any("partition 2026-11-02" in r["statement"] for r in first)

        # the next tick resumes from the cursor: only the new materialization is added
        dg.materialize([dim_date], instance=instance)
        sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, resources=resources, cursor=tick.cursor)
        )
        assert len(_audit(lake, "materialize")) == 4


def test_a_policy_change_is_audited_once_per_version(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES_FILE.read_text())
    assert audit_policy_version(lake, policies) is True
    assert audit_policy_version(lake, policies) is False  # same version: nothing new
    text = policies.read_text().replace("method: partial}", "method: hash}", 1)
    policies.write_text(text + "  auditor:\n    description: Reads the audit.\n    grants: [{layer: gold}]\n")
    assert audit_policy_version(lake, policies) is True
    rows = _audit(lake, "policy_change")
    assert len(rows) == 2
    assert rows[0]["statement"].split("; ")[1].startswith("first audited version: roles analyst, engineer")
    assert rows[1]["statement"].split("; ")[1:] == ["role auditor added", "role regional_analyst changed"]
    assert rows[1]["reason"] == policies.read_text()  # the version itself, for the next comparison


def test_a_restore_is_audited_with_the_versions_and_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    uri = lake.uri("silver/fx_rates")
    write_deltalake(uri, pa.table({"ccy": ["EUR", "GBP"]}))
    write_deltalake(uri, pa.table({"ccy": ["USD"]}), mode="append")
    monkeypatch.setenv("PLATFORM_LAKE_ROOT", lake.root)
    monkeypatch.setenv("PLATFORM_USER", "oliver")
    assert main(["restore", "silver/fx_rates", "--to-version", "0"]) == 0
    assert "restored to version 0" in capsys.readouterr().out
    rows = _audit(lake, "restore")
    assert [(r["user"], r["datasets"], r["row_count"], r["statement"]) for r in rows] == [
        ("oliver", ["silver/fx_rates"], 2, "restore silver/fx_rates to version 0 (was 1)")
    ]
    assert main(["restore", "silver/fx_rates", "--to-version", "2"]) == 0  # already there: no write
    assert len(_audit(lake, "restore")) == 1
