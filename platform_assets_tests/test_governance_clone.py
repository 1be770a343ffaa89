"""`platform clone --env dev`: a dev lake holds no unmasked PII value anywhere, bronze and dead letters
included, while tokens still join and non-PII columns are copied as they are."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from platform_assets import cli
from platform_assets.governance.clone import clone_salt
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import Lake
from platform_assets_tests.governance_lake import CUSTOMERS, DEAD_LETTER_RAW, build_governance_lake, token


def test_clone_to_dev_tokenizes_every_pii_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = Lake(str(tmp_path / "prod"))
    build_governance_lake(prod)
    write_deltalake(prod.quarantine_uri("silver/customers"), pa.table({
        "customer_id": pa.array([2], pa.int64()), "email": ["hans@example.de"], "_rule": ["email_format"],
    }))  # fmt: skip
    monkeypatch.setenv("PLATFORM_LAKE_ROOT", prod.root)
    monkeypatch.delenv("PLATFORM_CLONE_SALT", raising=False)
    dev = tmp_path / "dev"
    assert cli.main(["clone", "--env", "dev", "--target", str(dev)]) == 0
    assert "5 tables cloned into" in capsys.readouterr().out
    secrets = [v for c in CUSTOMERS for v in c[1:5]] + [DEAD_LETTER_RAW]
    files = [p for p in dev.rglob("*.parquet") if "_delta_log" not in p.parts]
    assert len(files) >= 5
    for path in files:
        for column in pq.read_table(path).columns:
            assert not any(v in secrets for v in column.to_pylist()), path
    for path in dev.rglob("_delta_log/*.json"):  # file statistics quote min/max values
        assert not any(s in path.read_text() for s in secrets if len(s) > 3), path
    salt = clone_salt("dev")
    customers = read_table(str(dev / "silver" / "customers"), order_by=["customer_id"]).to_pylist()
    assert [(r["customer_id"], r["email"], r["country"]) for r in customers] == [
        (c[0], token(c[2], salt), c[5]) for c in CUSTOMERS
    ]
    held = read_table(str(dev / "quarantine" / "silver_customers")).to_pylist()
    assert held[0]["email"] == customers[1]["email"]  # the same token in every table: joins still work
    with pytest.raises(SystemExit) as refused:  # a production clone is not offered
        cli.main(["clone", "--env", "prod", "--target", str(tmp_path / "x")])
    assert refused.value.code == 2
