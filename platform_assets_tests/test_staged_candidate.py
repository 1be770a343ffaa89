"""The candidate is computed once: a run reads its upstream table once, however many rules fail.

The generator's order stream plants defects that fail critical rules (so the gate aggregates, samples
each failing rule, counts and writes the quarantine, and publishes). Counting the executed Spark
Connect plans that name the upstream path shows one read per run: the change apply stages its feed
and the checked changes, the gate stages its candidate; the staged copies are gone afterwards.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.contracts import load_contracts
from platform_assets.definitions import build_definitions
from platform_assets.domains.orders import ORDERS_APPLY_JOB
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import STAGING_ZONE, Lake
from platform_assets.layers.bronze.incremental_asset import ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.layers.specs import RANGE_END, RANGE_START
from platform_assets.operations.scans import count_scans
from platform_assets.quality import staging as staging_module
from platform_assets.settings import PlatformSettings, SettingsError
from platform_assets.sources.batch import SourceBatch
from platform_assets.sources.kafka.reader import app_id, parse_message, position_label
from platform_assets_tests.orders_oracle import assert_silver_orders_match
from sandbox.generator.order_stream import generate_order_events

TOPIC = "orders.events"


def _ingest(lake: Lake, messages: list[tuple[bytes, bytes]], first: int) -> None:
    records = [
        (position_label(TOPIC, 0, first + i), parse_message(TOPIC, 0, first + i, key, value))
        for i, (key, value) in enumerate(messages)
    ]
    now = datetime.now(UTC)
    ingest_increment(
        lake,
        load_contracts()["bronze/order_events"],
        Batch(now.date(), now, f"kafka:{TOPIC}", f"test:{first}"),
        lambda _: SourceBatch(records=records, offsets={app_id(TOPIC, 0): first + len(records) - 1}),
    )


def test_each_order_run_reads_its_upstream_once_and_leaves_no_staged_copy(tmp_path: Path) -> None:
    dataset = generate_order_events(seed=7, days=3, scale=0.5)
    settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path / "lake")})
    lake = Lake(settings.lake_root)
    _ingest(lake, [(m.key, m.value) for m in dataset.messages], 0)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(ORDERS_APPLY_JOB)
    last_day = max(str(e["created_time"])[:10] for e in dataset.valid_events())
    bronze, orders = lake.uri("bronze/order_events"), lake.uri("silver/orders")
    staging = tmp_path / "lake" / STAGING_ZONE

    with dg.instance_for_test() as instance:
        with count_scans([bronze, orders]) as scans:
            result = job.execute_in_process(
                instance=instance, tags={RANGE_START: dataset.start.isoformat(), RANGE_END: last_day}
            )
        assert_silver_orders_match(lake, instance, dataset)
        # silver/orders reads bronze once (its MERGE names the target in SQL, not as a scan);
        # silver/order_lines reads silver/orders once
        assert (scans[bronze], scans[orders]) == (1, 1)

        # a later event whose total disagrees with its lines fails a critical rule: the gate
        # aggregates, samples the failing rule, counts and writes the quarantine, still from one read
        event = json.loads(dataset.messages[-1].value)
        day = event["created_time"][:10]
        bad = {**event, "event_id": "evt-late-bad", "event_time": f"{day}T23:59:59Z"}
        bad["order_total"] = float(bad["order_total"]) + 5.0
        _ingest(lake, [(bad["order_id"].encode(), json.dumps(bad).encode())], len(dataset.messages))
        with count_scans([bronze]) as scans:
            result = job.execute_in_process(
                instance=instance, tags={RANGE_START: day, RANGE_END: day}, raise_on_error=False
            )
        assert scans[bronze] == 1
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {"order_total_equals_lines"}
    quarantined = read_table(lake.quarantine_uri("silver/orders")).to_pylist()
    assert [(r["event_id"], r["_failed_rules"]) for r in quarantined] == [
        ("evt-late-bad", "order_total_equals_lines")
    ]
    assert not staging.exists() or not any(staging.iterdir())  # no staged table or run folder left


def test_staged_copies_go_to_the_staging_root_when_one_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PLATFORM_STAGING_ROOT puts every scratch copy of a run there (the cluster topology's shared
    folder instead of the S3 lake), none under the lake, and removes them; the tables come out the same."""
    dataset = generate_order_events(seed=7, days=3, scale=0.2)
    scratch = tmp_path / "scratch"
    settings = PlatformSettings.from_env(
        {"PLATFORM_LAKE_ROOT": str(tmp_path / "lake"), "PLATFORM_STAGING_ROOT": f"file://{scratch}"}
    )
    assert settings.lake.staging == str(scratch)
    lake = settings.lake
    _ingest(lake, [(m.key, m.value) for m in dataset.messages], 0)
    written: list[str] = []
    original = staging_module.delta_io.overwrite_table

    def recording(df: object, uri: str) -> None:
        written.append(uri)
        original(df, uri)  # type: ignore[arg-type]

    monkeypatch.setattr(staging_module.delta_io, "overwrite_table", recording)
    last_day = max(str(e["created_time"])[:10] for e in dataset.valid_events())
    with dg.instance_for_test() as instance:
        job = build_definitions(settings).resolve_job_def(ORDERS_APPLY_JOB)
        job.execute_in_process(
            instance=instance, tags={RANGE_START: dataset.start.isoformat(), RANGE_END: last_day}
        )
        assert_silver_orders_match(lake, instance, dataset)
    # the feed and the checked changes of silver/orders, the candidate of silver/order_lines
    assert len(written) == 3 and all(uri.startswith(f"{scratch}/") for uri in written), written
    assert not (tmp_path / "lake" / STAGING_ZONE).exists()
    assert not any(scratch.iterdir())  # every staged copy and run folder removed


