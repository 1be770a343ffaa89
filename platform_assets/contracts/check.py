"""``platform contracts check``: every contract file validated, every problem listed (not just the first).

Per file: YAML syntax, the contract's fields and rule arguments (the loader's checks), and that
each rule names columns of the schema; then across files: upstream contracts and lineage columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from platform_assets.contracts.loader import CONTRACTS_DIR, ContractError, _check_references, load_contract
from platform_assets.contracts.model import Contract


@dataclass(frozen=True)
class Problem:
    path: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: field '{self.field}': {self.reason}"


def _rule_columns(contract: Contract, path: Path) -> list[Problem]:
    names = set(contract.column_names)
    return [
        Problem(str(path), f"quality.rules.{rule.name}", f"names column(s) {missing} not in the schema")
        for rule in contract.rules
        if (missing := sorted(set(rule.columns) - names))
    ]


def check_contracts(directory: Path = CONTRACTS_DIR) -> tuple[int, list[Problem]]:
    """The number of contract files and the problems found in them."""
    files = sorted(directory.glob("*/*.yaml"))
    problems: list[Problem] = []
    loaded: dict[str, Contract] = {}
    paths: dict[str, Path] = {}
    for path in files:
        try:
            contract = load_contract(path)
        except ContractError as exc:
            problems.append(Problem(exc.path, exc.field, exc.reason))
            continue
        problems += _rule_columns(contract, path)
        loaded[contract.dataset], paths[contract.dataset] = contract, path
    if not problems:
        try:
            _check_references(loaded, paths)
        except ContractError as exc:
            problems.append(Problem(exc.path, exc.field, exc.reason))
    return len(files), problems
