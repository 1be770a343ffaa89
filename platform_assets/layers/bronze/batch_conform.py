"""Type a whole batch by its contract a column at a time: the fast path of ``conform.py``.

Per-record typing (``conform_records``) costs a Python call per field per record. Here each record
is decoded and validated by a compiled decoder (msgspec) straight into the contract's shape: a
``str`` for a string column, an ``int`` (never a bool or a float) for int/long, a number for double,
a bool for boolean, text for dates and timestamps, nested shapes for the fields a check describes
(``field_checks.py``). Unknown fields, missing required fields, nulls in required fields, JSON that
does not parse: the decoder refuses the record. The columns are then built and typed with Arrow
compute: timestamps and dates parsed only when their text has the strict ISO shape.

Every record the fast path refuses, or whose value it cannot type *exactly* as the per-record
converter would, goes through ``conform_records`` on its own. So the fast path only decides which
records are plainly fine and types them identically; dead letters, their messages, additive drift
(``new_fields``) and the breaking-change evidence all come from the per-record code, unchanged.
``test_batch_conform.py`` compares both paths on every planted defect kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_assets.contracts.model import ColumnSpec, Contract
from platform_assets.layers.bronze.conform import Conformed, _converter, arrow_schema, conform_records
from platform_assets.layers.bronze.field_checks import FieldShape, field_checks_for, field_shapes_for
from platform_assets.layers.bronze.records import source_columns
from platform_assets.sources.batch import JsonPayloads

# The shapes the fast path types itself; anything else is left to the per-record converter.
TIMESTAMP_SHAPE = (
    r"^[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{3}|\.\d{6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
DATE_SHAPE = r"^[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
_FAST_TYPES: dict[str, Any] = {
    "string": str,
    "int": int,
    "long": int,
    "double": float,
    "boolean": bool,
    "timestamp": str,
    "date": str,
}


@dataclass
class _Plan:
    """How one contract's records are decoded: the struct, its fields, and the columns typed apart."""

    struct: type
    decoder: Callable[[Any], Any]
    names: list[str]  # decoded columns, in struct field order
    shapes: dict[str, FieldShape] = field(default_factory=dict)
    per_value: dict[str, Callable[[Any], Any]] = field(default_factory=dict)  # e.g. decimals


def _plan(
    contract: Contract, columns: Sequence[str], supplied: Sequence[str], shapes: Mapping[str, FieldShape]
) -> _Plan:
    specs = {c.name: c for c in contract.columns if c.name in columns}
    names = [name for name in columns if name not in supplied]
    fields: list[tuple[str, Any, Any]] = []
    per_value: dict[str, Callable[[Any], Any]] = {}
    for i, name in enumerate(names):
        spec = specs[name]
        if name in shapes:
            kind = shapes[name].decoded_type
        elif spec.type in _FAST_TYPES:
            kind = _FAST_TYPES[spec.type]
        else:  # decimals: decoded as any JSON value, typed by the per-record converter
            kind, per_value[name] = Any, _converter(spec.type)[0]
        if spec.nullable:
            fields.append((f"f{i}", kind | None, None))
        else:
            fields.append((f"f{i}", kind, msgspec.NODEFAULT))
    struct = msgspec.defstruct(
        "Received",
        fields,
        kw_only=True,
        forbid_unknown_fields=True,  # a field the contract does not know: additive drift, per record
        rename={f"f{i}": name for i, name in enumerate(names)},
        gc=False,
    )
    decoder = msgspec.json.Decoder(struct)
    return _Plan(struct, decoder.decode, names, {n: shapes[n] for n in names if n in shapes}, per_value)


def _decoded(plan: _Plan, received: JsonPayloads | Sequence[tuple[str, Any]]) -> list[Any]:
    """The decoded struct per record, None where the decoder refuses it."""
    out: list[Any] = []
    append = out.append
    if isinstance(received, JsonPayloads):
        decode = plan.decoder
        for value in received.values:
            try:
                append(decode(value))  # type: ignore[arg-type]
            except (msgspec.ValidationError, msgspec.DecodeError, TypeError):
                append(None)
        return out
    struct = plan.struct
    for _, record in received:
        try:
            append(msgspec.convert(record, struct))
        except (msgspec.ValidationError, TypeError):
            append(None)
    return out