def test_a_staging_root_the_platform_cannot_clean_is_refused() -> None:
    with pytest.raises(SettingsError, match="PLATFORM_STAGING_ROOT='hdfs:///scratch' must be a folder"):
        PlatformSettings.from_env({"PLATFORM_STAGING_ROOT": "hdfs:///scratch"})


def test_an_scd1_feed_is_staged_as_the_newest_change_per_key_and_its_strays() -> None:
    """What the change apply stages for SCD1: per key the newest in-scope change (marked the winner;
    a delete wins a tie), one row per key of other partitions, every stray change; each row carries
    the newest ingestion of its group, so the staged copy's newest is the whole read's."""
    from platform_assets.cdc import ChangeSpec
    from platform_assets.engine import SparkEngine
    from platform_assets.layers.silver.change_apply_asset import (
        IN_SCOPE,
        SEEN,
        STRAY,
        WINNER,
        _newest_per_key,
    )

    spark = SparkEngine().get_session()
    spec = ChangeSpec("silver/t", ("k",), ("ts",), ("v",), apply_as_deletes="op = 'D'")
    t = [datetime(2026, 11, 1, h, tzinfo=UTC) for h in range(6)]
    rows = [  # k, v, ts, op, _ingested_at, in scope, stray
        (1, 10, 1, "U", t[0], True, False),
        (1, 11, 2, "U", t[3], True, False),  # newest of key 1, not the newest ingested
        (1, 12, 2, "D", t[1], True, False),  # same sequence: the delete wins
        (2, 20, 1, "U", t[2], True, False),
        (2, 21, 5, "U", t[5], False, False),  # another partition's change: one row, its own group
        (3, 30, 1, "U", t[4], True, True),  # a stray is kept whatever its rank
        (3, 31, 2, "U", t[1], True, True),
    ]
    schema = (
        f"k long, v long, ts long, op string, _ingested_at timestamp, {IN_SCOPE} boolean, {STRAY} boolean"
    )
    staged = _newest_per_key(spark.createDataFrame(rows, schema), spec)
    got = sorted((r["k"], r["v"], r[WINNER], r[SEEN].replace(tzinfo=UTC)) for r in staged.collect())
    assert got == [
        (1, 12, True, t[3]),
        (2, 20, True, t[2]),
        (2, 21, True, t[5]),
        (3, 30, False, t[4]),
        (3, 31, True, t[4]),
    ]
