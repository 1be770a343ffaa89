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
from typing import Any

import msgspec
import numpy as np
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


def _joined(chunks: list[Any]) -> tuple[Any, np.ndarray]:
    """Buffer-like values (``msgspec.Raw``) as one buffer and their int64 offsets into it."""
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks)), out=offsets[1:])
    return b"".join(chunks), offsets


def _array(kind: pa.DataType, data: Any, offsets: np.ndarray, valid: pa.Array | None = None) -> pa.Array:
    """A binary or text array over one buffer, no copy (int64 ``offsets`` for the large types, int32
    otherwise); ``valid`` (booleans, no nulls) marks the values that are set."""
    bitmap = None if valid is None else valid.buffers()[1]
    return pa.Array.from_buffers(kind, len(offsets) - 1, [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)])


# JSON numbers written exactly as ``json.dumps`` writes their ``json.loads`` (anything else goes to the
# per-record path): integers of up to 18 digits ("-0" excluded), and decimals of at most 15 significant
# digits (7 before the point, 8 after) without an exponent, not below 1e-4, no trailing 0 but in ".0"
_INTEGER = r"(0|-?[1-9][0-9]{0,17})"
_DECIMAL = r"(-?0\.(0|0{0,3}[1-9]([0-9]{0,11}[1-9])?)|-?[1-9][0-9]{0,6}\.(0|[0-9]{0,7}[1-9]))"
_NUMBER = rf"({_INTEGER}|{_DECIMAL})"
_WHITESPACE = (b" ", b"\t", b"\n", b"\r")


def number_objects_shape(fields: Mapping[str, type]) -> FieldShape:
    """The shape of a non-empty JSON list of objects holding exactly ``fields``, each an integer
    (``int``) or a number (``float``), typed a whole column at a time.

    Each value is decoded as its raw JSON text (``msgspec.Raw``: no Python object per line). With any
    whitespace removed, one regular expression checks the exact shape: the keys in the order
    ``records.json_text`` (sorted keys) writes them, and only numbers that ``json.dumps`` would write
    back as they are (``_NUMBER``). Such a text *is* the per-record path's ``json_text``, so compact
    values are stored as received (no copy) and spaced ones once compacted. Any other text is marked,
    so the per-record path (the check and the converter) types it.
    """
    members = ",".join(
        f'"{name}":{_NUMBER if kind is float else _INTEGER}' for name, kind in sorted(fields.items())
    )
    item = r"\{" + members + r"\}"
    shape = rf"^\[{item}(,{item})*\]$"

    def canonical_text(values: list[Any]) -> tuple[pa.Array, pa.Array]:
        data, offsets = _joined(values)
        received = _array(pa.large_binary(), data, offsets)
        if any(space in data for space in _WHITESPACE):  # not compact: compacted per value
            received = pc.replace_substring_regex(received, r"[ \t\n\r]+", "")
            _, offsets_buffer, data_buffer = received.buffers()
            offsets = np.frombuffer(offsets_buffer, np.int64, len(received) + 1)
            data = data_buffer
        fits = pc.match_substring_regex(received, shape)
        # the bytes as text, no copy; the values that do not fit are null (never read as text)
        small = offsets[-1] < 2**31
        kind, width = (pa.string(), np.int32) if small else (pa.large_string(), np.int64)
        return _array(kind, data, offsets.astype(width), fits), pc.invert(fits)

    return FieldShape(msgspec.Raw, canonical_text)


FIELD_CHECKS: dict[str, dict[str, FieldCheck]] = {
    "bronze/order_events": {"lines": lines_error},
}
FIELD_SHAPES: dict[str, dict[str, FieldShape]] = {
    "bronze/order_events": {
        "lines": number_objects_shape(LINE_FIELDS),
    },
}


def field_checks_for(dataset: str) -> Mapping[str, FieldCheck]:
    return FIELD_CHECKS.get(dataset, {})


def field_shapes_for(dataset: str) -> Mapping[str, FieldShape]:
    return FIELD_SHAPES.get(dataset, {})
