"""The batch path of bronze typing (``batch_conform.py``) gives exactly what the per-record path gives.

Each test runs both on the same input, with every kind of defect the platform dead-letters or lets
through (malformed JSON, binary garbage, wrong types at the top level and inside ``lines``, missing
and null required fields, additive drift, a column whose every value fails, odd timestamps and
numbers), and compares the typed rows, the dead letters (position, error text, raw payload, context),
the new fields and the per-field evidence behind the breaking-change check.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_assets.contracts import load_contracts
from platform_assets.layers.bronze.batch_conform import conform_batch
from platform_assets.layers.bronze.conform import Conformed, arrow_schema, conform_records
from platform_assets.layers.bronze.field_checks import field_checks_for, field_shapes_for
from platform_assets.layers.bronze.records import source_columns
from platform_assets.sources.kafka.reader import ReceivedMessages, parse_message, position_label
from sandbox.generator.order_stream import generate_order_events
from sandbox.generator.orders import CONTRACT_VIOLATION, MALFORMED_JSON

CONTRACTS = load_contracts()
ORDERS = CONTRACTS["bronze/order_events"]
TOPIC = "orders.events"


def _event(**changes: Any) -> dict[str, Any]:
    event = {
        "event_id": "evt-1",
        "event_type": "created",
        "order_id": "ord-1",
        "customer_id": 7,
        "currency": "EUR",
        "lines": [{"line_no": 1, "product_id": 3, "quantity": 2, "unit_price": 9.5}],
        "order_total": 19.0,
        "event_time": "2026-11-01T10:00:00Z",
        "created_time": "2026-11-01T10:00:00Z",
        "schema_version": 1,
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not _DROP}


_DROP = object()
LINE = {"line_no": 1, "product_id": 3, "quantity": 2}
PLANTED: list[bytes | None] = [
    json.dumps(_event()).encode(),
    json.dumps(_event(customer_id="12")).encode(),  # text digits: accepted as 12 per record
    json.dumps(_event(customer_id=12.0)).encode(),  # a whole float: accepted as 12
    json.dumps(_event(customer_id=True)).encode(),  # a bool is not an integer
    json.dumps(_event(order_total="abc")).encode(),
    json.dumps(_event(order_total=20)).encode(),  # an integer for a double
    json.dumps(_event(order_id=_DROP)).encode(),  # missing required
    json.dumps(_event(order_id=None)).encode(),  # null required
    json.dumps(_event(channel=None)).encode(),  # null nullable
    json.dumps(_event(schema_version=2, channel="web")).encode(),
    json.dumps(_event(coupon="X-1")).encode(),  # additive drift
    json.dumps(_event(coupon={"code": 1})).encode(),  # drift holding JSON
    json.dumps(_event(event_id=123)).encode(),  # a number for a string: kept as text per record
    json.dumps(_event(event_time="2026-11-01T10:00:00+05:30")).encode(),
    json.dumps(_event(event_time="2026-11-01T10:00:00.250Z")).encode(),
    json.dumps(_event(event_time="2026-11-01T10:00:00")).encode(),  # naive: UTC
    json.dumps(_event(event_time="2026-02-30T10:00:00Z")).encode(),  # no such day
    json.dumps(_event(event_time="yesterday")).encode(),
    json.dumps(_event(event_time=" 2026-11-01T10:00:00Z ")).encode(),  # padded
    json.dumps(_event(lines=json.dumps([{**LINE, "unit_price": 1}]))).encode(),  # lines as JSON text
    json.dumps(_event(lines=[{**LINE, "unit_price": 1e-05}])).encode(),  # Python writes 1e-05
    json.dumps(_event(lines=[{**LINE, "unit_price": 1e16}])).encode(),
    json.dumps(
        _event(lines=[{**LINE, "unit_price": 150}, {**LINE, "line_no": 2, "unit_price": 0.1}])
    ).encode(),
    json.dumps(_event(lines=[{**LINE, "unit_price": 2.5, "note": "gift, wrapped"}])).encode(),
    json.dumps(_event(lines=[{**LINE, "quantity": "three", "unit_price": 2.5}])).encode(),
    json.dumps(_event(lines=[{**LINE, "quantity": 2.0, "unit_price": 2.5}])).encode(),
    json.dumps(_event(lines=[])).encode(),
    json.dumps(_event(lines=None)).encode(),
    json.dumps(_event(_topic="spoofed")).encode(),  # the reader's coordinates win
    b'{"event_id": "evt-9", "lines": [{"line_no": 1, "quantity": ',  # truncated
    b"\x00\x9f\x92\x96 not json \xff",  # not UTF-8
    b"[1, 2]",  # JSON, not an object
    b"42",
    b"",
    None,  # a tombstone
    b'{"event_id": "evt-1", "event_id": "evt-2"}',  # duplicate keys
]


def _messages(values: list[bytes | None], keys: list[bytes | None] | None = None) -> ReceivedMessages:
    received = ReceivedMessages(TOPIC)
    for offset, value in enumerate(values):
        key = keys[offset] if keys else f"ord-{offset}".encode()
        received.add(offset % 3, offset, key, value)
    return received


def _per_record(received: ReceivedMessages) -> Conformed:
    records = [
        (position_label(TOPIC, p, o), parse_message(TOPIC, p, o, k, v))
        for p, o, k, v in zip(
            received.partitions, received.offsets, received.keys, received.values, strict=True
        )
    ]
    return conform_records(ORDERS, records, source_columns(ORDERS), field_checks_for(ORDERS.dataset))


def _rows_table(contract: Any, out: Conformed) -> pa.Table:
    columns = source_columns(contract)
    schema = arrow_schema(contract, columns)
    arrays = {f.name: pa.array([r.get(f.name) for r in out.rows], f.type) for f in schema}
    for name in out.new_fields:
        arrays[name] = pa.array([r.get(name) for r in out.rows], pa.string())
    arrays["_position"] = pa.array([r["_position"] for r in out.rows], pa.string())
    return pa.table(arrays)


def assert_same(contract: Any, reference: Conformed, batch: Conformed) -> None:
    assert batch.table is not None
    assert batch.table.to_pylist() == _rows_table(contract, reference).to_pylist()
    assert batch.table.schema == _rows_table(contract, reference).schema
    assert batch.dead_letters == reference.dead_letters
    assert batch.new_fields == reference.new_fields
    assert batch.failures_by_field == reference.failures_by_field
    assert batch.present_by_field == reference.present_by_field
    assert batch.breaking_fields() == reference.breaking_fields()


def _batch(received: ReceivedMessages) -> Conformed:
    return conform_batch(
        ORDERS,
        received.payloads(),
        source_columns(ORDERS),
        field_checks_for(ORDERS.dataset),
        field_shapes_for(ORDERS.dataset),
    )


def test_every_planted_defect_kind_types_and_dead_letters_as_per_record() -> None:
    received = _messages(PLANTED, keys=[b"ord-1", None, b"\xff\xfe", *[b"k"] * (len(PLANTED) - 3)])
    reference, batch = _per_record(received), _batch(received)
    assert_same(ORDERS, reference, batch)
    # the planted inputs do exercise both outcomes and the drift
    assert len(reference.dead_letters) >= 15 and len(reference.rows) >= 10
    assert reference.new_fields == ["coupon"]


def test_the_generated_stream_with_its_defects_types_as_per_record() -> None:
    dataset = generate_order_events(seed=7, days=3, scale=2)
    received = _messages([m.value for m in dataset.messages], [m.key for m in dataset.messages])
    reference, batch = _per_record(received), _batch(received)
    assert_same(ORDERS, reference, batch)
    bad = sum(1 for m in dataset.messages if m.defect in (MALFORMED_JSON, CONTRACT_VIOLATION))
    assert len(batch.dead_letters) == bad == 4
    assert batch.typed_per_record == 4  # everything else took the batch path
    assert batch.table is not None and batch.table.num_rows == len(dataset.messages) - 4


def test_a_type_change_in_every_record_is_still_a_breaking_change() -> None:
    values = [json.dumps(_event(event_id=f"e{i}", customer_id=f"c{i}")).encode() for i in range(4)]
    received = _messages(values)
    reference, batch = _per_record(received), _batch(received)
    assert_same(ORDERS, reference, batch)
    assert (
        batch.breaking_fields() == ["customer_id"] and batch.table is not None and batch.table.num_rows == 0
    )


def test_decoded_records_from_an_api_type_as_per_record() -> None:
    """The dict path (Salesforce, Snowflake, DMS records), with a decimal column typed per value."""
    products = CONTRACTS["bronze/snowflake_products"]
    base = {"product_id": 1, "sku": "A", "updated_at": "2026-11-01T10:00:00Z"}
    records = [
        (f"p{i}", record)
        for i, record in enumerate(
            [
                {**base, "list_price": Decimal("9.505"), "name": "x"},
                {**base, "list_price": 9.5},
                {**base, "list_price": "12"},
                {**base, "list_price": "twelve"},
                {**base, "list_price": True},
                {**base, "product_id": "7"},
                {**base, "sku": None},
                {**base, "colour": "red"},
                "not an object",
            ]
        )
    ]
    columns = source_columns(products)
    reference = conform_records(products, records, columns)
    batch = conform_batch(products, records, columns)
    assert_same(products, reference, batch)
    assert len(reference.dead_letters) == 4


def test_a_batch_the_decoder_refuses_whole_types_as_per_record() -> None:
    """Snowflake rows carry datetimes and Decimals, which the decoder leaves to the per-record path."""
    products = CONTRACTS["bronze/snowflake_products"]
    when = datetime(2026, 11, 1, 10, tzinfo=UTC)
    records = [
        (f"p{i}", {"product_id": i, "sku": f"S{i}", "list_price": Decimal("1.5"), "updated_at": when})
        for i in range(3)
    ]
    columns = source_columns(products)
    batch = conform_batch(products, records, columns)
    assert_same(products, conform_records(products, records, columns), batch)
    assert batch.typed_per_record == 3 and batch.row_count == 3


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    prices=st.lists(st.one_of(finite, st.integers(-(10**20), 10**20)), min_size=1, max_size=4),
    total=st.one_of(finite, st.integers(-(10**6), 10**6)),
)
def test_any_number_in_lines_or_totals_renders_as_per_record(prices: list[Any], total: Any) -> None:
    lines = [{**LINE, "line_no": i, "unit_price": p} for i, p in enumerate(prices)]
    received = _messages([json.dumps(_event(lines=lines, order_total=total)).encode()] * 2)
    assert_same(ORDERS, _per_record(received), _batch(received))


def _compact(event: dict[str, Any], **texts: str) -> bytes:
    """The event as a producer writes it (no whitespace), with ``texts`` put in verbatim where the
    event holds their name as a string (number texts ``json.dumps`` would never write)."""
    value = json.dumps(event, separators=(",", ":")).encode()
    for name, text in texts.items():
        value = value.replace(f'"{name}"'.encode(), text.encode())
    return value


def _priced(price: Any, **line: Any) -> dict[str, Any]:
    return _event(lines=[{**LINE, "unit_price": price, **line}])


# (message, typed on the batch path): compact messages, so the lines take the batch-wide path that
# spaces the raw text; every other message goes to the per-record path, whatever its outcome
COMPACT: list[tuple[bytes | None, bool]] = [
    (_compact(_priced(262.3)), True),
    (_compact(_priced(150)), True),  # an integer price stays an integer
    (_compact(_priced(-4.0)), True),
    (_compact(_priced("P"), P="0.0001"), True),
    (_compact(_priced("P"), P="1234567.12345678"), True),  # 15 significant digits
    (_compact(_priced("P"), P="0.00001"), False),  # json.dumps writes 1e-05
    (_compact(_priced("P"), P="2.50"), False),  # written back as 2.5
    (_compact(_priced("P"), P="-0"), False),  # the integer 0
    (_compact(_priced("P"), P="1E5"), False),
    (_compact(_priced("P"), P="12345678.5"), False),  # more digits than the batch path renders
    (_compact(_priced("P"), P="0.1234567890123456789"), False),  # rounds to a float
    (_compact(_priced(10**20)), False),
    (_compact(_event(lines=[{"unit_price": 1.5, **LINE}])), False),  # keys in another order
    (_compact(_priced(2.5, note="gift")), False),  # an extra key: kept per record
    (_compact(_priced(2.5, quantity=2.0)), False),  # a float quantity: dead letter
    (_compact(_priced(2.5, quantity="3")), False),
    (_compact(_priced(True)), False),
    (_compact(_event(lines=[])), False),
    (_compact(_event(lines=None)), False),
    (_compact(_event(lines="[]")), False),
    (_compact(_event(customer_id="12")), False),
    (_compact(_event(customer_id=True)), False),
    (_compact(_event(order_total="abc")), False),
    (_compact(_event(event_time="2026-11-01T10:00:00")), False),  # naive: UTC, per record
    (_compact(_event(event_time="2026-02-30T10:00:00Z")), False),
    (_compact(_event(order_id=_DROP)), False),
    (_compact(_event(coupon="X-1")), False),
    (_compact(_event(event_id=123)), False),
    (b'{"event_id":"evt-9","lines":[{"line_no":1,', False),
    (b"\xff\xfe", False),
    (None, False),
    (_compact(_event(schema_version=2, channel="web")), True),
]


def test_a_compact_batch_with_every_kind_of_bad_field_types_as_per_record() -> None:
    """Valid rows and every kind of bad field, as producers send them (compact JSON): the batch gives
    exactly the per-record path's rows (values, order, positions) and dead letters (position, error
    text, raw bytes, context), and types on the batch path exactly the plainly valid messages."""
    values = [value for value, _ in COMPACT] * 3  # a column failing in some records only
    received = _messages(values, keys=[b"\xff" if i % 7 == 0 else b"k" for i in range(len(values))])
    reference, batch = _per_record(received), _batch(received)
    assert_same(ORDERS, reference, batch)
    plain = sum(fast for _, fast in COMPACT) * 3
    assert batch.typed_per_record == len(values) - plain
    assert batch.row_count == len(reference.rows) and len(reference.dead_letters) == 13 * 3
    # nested values are stored as compact JSON with sorted keys (records.json_text), both ways
    texts = {r["lines"] for r in reference.rows}
    assert '[{"line_no":1,"product_id":3,"quantity":2,"unit_price":1e-05}]' in texts
    assert '[{"line_no":1,"product_id":3,"quantity":2,"unit_price":2.5}]' in texts
    assert set(batch.table.column("lines").to_pylist()) == texts


@settings(max_examples=300, deadline=None)
@given(
    prices=st.lists(st.one_of(finite, st.integers(-(10**20), 10**20)), min_size=1, max_size=4),
)
def test_any_number_in_compact_lines_renders_as_per_record(prices: list[Any]) -> None:
    lines = [{**LINE, "line_no": i, "unit_price": p} for i, p in enumerate(prices)]
    received = _messages([_compact(_event(lines=lines))] * 2)
    assert_same(ORDERS, _per_record(received), _batch(received))
