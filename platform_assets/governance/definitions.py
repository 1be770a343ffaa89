"""The governance part of the code location: the write-audit sensor and the scheduled PII scan checks."""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.governance.pii_checks import pii_scan_definitions
from platform_assets.governance.write_audit import build_write_audit_sensor


def governance_definitions(contracts: dict[str, Contract]) -> dg.Definitions:
    return dg.Definitions.merge(
        dg.Definitions(sensors=[build_write_audit_sensor(contracts)]), pii_scan_definitions(contracts)
    )
