"""Checks of nested field contents that a column type cannot express, per bronze dataset.

Conformance types each column; a field holding structured data (the order ``lines`` kept as JSON
text) also needs its inner shape checked, or a bad nested value would slip into bronze. A check takes
the received value and returns why it does not fit (or None); conformance then dead-letters the record
with ``field '<name>': <reason>`` and counts the failure against that column, on ingest and on replay.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

FieldCheck = Callable[[Any], str | None]
LINE_FIELDS = {"line_no": int, "product_id": int, "quantity": int, "unit_price": float}


def lines_error(lines: Any) -> str | None:
    """Why ``lines`` does not fit the contract (a non-empty list of typed line objects), or None."""
    if isinstance(lines, str):
        try:
            lines = json.loads(lines)
        except json.JSONDecodeError:
            return f"lines is not JSON: {lines!r:.80}"
    if not isinstance(lines, list) or not lines:
        return f"lines must be a non-empty list, got {lines!r:.80}"
    for i, line in enumerate(lines):
        if not isinstance(line, dict):
            return f"lines[{i}] is not an object: {line!r:.80}"
        for name, kind in LINE_FIELDS.items():
            value = line.get(name)
            ok = (
                isinstance(value, int | float) if kind is float else isinstance(value, int)
            ) and not isinstance(value, bool)
            if not ok:
                expected = "a number" if kind is float else "an integer"
                return f"lines[{i}].{name}: expected {expected}, got {value!r}"
    return None


FIELD_CHECKS: dict[str, dict[str, FieldCheck]] = {
    "bronze/order_events": {"lines": lines_error},
}


def field_checks_for(dataset: str) -> Mapping[str, FieldCheck]:
    return FIELD_CHECKS.get(dataset, {})
