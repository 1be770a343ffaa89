"""The order event stream produced lazily, in bounded memory: the same messages as ``generate_order_events``.

The stream is laid out in ``event_time`` order over every order, with defects planted at fractions of
it, so it cannot be written front to back as the orders are simulated. Two passes instead:

1. simulate the orders one at a time (the same random draws, in the same order); write each event's
   encoding to a temporary spill file and keep only compact numbers per event (time, tie-break key,
   where its bytes are) and per order (cancelled, events, last time, currency, channel);
2. sort those numbers, plan the exceptions and the defects from them (reading back the few orders they
   touch), then yield the messages in produce order, reading each event's bytes back from the file.

Memory is about 60 bytes per event (numpy arrays) plus one message at a time, instead of every event
as Python objects twice. ``generate_order_events`` materializes this stream, so both are one layout.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from sandbox.generator import orders as o

_V1_TAIL = b'"schema_version":1}'


@dataclass(frozen=True)
class _Edit:
    """A conformed-source exception: how every event of one order is edited."""

    kind: str
    customer_id: int | None = None  # late customer
    uncatalogued: bool = False
    reprice_to_yen: bool = False


class OrderEventStream:
    """Iterate for the ``OrderMessage`` s in produce order; ``defects`` and ``exceptions`` are known
    up front. Use as a context manager (or call ``close``) to remove the spill file."""

    def __init__(
        self,
        seed: int = 7,
        start: date = date(2026, 11, 1),
        days: int = 3,
        orders_per_day: int = 40,
        scale: float = 1.0,
        late_customer_id: int | None = None,
    ) -> None:
        per_day = round(orders_per_day * scale)
        if days < o.MIN_DAYS or per_day < o.MIN_ORDERS_PER_DAY:
            raise ValueError(
                f"generate_order_events: needs days >= {o.MIN_DAYS} and orders_per_day * scale >= "
                f"{o.MIN_ORDERS_PER_DAY} (the planted defects need them), got days={days}, "
                f"orders_per_day={orders_per_day}, scale={scale}"
            )
        self.seed, self.start, self.days, self.orders_per_day = seed, start, days, per_day
        if late_customer_id is None:
            from sandbox.generator.customers import late_customer_id as rds_late_customer

            late_customer_id = rds_late_customer(seed, max(1, round(scale)))
        self._spill = tempfile.TemporaryFile(prefix="order-stream-")  # noqa: SIM115 (closed by close())
        rng = random.Random(seed)
        self._simulate(
            rng, max(1, round(o.CUSTOMERS_PER_SCALE * scale)), max(1, round(o.PRODUCTS_PER_SCALE * scale))
        )
        self._sort()
        self._edits: dict[int, _Edit] = {}
        self.exceptions = self._plant_exceptions(late_customer_id)
        self._planted: dict[int, list[o._Planted]] = {}
        self._plant_defects(rng)
        self.defects = self._lay_out()

    # ------------------------------------------------------------------------------------ pass 1
    def _simulate(self, rng: random.Random, customers: int, products: int) -> None:
        self._products = products
        e_time, e_key, e_offset, e_length, e_order = (array("q") for _ in range(5))
        self._cancelled, self._events, self._first = array("b"), array("b"), array("q")
        self._last_time, self._currency, self._channel, self._customer = (array("q") for _ in range(4))
        rank = _lexicographic_ranks(self.orders_per_day)
        offset, write = 0, self._spill.write
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            for n in range(1, self.orders_per_day + 1):
                order = o._simulate_order(rng, day, n, customers, products)
                index = len(self._cancelled)
                self._cancelled.append(order.cancelled)
                self._events.append(len(order.events))
                self._first.append(len(e_time))
                self._currency.append(o.CURRENCIES.index(order.currency))
                self._channel.append(o.CHANNELS.index(order.channel))
                self._customer.append(order.customer_id)
                for seq, event in enumerate(order.events, start=1):
                    encoded = o._encode(event, v2=False)
                    seconds = int(o._parse_time(event["event_time"]).timestamp())
                    e_time.append(seconds)
                    e_key.append((d << 40) | (rank[n] << 8) | seq)  # event_id order within one second
                    e_offset.append(offset)
                    e_length.append(len(encoded))
                    e_order.append(index)
                    write(encoded)
                    offset += len(encoded)
                self._last_time.append(seconds)
        self._spill.flush()
        self._e_time = np.frombuffer(e_time, np.int64)
        self._e_key = np.frombuffer(e_key, np.int64)
        self._e_offset = np.frombuffer(e_offset, np.int64)
        self._e_length = np.frombuffer(e_length, np.int64)
        self._e_order = np.frombuffer(e_order, np.int64)

    def _sort(self) -> None:
        self._perm = np.lexsort((self._e_key, self._e_time))  # (event_time, event_id), as _time_order
        self._rank_of = np.empty_like(self._perm)
        self._rank_of[self._perm] = np.arange(len(self._perm))
        self._sorted_time = self._e_time[self._perm]

    # ------------------------------------------------------------------------------- reading back
    def _raw(self, event: int) -> bytes:
        return os.pread(self._spill.fileno(), int(self._e_length[event]), int(self._e_offset[event]))

    def _event(self, event: int) -> o.Record:
        """An event as simulated, with its order's exception edits (no ``schema_version``)."""
        record = json.loads(self._raw(event))
        del record["schema_version"]
        edit = self._edits.get(int(self._e_order[event]))
        if edit is not None:
            _apply(edit, record)
        return record

    def _order_id(self, order: int) -> str:
        day = self.start + timedelta(days=order // self.orders_per_day)
        return f"ord-{day:%Y%m%d}-{order % self.orders_per_day + 1:04d}"

    def _order(self, order: int) -> o._Order:
        """The order object as the simulation left it (after its exception edits)."""
        first, count = int(self._first[order]), int(self._events[order])
        events = [self._event(e) for e in range(first, first + count)]
        edit = self._edits.get(order)
        rebuilt = o._Order(
            order_id=self._order_id(order),
            customer_id=edit.customer_id
            if edit and edit.customer_id is not None
            else int(self._customer[order]),
            currency=o.FX_MISSING_CCY
            if edit and edit.reprice_to_yen
            else o.CURRENCIES[self._currency[order]],
            channel=o.CHANNELS[self._channel[order]],
            products=self._products,
            events=events,
            next_seq=count + 1,
            created_time=events[0]["created_time"],
        )
        return rebuilt

    # ---------------------------------------------------------------------------------- planning
    def _first_open(self, day_index: int, ok: Any = lambda i: True) -> int | None:
        begin = day_index * self.orders_per_day
        return next(
            (i for i in range(begin, begin + self.orders_per_day) if not self._cancelled[i] and ok(i)), None
        )

    def _plant_exceptions(self, late_customer_id: int) -> tuple[o.OrderException, ...]:
        """``orders._plant_exceptions`` over the compact orders (the same picks and edits)."""
        late = self._first_open(self.days - 1)
        uncatalogued = self._first_open(0)
        jpy = o.CURRENCIES.index(o.FX_MISSING_CCY)
        fx_order = self._first_open(o.FX_MISSING_OFFSET, lambda i: self._currency[i] == jpy)
        if fx_order is None:
            fx_order = self._first_open(o.FX_MISSING_OFFSET, lambda i: i not in (late, uncatalogued))
        assert late is not None and uncatalogued is not None and fx_order is not None
        self._edits[late] = _Edit(o.LATE_CUSTOMER, customer_id=late_customer_id)
        self._edits[uncatalogued] = _Edit(o.UNCATALOGUED_PRODUCT, uncatalogued=True)
        if self._currency[fx_order] != jpy:
            self._edits[fx_order] = _Edit(o.FX_RATE_MISSING, reprice_to_yen=True)
        fx_day = self.start + timedelta(days=o.FX_MISSING_OFFSET)
        return (
            o.OrderException(
                o.LATE_CUSTOMER, self._order_id(late), f"customer_id {late_customer_id} arrives in RDS later"
            ),
            o.OrderException(
                o.UNCATALOGUED_PRODUCT,
                self._order_id(uncatalogued),
                f"line 1 is product {o.UNCATALOGUED_PRODUCT_ID}, which the catalogue does not hold",
            ),
            o.OrderException(
                o.FX_RATE_MISSING,
                self._order_id(fx_order),
                f"{o.FX_MISSING_CCY} order on {fx_day}, the day whose first FX publication lacks {o.FX_MISSING_CCY}",
            ),
        )

    def __len__(self) -> int:
        return len(self._perm) + sum(len(p) for p in self._planted.values())

    def _clean_order(self, k: int) -> int:
        return int(self._e_order[self._perm[k]])

    def _anchor(self, fraction: float) -> int:
        return min(len(self._perm) - 1, round(fraction * len(self._perm)))

    def _last_index(self, order: int) -> int:
        """The sorted index of the order's last event (``_Stream.index_of(order.last['event_id'])``)."""
        return int(self._rank_of[int(self._first[order]) + int(self._events[order]) - 1])

    def _plant(self, after: int, planted: o._Planted) -> None:
        self._planted.setdefault(after, []).append(planted)

    def _plant_defects(self, rng: random.Random) -> None:
        """``orders._plant_defects`` over the compact stream (the same anchors, picks and draws)."""
        used: set[int] = set()
        clean = len(self._perm)

        def pick(fraction: float, ok: Any = lambda i: True) -> int:
            anchor = self._anchor(fraction)
            for k in [*range(anchor, clean), *range(clean)] if anchor else range(clean):
                order = self._clean_order(k)
                if order not in used and not self._cancelled[order] and ok(order):
                    used.add(order)
                    return order
            raise ValueError(f"no order fits the defect anchored at {fraction}")

        def extra(order: o._Order, event: o.Record) -> o.Record:
            event["_channel"] = order.channel
            return event

        truncated_key = self._order_id(self._clean_order(self._anchor(o.MALFORMED_ANCHORS[0])))
        truncated = (
            f'{{"event_id":"evt-{truncated_key.removeprefix("ord-")}-99","event_type":"updated",'
            f'"order_id":"{truncated_key}","lines":[{{"line_no":1,"quantity":'
        ).encode()
        garbage_key = self._order_id(self._clean_order(self._anchor(o.MALFORMED_ANCHORS[1])))
        garbage = b"\x00\x9f\x92\x96 not json \xff"
        for fraction, key, raw, what in (
            (o.MALFORMED_ANCHORS[0], truncated_key, truncated, "truncated JSON document"),
            (o.MALFORMED_ANCHORS[1], garbage_key, garbage, "binary garbage (not UTF-8)"),
        ):
            self._plant(self._anchor(fraction), o._Planted(o.MALFORMED_JSON, None, key, what, raw=raw))

        for fraction in o.DUPLICATE_ANCHORS:
            index = self._anchor(fraction)
            original = self._event(int(self._perm[index]))
            detail = f"exact re-send of {original['event_id']} (producer retry); silver keeps one copy"
            self._plant(
                index, o._Planted(o.DUPLICATE, None, original["order_id"], detail, duplicate_of=index)
            )

        bad_index = pick(o.BAD_QUANTITY_ANCHOR)
        bad = self._order(bad_index)
        bad_event = bad.event(
            "updated", o._parse_time(bad.last["event_time"]) + timedelta(minutes=5), bad.last["lines"]
        )
        bad_event["lines"] = [dict(line) for line in bad_event["lines"]]
        bad_event["lines"][0]["quantity"] = "three"
        self._plant(
            self._last_index(bad_index),
            o._Planted(
                o.CONTRACT_VIOLATION,
                extra(bad, bad_event),
                bad.order_id,
                "lines[0].quantity is the string 'three'",
            ),
        )
        orphan_index = pick(o.MISSING_ORDER_ID_ANCHOR)
        orphan = self._order(orphan_index)
        at = o._parse_time(orphan.last["event_time"]) + timedelta(minutes=5)
        orphan_event = orphan.event("cancelled", at, orphan.last["lines"])
        del orphan_event["order_id"]
        self._plant(
            self._last_index(orphan_index),
            o._Planted(
                o.CONTRACT_VIOLATION,
                extra(orphan, orphan_event),
                orphan.order_id,
                "cancelled event without the required order_id (the key still names the order)",
            ),
        )

        stale_index = pick(o.OUT_OF_ORDER_ANCHOR, lambda i: self._events[i] >= 2)
        stale = self._order(stale_index)
        created_at = o._parse_time(stale.events[0]["event_time"])
        stale_event = stale.event(
            "updated", created_at - o.OUT_OF_ORDER_LEAD, o._changed_lines(rng, stale.last["lines"], stale)
        )
        self._plant(
            self._last_index(stale_index),
            o._Planted(
                o.OUT_OF_ORDER,
                extra(stale, stale_event),
                stale.order_id,
                f"updated event timed {o.OUT_OF_ORDER_LEAD.seconds // 60} minutes before the order's created "
                "event, produced after all of the order's events: it must not win",
            ),
        )

        start = self.start
        first_day_end = int(
            (datetime(start.year, start.month, start.day, tzinfo=UTC) + o.LATE_LATEST_LAST_EVENT).timestamp()
        )

        def early(i: int) -> bool:
            return i < self.orders_per_day and self._last_time[i] <= first_day_end

        for event_type in ("updated", "cancelled"):
            index = pick(0.0, early)
            order = self._order(index)
            at = o._parse_time(order.last["event_time"]) + o.LATE_AFTER_LAST_EVENT
            lines = o._changed_lines(rng, order.last["lines"], order) if event_type == "updated" else None
            late_event = order.event(event_type, at, lines or order.last["lines"])
            produce_after = o.format_timestamp(at + o.LATE_BY)
            seconds = int(o._parse_time(produce_after).timestamp())
            after = int(np.searchsorted(self._sorted_time, seconds, side="left")) - 1
            self._plant(
                after,
                o._Planted(
                    o.LATE,
                    extra(order, late_event),
                    order.order_id,
                    f"{event_type} event timed {late_event['event_time']}, produced among events of "
                    f"{produce_after} and later; valid, and the order's latest event",
                ),
            )

    # -------------------------------------------------------------------------------------- layout
    def _layout(self) -> Iterator[tuple[int | None, o._Planted | None]]:
        """(clean index, None) or (None, planted) in produce order, without reading any event."""
        for planted in self._planted.get(-1, []):
            yield None, planted
        anchors = sorted(k for k in self._planted if k >= 0)
        k = 0
        for anchor in anchors:
            for clean in range(k, anchor + 1):
                yield clean, None
            for planted in self._planted[anchor]:
                yield None, planted
            k = anchor + 1
        for clean in range(k, len(self._perm)):
            yield clean, None

    def _lay_out(self) -> tuple[o.OrderDefect, ...]:
        """The schema switch and every defect's position: ``_Stream.finish`` without the bytes."""
        total = len(self)
        switch = total // 2
        entries: dict[int, o._Planted] = {}  # planted messages by position
        for position, (_, planted) in enumerate(self._layout()):
            if planted is not None:
                entries[position] = planted
        while (planted := entries.get(switch)) is not None and planted.duplicate_of is not None:
            switch += 1
        self._switch = switch
        defects = []
        for position, planted in entries.items():
            if planted.kind == o.MALFORMED_JSON:
                event_id = None
            elif planted.duplicate_of is not None:
                event_id = self._event(int(self._perm[planted.duplicate_of]))["event_id"]
            else:
                assert planted.event is not None
                event_id = planted.event.get("event_id")
            defects.append(o.OrderDefect(planted.kind, position, planted.key, event_id, planted.detail))
        defects.append(
            o.OrderDefect(
                o.SCHEMA_CHANGE,
                switch,
                None,
                None,
                f"messages {switch}..{total - 1} are schema_version 2 with the additive field "
                f"channel (web/sales/partner); messages 0..{switch - 1} are version 1 without it",
            )
        )
        defects.sort(key=lambda d: (d.position, d.kind))
        return tuple(defects)

    def _clean_value(self, k: int, v2: bool) -> tuple[bytes, bytes]:
        event = int(self._perm[k])
        order = int(self._e_order[event])
        key = self._order_id(order).encode()
        if order in self._edits:
            record = self._event(event)
            record["_channel"] = o.CHANNELS[self._channel[order]]
            return key, o._encode(record, v2=v2)
        raw = self._raw(event)
        if not v2:
            return key, raw
        assert raw.endswith(_V1_TAIL)
        channel = json.dumps(o.CHANNELS[self._channel[order]]).encode()
        return key, raw[: -len(_V1_TAIL)] + b'"schema_version":2,"channel":' + channel + b"}"

    def __iter__(self) -> Iterator[o.OrderMessage]:
        encoded: dict[int, bytes] = {}  # duplicate anchors: the bytes first sent
        duplicated = {
            p.duplicate_of for ps in self._planted.values() for p in ps if p.duplicate_of is not None
        }
        for position, (clean, planted) in enumerate(self._layout()):
            v2 = position >= self._switch
            if planted is None:
                assert clean is not None
                key, value = self._clean_value(clean, v2)
                if clean in duplicated:
                    encoded[clean] = value
                yield o.OrderMessage(position, key, value, json.loads(value), None)
                continue
            if planted.duplicate_of is not None:
                value = encoded[planted.duplicate_of]
            elif planted.event is None:
                value = planted.raw
            else:
                value = o._encode(planted.event, v2=v2)
            sent = None if planted.kind == o.MALFORMED_JSON else json.loads(value)
            yield o.OrderMessage(position, planted.key.encode(), value, sent, planted.kind)

    def close(self) -> None:
        self._spill.close()

    def __enter__(self) -> OrderEventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _apply(edit: _Edit, event: o.Record) -> None:
    """``orders._plant_exceptions``'s edit of one event."""
    if edit.customer_id is not None:
        event["customer_id"] = edit.customer_id
    if edit.uncatalogued:
        event["lines"] = [
            dict(line, product_id=o.UNCATALOGUED_PRODUCT_ID) if line["line_no"] == 1 else line
            for line in event["lines"]
        ]
    if edit.reprice_to_yen:
        event["currency"] = o.FX_MISSING_CCY
        event["lines"] = [
            dict(line, unit_price=round(line["unit_price"] * o.JPY_PER_USD_PRICE)) for line in event["lines"]
        ]
        event["order_total"] = o._total(event["lines"])


def _lexicographic_ranks(per_day: int) -> list[int]:
    """rank[n]: where ``f"{n:04d}-"`` sorts among 1..per_day (event ids compare as text)."""
    rank = [0] * (per_day + 1)
    for position, n in enumerate(sorted(range(1, per_day + 1), key=lambda n: f"{n:04d}-")):
        rank[n] = position
    return rank


def generate_order_events(
    seed: int = 7,
    start: date = date(2026, 11, 1),
    days: int = 3,
    orders_per_day: int = 40,
    scale: float = 1.0,
    late_customer_id: int | None = None,
) -> o.OrderEventsDataset:
    """Build the order event stream. ``scale`` multiplies the orders per day (and the customer pool).

    ``late_customer_id`` (default: the customer the RDS generator inserts in its last batch) is the
    customer of the ``late_customer`` exception.
    """
    with OrderEventStream(seed, start, days, orders_per_day, scale, late_customer_id) as stream:
        messages = tuple(stream)
        return o.OrderEventsDataset(
            seed=seed,
            start=start,
            days=days,
            orders_per_day=stream.orders_per_day,
            messages=messages,
            defects=stream.defects,
            exceptions=stream.exceptions,
        )
