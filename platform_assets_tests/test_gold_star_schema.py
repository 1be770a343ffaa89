"""Gold end to end: every sandbox source through bronze and silver into the star schema, by sensors.

The generators' gold oracle (sandbox/generator/gold_oracle.py) gives the exact figures. The steps of
one world (module scope, each test continues the previous one's state):
1. FX through 2026-11-03 (JPY of 11-02 not yet published; 11-03 held at the silver gate), customer
   batches 1-3 (customer 56 not yet sent), every order: gold keys 56 to an inferred member and
   converts 11-02 JPY and all of 11-03 at the latest earlier rate, flagged.
2. Customer batch 4 and the rest of FX: the sensor rebuilds 11-02 (its JPY rate) and 11-03 (the
   late customer re-keyed) and leaves 11-01's files untouched.
3. One new order event for 11-01: only 11-01's fact and aggregate partitions are rewritten.
4. A wrong EUR rate let into silver: the reconciliation fails and holds the day's aggregate back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import dagster as dg
import pytest
from deltalake import DeltaTable

from platform_assets import cli
from platform_assets.contracts.loader import load_contracts
from platform_assets.contracts.model import parse_duration
from platform_assets.domains.gold import GOLD_JOB
from platform_assets.lake.delta_tables import read_table
from platform_assets.layers.specs import PII_CHECK_NAME
from platform_assets.operations.sensor_driver import QUIET
from platform_assets_tests.gold_platform import GoldWorld, gold_world, with_messages
from sandbox.generator import gold_oracle
from sandbox.generator.orders import FX_RATE_MISSING, LATE_CUSTOMER, UNCATALOGUED_PRODUCT, OrderMessage
from sandbox.services.ports import free_port

FACT_COLUMNS = [
    "order_id", "line_no", "order_date", "customer_key", "product_key", "customer_id", "product_id",
    "customer_is_inferred", "status", "quantity", "amount", "currency", "fx_rate_to_usd", "fx_rate_date",
    "is_rate_fallback", "amount_usd",
]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoldWorld]:
    with gold_world(tmp_path_factory.mktemp("gold")) as built:
        yield built


def expected(world: GoldWorld) -> list[gold_oracle.ExpectedLine]:
    rounds = list(range(world.products.round_count + 1))
    return gold_oracle.expected_lines(
        world.orders, world.customers, world.customer_batches_applied, world.products, rounds,
        world.fx, world.fx_through,
    )  # fmt: skip


def facts(world: GoldWorld) -> dict[tuple[str, int], dict]:
    rows = read_table(world.lake.uri("gold/fact_order_lines"), columns=FACT_COLUMNS).to_pylist()
    return {(r["order_id"], r["line_no"]): r for r in rows}


def dimension(world: GoldWorld, name: str, key: str) -> dict[int, dict]:
    return {r[key]: r for r in read_table(world.lake.uri(name)).to_pylist()}


def daily_revenue(world: GoldWorld) -> dict[tuple[str, str, str], dict]:
    rows = read_table(world.lake.uri("gold/agg_daily_revenue")).to_pylist()
    return {
        (r["order_date"].isoformat(), r["region"], r["category"]): {
            "revenue_usd": round(r["revenue_usd"], 6),
            "orders": r["orders"],
            "units": r["units"],
            "customers": r["customers"],
        }
        for r in rows
    }


def dim_dates(world: GoldWorld) -> dict[int, dict]:
    return dimension(world, "gold/dim_date", "date_key")


def expected_dim_date(world: GoldWorld) -> dict[int, dict]:
    return gold_oracle.expected_dim_date(gold_oracle.business_dates(world.orders, world.fx, world.fx_through))


def merge_commits_since(world: GoldWorld, dataset: str, version: int) -> list[dict]:
    """The commits of ``dataset`` after ``version``, oldest first (operation and metrics)."""
    table = DeltaTable(world.lake.uri(dataset))
    return sorted((c for c in table.history() if c["version"] > version), key=lambda c: c["version"])


def row_diff(before: dict[int, dict], after: dict[int, dict]) -> dict[str, set[int]]:
    """Keys inserted, updated (same key, other values), deleted and unchanged between two states."""
    return {
        "inserted": set(after) - set(before),
        "deleted": set(before) - set(after),
        "updated": {k for k in set(before) & set(after) if before[k] != after[k]},
        "unchanged": {k for k in set(before) & set(after) if before[k] == after[k]},
    }


def step_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """What failed in a run, for the assertion message (the runs log quietly)."""
    events = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return {e.step_key: e.event_specific_data.error.message[:800] for e in events}


def assert_gold_matches_oracle(world: GoldWorld) -> list[gold_oracle.ExpectedLine]:
    want = expected(world)
    got = facts(world)
    customers = dimension(world, "gold/dim_customer", "customer_key")
    products = dimension(world, "gold/dim_product", "product_key")
    assert sorted(got) == sorted((x.order_id, x.line_no) for x in want)
    for x in want:
        row = got[(x.order_id, x.line_no)]
        assert (row["status"], row["quantity"], row["currency"], row["order_date"]) == (
            x.status, x.quantity, x.currency, x.order_date
        ), x  # fmt: skip
        assert row["amount"] == pytest.approx(x.amount)
        assert (row["fx_rate_to_usd"], row["fx_rate_date"], row["is_rate_fallback"]) == (
            x.rate, x.rate_date, x.is_rate_fallback
        ), x  # fmt: skip
        assert row["customer_is_inferred"] is x.customer_inferred
        assert customers[row["customer_key"]]["region"] == x.region, x
        assert products[row["product_key"]]["category"] == x.category, x
        assert (row["product_key"] == -1) is x.product_unknown
    assert daily_revenue(world) == gold_oracle.expected_daily_revenue(want)
    return want


def test_first_build_keys_late_members_and_falls_back_on_missing_rates(world: GoldWorld) -> None:
    world.publish_fx_through(date(2026, 11, 3))
    world.apply_customer_batches(3)
    world.produce(world.orders)
    runs = world.gold()
    assert len(runs) == 1 and runs[0].success, step_failures(runs[0])
    want = assert_gold_matches_oracle(world)
    assert len(want) == 311
    assert dim_dates(world) == expected_dim_date(world)
    assert (min(dim_dates(world)), max(dim_dates(world))) == (20261101, 20261103)
    assert sum(x.customer_inferred for x in want) == 1 and sum(x.product_unknown for x in want) == 1
    assert sum(x.is_rate_fallback for x in want) == 106

    late = world.orders.exception(LATE_CUSTOMER).order_id
    late_row = facts(world)[(late, 1)]
    inferred = dimension(world, "gold/dim_customer", "customer_key")[late_row["customer_key"]]
    assert (inferred["customer_id"], inferred["is_inferred"], inferred["region"]) == (56, True, "Unknown")

    uncatalogued = world.orders.exception(UNCATALOGUED_PRODUCT).order_id
    assert facts(world)[(uncatalogued, 1)]["product_key"] == -1

    jpy = world.orders.exception(FX_RATE_MISSING).order_id
    jpy_lines = [r for (order_id, _), r in facts(world).items() if order_id == jpy]
    assert {(r["fx_rate_date"], r["is_rate_fallback"]) for r in jpy_lines} == {(date(2026, 11, 1), True)}


def test_facts_join_the_customer_version_valid_when_the_order_was_placed(world: GoldWorld) -> None:
    changed = {c.customer_id for batch in world.customers.batches[:3] for c in batch.changes if c.op == "U"}
    customers = dimension(world, "gold/dim_customer", "customer_key")
    current = {r["customer_id"]: key for key, r in customers.items() if r["is_current"]}
    as_was = [r for r in facts(world).values() if r["customer_id"] in changed and r["customer_id"] in current]
    assert as_was, "the sandbox orders name customers changed by the batches"
    for row in as_was:
        version = customers[row["customer_key"]]
        assert version["effective_from"].year == 1900 and not version["is_current"]  # the first version
        assert row["customer_key"] != current[row["customer_id"]]


ACCOUNT_ATTRIBUTES = (
    "account_id",
    "account_name",
    "industry",
    "billing_country",
    "segment",
    "owner_id",
    "owner_name",
)
KNOWN_ACCOUNTS = {  # from the generator (seed 11): customer_id -> account name, segment, owner name
    1: ("Cyberdyne Motors 001", "Manufacturing", "SMB", "Priya Raman"),
    2: ("Initech Industries 002", "Technology", "Mid-Market", "Dana Whitfield"),
    4: (None, "Retail", "Mid-Market", "Keiko Tanaka"),  # the account planted with Name = null
}


def test_dim_customer_carries_the_linked_accounts_segment_and_owner(world: GoldWorld) -> None:
    """Every customer version takes its live Salesforce account's attributes (linked by
    Customer_Id__c); the segment is a custom field, the owner's name comes through Owner.Name."""
    accounts = gold_oracle.expected_customer_accounts(world.salesforce)
    rows = dimension(world, "gold/dim_customer", "customer_key").values()
    linked = 0
    for row in rows:
        want = accounts.get(row["customer_id"]) if not row["is_inferred"] else None
        got = {c: row[c] for c in ACCOUNT_ATTRIBUTES}
        assert got == (want or dict.fromkeys(ACCOUNT_ATTRIBUTES)), row["customer_id"]
        linked += want is not None
    assert linked == LINKED_VERSIONS
    current = {r["customer_id"]: r for r in rows if r["is_current"]}
    for customer_id, (name, industry, segment, owner) in KNOWN_ACCOUNTS.items():
        row = current[customer_id]
        assert (row["account_name"], row["industry"], row["segment"], row["owner_name"]) == (
            name, industry, segment, owner
        )  # fmt: skip
    segments = {r["segment"] for r in current.values() if r["segment"]}
    assert segments == {"SMB", "Mid-Market", "Enterprise"}
    contract = load_contracts()["gold/dim_customer"]
    assert contract.column("owner_name").classification.value == "pii"  # a person's name, like `name`
    assert contract.column("segment").classification.value == "internal"


