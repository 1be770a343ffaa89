"""Mask PII values (contract classification) in anything a report or an ops table shows."""

from __future__ import annotations

from typing import Any

from platform_assets.contracts.model import Classification, Contract

MASK = "***"


def mask_value(value: Any) -> Any:
    """Keep the shape a reader needs (an email stays recognisable as one), hide the rest."""
    if value is None:
        return None
    text = str(value)
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}{MASK}@{domain}"
    return f"{text[:1]}{MASK}" if len(text) > 1 else MASK


def pii_columns(contract: Contract) -> set[str]:
    return {c.name for c in contract.columns if c.classification is Classification.PII}


def mask_row(row: dict[str, Any], pii: set[str]) -> dict[str, Any]:
    return {k: mask_value(v) if k in pii else v for k, v in row.items()}
