"""DMS files -> bronze -> silver through the real job, with hand-made deliveries.

A full-load row and a CDC change with the same commit time (the CDC change is on top of the load),
then randomized deliveries: random arrival order, LastModified stamps of one-second resolution (some
older than files already read), backlogs larger than one run's batch, re-deliveries of the same
object. The sensor decides when to run, as it does in production. Silver must equal a reference
computed from all changes in DMS order, and bronze must hold every change exactly once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import CUSTOMERS_JOB, build_definitions, build_resources
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import Lake
from platform_assets.layers.bronze import rds_customers
from platform_assets.settings import PlatformSettings
from platform_assets_tests.dms_files import cdc_name, commit_ts, customer, write_file

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
NOW = 1_800_000_000
LOAD = "LOAD00000001.csv"


class Platform:
    def __init__(self, root: Path, instance: dg.DagsterInstance) -> None:
        self.landing = root / "landing" / "public" / "customers"
        self.settings = PlatformSettings.from_env(
            {"PLATFORM_LAKE_ROOT": str(root / "lake"), "DMS_LANDING_ROOT": str(root / "landing")}
        )
        self.lake = Lake(self.settings.lake_root)
        self.defs = build_definitions(self.settings)
        self.instance = instance
        self.sensor = self.defs.resolve_sensor_def("rds_customers_dms_sensor")
        self.resources = build_resources(self.settings)
        self.cursor: str | None = None
        self.runs = 0

    def run(self) -> None:
        job = self.defs.resolve_job_def(CUSTOMERS_JOB)
        today = datetime.now(UTC).date().isoformat()
        result = job.execute_in_process(
            instance=self.instance, partition_key=today, run_config=QUIET, raise_on_error=False
        )
        assert result.success
        self.runs += 1

    def run_if_the_sensor_asks(self) -> bool:
        tick = self.sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=self.instance,
                cursor=self.cursor,
                resources=self.resources,
                repository_def=self.defs.get_repository_def(),
            )
        )
        self.cursor = tick.cursor or self.cursor
        if tick.run_requests:
            self.run()
        return bool(tick.run_requests)

    def silver(self) -> dict[int, tuple[str, str, bool]]:
        rows = read_table(
            self.lake.uri("silver/customers"), columns=["customer_id", "name", "country", "_is_deleted"]
        ).to_pylist()
        return {r["customer_id"]: (r["name"], r["country"], r["_is_deleted"]) for r in rows}

    def current_history(self) -> dict[int, tuple[str, str]]:
        rows = read_table(
            self.lake.uri("silver/customers_history"),
            where="is_current",
            columns=["customer_id", "name", "country"],
        ).to_pylist()
        return {r["customer_id"]: (r["name"], r["country"]) for r in rows}

    def bronze_positions(self) -> list[str]:
        uri = self.lake.uri("bronze/rds_customers_cdc")
        return sorted(read_table(uri, columns=["_position"]).column("_position").to_pylist())


@pytest.fixture
def platform(tmp_path: Path):
    with dg.instance_for_test() as instance:
        yield Platform(tmp_path, instance)


def test_a_cdc_change_at_the_full_loads_commit_time_wins_over_the_full_load(platform: Platform) -> None:
    write_file(
        platform.landing,
        LOAD,
        [[commit_ts(0), *customer(1, "loaded")], [commit_ts(0), *customer(2, "loaded")]],
        cdc=False,
        mtime=NOW,
    )
    # committed at the full load's timestamp (the task start), so after the snapshot was taken
    write_file(
        platform.landing,
        cdc_name(0),
        [["U", commit_ts(0), *customer(1, "changed")], ["D", commit_ts(0), *customer(2, "loaded")]],
        cdc=True,
        mtime=NOW,
    )
    platform.run()
    assert platform.silver() == {1: ("changed", "DE", False), 2: ("loaded", "DE", True)}
    assert platform.current_history() == {1: ("changed", "DE")}


@dataclass(frozen=True)
class Change:
    op: str
    customer_id: int
    name: str
    country: str
    at: float  # seconds after the full load's timestamp


def _history(rng: random.Random) -> tuple[list[list[Change]], list[Change]]:
    """A full load and CDC files of a consistent change history (inserts, updates, deletes, re-inserts)."""
    live = {i: (f"load{i}", "DE") for i in range(1, 9)}
    load = [Change("I", i, n, c, 0.0) for i, (n, c) in live.items()]
    files, at, next_id = [], 0.0, 9
    for _ in range(10):
        changes = []
        for _ in range(rng.randint(1, 4)):
            at = at if rng.random() < 0.3 else at + rng.choice([0.0, 0.25, 0.5])
            roll = rng.random()
            if roll < 0.2 or not live:
                customer_id = rng.choice([next_id, *[k for k in range(1, next_id) if k not in live]])
                next_id = max(next_id, customer_id + 1)
                op = "I"
            else:
                customer_id = rng.choice(sorted(live))
                op = "D" if roll < 0.4 else "U"
            name, country = f"n{rng.randint(0, 999)}", rng.choice(["DE", "FR", "IS"])
            if op == "D":
                name, country = live.pop(customer_id)
            else:
                live[customer_id] = (name, country)
            changes.append(Change(op, customer_id, name, country, at))
        files.append(changes)
    return files, load


def _reference(files: dict[str, list[Change]]) -> dict[int, tuple[str, str, bool]]:
    """Last change per key in DMS order: commit time, then full load before CDC, file name, row."""
    ordered = sorted(
        ((c.at, name != LOAD, name, row, c) for name, cs in files.items() for row, c in enumerate(cs)),
        key=lambda t: t[:4],
    )
    final: dict[int, tuple[str, str, bool]] = {}
    for *_, c in ordered:
        final[c.customer_id] = (c.name, c.country, c.op == "D")
    return final


@pytest.mark.parametrize("seed", [3, 17])
def test_random_deliveries_converge_to_the_reference(
    platform: Platform, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rds_customers, "MAX_FILES_PER_RUN", 2)  # backlogs larger than one batch
    rng = random.Random(seed)
    cdc, load = _history(rng)
    files: dict[str, list[Change]] = {LOAD: load}
    for index, changes in enumerate(cdc):
        files[cdc_name(changes[-1].at + index * 0.001 + 0.001)] = changes  # names follow commit time
    arrivals = list(files)
    rng.shuffle(arrivals)  # arrival order is not DMS order; the full load may come late

    def land(name: str, second: int) -> None:
        rows = [
            ([c.op] if name != LOAD else []) + [commit_ts(c.at), *customer(c.customer_id, c.name, c.country)]
            for c in files[name]
        ]
        write_file(platform.landing, name, rows, cdc=name != LOAD, mtime=NOW + second)

    second, landed = 0, []
    for name in arrivals:
        # one-second stamps: often the same second, sometimes older than files already read
        second += rng.choice([0, 0, 1])
        land(name, second - (2 if rng.random() < 0.25 else 0))
        landed.append(name)
        if rng.random() < 0.2:
            land(rng.choice(landed), second + 1)  # the same object delivered again
        if rng.random() < 0.4:
            platform.run_if_the_sensor_asks()
    while platform.run_if_the_sensor_asks():
        assert platform.runs < 20
    expected = _reference(files)
    assert platform.silver() == expected
    assert platform.current_history() == {k: v[:2] for k, v in expected.items() if not v[2]}
    every_change = sorted(f"{name}:{row + 1}" for name, cs in files.items() for row in range(len(cs)))
    assert platform.bronze_positions() == every_change  # each change exactly once