LINKED_VERSIONS = 68  # customer versions with a live linked account, batches 1-3 applied


def _files(world: GoldWorld, dataset: str) -> tuple[int, dict[str, set[str]]]:
    table = DeltaTable(world.lake.uri(dataset))
    by_day: dict[str, set[str]] = {}
    for uri in table.file_uris():
        day = uri.split("order_date=")[1].split("/")[0]
        by_day.setdefault(day, set()).add(uri)
    return table.version(), by_day


def _assert_rewrote_only(world: GoldWorld, before: dict, days: set[str]) -> None:
    for dataset, (version, files) in before.items():
        now_version, now_files = _files(world, dataset)
        assert now_version == version + 1, dataset  # one commit
        for day in set(files) | set(now_files):
            if day in days:
                assert not files.get(day, set()) & now_files.get(day, set()), (dataset, day)
            else:
                assert files.get(day) == now_files.get(day), (dataset, day)
        operation = DeltaTable(world.lake.uri(dataset)).history(1)[0]
        predicate = operation["operationParameters"]["predicate"]
        assert all(d in predicate for d in days) and "2026-11-0" in predicate, predicate


GOLD_TABLES = (
    "agg_daily_revenue", "agg_sales_pipeline", "dim_currency", "dim_customer", "dim_date", "dim_product",
    "fact_opportunities", "fact_order_lines",
)  # fmt: skip
GOLD_UNPARTITIONED = (
    "gold/dim_date", "gold/dim_customer", "gold/dim_product", "gold/fact_opportunities", "gold/agg_sales_pipeline",
)  # fmt: skip
LINES_ON_NOV_1, GROUPS_ON_NOV_1 = 101, 18  # the oracle's order lines and revenue groups of 2026-11-01
GOLD_PARTITIONED = ("gold/fact_order_lines", "gold/agg_daily_revenue")
MERGED_BY_BATCH_4 = (8, 5, 1)  # dim_customer rows inserted, updated, deleted by customer batch 4
UNCHANGED_BY_BATCH_4 = 64