def _typed_column(
    spec: ColumnSpec, values: list[Any], target: pa.DataType
) -> tuple[pa.Array, pa.Array | None]:
    """The column typed like the per-record converter, and a mask of rows it could not type exactly."""
    if spec.type in ("timestamp", "date"):
        text = pa.array(values, pa.string())
        fits = pc.match_substring_regex(text, TIMESTAMP_SHAPE if spec.type == "timestamp" else DATE_SHAPE)
        candidate = pc.if_else(fits, text, pa.scalar(None, pa.string()))
        try:
            typed = pc.cast(candidate, target)
        except pa.ArrowInvalid:  # a calendar-invalid value among them (2026-02-30): find it per value
            convert = _converter(spec.type)[0]
            typed = pa.array(
                [
                    _or_none(convert, v) if ok else None
                    for v, ok in zip(values, fits.to_pylist(), strict=True)
                ],
                target,
            )
        unfit = pc.and_(pc.is_valid(text), pc.is_null(typed))
        return typed, unfit
    return pa.array(values, target), None


def _or_none(convert: Callable[[Any], Any], value: Any) -> Any:
    try:
        return convert(value)
    except ValueError:  # FieldError is a ValueError
        return None


def conform_batch(
    contract: Contract,
    received: JsonPayloads | Sequence[tuple[str, Any]],
    source_columns: list[str],
    field_checks: Mapping[str, Callable[[Any], str | None]] | None = None,
    shapes: Mapping[str, FieldShape] | None = None,
) -> Conformed:
    """``conform_records`` for a whole batch: the same rows, dead letters and drift, as a typed table.

    ``received`` is either JSON payloads (``JsonPayloads``) or (position, record) pairs of decoded
    records (dicts from an API or a file). The result's ``table`` holds the typed rows (source
    columns, new fields as text, ``_position``) in the order received.
    """
    field_checks = field_checks or {}
    shapes = shapes or {}
    # a field with a check but no shape the decoder can verify is typed per record
    unchecked = [name for name in field_checks if name in source_columns and name not in shapes]
    if isinstance(received, JsonPayloads):
        supplied, positions, record_at = received.supplied, received.positions, received.record
    else:
        supplied, positions = {}, [p for p, _ in received]
        record_at = lambda i: received[i][1]  # noqa: E731
    count = len(positions)
    position_column = positions if isinstance(positions, pa.Array) else pa.array(positions, pa.string())
    plan = _plan(contract, source_columns, list(supplied), shapes)
    decoded = _decoded(plan, received) if not unchecked else [None] * count
    specs = {c.name: c for c in contract.columns}
    schema = arrow_schema(contract, source_columns)
    good = [d for d in decoded if d is not None]
    # where the decoded records sit in the batch (None: all of them, in order)
    good_at = (
        None
        if len(good) == count
        else pa.array([i for i, d in enumerate(decoded) if d is not None], pa.int64())
    )
    columns: dict[str, pa.Array] = {}
    unfit = pa.nulls(len(good), pa.bool_()).fill_null(False)
    for i, name in enumerate(plan.names):
        values = list(map(attrgetter(f"f{i}"), good))
        target = schema.field(name).type
        if name in plan.shapes:
            typed, bad = plan.shapes[name].canonical_text(values)
        elif name in plan.per_value:
            convert = plan.per_value[name]
            out = [_or_none(convert, v) if v is not None else None for v in values]
            typed = pa.array(out, target)
            bad = pc.and_(pa.array([v is not None for v in values], pa.bool_()), pc.is_null(typed))
        else:
            typed, bad = _typed_column(specs[name], values, target)
        columns[name] = typed
        if bad is not None:
            unfit = pc.or_(unfit, pc.fill_null(bad, False))
    for name, values in supplied.items():
        if name not in source_columns:
            continue
        # ints and text from the reader itself, as Arrow already or as Python values
        kind = schema.field(name).type
        typed = values.cast(kind) if isinstance(values, pa.Array) else pa.array(values, kind)
        columns[name] = typed if good_at is None else typed.take(good_at)
        if not specs[name].nullable:
            unfit = pc.or_(unfit, pc.is_null(columns[name]))
    index = pa.array(np.arange(count, dtype=np.int64)) if good_at is None else good_at
    refused = [i for i, d in enumerate(decoded) if d is None] if good_at is not None else []
    any_unfit = pc.any(unfit).as_py()
    slow_indices = sorted(refused + index.filter(unfit).to_pylist()) if any_unfit else refused
    # the per-record path sees each refused record with its index as the position, so that its rows
    # and dead letters can be put back in order and given their real position afterwards
    out = conform_records(contract, [(i, record_at(i)) for i in slow_indices], source_columns, field_checks)
    for letter in out.dead_letters:
        letter["_position"] = position_column[letter["_position"]].as_py()
    fast_positions = position_column
    if good_at is not None:
        fast_positions = fast_positions.take(good_at)
    fast_table = pa.table({name: columns[name] for name in source_columns})
    fast_table = fast_table.append_column("_position", fast_positions).append_column("_index", index)
    if any_unfit:
        fast_table = fast_table.filter(pc.invert(unfit))
    for name in source_columns:
        present = fast_table.num_rows - fast_table.column(name).null_count
        if present:
            out.present_by_field[name] = out.present_by_field.get(name, 0) + present
    for name in out.new_fields:  # additive drift of the per-record rows: text, null in the others
        fast_table = fast_table.append_column(name, pa.nulls(fast_table.num_rows, pa.string()))
    combined = fast_table
    if out.rows:  # the per-record path's rows, put back where they were received
        slow_table = _rows_table(schema, out, position_column).select(fast_table.column_names)
        combined = pa.concat_tables([fast_table, slow_table.cast(fast_table.schema)])
        combined = combined.take(pc.sort_indices(combined.column("_index")))
    out.table = combined.select([*source_columns, *out.new_fields, "_position"])
    out.rows = TableRows(out)  # type: ignore[assignment]
    out.received = count
    out.typed_per_record = len(slow_indices)
    return out


