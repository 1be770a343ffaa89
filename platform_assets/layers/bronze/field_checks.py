"""Checks of nested field contents that a column type cannot express, per bronze dataset.

Conformance types each column; a field holding structured data (the order ``lines`` kept as JSON
text) also needs its inner shape checked, or a bad nested value would slip into bronze. A check takes
the received value and returns why it does not fit (or None); conformance then dead-letters the record
with ``field '<name>': <reason>`` and counts the failure against that column, on ingest and on replay.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

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


@dataclass(frozen=True)
class FieldShape:
    """What the batch path (``batch_conform.py``) needs to type a checked field without the check.

    ``decoded_type`` is a msgspec type that accepts only values the check accepts (anything else is
    left to the per-record path, which runs the check); ``canonical_text`` turns decoded values into
    the text the per-record converter stores, with a mask of the ones it cannot render exactly.
    """

    decoded_type: Any
    canonical_text: Callable[[list[Any]], tuple[pa.Array, pa.Array | None]]


class Line(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One order line as ``lines_error`` accepts it; fields in sorted order, as ``json.dumps(sort_keys)``."""

    line_no: int
    product_id: int
    quantity: int
    unit_price: int | float


_encode = msgspec.json.Encoder().encode


def lines_text(values: list[Any]) -> tuple[pa.Array, pa.Array]:
    """``json.dumps(lines, sort_keys=True)`` of decoded lines, for a whole batch in one encoding.

    A line holds only numbers under four fixed keys, so the compact encoding differs from
    ``json.dumps`` by its separators alone, except for floats that Python writes with an exponent
    (below 1e-4 or from 1e16): those are marked, and typed per record. With no nested lists inside a
    line, ``], [`` appears only between two records' lines, so the batch's encoding splits there.
    """
    if not values:
        return pa.array([], pa.string()), pa.array([], pa.bool_())
    if any(v is None for v in values):  # a nullable column: encoded one by one
        texts = [
            _encode(v).replace(b",", b", ").replace(b":", b": ") if v is not None else None for v in values
        ]
    else:
        spaced = _encode(values).replace(b",", b", ").replace(b":", b": ")
        texts = spaced[2:-2].split(b"], [")
    text = pc.binary_join_element_wise("[", pa.array(texts, pa.binary()).cast(pa.string()), "]", "")
    if any(v is None for v in values):
        text = pa.array(texts, pa.binary()).cast(pa.string())
    return text, pc.match_substring_regex(text, r"\d[eE]|0\.0000")


FIELD_CHECKS: dict[str, dict[str, FieldCheck]] = {
    "bronze/order_events": {"lines": lines_error},
}
FIELD_SHAPES: dict[str, dict[str, FieldShape]] = {
    "bronze/order_events": {
        "lines": FieldShape(Annotated[list[Line], msgspec.Meta(min_length=1)], lines_text),
    },
}


def field_checks_for(dataset: str) -> Mapping[str, FieldCheck]:
    return FIELD_CHECKS.get(dataset, {})


def field_shapes_for(dataset: str) -> Mapping[str, FieldShape]:
    return FIELD_SHAPES.get(dataset, {})