def test_late_customer_and_late_rate_rebuild_only_their_dates(world: GoldWorld) -> None:
    before = {d: _files(world, d) for d in GOLD_PARTITIONED}
    late = world.orders.exception(LATE_CUSTOMER).order_id
    inferred_key = facts(world)[(late, 1)]["customer_key"]
    dates_before = dim_dates(world)
    customers_before = dimension(world, "gold/dim_customer", "customer_key")
    dim_versions = {
        d: DeltaTable(world.lake.uri(d)).version() for d in ("gold/dim_customer", "gold/dim_product")
    }
    world.apply_customer_batches(4)
    world.publish_fx_through(date(2026, 11, 7))
    runs = world.gold()
    assert [r.success for r in runs] == [True]
    tags = runs[0].dagster_run.tags
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        "2026-11-02", "2026-11-03"
    )  # fmt: skip
    want = assert_gold_matches_oracle(world)
    assert sum(x.customer_inferred for x in want) == 0
    assert {x.order_date for x in want if x.is_rate_fallback} == {date(2026, 11, 3)}  # held at the gate
    assert sum(x.is_rate_fallback for x in want) == 102

    rekeyed = facts(world)[(late, 1)]
    customers = dimension(world, "gold/dim_customer", "customer_key")
    assert rekeyed["customer_key"] != inferred_key and inferred_key not in customers
    version = customers[rekeyed["customer_key"]]
    assert (version["customer_id"], version["is_inferred"], version["is_current"]) == (56, False, True)
    assert not rekeyed["customer_is_inferred"]
    jpy = world.orders.exception(FX_RATE_MISSING).order_id
    jpy_lines = [r for (order_id, _), r in facts(world).items() if order_id == jpy]
    assert {(r["fx_rate_date"], r["is_rate_fallback"]) for r in jpy_lines} == {(date(2026, 11, 2), False)}
    _assert_rewrote_only(world, before, {"2026-11-02", "2026-11-03"})

    # the calendar grew with the new FX dates, and holds every day of the new range
    assert dim_dates(world) == expected_dim_date(world)
    assert set(dates_before) < set(dim_dates(world)) and max(dim_dates(world)) == 20261107
    _assert_dimension_merged_only_what_changed(world, customers_before, dim_versions)


