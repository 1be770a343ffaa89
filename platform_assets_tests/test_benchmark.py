"""`platform bench` at a small scale: the JSON it writes counts exactly what the generator sent."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from platform_assets import cli
from platform_assets.benchmark import INCREMENT_FRACTION
from platform_assets.contracts import load_contracts
from platform_assets.layers.specs import PII_CHECK_NAME
from sandbox.generator.order_stream import generate_order_events


def test_the_benchmark_writes_per_stage_figures_that_match_the_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "bench.json"
    assert cli.main(["bench", "--scales", "0.2", "--days", "3", "--output", str(output)]) == 0
    assert f"written: {output}" in capsys.readouterr().out
    document = json.loads(output.read_text())
    (figures,) = document["results"]

    messages = generate_order_events(seed=7, days=3, scale=0.2).messages
    split = len(messages) - max(1, round(len(messages) * INCREMENT_FRACTION))

    def valid(part):
        return [m for m in part if m.valid]

    assert figures["messages"] == len(messages)
    assert figures["bronze"]["rows"] == len(valid(messages[:split]))
    assert figures["bronze"]["dead_letters"] == len(messages[:split]) - len(valid(messages[:split]))
    assert figures["bronze_increment"]["rows"] == len(valid(messages[split:]))
    # silver checks and applies the newest change per order: every order, then the increment's orders
    assert figures["silver"]["succeeded"] and figures["silver_increment"]["succeeded"]
    assert figures["silver"]["rows"] == len({m.event["order_id"] for m in valid(messages[:split])})
    assert figures["silver_increment"]["rows"] == len({m.event["order_id"] for m in valid(messages[split:])})

    # the apply sensor asks for every order date first, then only the dates the increment touched
    def days(part):
        return sorted({str(m.event["created_time"])[:10] for m in valid(part)})

    assert figures["silver"]["requested"] == [f"{days(messages[:split])[0]}..{days(messages[:split])[-1]}"]
    assert figures["silver_increment"]["requested"] == [f"{d}..{d}" for d in days(messages[split:])]
    # gold: every order line of the first part, then the lines of the dates the increment touched
    first = dataclasses.replace(generate_order_events(seed=7, days=3, scale=0.2), messages=messages[:split])
    everything = generate_order_events(seed=7, days=3, scale=0.2).expected_order_lines()
    assert figures["gold"]["succeeded"] and figures["gold_increment"]["succeeded"]
    assert figures["gold"]["facts"]["rows"] == len(first.expected_order_lines())
    touched = figures["gold_increment"]["order_dates"]
    assert touched and figures["gold_increment"]["facts"]["rows"] == sum(
        1
        for line in everything
        if f"{line['order_id'][4:8]}-{line['order_id'][8:10]}-{line['order_id'][10:12]}" in touched
    )
    assert figures["gold_increment_fraction"] > 0
    # the increment is what the gold sensor requests: those dates, the facts and daily revenue (no
    # dimension input changed), and only their own contract checks (not the scheduled PII scan)
    increment = figures["gold_increment"]
    assert increment["requested"] == [f"{d}..{d}" for d in touched] and increment["runs"] == len(touched)
    assert increment["assets"] == ["gold/agg_daily_revenue", "gold/fact_order_lines"]
    contracts = load_contracts()
    own = sorted(
        f"{dataset}:{rule.name}" for dataset in increment["assets"] for rule in contracts[dataset].rules
    )
    assert increment["checks"] == own and not any(c.endswith(f":{PII_CHECK_NAME}") for c in own)
    assert increment["check_evaluations"] == len(own) * len(touched)
    for stage in ("bronze", "silver", "gold", "bronze_increment", "silver_increment", "gold_increment"):
        assert figures[stage]["seconds"] > 0 and figures[stage]["rows_per_second"] > 0
        assert figures[stage]["peak_rss_mib"] > 0
    # maintenance: one file per partition afterwards, and a one-customer query opens no more files
    maintenance = figures["maintenance"]["tables"]
    order_dates = {str(m.event["created_time"])[:10] for m in valid(messages)}
    assert maintenance["bronze/order_events"]["files_after"] == 1  # one ingestion day
    assert maintenance["silver/orders"]["files_after"] == len(order_dates)
    for table in maintenance.values():
        assert table["files_after"] <= table["files_before"]
        assert table["query_files_after"] <= min(table["query_files_before"], table["files_after"])
        # measured by the query itself: it opens what the statistics admit, and no more after compaction
        assert table["query_files_opened_before"] == table["query_files_before"]
        assert table["query_files_opened_after"] == table["query_files_after"]
        assert table["query_bytes_scanned_after"] > 0
    silver = maintenance["silver/orders"]  # several small files per order date before compaction
    assert silver["query_files_opened_after"] < silver["query_files_opened_before"]


def test_the_reference_mode_runs_duckdb_and_polars_on_the_same_bronze_and_finds_identical_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "bench.json"
    args = ["bench", "--scales", "0.2", "--days", "3", "--reference", "--output", str(output)]
    assert cli.main(args) == 0
    assert "results identical: True" in capsys.readouterr().out
    (figures,) = json.loads(output.read_text())["results"]
    messages = generate_order_events(seed=7, days=3, scale=0.2).messages
    split = len(messages) - max(1, round(len(messages) * INCREMENT_FRACTION))
    orders = len({m.event["order_id"] for m in messages[:split] if m.valid})
    reference = figures["reference"]
    assert reference["identical"] is True
    for engine in ("duckdb", "polars"):
        assert reference[engine]["rows"] == orders and reference[engine]["differences_from_platform"] == {}
        assert reference[engine]["ratios"]["silver_seconds"] > 0 and reference[engine]["peak_rss_mib"] > 0
    # the platform computes its candidates once: one read of bronze and one of silver/orders
    assert figures["silver"]["scans"] == {"bronze/order_events": 1, "silver/orders": 1}
    # where the time goes: each engine call labelled by what made it; the labels add up to the totals
    for stage, write in (("silver", "write (create)"), ("silver_increment", "write (merge)")):
        breakdown = figures[stage]["breakdown"]
        orders_stages = breakdown["stages"]["silver/orders"]
        for label in ("read (stage the feed)", "transform (stage the checked changes)", write):
            assert orders_stages[label]["calls"] >= 1 and orders_stages[label]["seconds"] > 0
        assert "transform (stage the candidate)" in breakdown["stages"]["silver/order_lines"]
        labelled = sum(s["seconds"] for d in breakdown["stages"].values() for s in d.values())
        totals = breakdown["engine_seconds"] + breakdown["delta_rs_seconds"]
        assert labelled == pytest.approx(totals, abs=0.01 * len(breakdown["stages"]) + 0.01)
        assert breakdown["dagster_overhead_seconds"] == pytest.approx(
            figures[stage]["seconds"] - totals, abs=0.01
        )
        assert set(breakdown["step_seconds"]) == {"silver__orders", "silver__order_lines"}


def test_the_comparison_counts_rows_that_differ(tmp_path: Path) -> None:
    import duckdb

    from platform_assets.operations.reference import compare

    row = (
        "SELECT 'o1' AS order_id, 'open' AS status, 1 AS customer_id, 'USD' AS currency, 'web' AS channel, "
        "'[]' AS lines, {total} AS order_total, 0.0 AS lines_total_gap, 1 AS min_quantity, "
        "TIMESTAMP '2026-11-01 00:00:00' AS created_time, DATE '2026-11-01' AS order_date, "
        "'created' AS event_type, 2 AS schema_version, TIMESTAMP '2026-11-01 00:00:00' AS event_time, "
        "'e1' AS event_id"
    )
    line = "SELECT 'o1' AS order_id, 1 AS line_no, 1 AS product_id, 1 AS quantity, 1.0 AS unit_price, 'USD' AS currency, 'open' AS status, DATE '2026-11-01' AS order_date"
    for name, total in (("a", "10.0"), ("b", "10.0000001"), ("c", "11.0")):
        duckdb.sql(f"COPY ({row.format(total=total)}) TO '{tmp_path}/{name}_orders.parquet' (FORMAT parquet)")
        duckdb.sql(f"COPY ({line}) TO '{tmp_path}/{name}_lines.parquet' (FORMAT parquet)")

    def source(name: str) -> dict[str, str]:
        return {
            "orders": f"'{tmp_path}/{name}_orders.parquet'",
            "order_lines": f"'{tmp_path}/{name}_lines.parquet'",
        }

    assert compare(source("a"), source("b")) == {}  # doubles agree to 6 places
    assert compare(source("a"), source("c")) == {"orders": 2}


def test_the_bronze_only_mode_ingests_the_stream_and_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "bench.json"
    assert cli.main(["bench", "--scales", "0.2", "--bronze-only", "--output", str(output)]) == 0
    assert "messages/s" in capsys.readouterr().out
    (figures,) = json.loads(output.read_text())["results"]
    messages = generate_order_events(seed=7, days=3, scale=0.2).messages
    split = len(messages) - max(1, round(len(messages) * INCREMENT_FRACTION))
    assert figures["bronze"]["rows"] == sum(1 for m in messages[:split] if m.valid)
    assert figures["bronze"]["messages"] == split and figures["bronze"]["peak_rss_mib"] > 0
    assert figures["bronze"]["typing_first_batch"]["messages"] == split
    assert "silver" not in figures and "gold" not in figures