def conform_by_contract(contract: Contract, received: JsonPayloads | Sequence[tuple[str, Any]]) -> Conformed:
    """``conform_batch`` with the contract's own source columns, field checks and shapes: how bronze types
    a batch, in the Dagster process or on an engine's executors (``engine_conform.py``)."""
    return conform_batch(
        contract,
        received,
        source_columns(contract),
        field_checks_for(contract.dataset),
        field_shapes_for(contract.dataset),
    )


class TableRows(Sequence[dict[str, Any]]):
    """``Conformed.rows`` of the batch path: a view of its ``table`` (whatever it is replaced by),
    counted without converting, turned into dicts only when read."""

    def __init__(self, owner: Conformed) -> None:
        self._owner = owner
        self._cache: tuple[pa.Table, list[dict[str, Any]]] | None = None

    def _rows(self) -> list[dict[str, Any]]:
        table = self._owner.table
        assert table is not None
        if self._cache is None or self._cache[0] is not table:
            self._cache = (table, table.to_pylist())
        return self._cache[1]

    def __len__(self) -> int:
        return self._owner.row_count

    def __getitem__(self, index: Any) -> Any:
        return self._rows()[index]


def _rows_table(schema: pa.Schema, out: Conformed, positions: pa.Array) -> pa.Table:
    """The per-record path's accepted rows as Arrow, with their index in the batch."""
    arrays = {f.name: pa.array([r.get(f.name) for r in out.rows], f.type) for f in schema}
    for name in out.new_fields:
        arrays[name] = pa.array([r.get(name) for r in out.rows], pa.string())
    indices = [r["_position"] for r in out.rows]
    arrays["_position"] = positions.take(pa.array(indices, pa.int64()))
    arrays["_index"] = pa.array(indices, pa.int64())
    return pa.table(arrays)
