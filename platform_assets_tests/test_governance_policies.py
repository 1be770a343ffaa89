"""policies.yaml is validated at load: a wrong policy names the file, the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from platform_assets.contracts import load_contracts
from platform_assets.governance.policy_model import POLICIES_FILE, PolicyError, load_policies


@pytest.fixture(scope="module")
def contracts() -> dict:
    return load_contracts()


def test_the_shipped_policies_load(contracts: dict) -> None:
    policies = load_policies(contracts)
    assert policies.service_role == "pipeline" and policies.default_role == "engineer"
    assert {"pipeline", "engineer", "analyst", "regional_analyst", "support"} <= set(policies.roles)


def _edit(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load(POLICIES_FILE.read_text())
    change(raw)
    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


CASES = [
    (
        lambda p: p["roles"]["analyst"]["masks"][0].update(method="scramble"),
        "roles.analyst.masks[0].method",
        "Input should be 'none', 'redact', 'hash', 'partial' or 'null'",
    ),
    (
        lambda p: p["roles"]["support"]["grants"].append({"dataset": "silver/nope"}),
        "roles.support.grants[1].dataset",
        "'silver/nope' has no contract",
    ),
    (
        lambda p: p["roles"]["support"]["masks"].append({"column": "silver/customers.ssn", "method": "hash"}),
        "roles.support.masks[2].column",
        "silver/customers has no column 'ssn'",
    ),
    (
        lambda p: p["roles"]["regional_analyst"].update(attributes=[]),
        "roles.regional_analyst.row_filters[0].where",
        "uses {region}, which is not in attributes",
    ),
    (lambda p: p.update(default_role="nobody"), "default_role", "'nobody' is not a role defined under roles"),
    (lambda p: p["roles"]["analyst"].update(grant=[]), "roles.analyst.grant", "unknown field"),
    (
        lambda p: p["roles"]["analyst"]["grants"].append({"layer": "platinum"}),
        "roles.analyst.grants[1].layer",
        "layer 'platinum' is not one of bronze, silver, gold or '*'",
    ),
    (
        lambda p: p["roles"]["analyst"]["grants"].append({"domain": "hr"}),
        "roles.analyst.grants[1].domain",
        "no contract has domain 'hr'",
    ),
    (
        lambda p: p["roles"]["analyst"]["masks"].append({"method": "hash"}),
        "roles.analyst.masks[1]",
        "a mask names exactly one of classification or column",
    ),
    (lambda p: p["roles"]["analyst"].pop("description"), "roles.analyst.description", "required field is missing"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "reason"), CASES, ids=[c[1] for c in CASES])
def test_a_wrong_policy_names_file_field_and_reason(
    tmp_path: Path, contracts: dict, change, field: str, reason: str
) -> None:
    path = _edit(tmp_path, change)
    with pytest.raises(PolicyError) as raised:
        load_policies(contracts, path)
    assert (raised.value.path, raised.value.field) == (str(path), field)
    assert reason in raised.value.reason


def test_a_key_given_twice_in_the_policies_is_an_error(tmp_path: Path, contracts: dict) -> None:
    text = POLICIES_FILE.read_text()
    path = tmp_path / "policies.yaml"
    path.write_text(text + "\ndefault_role: analyst\n")  # the file sets default_role already
    with pytest.raises(PolicyError) as raised:
        load_policies(contracts, path)
    assert raised.value.field == "default_role" and "is given twice" in raised.value.reason
