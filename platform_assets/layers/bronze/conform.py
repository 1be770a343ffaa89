"""Type received records by their contract; route the ones that do not fit to the dead-letter queue.

Per record: a field whose value cannot be the contract's type, or a required field that is
missing, sends the whole record to the DLQ with the reason (naming the dataset, the field and the
value) and its source position; nothing is dropped silently. A field the contract does not know
is additive drift: it is kept as a nullable text column. When a column fails in *every* record
that carries it (at least ``BREAKING_EVIDENCE`` of them), the source changed the column's type: that is a breaking change, reported as
``SchemaDriftError`` (after the records went to the DLQ, so they can be replayed after a fix).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.records import json_text
from platform_assets.sources.batch import RawRecord

MISSING = object()
BREAKING_EVIDENCE = 3  # a column failing in every record is a type change only over this many records


class SchemaDriftError(ValueError):
    """A breaking schema change at the source: names the dataset and the column."""


class FieldError(ValueError):
    pass


def _long(value: Any) -> int:
    if isinstance(value, bool):
        raise FieldError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise FieldError(f"expected an integer, got {value!r}")


def _double(value: Any) -> float:
    if isinstance(value, bool):
        raise FieldError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise FieldError(f"expected a number, got {value!r}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise FieldError(f"expected true or false, got {value!r}")


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise FieldError(f"expected an ISO date, got {value!r}")


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise FieldError(f"expected an ISO timestamp, got {value!r}") from exc
    else:
        raise FieldError(f"expected an ISO timestamp, got {value!r}")
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json_text(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _decimal(scale: int) -> Callable[[Any], Decimal]:
    def convert(value: Any) -> Decimal:
        if isinstance(value, bool):
            raise FieldError(f"expected a decimal, got {value!r}")
        try:
            return Decimal(str(value)).quantize(Decimal(1).scaleb(-scale))
        except (InvalidOperation, ValueError) as exc:
            raise FieldError(f"expected a decimal, got {value!r}") from exc

    return convert


def _converter(type_name: str) -> tuple[Callable[[Any], Any], pa.DataType]:
    if type_name.startswith("decimal"):
        precision, scale = (int(x) for x in type_name[len("decimal(") : -1].split(","))
        return _decimal(scale), pa.decimal128(precision, scale)
    return {
        "string": (_string, pa.string()),
        "int": (_long, pa.int32()),
        "long": (_long, pa.int64()),
        "double": (_double, pa.float64()),
        "boolean": (_boolean, pa.bool_()),
        "date": (_date, pa.date32()),
        "timestamp": (_timestamp, pa.timestamp("us", tz="UTC")),
    }[type_name]


@dataclass
class Conformed:
    """Typed rows that fit the contract, the dead letters that did not, and any new fields."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    new_fields: list[str] = field(default_factory=list)
    failures_by_field: dict[str, int] = field(default_factory=dict)
    present_by_field: dict[str, int] = field(default_factory=dict)
    # the batch path (batch_conform.py) keeps the typed rows as Arrow instead of ``rows``
    table: pa.Table | None = None
    received: int = 0
    typed_per_record: int = 0  # records the batch path left to the per-record path

    @property
    def row_count(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.rows)

    def breaking_fields(self) -> list[str]:
        """Fields that failed in every record carrying a value for them (a type change at the source)."""
        return sorted(
            name
            for name, failed in self.failures_by_field.items()
            if failed >= BREAKING_EVIDENCE and failed == self.present_by_field.get(name, 0)
        )


def conform_records(
    contract: Contract,
    records: Iterable[tuple[str, Any]],
    source_columns: list[str],
    field_checks: Mapping[str, Callable[[Any], str | None]] | None = None,
) -> Conformed:
    """Type (position, record) pairs by the contract's ``source_columns``.

    ``field_checks`` (column -> check of the received value, returning why it does not fit) cover what a
    column type cannot say, such as the inner shape of a JSON field.
    """
    field_checks = field_checks or {}
    specs = {c.name: c for c in contract.columns if c.name in source_columns}
    converters = {name: _converter(spec.type)[0] for name, spec in specs.items()}
    out = Conformed()
    for position, record in records:
        if not isinstance(record, dict):  # a RawRecord or anything else that is not a JSON object
            out.dead_letters.append(
                _dead_letter(contract, position, record, "the record is not a JSON object")
            )
            continue
        row: dict[str, Any] = {}
        errors: list[str] = []
        for name in source_columns:
            value = record.get(name, MISSING)
            if value is MISSING or value is None:
                if not specs[name].nullable:
                    errors.append(
                        f"field '{name}' is required but {'missing' if value is MISSING else 'null'}"
                    )
                row[name] = None
                continue
            out.present_by_field[name] = out.present_by_field.get(name, 0) + 1
            try:
                check = field_checks.get(name)
                reason = check(value) if check else None
                if reason:
                    raise FieldError(reason)
                row[name] = converters[name](value)
            except FieldError as exc:
                out.failures_by_field[name] = out.failures_by_field.get(name, 0) + 1
                errors.append(f"field '{name}': {exc}")
        unknown = [name for name in record if name not in specs]
        for name in unknown:
            row[name] = None if record[name] is None else _string(record[name])
        if errors:
            out.dead_letters.append(_dead_letter(contract, position, record, "; ".join(errors)))
        else:
            # only records that reach bronze widen its schema: a dead letter keeps its fields in _raw
            out.new_fields.extend(name for name in unknown if name not in out.new_fields)
            row["_position"] = position
            out.rows.append(row)
    return out


def _dead_letter(contract: Contract, position: str, record: Any, error: str) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if isinstance(record, RawRecord):
        record, context = record.payload, record.context
    raw = record if isinstance(record, str | bytes) else json.dumps(record, sort_keys=True, default=str)
    return {
        "_dataset": contract.dataset,
        "_position": position,
        "_error": f"{contract.dataset}: {error}",
        "_raw": raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace"),
        "_raw_bytes": raw if isinstance(raw, bytes) else None,  # exactly as received, when binary
        "_context": json.dumps(context, sort_keys=True, default=str) if context else None,
    }


def raise_on_breaking_change(contract: Contract, conformed: Conformed) -> None:
    broken = conformed.breaking_fields()
    if broken:
        detail = ", ".join(f"'{name}' ({contract.column(name).type})" for name in broken)
        raise SchemaDriftError(
            f"{contract.dataset}: every received value of column(s) {detail} failed the contract's type; "
            f"the source changed the column's type. The {len(conformed.dead_letters)} record(s) are in the "
            "dead-letter table; update the contract (or the source) and replay them."
        )


def arrow_schema(contract: Contract, source_columns: list[str]) -> pa.Schema:
    """Arrow types of the contract's source columns, for building bronze tables."""
    return pa.schema([(c.name, _converter(c.type)[1]) for c in contract.columns if c.name in source_columns])
