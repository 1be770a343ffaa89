"""Data contracts: one YAML file per dataset drives assets, checks, freshness and metadata."""

from platform_assets.contracts.loader import ContractError, load_contract, load_contracts
from platform_assets.contracts.model import ColumnSpec, Contract, DatasetRef

__all__ = ["ColumnSpec", "Contract", "ContractError", "DatasetRef", "load_contract", "load_contracts"]
