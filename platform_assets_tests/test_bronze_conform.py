"""Typing records by their contract: bad records go to the DLQ with the reason; a type change stops."""

import pytest

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.conform import (
    SchemaDriftError,
    arrow_schema,
    conform_records,
    raise_on_breaking_change,
)

CONTRACT = Contract.model_validate(
    {
        "dataset": "bronze/order_events",
        "description": "order events",
        "owners": ["team:data-platform"],
        "domain": "sales",
        "schema": [
            {"name": "order_id", "type": "string", "nullable": False, "description": "order"},
            {"name": "quantity", "type": "long", "description": "units"},
            {"name": "unit_price", "type": "decimal(12,2)", "description": "price"},
            {"name": "event_time", "type": "timestamp", "nullable": False, "description": "when"},
            {"name": "is_gift", "type": "boolean", "description": "gift"},
        ],
        "retention": {"days": 7},
    }
)
COLUMNS = ["order_id", "quantity", "unit_price", "event_time", "is_gift"]


def _good(order_id: str, **changes: object) -> dict:
    return {
        "order_id": order_id,
        "quantity": 2,
        "unit_price": "9.5",
        "event_time": "2026-11-01T10:00:00Z",
        **changes,
    }


def test_bad_records_go_to_the_dlq_naming_dataset_field_and_value() -> None:
    records = [
        ("p0/o0", _good("A")),
        ("p0/o1", _good("B", quantity="three")),
        ("p0/o2", _good("C", event_time=None)),
        ("p0/o3", "not an object"),
        ("p0/o4", _good("D", channel="web")),
    ]
    out = conform_records(CONTRACT, records, COLUMNS)
    assert [r["order_id"] for r in out.rows] == ["A", "D"]
    assert out.rows[0]["quantity"] == 2 and str(out.rows[0]["unit_price"]) == "9.50"
    assert out.rows[1]["channel"] == "web" and out.new_fields == ["channel"]
    errors = {d["_position"]: d["_error"] for d in out.dead_letters}
    assert errors == {
        "p0/o1": "bronze/order_events: field 'quantity': expected an integer, got 'three'",
        "p0/o2": "bronze/order_events: field 'event_time' is required but null",
        "p0/o3": "bronze/order_events: the record is not a JSON object",
    }
    assert '"quantity": "three"' in next(d["_raw"] for d in out.dead_letters if d["_position"] == "p0/o1")
    raise_on_breaking_change(
        CONTRACT, out
    )  # one bad value among good ones is a bad record, not a type change


def test_only_records_that_reach_bronze_add_their_unknown_fields() -> None:
    records = [
        ("p0/o0", _good("A", quantity="three", coupon="X")),  # dead: its coupon stays in _raw
        ("p0/o1", _good("B", channel="web")),
    ]
    out = conform_records(CONTRACT, records, COLUMNS)
    assert [r["order_id"] for r in out.rows] == ["B"] and out.new_fields == ["channel"]
    assert '"coupon": "X"' in out.dead_letters[0]["_raw"]


def test_a_column_failing_in_every_record_is_a_type_change() -> None:
    records = [(f"p/{i}", _good(str(i), is_gift="sometimes")) for i in range(3)]
    out = conform_records(CONTRACT, records, COLUMNS)
    assert out.rows == [] and len(out.dead_letters) == 3
    with pytest.raises(
        SchemaDriftError,
        match=r"bronze/order_events: every received value of column\(s\) 'is_gift' \(boolean\)",
    ):
        raise_on_breaking_change(CONTRACT, out)


def test_arrow_types_follow_the_contract() -> None:
    schema = arrow_schema(CONTRACT, COLUMNS)
    assert [str(t) for t in schema.types] == [
        "string",
        "int64",
        "decimal128(12, 2)",
        "timestamp[us, tz=UTC]",
        "bool",
    ]


def test_a_field_check_covers_what_a_column_type_cannot_say() -> None:
    def positive(value: object) -> str | None:
        return None if int(value) > 0 else f"must be positive, got {value!r}"

    records = [("p/0", _good("A")), ("p/1", _good("B", quantity=-4))]
    out = conform_records(CONTRACT, records, COLUMNS, {"quantity": positive})
    assert [r["order_id"] for r in out.rows] == ["A"]
    assert [d["_error"] for d in out.dead_letters] == [
        "bronze/order_events: field 'quantity': must be positive, got -4"
    ]
    assert out.failures_by_field == {"quantity": 1} and out.present_by_field["quantity"] == 2
