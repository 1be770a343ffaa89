"""Two runs of different datasets append their rule evaluations to ops/quality_results at the same time
(`platform up` runs up to four at once): the one that loses the Delta commit race appends again instead
of failing its step. The race is real: a second writer commits between the first one's read and its
commit, and delta-rs refuses the stale commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets.contracts import load_contracts
from platform_assets.lake import positions
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import Lake
from platform_assets.quality.evaluate import QualityReport, RuleOutcome
from platform_assets.quality.results import evaluations, quality_results_uri, write_evaluations


def _rows(dataset: str, run_id: str) -> list:
    contract = load_contracts()[dataset]
    report = QualityReport(
        [RuleOutcome(contract.rules[0], evaluated=3, evaluated_by_partition={"2026-11-02": 3})],
        {"2026-11-02": 3},
    )
    return evaluations(contract, report, (), run_id, 1)


def test_a_lost_commit_race_appends_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(tmp_path / "lake"))
    uri = quality_results_uri(lake)
    assert write_evaluations(lake, _rows("silver/fx_rates", "run-a"), "run-a", "silver/fx_rates", 1) == 1
    real_read = positions.read_positions
    raced: list[str] = []

    def read_then_lose_the_race(table_uri: str, *args, **kwargs):
        snapshot = real_read(table_uri, *args, **kwargs)
        if table_uri == uri and not raced:  # another run commits right after this writer read
            raced.append("run-c")
            monkeypatch.setattr(positions, "read_positions", real_read)
            write_evaluations(lake, _rows("silver/orders", "run-c"), "run-c", "silver/orders", 1)
            monkeypatch.setattr(positions, "read_positions", read_then_lose_the_race)
        return snapshot

    monkeypatch.setattr(positions, "read_positions", read_then_lose_the_race)
    written = write_evaluations(lake, _rows("silver/customers", "run-b"), "run-b", "silver/customers", 1)
    assert (written, raced) == (1, ["run-c"])
    runs = sorted(read_table(uri).column("run_id").to_pylist())
    assert runs == ["run-a", "run-b", "run-c"]  # each run's evaluations once
