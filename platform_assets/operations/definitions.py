"""The operations part of the code location (maintenance, DR, cost, lineage), from the contracts."""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.operations.dr_assets import dr_definitions
from platform_assets.operations.maintenance_assets import maintenance_definitions


def operations_definitions(
    contracts: dict[str, Contract], domain_defs: list[dg.Definitions]
) -> dg.Definitions:
    """``domain_defs`` are the domains' definitions: maintenance runs take their writers' run tags."""
    return dg.Definitions.merge(maintenance_definitions(contracts, domain_defs), dr_definitions())
