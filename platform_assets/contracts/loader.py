"""Load and validate the contract files; a bad contract fails definitions loading loudly.

Every error names the file, the field (as a dotted path, list positions included) and the reason.
"""

from __future__ import annotations

from pathlib import Path

from platform_assets.contracts.documents import load_document
from platform_assets.contracts.load_checks import condition_columns
from platform_assets.contracts.model import Contract
from platform_assets.contracts.rules import RuleError

CONTRACTS_DIR = Path(__file__).parent / "datasets"


class ContractError(ValueError):
    """A contract that cannot be used, with where and why."""

    def __init__(self, path: Path | str, field: str, reason: str) -> None:
        self.path, self.field, self.reason = str(path), field, reason
        super().__init__(f"contract {path}: field '{field}': {reason}")


def load_contract(path: Path) -> Contract:
    try:
        contract = load_document(
            path, Contract, ContractError, "(contract)", "a contract", "docs/contracts.md"
        )
    except RuleError as exc:
        raise ContractError(path, "quality.rules", str(exc)) from exc
    expected = f"{path.parent.name}/{path.stem}"
    if contract.dataset != expected:
        raise ContractError(
            path, "dataset", f"is {contract.dataset!r} but the file's place says {expected!r}"
        )
    return contract


def _check_references(contracts: dict[str, Contract], paths: dict[str, Path]) -> None:
    for name, contract in contracts.items():
        for upstream in contract.upstream:
            if upstream not in contracts:
                raise ContractError(paths[name], "upstream", f"{upstream!r} has no contract")
        for column in contract.columns:
            for item in column.lineage:
                dataset, _, source_column = item.rpartition(".")
                if source_column not in contracts[dataset].column_names:
                    raise ContractError(
                        paths[name],
                        f"schema.{column.name}.lineage",
                        f"{dataset} has no column {source_column!r}",
                    )
        _check_delete_condition(contract, contracts, paths[name])


def _check_delete_condition(contract: Contract, contracts: dict[str, Contract], path: Path) -> None:
    """``apply_as_deletes`` reads a change row: the table's own columns or its upstreams'."""
    if contract.cdc is None or contract.cdc.apply_as_deletes is None:
        return
    known = {*contract.column_names, *(c for u in contract.upstream for c in contracts[u].column_names)}
    unknown = sorted(condition_columns(contract.cdc.apply_as_deletes) - known)
    if unknown:
        raise ContractError(
            path,
            "cdc.apply_as_deletes",
            f"names columns {unknown} that neither the schema nor an upstream contract has",
        )


class Contracts(dict[str, Contract]):
    """The loaded contracts by ``layer/table``; asking for one that does not exist says where it
    was looked for (a ContractError, not a bare KeyError)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def __missing__(self, dataset: str) -> Contract:
        raise ContractError(
            self.directory / f"{dataset}.yaml", "dataset", f"no contract {dataset!r} in {self.directory}"
        )


def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """All contracts under ``directory/<layer>/<table>.yaml``, keyed by ``layer/table``."""
    contracts = Contracts(directory)
    paths: dict[str, Path] = {}
    for path in sorted(directory.glob("*/*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix != ".yaml":  # a .yml (or any other) file would be silently ignored
            raise ContractError(path, "(file)", "contract files must end in '.yaml'; rename or remove it")
        contract = load_contract(path)
        contracts[contract.dataset] = contract
        paths[contract.dataset] = path
    _check_references(contracts, paths)
    return contracts
