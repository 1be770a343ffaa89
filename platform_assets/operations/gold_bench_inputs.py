"""The benchmark's gold inputs besides orders: silver dimension sources written from the generators.

`platform bench` measures the order path; gold also needs customers, accounts, opportunities, products
and FX rates. Their sources are not what is measured, so their silver tables are written directly from
the sandbox generators' final states (typed by the silver contracts), once, before the gold stages.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import SparkSession

from platform_assets.contracts.model import Contract
from platform_assets.engine.delta_io import overwrite_partitions, overwrite_table
from platform_assets.lake.location import Lake
from platform_assets.layers.gold.dim_currency import build_dim_currency

_SPARK_TYPES = {"int": "int", "long": "bigint", "double": "double", "string": "string"}


def _ddl(contract: Contract) -> str:
    return ", ".join(f"`{c.name}` {_SPARK_TYPES.get(c.type, c.type)}" for c in contract.columns)


def _write(spark: SparkSession, lake: Lake, contract: Contract, rows: list[dict[str, Any]]) -> None:
    frame = spark.createDataFrame(
        [tuple(r.get(c) for c in contract.column_names) for r in rows], _ddl(contract)
    )
    if contract.partitioning:
        days = sorted({r[contract.partitioning.column] for r in rows})
        overwrite_partitions(frame, lake.uri(contract.ref), contract.partitioning.column, days)
    else:
        overwrite_table(frame, lake.uri(contract.ref))


def _sf_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC).replace(tzinfo=None)


def write_gold_inputs(
    spark: SparkSession, lake: Lake, contracts: dict[str, Contract], scale: float, start: date, days: int
) -> None:
    from sandbox.generator.customers import generate_customers
    from sandbox.generator.fx import generate_fx
    from sandbox.generator.products import generate_products
    from sandbox.generator.salesforce import generate_salesforce

    now = datetime(2026, 12, 1)
    customers = generate_customers(scale=max(1, round(scale)))
    _write(spark, lake, contracts["silver/customers_history"], [
        {**c.__dict__, "updated_at": c.updated_at.replace(tzinfo=None), "_commit_ts": now, "_change_seq": "0",
         "_is_deleted": False, "valid_from": now, "valid_to": None, "is_current": True}
        for c in customers.final_state().values()
    ])  # fmt: skip
    salesforce = generate_salesforce(scale=max(1.0, scale))
    for sobject, dataset in (("Account", "silver/accounts"), ("Opportunity", "silver/opportunities")):
        rows = []
        for record in salesforce.expected_live(sobject):
            row = {**record, "_ingested_at": now, "_is_deleted": False}
            for stamp in ("SystemModstamp", "CreatedDate"):
                row[stamp] = _sf_time(record[stamp])
            if "CloseDate" in row:
                row["CloseDate"] = date.fromisoformat(row["CloseDate"])
            rows.append(row)
        _write(spark, lake, contracts[dataset], rows)
    products = generate_products(scale=max(1.0, scale))
    _write(spark, lake, contracts["silver/products_history"], [
        {**row, "_ingested_at": now, "_is_deleted": False, "valid_from": row["updated_at"], "valid_to": None,
         "is_current": True}
        for row in products.state_after(products.round_count).values()
    ])  # fmt: skip
    fx = generate_fx(start=start, days=max(days, 5))
    rates = [
        {**r, "as_of_date": date.fromisoformat(r["as_of_date"]), "base_ccy": r["base"], "_batch_id": "bench",
         "published_at": datetime.fromisoformat(r["published_at"].replace("Z", "+00:00")).replace(tzinfo=None)}
        for day in fx.as_of_dates for r in fx.expected_silver(day)
    ]  # fmt: skip
    _write(spark, lake, contracts["silver/fx_rates"], rates)
    currency = build_dim_currency(spark.read.format("delta").load(lake.uri("silver/fx_rates")))
    overwrite_table(currency, lake.uri("gold/dim_currency"))
