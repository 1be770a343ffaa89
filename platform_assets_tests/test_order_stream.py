"""The order generator streams: bounded memory, and the same bytes as the in-memory layout it replaced."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

import pytest

from sandbox.generator.order_stream import OrderEventStream, generate_order_events

# sha256 of repr((messages, defects, exceptions)) from the in-memory generator before streaming
# (commit 4841ce4's sandbox/generator/orders.py); orders_per_day 10,050 gives five-digit order
# numbers, whose event ids sort as text ("ord-...-10000" before "ord-...-9999") in the ties
PINNED = {
    (7, 3, 40, 1.0): (248, "818c62de9dc3f89f310c93000dcd4bfd9a034d10061d29af6a6077a06e9e9538"),
    (5, 4, 40, 3.0): (967, "0c4b7505bd51c093135c1007b1a9dd44e9dfa9c551b15893bd17c8f54dc415d2"),
    (7, 3, 10_050, 1.0): (58_815, "8f38e5dcb7ac429a31a98d51938d9bb77c914bd5dffd0a19ad42fcb1ad70ffaf"),
}


@pytest.mark.parametrize(("seed", "days", "orders_per_day", "scale"), list(PINNED))
def test_the_stream_lays_out_the_bytes_of_the_in_memory_generator(
    seed: int, days: int, orders_per_day: int, scale: float
) -> None:
    dataset = generate_order_events(seed=seed, days=days, orders_per_day=orders_per_day, scale=scale)
    digest = hashlib.sha256(
        repr((dataset.messages, dataset.defects, dataset.exceptions)).encode()
    ).hexdigest()
    assert (len(dataset.messages), digest) == PINNED[(seed, days, orders_per_day, scale)]


def test_iterating_the_stream_holds_a_small_fraction_of_the_whole_stream() -> None:
    with OrderEventStream(seed=7, days=3, scale=40) as stream:
        assert isinstance(iter(stream), Iterator)
        tracemalloc.start()
        count = sum(1 for _ in stream)
        _, streaming_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    tracemalloc.start()
    held = generate_order_events(seed=7, days=3, scale=40).messages
    _, held_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == len(held) > 9_000
    # one message at a time (plus the stream's compact numbers) against every message and its event
    assert streaming_peak < held_peak / 20, (streaming_peak, held_peak)