def _assert_dimension_merged_only_what_changed(
    world: GoldWorld, customers_before: dict[int, dict], versions: dict[str, int]
) -> None:
    """Batch 4 changed a few customers: one MERGE commit touched exactly those versions (and the
    late customer's inferred member, replaced); every other row kept its values. The product
    catalogue did not change: no commit at all."""
    customers_after = dimension(world, "gold/dim_customer", "customer_key")
    diff = row_diff(customers_before, customers_after)
    touched = {customers_before.get(k, customers_after.get(k))["customer_id"] for k in
               diff["inserted"] | diff["deleted"] | diff["updated"]}  # fmt: skip
    batch4 = {c.customer_id for c in world.customers.batches[3].changes}
    assert touched == batch4 | {56}, (touched, batch4)
    (commit,) = merge_commits_since(world, "gold/dim_customer", versions["gold/dim_customer"])
    metrics = commit["operationMetrics"]
    assert commit["operation"] == "MERGE"
    assert (
        metrics["numTargetRowsInserted"],
        metrics["numTargetRowsUpdated"],
        metrics["numTargetRowsDeleted"],
    ) == (len(diff["inserted"]), len(diff["updated"]), len(diff["deleted"]))
    assert (len(diff["inserted"]), len(diff["updated"]), len(diff["deleted"])) == MERGED_BY_BATCH_4
    assert len(diff["unchanged"]) == UNCHANGED_BY_BATCH_4, len(diff["unchanged"])
    # copy-on-write: rows that share a rewritten file with a changed one are copied, never more
    assert metrics["numTargetRowsCopied"] <= len(diff["unchanged"])
    assert merge_commits_since(world, "gold/dim_product", versions["gold/dim_product"]) == []


