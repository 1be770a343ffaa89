"""Partitions start where the sandbox's data starts, so a "missing" partition in the UI is a day the
sources have data for and the lake does not."""

import inspect
from datetime import date

from platform_assets.contracts import load_contracts
from platform_assets.definitions import build_definitions
from sandbox.generator.fx import generate_fx
from sandbox.generator.order_stream import generate_order_events

SANDBOX_FIRST_DAY = date(2026, 11, 1)


def test_the_sandbox_starts_on_its_first_day() -> None:
    assert inspect.signature(generate_fx).parameters["start"].default == SANDBOX_FIRST_DAY
    assert inspect.signature(generate_order_events).parameters["start"].default == SANDBOX_FIRST_DAY


def test_every_partitioned_dataset_starts_on_the_sandbox_first_day() -> None:
    partitioned = {n: c.partitioning.start for n, c in load_contracts().items() if c.partitioning}
    assert len(partitioned) == 11  # 9 bronze/silver tables, gold/fact_order_lines, gold/agg_daily_revenue
    assert set(partitioned.values()) == {SANDBOX_FIRST_DAY}
    repo = build_definitions().get_repository_def()
    firsts = {
        key.to_user_string(): repo.asset_graph.get(key).partitions_def.get_first_partition_key()
        for key in repo.asset_graph.materializable_asset_keys
        if repo.asset_graph.get(key).partitions_def is not None
    }
    assert set(firsts) == set(partitioned)
    assert set(firsts.values()) == {"2026-11-01"}
