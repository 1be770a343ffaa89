"""A materialization's cost and size metadata read the step's own commits, not the table's history.

Known input: a table with 20 commits made before the step, and a step that appends one file. The
metadata counts exactly that file (its size from the commit's log entry), and reads at most two log
entries to find it (the step's commit and the older one that ends the walk). It used to read the
200 newest entries on every materialization (``history(200)``) and to replay the log a second time
to diff the file lists of the last two versions: a cost that grew with the table's age, not the change.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from platform_assets.contracts import load_contracts
from platform_assets.lake.location import Lake
from platform_assets.lake.table_stats import bytes_added_by_commit
from platform_assets.layers import cost_telemetry

OLD_COMMITS = 20


def test_a_steps_cost_reads_its_own_commit_not_the_tables_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(str(tmp_path / "lake"), {})
    contract = load_contracts()["gold/agg_sales_pipeline"]
    uri = lake.uri(contract.ref)
    for n in range(OLD_COMMITS):
        write_deltalake(uri, pa.table({"n": [n]}), mode="append")

    read: list[str] = []  # the log entries (and log replays) the metadata path asks for
    history, load_as_version, actions = (
        DeltaTable.history,
        DeltaTable.load_as_version,
        cost_telemetry.commit_actions,
    )

    def counted_history(self: DeltaTable, limit: int | None = None) -> list:
        found = history(self, limit)
        read.extend("history" for _ in found)
        return found

    def counted_load(self: DeltaTable, version: int | str) -> None:
        read.append(f"replay to {version}")
        load_as_version(self, version)

    def counted_actions(uri: str, version: int, storage_options: dict) -> list[dict]:
        read.append(f"entry {version}")
        return actions(uri, version, storage_options)

    monkeypatch.setattr(DeltaTable, "history", counted_history)
    monkeypatch.setattr(DeltaTable, "load_as_version", counted_load)
    monkeypatch.setattr(cost_telemetry, "commit_actions", counted_actions)

    @dg.asset(name="agg_sales_pipeline", key_prefix="gold")
    def step() -> dg.MaterializeResult:
        write_deltalake(uri, pa.table({"n": list(range(1000))}), mode="append")
        table = DeltaTable(uri)
        read.clear()
        metadata = cost_telemetry.cost_metadata(contract, lake, table, 1000)
        metadata["bytes_written"] = bytes_added_by_commit(uri, table.version())
        metadata["entries_read"] = len(read)
        return dg.MaterializeResult(metadata=metadata)

    with dg.instance_for_test() as instance:
        result = dg.materialize([step], instance=instance)
    (materialization,) = result.asset_materializations_for_node("gold__agg_sales_pipeline")
    got = {k: v.value for k, v in materialization.metadata.items()}
    log = (Path(uri) / "_delta_log" / f"{OLD_COMMITS:020d}.json").read_text().splitlines()
    (added,) = [json.loads(line)["add"] for line in log if '"add"' in line]
    assert (got["cost/files_written"], got["cost/bytes_written"]) == (1, added["size"])
    assert got["bytes_written"] == added["size"]
    assert got["entries_read"] <= 2, got["entries_read"]
