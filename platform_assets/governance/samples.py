"""Samples of rows shown in reports (the DQ report's failing rows, Data Docs' unexpected values) go
through the same policy decision as a governed read, for the role reports are written for
(``report_role`` in policies.yaml): a dataset the role may not read shows no sample, each column is
masked as the policy says (a column no contract classifies is pii, hence masked), and the report's
use of samples is one ``ops/audit_log`` row (action ``report``) written before the report.

Samples are stored already masked at write (contracts/masking.py, in ``ops/quality_results``), so a
policy can only hide more, never reveal the stored value; the masks here apply to the stored sample.
The masks are the Python twins of governance/masks.py's SQL (same tokens for ``hash``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from platform_assets.contracts import load_contracts
from platform_assets.contracts.model import Contract
from platform_assets.governance.decision import Caller, Decision, decide
from platform_assets.governance.masks import REDACTED, mask_salt
from platform_assets.governance.policy_model import MaskMethod, load_policies
from platform_assets.governance.read_path import Governance, masked_columns
from platform_assets.lake.audit_log import audit_write, current_user
from platform_assets.lake.location import Lake


def mask_value(value: Any, method: MaskMethod, salt: str) -> Any:
    """One value masked like governance/masks.py's SQL expression does on the engine."""
    if value is None or method is MaskMethod.NONE:
        return value
    if method is MaskMethod.NULL or (method is MaskMethod.REDACT and not isinstance(value, str)):
        return None
    if method is MaskMethod.REDACT:
        return REDACTED
    text = str(value)
    if method is MaskMethod.HASH:
        return hashlib.sha256(f"{salt}{text}".encode()).hexdigest()
    at = text.find("@")
    return f"{text[:1]}***{text[at:]}" if at > 0 else f"{text[:1]}***"


@dataclass
class SampleGovernor:
    """Masks report samples for one caller and remembers what it decided, for the audit row."""

    governance: Governance
    caller: Caller
    decisions: dict[str, Decision] = field(default_factory=dict)
    rows_shown: int = 0
    rows_withheld: int = 0

    @classmethod
    def for_reports(cls, contracts: dict[str, Contract] | None = None) -> SampleGovernor:
        # the policies name datasets of the whole catalogue: check them against all of it, whatever
        # subset of contracts (or variant of one) the report covers
        every = {**load_contracts(), **(contracts or {})}
        governance = Governance(load_policies(every), every)
        role = governance.policies.report_role or governance.policies.default_role
        return cls(governance, Caller(current_user(), role))

    def rows(self, dataset: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The rows as the caller may see them; None when the role may not read the dataset."""
        rows = list(rows)
        columns = sorted({c for r in rows for c in r})
        decision = decide(self.governance.policies, self.governance.contracts, self.caller, dataset, columns)
        known = self.decisions.get(dataset)
        if known is None or len(decision.masks) > len(known.masks):
            self.decisions[dataset] = decision
        if not decision.allowed:
            self.rows_withheld += len(rows)
            return None
        salt = mask_salt() if MaskMethod.HASH in decision.masks.values() else ""
        self.rows_shown += len(rows)
        return [
            {c: mask_value(v, decision.masks.get(c, MaskMethod.NONE), salt) for c, v in r.items()}
            for r in rows
        ]

    def audit(self, lake: Lake, what: str) -> None:
        """One row: which datasets' samples the report shows, masked how, and what was withheld."""
        decisions = list(self.decisions.values())
        denied = sorted(d.dataset for d in decisions if not d.allowed)
        audit_write(
            lake,
            "report",
            user=self.caller.user,
            role=self.caller.role,
            datasets=sorted(self.decisions),
            statement=f"samples of failing rows in {what}",
            columns_masked=masked_columns(d for d in decisions if d.allowed),
            row_count=self.rows_shown,
            reason=(
                f"{self.rows_withheld} sample row(s) withheld, no grant on: {', '.join(denied)}"
                if denied
                else ""
            ),
        )