def _new_event_for(world: GoldWorld, order_id: str) -> OrderMessage:
    """An `updated` event one minute after the order's latest one, with line 1's quantity changed."""
    state = world.orders.expected_orders()[order_id]
    lines = [dict(line) for line in state["lines"]]
    lines[0]["quantity"] = lines[0]["quantity"] % 10 + 1
    at = datetime.fromisoformat(state["last_event_time"].replace("Z", "+00:00")) + timedelta(minutes=1)
    event = {
        "event_id": f"evt-{order_id.removeprefix('ord-')}-77",
        "event_type": "updated",
        "order_id": order_id,
        "customer_id": state["customer_id"],
        "currency": state["currency"],
        "lines": lines,
        "order_total": round(sum(x["quantity"] * x["unit_price"] for x in lines), 2),
        "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_time": state["created_time"],
        "schema_version": 2,
        "channel": state["channel"] or "web",
    }
    value = json.dumps(event, separators=(",", ":")).encode()
    return OrderMessage(len(world.orders.messages), order_id.encode(), value, event, None)


def test_one_new_order_event_rewrites_only_its_order_date(world: GoldWorld) -> None:
    before = {d: _files(world, d) for d in GOLD_PARTITIONED}
    order_id = next(
        o for o, s in world.orders.expected_orders().items()
        if o.startswith("ord-20261101") and s["status"] == "open"
        and o not in {e.order_id for e in world.orders.exceptions}
    )  # fmt: skip
    message = _new_event_for(world, order_id)
    unpartitioned = {d: DeltaTable(world.lake.uri(d)).version() for d in GOLD_UNPARTITIONED}
    world.produce(with_messages(world.orders, (message,)))
    world.orders = with_messages(world.orders, (*world.orders.messages, message))
    runs = world.gold()
    assert [r.success for r in runs] == [True]
    assert runs[0].dagster_run.tags["dagster/asset_partition_range_start"] == "2026-11-01"
    assert runs[0].dagster_run.tags["dagster/asset_partition_range_end"] == "2026-11-01"
    want = assert_gold_matches_oracle(world)
    assert facts(world)[(order_id, 1)]["quantity"] == message.event["lines"][0]["quantity"]
    _assert_rewrote_only(world, before, {"2026-11-01"})
    # the run is the facts and daily revenue of that one date: no dimension, no opportunity rebuilt
    assert runs[0].dagster_run.asset_selection == {
        dg.AssetKey(["gold", "fact_order_lines"]), dg.AssetKey(["gold", "agg_daily_revenue"])
    }  # fmt: skip
    assert {d: DeltaTable(world.lake.uri(d)).version() for d in GOLD_UNPARTITIONED} == unpartitioned
    # with their own contract checks only: the scheduled PII scan belongs to its schedule, not to
    # every increment (a request naming assets but no checks gets every check on them)
    selected = runs[0].dagster_run.asset_selection
    own = {c for k in selected for c in world.defs.resolve_assets_def(k).check_keys if c.asset_key == k}
    assert own and PII_CHECK_NAME not in {c.name for c in own}
    assert runs[0].dagster_run.asset_check_selection == own
    evaluated = {(e.asset_key, e.check_name) for e in runs[0].get_asset_check_evaluations()}
    assert evaluated == {(c.asset_key, c.name) for c in own}
    # and it wrote exactly that date's rows: the oracle's lines of 11-01 and its revenue groups
    day = date(2026, 11, 1)
    lines_of_day = sum(1 for x in want if x.order_date == day)
    groups_of_day = sum(1 for k in gold_oracle.expected_daily_revenue(want) if k[0] == day.isoformat())
    for dataset, rows in (("gold/fact_order_lines", lines_of_day), ("gold/agg_daily_revenue", groups_of_day)):
        written = runs[0].asset_materializations_for_node(dataset.replace("/", "__"))
        assert [(m.partition, m.metadata["rows_by_partition"].value) for m in written] == [
            ("2026-11-01", {"2026-11-01": rows})
        ], dataset
    assert (lines_of_day, groups_of_day) == (LINES_ON_NOV_1, GROUPS_ON_NOV_1)


