"""The policy engine: for a caller (role + attributes) and a dataset, allow or deny, and say which
columns are masked how and which row filter applies. Pure: no engine, no lake.

Order of precedence for a column's mask: the role's mask for that very column, then the role's
mask for the column's classification, then the platform default for the classification; no rule
means shown as stored (``internal``/``public`` columns). A column no contract classifies counts as
``defaults.unclassified`` (pii), so what nobody has classified is masked, not shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from platform_assets.contracts.model import Classification, Contract
from platform_assets.governance.policy_model import PLACEHOLDER, MaskMethod, Policies


@dataclass(frozen=True)
class Caller:
    """Who asks: a user name (for the audit), the role they act as, and their attributes."""

    user: str
    role: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    dataset: str
    allowed: bool
    reason: str = ""
    masks: dict[str, MaskMethod] = field(default_factory=dict)  # masked columns only
    row_filter: str | None = None


def sql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


# A dead-letter table has no contract of its own: its bookkeeping columns are internal; the raw
# payload, the error text (it may quote values) and the context stay unclassified, hence masked.
DLQ_INTERNAL = frozenset({"_dataset", "_position", "_proc_date", "_ingested_at", "_batch_id"})


def classification_of(
    dataset: str, column: str, contract: Contract | None, policies: Policies
) -> Classification:
    if contract is not None and column in contract.column_names:
        return contract.column(column).classification
    if dataset.endswith("_dlq") and column in DLQ_INTERNAL:
        return Classification.INTERNAL
    return policies.defaults.unclassified


def _domain(dataset: str, contracts: dict[str, Contract]) -> str | None:
    contract = contracts.get(dataset) or contracts.get(dataset.removesuffix("_dlq"))
    return contract.domain if contract else None


def decide(
    policies: Policies,
    contracts: dict[str, Contract],
    caller: Caller,
    dataset: str,
    columns: list[str],
) -> Decision:
    """The decision for reading ``dataset`` (whose stored columns are ``columns``)."""
    role = policies.roles.get(caller.role)
    if role is None:
        return Decision(dataset, False, f"no policy defines role {caller.role!r}")
    missing = [a for a in role.attributes if not caller.attributes.get(a)]
    if missing:
        return Decision(dataset, False, f"role {caller.role} needs attribute(s) {', '.join(missing)}")
    domain = _domain(dataset, contracts)
    if not any(grant.matches(dataset, domain) for grant in role.grants):
        return Decision(dataset, False, f"role {caller.role} has no grant on {dataset}")
    contract = contracts.get(dataset)
    masks: dict[str, MaskMethod] = {}
    for column in columns:
        method = _mask_for(
            policies, caller.role, dataset, column, classification_of(dataset, column, contract, policies)
        )
        if method is not MaskMethod.NONE:
            masks[column] = method
    filters = [
        PLACEHOLDER.sub(lambda m: sql_literal(caller.attributes[m.group(1)]), f.where)
        for f in role.row_filters
        if f.matches(dataset, domain)
    ]
    row_filter = " AND ".join(f"({f})" for f in filters) if filters else None
    return Decision(dataset, True, "", masks, row_filter)


def _mask_for(
    policies: Policies, role_name: str, dataset: str, column: str, classification: Classification
) -> MaskMethod:
    role = policies.roles[role_name]
    for mask in role.masks:
        if mask.column == f"{dataset}.{column}":
            return mask.method
    for masks in (role.masks, policies.defaults.masks):
        for mask in masks:
            if mask.classification == classification:
                return mask.method
    return MaskMethod.NONE
