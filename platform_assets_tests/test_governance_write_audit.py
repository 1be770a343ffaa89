"""Every write is a row in ops/audit_log: restores and policy changes here (materializations are
audited by the layer write path: test_fx_pipeline; erasure and retention deletes have their own tests)."""

import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder, write_deltalake

from platform_assets.cli import main
from platform_assets.governance.policy_audit import audit_policy_version
from platform_assets.governance.policy_model import POLICIES_FILE
from platform_assets.lake.audit_log import audit_uri
from platform_assets.lake.location import Lake


def _audit(lake: Lake, action: str) -> list[dict]:
    reader = (
        QueryBuilder()
        .register("t", DeltaTable(audit_uri(lake)))
        .execute(f"SELECT * FROM t WHERE action = '{action}' ORDER BY at, statement")
    )
    return pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()


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


def test_restore_all_leaves_the_audit_log_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The audit log is append-only: a restore --all to T rewinds the data, not the record of what was
    done after T (nor the restore's own rows)."""
    lake = Lake(str(tmp_path / "lake"))
    uri = lake.uri("silver/fx_rates")
    write_deltalake(uri, pa.table({"ccy": ["EUR", "GBP"]}))
    monkeypatch.setenv("PLATFORM_LAKE_ROOT", lake.root)
    monkeypatch.setenv("PLATFORM_USER", "oliver")
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES_FILE.read_text())
    assert audit_policy_version(lake, policies) is True  # the audit log exists before T
    cutoff = DeltaTable(audit_uri(lake)).history(1)[0]["timestamp"] / 1000
    time.sleep(0.05)
    write_deltalake(uri, pa.table({"ccy": ["USD"]}), mode="append")
    policies.write_text(
        policies.read_text() + "  auditor:\n    description: Reads.\n    grants: [{layer: gold}]\n"
    )
    assert audit_policy_version(lake, policies) is True  # an audit row written after T
    at = datetime.fromtimestamp(cutoff, UTC).isoformat()
    assert main(["restore", "--all", "--to-time", at]) == 0
    out = capsys.readouterr().out
    assert "silver/fx_rates: restored to version 0" in out
    assert "ops/audit_log" not in out
    assert len(_audit(lake, "policy_change")) == 2  # the row written after T survived
    assert [r["statement"] for r in _audit(lake, "restore")] == [
        "restore silver/fx_rates to version 0 (was 1)"
    ]
    assert main(["restore", "ops/audit_log", "--to-version", "0"]) == 2
    assert "ops/audit_log is append-only and is never restored" in capsys.readouterr().err
    assert len(_audit(lake, "policy_change")) == 2