def test_fact_opportunities_and_the_pipeline_match_the_oracle(world: GoldWorld) -> None:
    """Live opportunities in USD at their currency's latest rate, keyed to the account's current
    customer version (-1 when the account's customer is not live in RDS); the pipeline by close month."""
    want = gold_oracle.expected_opportunities(
        world.salesforce, world.customers, world.customer_batches_applied, world.fx, world.fx_through
    )
    got = {r["opportunity_id"]: r for r in read_table(world.lake.uri("gold/fact_opportunities")).to_pylist()}
    customers = dimension(world, "gold/dim_customer", "customer_key")
    assert sorted(got) == sorted(want)
    for opportunity_id, x in want.items():
        row = got[opportunity_id]
        assert (row["account_id"], row["stage"], row["close_date"], row["currency"]) == (
            x.account_id, x.stage, x.close_date, x.currency
        ), x  # fmt: skip
        assert (row["is_closed"], row["is_won"]) == (x.is_closed, x.is_won), x
        assert row["amount"] == pytest.approx(x.amount) and row["amount_usd"] == pytest.approx(x.amount_usd)
        if x.customer_id is None:
            assert row["customer_key"] == -1, x
        else:
            version = customers[row["customer_key"]]
            assert (version["customer_id"], version["is_current"]) == (x.customer_id, True), x
    unknown = sum(x.customer_id is None for x in want.values())
    total_usd = round(sum(x.amount_usd for x in want.values()), 2)
    assert (len(want), unknown, total_usd) == OPPORTUNITY_FIGURES

    pipeline = {
        (r["close_month"], r["stage"]): {
            "opportunities": r["opportunities"], "open_amount_usd": round(r["open_amount_usd"], 6),
            "won": r["won"], "lost": r["lost"],
        }
        for r in read_table(world.lake.uri("gold/agg_sales_pipeline")).to_pylist()
    }  # fmt: skip
    expected_pipeline = gold_oracle.expected_sales_pipeline(want)
    assert sorted(pipeline) == sorted(expected_pipeline)
    for key, figures in expected_pipeline.items():
        assert pipeline[key] == pytest.approx(figures), key
    won = sum(v["won"] for v in expected_pipeline.values())
    lost = sum(v["lost"] for v in expected_pipeline.values())
    open_usd = round(sum(v["open_amount_usd"] for v in expected_pipeline.values()), 2)
    assert (len(expected_pipeline), won, lost, open_usd) == PIPELINE_FIGURES


OPPORTUNITY_FIGURES = (121, 11, 10447883.5)  # live opportunities, unknown customer, total USD
PIPELINE_FIGURES = (28, 8, 4, 9618411.55)  # (month, stage) groups, won, lost, open pipeline USD


def _deps(lineage: dg.TableColumnLineage) -> dict[str, set[tuple[str, str]]]:
    return {
        column: {(d.asset_key.to_user_string(), d.column_name) for d in deps}
        for column, deps in lineage.deps_by_column.items()
    }


def test_every_gold_asset_has_its_contracts_freshness_and_column_lineage(world: GoldWorld) -> None:
    """On the definitions (not the YAML): each gold asset's freshness policy is its contract's SLA,
    and its column lineage (definition and latest materialization) names the contract's upstream
    columns, each an existing column of an upstream asset of that asset."""
    contracts = load_contracts()
    graph = world.defs.resolve_asset_graph()
    gold = sorted(k for k in graph.get_all_asset_keys() if k.path[0] == "gold")
    assert [k.path[1] for k in gold] == sorted(GOLD_TABLES)
    for key in gold:
        contract = contracts[key.to_user_string()]
        node = graph.get(key)
        assert contract.freshness is not None, key
        policy = node.freshness_policy
        assert policy is not None, key
        assert (policy.fail_window.to_timedelta(), policy.warn_window.to_timedelta()) == (
            parse_duration(contract.freshness.fail_after), parse_duration(contract.freshness.warn_after)
        ), key  # fmt: skip
        declared = {
            c.name: {(ref.rpartition(".")[0], ref.rpartition(".")[2]) for ref in c.lineage}
            for c in contract.columns if c.lineage
        }  # fmt: skip
        assert _deps(node.metadata["dagster/column_lineage"]) == declared, key
        event = world.instance.get_latest_materialization_event(key)
        assert event is not None and event.asset_materialization is not None, key
        materialized = event.asset_materialization.metadata["dagster/column_lineage"].value
        assert _deps(materialized) == declared, key
        parents = {p.to_user_string() for p in node.parent_keys}
        for column, deps in declared.items():
            for dataset, source_column in deps:
                assert dataset in parents, (key, column, dataset)
                schema = graph.get(dg.AssetKey(dataset.split("/"))).metadata["dagster/column_schema"]
                assert source_column in {c.name for c in schema.columns}, (key, column, dataset)
    lineage = {k.path[1]: _deps(graph.get(k).metadata["dagster/column_lineage"]) for k in gold}
    assert lineage["fact_order_lines"]["amount_usd"] == {
        ("silver/order_lines", "quantity"), ("silver/order_lines", "unit_price"), ("silver/fx_rates", "rate_to_base")
    }  # fmt: skip
    assert lineage["agg_daily_revenue"]["revenue_usd"] == {("gold/fact_order_lines", "amount_usd")}
    assert lineage["dim_customer"]["owner_name"] == {("silver/accounts", "Owner_Name")}
    assert lineage["fact_opportunities"]["amount_usd"] == {
        ("silver/opportunities", "Amount"), ("gold/dim_currency", "latest_rate_to_base")
    }  # fmt: skip


