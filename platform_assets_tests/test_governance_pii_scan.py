"""The PII classification scan flags text columns that hold PII their contract does not classify."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from platform_assets.contracts import load_contracts
from platform_assets.governance.pii_scan import PATTERNS, scan_dataset
from platform_assets.lake.location import Lake


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
