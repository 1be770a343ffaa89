"""Report and Data Docs samples go through the governed read path for the report role.

Known inputs: sandbox customers (generator seed 7) fail the email rule of silver/customers; their
failing-row samples are stored the way the pipeline stores them (quality_results.evaluations, masked
at write by classification), with a drift column the contract does not list carrying each raw email.
Every generated HTML file is then read: no sandbox name, email, phone or address appears, nor the
partial form of an email (the report role redacts pii), while the samples are shown ([REDACTED]).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder

from platform_assets.contracts import load_contracts
from platform_assets.governance.decision import Caller
from platform_assets.governance.policy_model import MaskMethod
from platform_assets.governance.read_path import Governance
from platform_assets.governance.samples import SampleGovernor, mask_value
from platform_assets.lake.audit_log import audit_uri
from platform_assets.lake.location import Lake
from platform_assets.quality.evaluate import QualityReport, RuleOutcome
from platform_assets.quality.results import evaluations, write_evaluations
from platform_assets.reporting.publish import write_data_docs, write_report
from platform_assets_tests.governance_lake import token
from sandbox.generator.customers import generate_customers

FAILING = 5  # sandbox customers in the failing sample (SAMPLE_ROWS keeps 5)


def _sandbox_people() -> list[dict]:
    people = generate_customers(seed=7).initial[:FAILING]
    return [
        {
            "customer_id": c.customer_id,
            "name": c.name,
            "email": c.email,
            "phone": c.phone,
            "address": c.address,
            "country": c.country,
            "contact_email": c.email,  # a drift column: no contract lists it
        }
        for c in people
    ]


def _plant_failing_samples(lake: Lake, people: list[dict]) -> None:
    contract = load_contracts()["silver/customers"]
    rule = next(r for r in contract.rules if r.expectation == "expect_column_values_to_match_regex")
    outcome = RuleOutcome(
        rule,
        evaluated=100,
        failed=FAILING,
        failed_partitions=["__all__"],
        failed_by_partition={"__all__": FAILING},
        evaluated_by_partition={"__all__": 100},
        sample=people,
    )
    report = QualityReport([outcome], {})
    rows = evaluations(contract, report, [], "run-1", now=datetime(2026, 11, 5, 12, tzinfo=UTC))
    assert write_evaluations(lake, rows, "run-1", contract.dataset, 1) == len(rows)


def _pii_values(people: list[dict]) -> list[str]:
    values = [p[c] for p in people for c in ("name", "email", "phone", "address") if p[c]]
    return [v for v in values if len(v) > 3]


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Lake, Path, list[dict]]:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    lake = Lake(str(tmp_path / "lake"))
    people = _sandbox_people()
    _plant_failing_samples(lake, people)
    out = tmp_path / "reports"
    contracts = load_contracts()
    write_report(lake, contracts, out)
    write_data_docs(lake, contracts, out)
    return lake, out, people


def test_no_unmasked_pii_in_any_generated_html(reports: tuple[Lake, Path, list[dict]]) -> None:
    _, out, people = reports
    pages = sorted(out.rglob("*.html"))
    assert len(pages) >= 3  # the report, the Data Docs index and a validation page
    text = {p: p.read_text(encoding="utf-8") for p in pages}
    for value in _pii_values(people):
        for page, content in text.items():
            assert value not in content and html.escape(value) not in content, f"{value!r} in {page}"
    # the partially masked form stored in ops/quality_results is redacted further for the report role
    for person in people:
        local, _, domain = person["email"].partition("@")
        for page, content in text.items():
            assert f"{local[:1]}***@{domain}" not in content, page
    report_page = text[out / "data_quality_report.html"]
    masked = [p[c] for p in people for c in ("name", "email", "phone", "address", "contact_email")]
    assert report_page.count("[REDACTED]") == sum(1 for v in masked if v is not None) == 21  # NULL stays NULL
    validation_pages = [c for p, c in text.items() if "/validations/" in str(p)]
    # GX lists distinct unexpected values with their counts: the five redacted emails are one entry
    assert len(validation_pages) == 1 and validation_pages[0].count("[REDACTED]") == 1


def test_each_report_is_audited_with_the_masked_columns(reports: tuple[Lake, Path, list[dict]]) -> None:
    lake, _, _ = reports
    reader = (
        QueryBuilder()
        .register("t", DeltaTable(audit_uri(lake)))
        .execute("SELECT * FROM t WHERE action = 'report' ORDER BY statement")
    )
    rows = pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()
    assert [(r["statement"], r["role"], r["row_count"]) for r in rows] == [
        ("samples of failing rows in Data Docs", "report_reader", FAILING),
        ("samples of failing rows in the data quality report", "report_reader", FAILING),
    ]
    assert sorted(rows[0]["columns_masked"]) == sorted(
        f"silver/customers.{c}:redact" for c in ("address", "contact_email", "email", "name", "phone")
    )


def test_a_role_without_a_grant_sees_no_sample_and_hash_tokens_match_the_engine() -> None:
    governance = Governance.load()
    people = _sandbox_people()
    analyst = SampleGovernor(governance, Caller("ann", "analyst"))  # gold only
    assert analyst.rows("silver/customers", people) is None
    assert analyst.rows_withheld == FAILING
    engineer = SampleGovernor(governance, Caller("eve", "engineer"))  # pii hashed
    shown = engineer.rows("silver/customers", people)
    salt = "platform-dev-mask-salt"
    assert shown is not None
    assert [r["email"] for r in shown] == [token(p["email"], salt) for p in people]
    assert [r["country"] for r in shown] == [p["country"] for p in people]  # internal: as stored
    assert mask_value("jane@example.com", MaskMethod.PARTIAL, "") == "j***@example.com"
    assert mask_value(42, MaskMethod.REDACT, "") is None