def test_a_rebuild_of_the_dimensions_keeps_every_surrogate_key(world: GoldWorld) -> None:
    """Keys hash the natural key and the version's start: rebuilt from the same history, every
    customer and product version gets the key it had, so the facts written earlier stay joined; the
    merge by (natural key, valid_from) finds no row that differs and leaves the tables as they were."""

    def keys(name: str, key: str) -> dict[int, tuple]:
        rows = read_table(world.lake.uri(name)).to_pylist()
        return {r[key]: (r[key.replace("_key", "_id")], r["valid_from"]) for r in rows}

    dims = {"gold/dim_customer": "customer_key", "gold/dim_product": "product_key"}
    before = {name: keys(name, key) for name, key in dims.items()}
    versions = {name: DeltaTable(world.lake.uri(name)).version() for name in dims}
    result = world.defs.resolve_job_def(GOLD_JOB).execute_in_process(
        instance=world.instance,
        asset_selection=[dg.AssetKey(name.split("/")) for name in dims],
        run_config=QUIET,
    )
    assert result.success
    for name, key in dims.items():
        # merged by (natural key, valid_from): nothing differs, so nothing is written at all
        assert merge_commits_since(world, name, versions[name]) == [], name
        assert keys(name, key) == before[name], name
    assert len(before["gold/dim_customer"]) > len(world.customers.final_state())  # versions + unknown
    fact_keys = {(r["customer_key"], r["product_key"]) for r in facts(world).values()}
    assert {c for c, _ in fact_keys} <= set(before["gold/dim_customer"])
    assert {p for _, p in fact_keys} <= set(before["gold/dim_product"])


