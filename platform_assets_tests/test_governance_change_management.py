"""Change management and the data dictionary: `platform contracts diff BASE` against a real git
repository (a breaking change rejected, then accepted with an approval), `platform catalog search`
and `platform impact` over the shipped contracts (their lineage is the oracle)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from platform_assets.cli import main
from platform_assets.contracts import load_contracts
from platform_assets.contracts.loader import CONTRACTS_DIR
from platform_assets.governance.catalog import impact, search
from platform_assets.governance.commands import contracts_diff
from platform_assets.governance.contract_diff import contracts_at, diff_contracts
from platform_assets.governance.policy_model import POLICIES_FILE
from platform_assets.governance.read_path import Governance


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding today's contracts, committed and tagged ``base``."""
    repo = tmp_path / "repo"
    shutil.copytree(CONTRACTS_DIR, repo / "contracts" / "datasets")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "tag", "base")
    return repo


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _customers(repo: Path) -> Path:
    return repo / "contracts" / "datasets" / "silver" / "customers.yaml"


def test_breaking_change_rejected_then_accepted_with_an_approval(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    directory = repo / "contracts" / "datasets"
    customers = _customers(repo)
    _edit(
        customers,
        "  - {name: address, type: string, description: Postal address, classification: pii, "
        "lineage: [bronze/rds_customers_cdc.address]}\n",
        "",
    )
    _edit(
        customers,
        "{name: phone, type: string, description: Phone number, classification: pii,",
        "{name: phone, type: string, description: Phone number, classification: internal,",
    )
    _edit(
        customers,
        "  - {name: country, type: string,",
        "  - {name: segment, type: string, description: Customer segment}\n  - {name: country, type: string,",
    )
    _edit(directory / "gold" / "dim_date.yaml", "retention: {days: 2555}", "retention: {days: 3650}")

    changes = diff_contracts(contracts_at("base", repo, directory), load_contracts(directory))
    assert [(c.dataset, c.kind, c.what, c.blocking) for c in changes] == [
        ("gold/dim_date", "additive", "retention 2555 -> 3650 days", False),
        ("silver/customers", "breaking", "column address removed", True),
        ("silver/customers", "additive", "column segment added", False),
        (
            "silver/customers",
            "reclassification",
            "column phone pii -> internal (no longer masked as pii)",
            True,
        ),
    ]
    assert contracts_diff("base", directory) == 1
    out = capsys.readouterr().out
    assert "NOT APPROVED" in out and out.strip().endswith(
        "4 change(s) since base: 2 need an approval, 2 not approved"
    )

    customers.write_text(
        customers.read_text()
        + "changelog:\n  - {date: 2026-12-01, change: drop address; phone is a work number, "
        'approved_by: crm-team@example.com, reason: "DPO ticket 42: address no longer collected"}\n'
    )
    assert contracts_diff("base", directory) == 0
    out = capsys.readouterr().out
    assert "approved by crm-team@example.com on 2026-12-01: DPO ticket 42" in out
    assert out.strip().endswith("2 need an approval, 0 not approved")

    _git(repo, "commit", "-qam", "approved")  # once on the base branch, the approval is spent
    _edit(customers, "{name: name, type: string,", "{name: name, type: long,")
    changes = diff_contracts(contracts_at("HEAD", repo, directory), load_contracts(directory))
    assert [(c.what, c.blocking) for c in changes] == [("column name type string -> long", True)]


def test_an_approval_by_someone_not_allowed_to_approve_is_rejected(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    directory = repo / "contracts" / "datasets"
    customers = _customers(repo)
    _edit(customers, "{name: name, type: string,", "{name: name, type: long,")
    # the author makes themself an owner and approves: owners count as of BASE, so this is rejected
    _edit(
        customers,
        'owners: ["team:data-platform", "crm-team@example.com"]',
        'owners: ["team:data-platform", "crm-team@example.com", "mallory@example.com"]',
    )
    entry = "changelog:\n  - {{date: 2026-12-01, change: name as a number, approved_by: {who}, reason: ticket 7}}\n"
    base_text = customers.read_text()
    customers.write_text(base_text + entry.format(who="mallory@example.com"))
    assert contracts_diff("base", directory) == 1
    out = capsys.readouterr().out
    assert (
        "BREAKING         silver/customers: column name type string -> long (REJECTED: mallory@example.com "
        "may not approve changes to silver/customers" in out
    )
    assert out.strip().endswith("1 need an approval, 1 not approved")

    customers.write_text(base_text + entry.format(who="dpo@example.com"))  # the sales domain's approver
    assert contracts_diff("base", directory) == 0
    assert "approved by dpo@example.com on 2026-12-01: ticket 7" in capsys.readouterr().out

    # an approver list naming a domain no contract has fails at load, naming the field
    policies = tmp_path / "policies.yaml"
    policies.write_text(
        POLICIES_FILE.read_text().replace("  catalog: [dpo@example.com]", "  ops: [a@example.com]")
    )
    assert contracts_diff("base", directory, policies) == 2
    assert "field 'approvers.ops': no contract has domain 'ops'" in capsys.readouterr().err


def test_a_removed_dataset_and_an_approval_without_a_reason(repo: Path) -> None:
    directory = repo / "contracts" / "datasets"
    (directory / "gold" / "agg_sales_pipeline.yaml").unlink()
    changes = diff_contracts(contracts_at("base", repo, directory), load_contracts(directory))
    assert [(c.dataset, c.what, c.blocking) for c in changes] == [
        ("gold/agg_sales_pipeline", "dataset removed", True)
    ]
    customers = _customers(repo)
    customers.write_text(
        customers.read_text()
        + "changelog:\n  - {date: 2026-12-01, change: x, approved_by: dpo@example.com}\n"
    )
    with pytest.raises(Exception, match="an approval needs a reason"):
        load_contracts(directory)


def test_contracts_diff_command_on_this_repository(capsys: pytest.CaptureFixture) -> None:
    assert main(["contracts", "diff", "no-such-ref-xyz"]) == 2
    assert "git could not read 'no-such-ref-xyz'" in capsys.readouterr().err


def test_catalog_search_finds_columns_by_classification_owner_and_description(
    capsys: pytest.CaptureFixture,
) -> None:
    contracts = load_contracts()
    pii = [f"{h.dataset}.{h.column}" for h in search(contracts, "pii")]
    expected = sorted(
        f"{d}.{c.name}" for d, k in contracts.items() for c in k.columns if c.classification.value == "pii"
    )
    assert (
        sorted(pii) == expected and len(expected) == 18
    )  # 15 + the account owner name in bronze, silver, gold
    assert [h.dataset for h in search(contracts, "crm-team@example.com")] == [
        "silver/accounts",
        "silver/customers",
        "silver/customers_history",
        "silver/opportunities",
    ]
    assert main(["catalog", "search", "Postal address"]) == 0
    out = capsys.readouterr().out
    assert "silver/customers.address" in out and "[description] string, pii: Postal address" in out
    assert main(["catalog", "search", "no-such-term-anywhere"]) == 1


def test_impact_of_a_column_lists_downstream_columns_roles_and_rules(capsys: pytest.CaptureFixture) -> None:
    governance = Governance.load()
    found = impact(governance.contracts, governance.policies, "silver/order_lines.unit_price")
    assert found.columns == [
        "gold/agg_daily_revenue.revenue_usd",
        "gold/fact_order_lines.amount",
        "gold/fact_order_lines.amount_usd",
        "gold/fact_order_lines.unit_price",
    ]
    assert found.datasets == ["gold/agg_daily_revenue", "gold/fact_order_lines"]
    assert found.roles["analyst"] == ["gold/agg_daily_revenue", "gold/fact_order_lines"]
    assert "support" not in found.roles  # its one grant is silver/customers
    assert found.checks == {
        d: len(governance.contracts[d].rules)
        for d in ("silver/order_lines", "gold/agg_daily_revenue", "gold/fact_order_lines")
    }
    whole = impact(governance.contracts, governance.policies, "bronze/rds_customers_cdc")
    # customers_history -> dim_customer -> both facts -> both aggregates (contracts' upstream lists)
    assert whole.datasets == [
        "gold/agg_daily_revenue",
        "gold/agg_sales_pipeline",
        "gold/dim_customer",
        "gold/fact_opportunities",
        "gold/fact_order_lines",
        "silver/customers",
        "silver/customers_history",
    ]
    assert main(["impact", "silver/customers.no_such_column"]) == 2
    assert "silver/customers has no column 'no_such_column'" in capsys.readouterr().err
