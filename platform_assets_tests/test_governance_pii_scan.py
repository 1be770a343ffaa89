"""The PII classification scan flags text columns that hold PII their contract does not classify."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from platform_assets.contracts import load_contracts
from platform_assets.governance.pii_checks import JOB_NAME, SCHEDULE, pii_scan_definitions
from platform_assets.governance.pii_scan import PATTERNS, scan_dataset
from platform_assets.lake.location import Lake
from platform_assets.lake.resource import LakeResource


@pytest.mark.parametrize(
    ("kind", "value", "matches"),
    [
        ("email", "write to jane@example.com please", True),
        ("email", "no at sign here", False),
        ("phone", "+49 30 1234567", True),
        ("phone", "(555) 123-4567", True),
        ("phone", "2026-11-01 09:00:00", False),  # a timestamp as text is not a phone number
        ("card_number", "4111 1111 1111 1111", True),
        ("card_number", "4111 1111 1111 1112", False),  # fails the Luhn check
        ("iban", "DE89 3704 0044 0532 0130 00", True),
        ("iban", "DE00 3704 0044 0532 0130 00", False),  # fails mod 97
    ],
)
def test_patterns(kind: str, value: str, matches: bool) -> None:
    assert PATTERNS[kind](value) is matches


def test_an_unclassified_column_holding_emails_is_flagged(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    contract = load_contracts()["gold/dim_customer"]  # name: pii; account_name, industry: internal
    write_deltalake(
        lake.uri("gold/dim_customer"),
        pa.table(
            {
                "customer_key": pa.array([1, 2, 3, 4], pa.int64()),
                "name": ["a@example.com", "b@example.com", "c", "d"],  # pii already: not flagged
                "account_name": ["Acme", "jane@example.com", "Globex", "hans@example.de"],
                "industry": ["Retail", "Tools", "Retail", "Tools"],
            }
        ),
    )
    findings = scan_dataset(lake, contract)
    assert [str(f) for f in findings] == [
        "gold/dim_customer.account_name is classified internal but 2 of 4 sampled values look like "
        "emails: classify it pii"
    ]


def _dim_customer_with_drift(lake: Lake) -> None:
    """dim_customer plus a column no contract lists (schema drift) that carries phone numbers."""
    write_deltalake(
        lake.uri("gold/dim_customer"),
        pa.table(
            {
                "customer_key": pa.array([1, 2, 3, 4], pa.int64()),
                "name": ["Ann", "Bob", "Cy", "Di"],
                "account_name": ["Acme", "Initech", "Globex", "Umbrella"],
                "industry": ["Retail", "Tools", "Retail", "Tools"],
                "contact": ["+49 30 1234567", "(555) 123-4567", "n/a", "+1 555 010 0101"],
            }
        ),
    )


def test_a_new_column_the_contract_does_not_list_is_flagged(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _dim_customer_with_drift(lake)
    findings = scan_dataset(lake, load_contracts()["gold/dim_customer"])
    assert [str(f) for f in findings] == [
        "gold/dim_customer.contact is not in the contract but 3 of 4 sampled values look like "
        "phones: classify it pii"
    ]


def test_the_scheduled_asset_check_warns_on_the_table_holding_pii(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _dim_customer_with_drift(lake)
    write_deltalake(lake.uri("gold/dim_date"), pa.table({"date_key": pa.array([20261101], pa.int32())}))
    contracts = load_contracts()
    watched = {d: contracts[d] for d in ("gold/dim_customer", "gold/dim_date")}
    governance = pii_scan_definitions(watched)
    defs = dg.Definitions.merge(
        governance,
        dg.Definitions(
            assets=[dg.AssetSpec(dg.AssetKey(d.split("/"))) for d in watched],
            resources={"lake": LakeResource(root=lake.root)},
        ),
    )
    assert [s.cron_schedule for s in defs.schedules or []] == [SCHEDULE]
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(instance=instance)
        assert result.success
        evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert sorted(evaluations) == ["gold/dim_customer", "gold/dim_date"]
    flagged = evaluations["gold/dim_customer"]
    assert (flagged.passed, flagged.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert flagged.metadata["columns"].value == ["contact:phone"]
    assert evaluations["gold/dim_date"].passed