def test_reconciliation_holds_back_revenue_that_disagrees_with_silver(world: GoldWorld) -> None:
    """A wrong EUR rate for 11-01 let into silver after the facts were built: the aggregate rebuilt
    alone no longer equals silver's lines at silver's rate, so the critical rule blocks the day."""
    rates = DeltaTable(world.lake.uri("silver/fx_rates"))
    rates.update(
        predicate="as_of_date = '2026-11-01' AND ccy = 'EUR'", updates={"rate_to_base": "rate_to_base * 1.5"}
    )
    agg_version = DeltaTable(world.lake.uri("gold/agg_daily_revenue")).version()
    revenue = daily_revenue(world)
    result = world.defs.resolve_job_def(GOLD_JOB).execute_in_process(
        instance=world.instance,
        partition_key="2026-11-01",
        asset_selection=[dg.AssetKey(["gold", "agg_daily_revenue"])],
        run_config=QUIET,
        raise_on_error=False,
    )
    evaluations = {
        e.check_name: e for e in (ev.event_specific_data for ev in result.all_events
                                  if ev.event_type_value == "ASSET_CHECK_EVALUATION")
    }  # fmt: skip
    check = evaluations["revenue_reconciles_with_silver"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["partition"].value == "2026-11-01"  # the run's one partition
    sample = check.metadata["failing_rows_sample"].value[0]
    eur = sum(
        x.amount * x.rate * 0.5 for x in expected(world) if x.order_date == date(2026, 11, 1)
        and x.currency == "EUR" and x.status == "open"
    )  # fmt: skip
    assert sample["reference_total"] - sample["gold_total"] == pytest.approx(eur, abs=1e-6)
    assert DeltaTable(world.lake.uri("gold/agg_daily_revenue")).version() == agg_version  # not published
    assert daily_revenue(world) == revenue
    materialized = world.instance.get_materialized_partitions(dg.AssetKey(["gold", "agg_daily_revenue"]))
    assert "2026-11-01" in materialized  # from the earlier runs; this run recorded none:
    assert not [ev for ev in result.all_events if ev.event_type_value == "ASSET_MATERIALIZATION"]


REVENUE_SQL = (
    "SELECT f.order_date, c.region, p.category, ROUND(SUM(f.amount_usd), 6) AS revenue_usd "
    "FROM gold.fact_order_lines f JOIN gold.dim_customer c ON f.customer_key = c.customer_key "
    "JOIN gold.dim_product p ON f.product_key = p.product_key WHERE f.status = 'open' "
    "GROUP BY f.order_date, c.region, p.category ORDER BY revenue_usd DESC"
)


def test_platform_sql_answers_revenue_by_day_region_and_category(
    world: GoldWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    want = gold_oracle.expected_daily_revenue(expected(world))
    assert cli.main(["sql", REVENUE_SQL, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    got = {(r["order_date"], r["region"], r["category"]): r["revenue_usd"] for r in rows}
    assert got == pytest.approx({k: v["revenue_usd"] for k, v in want.items()})
    assert cli.main(["sql", "SELECT region, SUM(orders) AS orders FROM gold.agg_daily_revenue "
                            "GROUP BY region ORDER BY region", "--format", "csv"]) == 0  # fmt: skip
    orders_by_region: dict[str, int] = {}
    for (_, region, _), v in want.items():
        orders_by_region[region] = orders_by_region.get(region, 0) + v["orders"]
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["region,orders", *(f"{r},{n}" for r, n in sorted(orders_by_region.items()))]
    assert cli.main(["sql", "SELECT COUNT(*) AS n FROM silver.customers WHERE NOT _is_deleted"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["n"] and table[2].strip() == str(len(world.customers.final_state()))
    assert table[-1] == "(1 row)"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT * FROM gold.no_such_table", "sql: no lake table gold.no_such_table under "),
        ("SELECT nope FROM gold.dim_date", "sql: "),
        ("SELEC 1", "sql: "),
    ],
)
def test_platform_sql_errors_are_one_line(
    world: GoldWorld, capsys: pytest.CaptureFixture[str], query: str, message: str
) -> None:
    assert cli.main(["sql", query]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(message)
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err


CLIENT = """
import json, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
rows = spark.sql("SELECT order_date, SUM(revenue_usd) AS revenue FROM gold.agg_daily_revenue "
                 "GROUP BY order_date ORDER BY order_date").collect()
print(json.dumps({str(r["order_date"]): r["revenue"] for r in rows}))
print(json.dumps(sorted(r["tableName"] for r in spark.sql("SHOW TABLES IN gold").collect())))
print(json.dumps(spark.table("gold.fact_order_lines").count()))
"""


def test_platform_serve_answers_a_plain_pyspark_client_in_another_process(world: GoldWorld) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "platform_assets.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "error"},
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert banner.startswith(f"Spark Connect endpoint sc://127.0.0.1:{port} over "), banner
        client = subprocess.run(
            [sys.executable, "-c", CLIENT, f"sc://127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=120, env={**os.environ, "RUST_LOG": "error"},
        )  # fmt: skip
        assert client.returncode == 0, client.stderr[-2000:]
        by_day: dict[str, float] = {}
        for (day, _, _), v in gold_oracle.expected_daily_revenue(expected(world)).items():
            by_day[day] = by_day.get(day, 0.0) + v["revenue_usd"]
        revenue, tables, facts_count = (json.loads(x) for x in client.stdout.strip().splitlines()[-3:])
        assert revenue == pytest.approx(by_day)
        assert tables == sorted(GOLD_TABLES)
        assert facts_count == len(expected(world))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0
