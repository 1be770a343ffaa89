"""`platform contracts diff BASE`: classify every change between two versions of the contracts.

Kinds: ``additive`` (new dataset or column, widened type, looser nullability, metadata), ``breaking``
(removed dataset or column, type change, key or partitioning change, stricter nullability, shorter
retention: data goes sooner) and ``reclassification`` (a column's classification changed; taking
``pii`` away unmasks it, which needs the same approval as a breaking change). A change that needs an
approval is accepted when the dataset's contract gained a ``changelog`` entry since BASE that names
who approved it (``approved_by``) and why (``reason``), and the approver may approve for that dataset:
one of its owners as of BASE (so a branch cannot make itself an owner and approve its own change) or
an approver of its domain in ``governance/policies.yaml`` (``approvers``). Otherwise the command exits
1 (CI runs it against the main branch).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from platform_assets.contracts import load_contracts
from platform_assets.contracts.loader import CONTRACTS_DIR
from platform_assets.contracts.model import ChangelogEntry, Classification, Contract
from platform_assets.governance.policy_model import Policies

ADDITIVE, BREAKING, RECLASSIFICATION = "additive", "breaking", "reclassification"
WIDENING = {("int", "long"), ("int", "double"), ("long", "double")}


@dataclass(frozen=True)
class Change:
    dataset: str
    kind: str
    what: str
    needs_approval: bool
    approval: ChangelogEntry | None = None
    approver_allowed: bool = True  # the approval names someone who may approve for the dataset

    @property
    def blocking(self) -> bool:
        return self.needs_approval and (self.approval is None or not self.approver_allowed)

    def __str__(self) -> str:
        label = self.kind.upper()
        if self.needs_approval:
            if self.approval is None:
                state = "NOT APPROVED: add a changelog entry with approved_by and reason"
            elif not self.approver_allowed:
                state = (
                    f"REJECTED: {self.approval.approved_by} may not approve changes to {self.dataset} "
                    "(an owner of the contract or an approver of its domain in policies.yaml may)"
                )
            else:
                state = (
                    f"approved by {self.approval.approved_by} on {self.approval.date}: {self.approval.reason}"
                )
            return f"{label:<16} {self.dataset}: {self.what} ({state})"
        return f"{label:<16} {self.dataset}: {self.what}"


def _column_changes(base: Contract, head: Contract) -> list[tuple[str, str, bool]]:
    found: list[tuple[str, str, bool]] = []
    old = {c.name: c for c in base.columns}
    new = {c.name: c for c in head.columns}
    for name in sorted(set(old) - set(new)):
        found.append((BREAKING, f"column {name} removed", True))
    for name in sorted(set(new) - set(old)):
        required = "" if new[name].nullable else " (not nullable: writers must supply it)"
        found.append((ADDITIVE, f"column {name} added{required}", False))
    for name in sorted(set(old) & set(new)):
        a, b = old[name], new[name]
        if a.type != b.type:
            widened = (a.type, b.type) in WIDENING
            kind = ADDITIVE if widened else BREAKING
            found.append((kind, f"column {name} type {a.type} -> {b.type}", not widened))
        if a.nullable and not b.nullable:
            found.append((BREAKING, f"column {name} no longer nullable", True))
        elif not a.nullable and b.nullable:
            found.append((ADDITIVE, f"column {name} now nullable", False))
        if a.classification != b.classification:
            unmasks = a.classification is Classification.PII
            found.append(
                (
                    RECLASSIFICATION,
                    f"column {name} {a.classification.value} -> {b.classification.value}"
                    + (" (no longer masked as pii)" if unmasks else ""),
                    unmasks,
                )
            )
        if a.description != b.description or a.lineage != b.lineage:
            found.append((ADDITIVE, f"column {name} description or lineage changed", False))
    return found


def _dataset_changes(base: Contract, head: Contract) -> list[tuple[str, str, bool]]:
    found = _column_changes(base, head)
    if base.keys != head.keys:
        found.append((BREAKING, f"keys {base.keys} -> {head.keys}", True))
    old_part = base.partitioning.column if base.partitioning else None
    new_part = head.partitioning.column if head.partitioning else None
    if old_part != new_part:
        found.append((BREAKING, f"partitioning {old_part} -> {new_part}", True))
    if head.retention.days < base.retention.days:
        found.append(
            (
                BREAKING,
                f"retention {base.retention.days} -> {head.retention.days} days (data goes sooner)",
                True,
            )
        )
    elif head.retention.days > base.retention.days:
        found.append((ADDITIVE, f"retention {base.retention.days} -> {head.retention.days} days", False))
    for field in ("description", "owners", "domain", "tags", "freshness", "quality", "upstream"):
        if getattr(base, field) != getattr(head, field):
            found.append((ADDITIVE, f"{field} changed", False))
    return found


def _approval(base: Contract | None, head: Contract) -> ChangelogEntry | None:
    """The newest changelog entry added since BASE that names an approver."""
    known = {e.model_dump_json() for e in (base.changelog if base else [])}
    added = [e for e in head.changelog if e.model_dump_json() not in known and e.approved_by]
    return max(added, key=lambda e: e.date) if added else None


def diff_contracts(
    base: dict[str, Contract], head: dict[str, Contract], policies: Policies | None = None
) -> list[Change]:
    """Every change; with ``policies``, an approval by someone not allowed to approve does not count."""
    changes: list[Change] = []
    for dataset in sorted(set(base) | set(head)):
        old, new = base.get(dataset), head.get(dataset)
        if new is None:
            # the contract (and its changelog) is gone: a removal cannot be approved in it
            changes.append(Change(dataset, BREAKING, "dataset removed", True))
            continue
        found = [(ADDITIVE, "dataset added", False)] if old is None else _dataset_changes(old, new)
        approval = _approval(old, new)
        allowed = (
            approval is None
            or policies is None
            or old is None
            or policies.may_approve(approval.approved_by or "", old)
        )
        changes += [
            Change(dataset, kind, what, needs, approval if needs else None, allowed or not needs)
            for kind, what, needs in found
        ]
    return changes


def contracts_at(ref: str, repo: Path | None = None, directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """The contracts as committed at git ``ref`` (loaded and validated by today's loader)."""
    repo = repo or Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    relative = directory.resolve().relative_to(repo.resolve()).as_posix()
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", ref, "--", relative],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    with tempfile.TemporaryDirectory() as tmp:
        for path in listing:
            if not path.endswith(".yaml"):
                continue
            target = Path(tmp) / Path(path).relative_to(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(
                subprocess.run(
                    ["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True, check=True
                ).stdout
            )
        return dict(load_contracts(Path(tmp)))
