"""The data dictionary from the contracts: search it (`platform catalog search TERM`) and ask what a
change would touch (`platform impact silver/customers.email`).

Everything comes from the contracts (descriptions, owners, domain, classification, retention, rules,
upstream datasets and each column's ``lineage``) and the policies (which roles may read a dataset and
how its columns are masked for them), so the catalog says what the platform enforces.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from platform_assets.contracts.model import ColumnSpec, Contract
from platform_assets.governance.decision import Caller, decide
from platform_assets.governance.policy_model import Policies


@dataclass(frozen=True)
class Hit:
    dataset: str
    column: str | None  # None: the dataset itself matched
    matched: str  # which field matched
    text: str  # what is shown

    def __str__(self) -> str:
        name = self.dataset + (f".{self.column}" if self.column else "")
        return f"{name:<45} [{self.matched}] {self.text}"


EXACT_FIELDS = ("classification",)  # matched whole (``pii`` must not match ``non-pii``); others as substrings


def dataset_fields(contract: Contract) -> dict[str, str]:
    """What a dataset is found by (the CLI search and the catalog site's index match the same fields)."""
    return {
        "name": contract.dataset,
        "description": " ".join(contract.description.split()),
        "owners": " ".join(contract.owners),
        "domain": contract.domain,
        "tags": " ".join(f"{k}={v}" for k, v in contract.tags.items()),
    }


def column_fields(column: ColumnSpec) -> dict[str, str]:
    return {
        "name": column.name,
        "description": column.description,
        "classification": column.classification.value,
    }


def dataset_text(contract: Contract) -> str:
    description = " ".join(contract.description.split())
    return f"{description[:90]} (owners {', '.join(contract.owners)}, domain {contract.domain})"


def column_text(column: ColumnSpec) -> str:
    return f"{column.type}, {column.classification.value}: {column.description}"


def matched_field(fields: dict[str, str], needle: str) -> str | None:
    """The first field that holds ``needle`` (lower case), or None."""
    for label, value in fields.items():
        if needle == value.lower() if label in EXACT_FIELDS else needle in value.lower():
            return label
    return None


def search(contracts: dict[str, Contract], term: str) -> list[Hit]:
    """Datasets and columns whose name, description, classification, owner, domain or tag has ``term``."""
    needle = term.strip().lower()
    hits: list[Hit] = []
    for dataset, contract in sorted(contracts.items()):
        label = matched_field(dataset_fields(contract), needle)
        if label:
            hits.append(Hit(dataset, None, label, dataset_text(contract)))
        for column in contract.columns:
            label = matched_field(column_fields(column), needle)
            if label:
                hits.append(Hit(dataset, column.name, label, column_text(column)))
    return hits


def upstream_columns(contracts: dict[str, Contract], dataset: str, column: str) -> list[str]:
    """Every column ``dataset.column`` is derived from, transitively, through the declared lineage."""
    found: list[str] = []
    queue = deque([f"{dataset}.{column}"])
    while queue:
        source_dataset, _, source_column = queue.popleft().rpartition(".")
        contract = contracts.get(source_dataset)
        if contract is None or source_column not in contract.column_names:
            continue  # a source outside the contracts (a raw payload field) ends the trail
        for source in contract.column(source_column).lineage:
            if source not in found:
                found.append(source)
                queue.append(source)
    return sorted(found)


def direct_downstream(contracts: dict[str, Contract], dataset: str) -> list[str]:
    """The datasets that list ``dataset`` as upstream."""
    return sorted(name for name, contract in contracts.items() if dataset in contract.upstream)


def roles_reading(
    contracts: dict[str, Contract], policies: Policies, datasets: list[str]
) -> dict[str, list[str]]:
    """Role -> those of ``datasets`` the policies let it read (a role's attributes given any value)."""
    roles: dict[str, list[str]] = {}
    for name, role in policies.roles.items():
        caller = Caller("catalog", name, {a: "x" for a in role.attributes})
        readable = [
            d for d in datasets if decide(policies, contracts, caller, d, contracts[d].column_names).allowed
        ]
        if readable:
            roles[name] = readable
    return roles


def downstream_columns(contracts: dict[str, Contract], dataset: str, column: str) -> list[str]:
    """Every column whose lineage leads back to ``dataset.column``, transitively (``layer/t.c``)."""
    readers: dict[str, list[str]] = {}
    for name, contract in contracts.items():
        for c in contract.columns:
            for source in c.lineage:
                readers.setdefault(source, []).append(f"{name}.{c.name}")
    found: list[str] = []
    queue = deque([f"{dataset}.{column}"])
    while queue:
        for reader in sorted(readers.get(queue.popleft(), [])):
            if reader not in found:
                found.append(reader)
                queue.append(reader)
    return sorted(found)


def downstream_datasets(contracts: dict[str, Contract], dataset: str) -> list[str]:
    """Every dataset that lists ``dataset`` upstream, transitively."""
    found: list[str] = []
    queue = deque([dataset])
    while queue:
        current = queue.popleft()
        for name, contract in sorted(contracts.items()):
            if current in contract.upstream and name not in found:
                found.append(name)
                queue.append(name)
    return sorted(found)


@dataclass
class Impact:
    target: str
    datasets: list[str]  # downstream datasets (the target's own dataset excluded)
    columns: list[str] = field(default_factory=list)  # downstream columns (column target only)
    roles: dict[str, list[str]] = field(default_factory=dict)  # role -> affected datasets it may read
    checks: dict[str, int] = field(default_factory=dict)  # dataset -> quality rules (report, Data Docs)

    def lines(self) -> list[str]:
        out = [f"impact of a change to {self.target}"]
        if self.columns:
            out.append(f"  downstream columns ({len(self.columns)}):")
            out += [f"    {c}" for c in self.columns]
        out.append(f"  downstream datasets ({len(self.datasets)}):")
        out += [f"    {d}" for d in self.datasets]
        out.append("  roles that read the affected datasets:")
        out += [f"    {r}: {', '.join(ds)}" for r, ds in sorted(self.roles.items())]
        out.append("  quality rules evaluated on them (DQ report, Data Docs, asset checks):")
        out += [f"    {d}: {n} rule(s)" for d, n in sorted(self.checks.items())]
        return out


def impact(contracts: dict[str, Contract], policies: Policies, target: str) -> Impact:
    """What a change to ``target`` (``layer/table`` or ``layer/table.column``) would touch."""
    dataset, _, column = target.partition(".")
    if dataset not in contracts:
        raise KeyError(f"{dataset!r} has no contract")
    if column:
        if column not in contracts[dataset].column_names:
            raise KeyError(f"{dataset} has no column {column!r}")
        columns = downstream_columns(contracts, dataset, column)
        datasets = sorted({c.rpartition(".")[0] for c in columns})
    else:
        columns, datasets = [], downstream_datasets(contracts, dataset)
    affected = [dataset, *datasets]
    roles = roles_reading(contracts, policies, affected)
    checks = {d: len(contracts[d].rules) for d in affected if contracts[d].rules}
    return Impact(target, datasets, columns, roles, checks)
