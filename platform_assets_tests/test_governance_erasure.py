"""`platform erase`: a planted customer is removed from every layer, quarantine, dead letters and old
versions, facts keep their totals re-keyed to the erased member, an independent scan of every data
and log file on storage finds nothing, and the suppression list filters the person at bronze."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from platform_assets import cli
from platform_assets.lake.audit_log import audit_uri
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import Lake
from platform_assets.lake.suppression import drop_suppressed

TS = pa.timestamp("us", tz="UTC")
T0, T1 = datetime(2026, 11, 1, 9), datetime(2026, 11, 2, 9)
PEOPLE = {1: ("Jane Doe", "jane@example.com"), 2: ("Hans Meier", "hans@example.de")}
OLD_EMAIL = "hans.old@example.de"  # Hans's first email: only in history, bronze and old versions
FACTS = [("o-1", 1, 101, 1, 40.0), ("o-2", 1, 102, 2, 25.0), ("o-3", 1, 102, 2, 35.0), ("o-4", 1, -1, 9, 5.0)]


def _write(lake: Lake, dataset: str, rows: dict, mode: str = "append", partition_by=None) -> None:
    write_deltalake(lake.uri(dataset), pa.table(rows), mode=mode, partition_by=partition_by)


def _customers(emails: dict[int, str], deleted: bool = False) -> dict:
    return {
        "customer_id": pa.array(list(emails), pa.int64()),
        "name": [PEOPLE[i][0] for i in emails],
        "email": list(emails.values()),
        "phone": [f"+49 {i}" for i in emails],
        "country": ["US" if i == 1 else "DE" for i in emails],
        "_is_deleted": [deleted] * len(emails),
    }


def build(lake: Lake) -> None:
    first = {1: "jane@example.com", 2: OLD_EMAIL}
    now = {1: "jane@example.com", 2: "hans@example.de"}
    for day, emails in ((date(2026, 11, 1), first), (date(2026, 11, 2), {2: "hans@example.de"})):
        rows = _customers(emails) | {"Op": ["I" if day.day == 1 else "U"] * len(emails)}
        rows["_proc_date"] = pa.array([day] * len(emails), pa.date32())
        _write(lake, "bronze/rds_customers_cdc", rows, partition_by=["_proc_date"])
    _write(lake, "silver/customers", _customers(first), mode="overwrite")
    _write(lake, "silver/customers", _customers(now), mode="overwrite")  # version 1: the new email
    history = _customers({1: "jane@example.com", 2: OLD_EMAIL}) | {"valid_from": pa.array([T0, T0], TS)}
    _write(lake, "silver/customers_history", history)
    _write(
        lake,
        "silver/customers_history",
        _customers({2: "hans@example.de"}) | {"valid_from": pa.array([T1], TS)},
    )
    _write(lake, "bronze/rds_customers_cdc_dlq", {
        "_dataset": ["bronze/rds_customers_cdc"] * 2,
        "_position": ["f1.csv:3", "f1.csv:4"],
        "_error": ["field 'updated_at': not a timestamp"] * 2,
        "_raw": ['{"customer_id": "2", "email": "hans@example.de", "updated_at": "x"}',
                 '{"customer_id": "22", "email": "other@example.com", "updated_at": "x"}'],
    })  # fmt: skip
    _write(lake, "bronze/order_events", {
        "order_id": [f[0] for f in FACTS], "customer_id": pa.array([f[3] for f in FACTS], pa.int64()),
    })  # fmt: skip
    _write(lake, "silver/orders", {
        "order_id": [f[0] for f in FACTS], "customer_id": pa.array([f[3] for f in FACTS], pa.int64()),
    })  # fmt: skip
    _write(lake, "gold/dim_customer", {
        "customer_key": pa.array([-1, 101, 102], pa.int64()), "customer_id": pa.array([-1, 1, 2], pa.int64()),
        "name": [None, "Jane Doe", "Hans Meier"], "region": ["Unknown", "AMER", "EMEA"],
    })  # fmt: skip
    _write(lake, "gold/fact_order_lines", {
        "order_id": [f[0] for f in FACTS], "line_no": pa.array([f[1] for f in FACTS], pa.int64()),
        "customer_key": pa.array([f[2] for f in FACTS], pa.int64()),
        "customer_id": pa.array([f[3] for f in FACTS], pa.int64()), "amount_usd": [f[4] for f in FACTS],
    })  # fmt: skip
    quarantine = _customers({2: "hans@example.de"}) | {"_rule": ["email_format"]}
    write_deltalake(lake.quarantine_uri("silver/customers"), pa.table(quarantine))


def scan_storage(root: Path, needles: list[str], ids: set[int]) -> list[str]:
    """Independently of the erasure code: every data file and log file under the lake root."""
    hits = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "ops" in path.relative_to(root).parts:
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for name in table.column_names:
                values = table.column(name).to_pylist()
                if any(isinstance(v, str) and any(n in v for n in needles) for v in values):
                    hits.append(f"{path}: {name}")
                if name in ("customer_id", "Customer_Id__c") and ids & set(values):
                    hits.append(f"{path}: {name}")
        elif any(n.encode() in path.read_bytes() for n in needles):
            hits.append(str(path))
    return hits


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    built = Lake(str(tmp_path / "lake"))
    build(built)
    monkeypatch.setenv("PLATFORM_LAKE_ROOT", built.root)
    monkeypatch.setenv("PLATFORM_USER", "dpo@example.com")
    return built


def test_erase_by_email_removes_the_person_everywhere_and_keeps_fact_totals(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(lake.root)
    needles = ["hans@example.de", OLD_EMAIL, "Hans Meier"]
    assert scan_storage(root, needles, {2})  # planted: the person is in data, old versions and logs
    assert cli.main(["erase", "--subject", "email=hans@example.de", "--reason", "ticket GDPR-7"]) == 0
    out = capsys.readouterr().out
    assert "verified: no version reachable by time travel" in out
    assert scan_storage(root, needles, {2}) == []
    with pytest.raises(Exception, match=r"No files in log segment"):
        DeltaTable(lake.uri("silver/customers"), version=0)  # the old version is gone, not just hidden

    def rows(dataset: str, order: str) -> list[dict]:
        return read_table(lake.uri(dataset), order_by=[order]).to_pylist()

    assert [r["customer_id"] for r in rows("silver/customers", "customer_id")] == [1]
    assert [r["customer_id"] for r in rows("silver/customers_history", "customer_id")] == [1]
    assert [r["customer_id"] for r in rows("bronze/rds_customers_cdc", "customer_id")] == [1]
    assert [r["_position"] for r in rows("bronze/rds_customers_cdc_dlq", "_position")] == ["f1.csv:4"]
    assert read_table(lake.quarantine_uri("silver/customers")).num_rows == 0
    dim = {r["customer_key"]: r for r in rows("gold/dim_customer", "customer_key")}
    assert sorted(dim) == [-2, -1, 101]
    assert (dim[-2]["customer_id"], dim[-2]["name"], dim[-2]["region"]) == (-2, None, "Unknown")
    facts = {r["order_id"]: r for r in rows("gold/fact_order_lines", "order_id")}
    assert [(o, f["customer_key"], f["customer_id"]) for o, f in sorted(facts.items())] == [
        ("o-1", 101, 1), ("o-2", -2, -2), ("o-3", -2, -2), ("o-4", -1, 9),
    ]  # fmt: skip
    assert sum(f["amount_usd"] for f in facts.values()) == sum(f[4] for f in FACTS)  # totals kept
    assert [r["customer_id"] for r in rows("silver/orders", "order_id")] == [1, -2, -2, 9]
    assert [r["customer_id"] for r in rows("bronze/order_events", "order_id")] == [1, -2, -2, 9]
    erasure = [r for r in read_table(audit_uri(lake)).to_pylist() if r["action"] == "erase"]
    assert len(erasure) == 1
    assert (
        erasure[0]["user"] == "dpo@example.com"
        and erasure[0]["row_count"] == 2 + 1 + 2 + 1 + 1 + 1 + 2 + 2 + 2
    )  # cdc, current, history, dlq, quarantine, dim, facts, orders, events
    assert erasure[0]["statement"] == "erase customer_id(s) 2 (asked as email=(given))"
    assert "hans" not in str(erasure[0]) and "ticket GDPR-7" in erasure[0]["reason"]
    # a source re-sending the person later: filtered at bronze, by id or by (any-case) email
    resent = [
        {"customer_id": 2, "email": "x@example.com"},
        {"customer_id": 7, "email": "HANS@example.de"},
        {"customer_id": 1, "email": "jane@example.com"},
    ]
    assert drop_suppressed(lake, resent) == [resent[2]]


def test_erase_an_unknown_subject_changes_nothing(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    before = DeltaTable(lake.uri("silver/customers")).version()
    assert cli.main(["erase", "--subject", "email=nobody@example.com"]) == 1
    assert "no stored data identifies email=(given); nothing changed" in capsys.readouterr().err
    assert [r["row_count"] for r in read_table(audit_uri(lake)).to_pylist()] == [0]  # audited all the same
    assert DeltaTable(lake.uri("silver/customers")).version() == before
    assert cli.main(["erase", "--subject", "phone=1"]) == 2


def test_bronze_ingestion_filters_suppressed_people(tmp_path: Path) -> None:
    """Through the real incremental bronze ingestion: a re-sent erased customer never lands."""
    from platform_assets.contracts import load_contracts
    from platform_assets.lake import suppression
    from platform_assets.layers.bronze.incremental_asset import ingest_increment
    from platform_assets.layers.bronze.records import Batch
    from platform_assets.sources.batch import SourceBatch

    lake = Lake(str(tmp_path / "lake"))
    suppression.add(lake, [2], ["hans@example.de"])
    contract = load_contracts()["bronze/rds_customers_cdc"]

    def change(row: int, customer_id: int, email: str) -> tuple[str, dict]:
        return (f"f9.csv:{row}", {
            "Op": "I", "_dms_commit_ts": "2026-11-03 10:00:00", "customer_id": str(customer_id),
            "name": "x", "email": email, "phone": None, "address": None, "country": "DE",
            "updated_at": "2026-11-03 10:00:00", "_dms_file": "f9.csv", "_dms_row": str(row),
        })  # fmt: skip

    records = [
        change(1, 2, "new@example.de"),
        change(2, 5, "Hans@Example.de"),
        change(3, 1, "jane@example.com"),
    ]
    batch = Batch(date(2026, 11, 3), datetime(2026, 11, 3, 11, tzinfo=UTC), "rds_dms", "run:2026-11-03")
    ingest_increment(lake, contract, batch, lambda _: SourceBatch(records, positions={"files": ["f9.csv"]}))
    landed = read_table(lake.uri(contract.ref), columns=["customer_id", "_position"]).to_pylist()
    assert landed == [{"customer_id": 1, "_position": "f9.csv:3"}]
