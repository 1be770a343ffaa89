"""gold/fact_opportunities and gold/agg_sales_pipeline: Salesforce opportunities in USD, and the pipeline."""

from __future__ import annotations

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract
from platform_assets.layers.gold.keys import UNKNOWN_KEY
from platform_assets.layers.spark_asset import TransformInputs, build_spark_asset

WON, LOST = "Closed Won", "Closed Lost"


def build_fact_opportunities(
    opportunities: DataFrame, accounts: DataFrame, dim_customer: DataFrame, dim_currency: DataFrame
) -> DataFrame:
    links = accounts.where(~F.col("_is_deleted")).select(
        F.col("Id").alias("_account"), F.col("Customer_Id__c").alias("_customer_id")
    )
    current = dim_customer.where("is_current AND NOT is_inferred").select(
        F.col("customer_id").alias("_customer_id"), F.col("customer_key").alias("_ck")
    )
    rates = dim_currency.select(F.col("ccy").alias("_ccy"), "currency_key", "latest_rate_to_base")
    live = opportunities.where(~F.col("_is_deleted"))
    joined = (
        live.join(links, live["AccountId"] == links["_account"], "left")
        .join(current, "_customer_id", "left")
        .join(rates, live["CurrencyIsoCode"] == rates["_ccy"], "left")
    )
    return joined.select(
        F.col("Id").alias("opportunity_id"),
        F.col("AccountId").alias("account_id"),
        F.coalesce("_ck", F.lit(UNKNOWN_KEY)).cast("long").alias("customer_key"),
        F.coalesce("currency_key", F.lit(UNKNOWN_KEY)).cast("long").alias("currency_key"),
        F.col("StageName").alias("stage"),
        F.col("StageName").isin(WON, LOST).alias("is_closed"),
        (F.col("StageName") == WON).alias("is_won"),
        F.col("CloseDate").alias("close_date"),
        F.col("Amount").alias("amount"),
        F.col("CurrencyIsoCode").alias("currency"),
        (F.col("Amount") * F.col("latest_rate_to_base")).alias("amount_usd"),
    )


def build_agg_sales_pipeline(facts: DataFrame) -> DataFrame:
    return (
        facts.where("close_date IS NOT NULL AND stage IS NOT NULL")
        .groupBy(F.trunc("close_date", "month").alias("close_month"), "stage")
        .agg(
            F.count("*").alias("opportunities"),
            F.coalesce(F.sum(F.when(~F.col("is_closed"), F.col("amount_usd"))), F.lit(0.0)).alias(
                "open_amount_usd"
            ),
            F.sum(F.col("is_won").cast("long")).alias("won"),
            F.sum((F.col("is_closed") & ~F.col("is_won")).cast("long")).alias("lost"),
        )
    )


def _fact(inputs: TransformInputs) -> DataFrame:
    return build_fact_opportunities(
        inputs.read("silver/opportunities"),
        inputs.read("silver/accounts"),
        inputs.read("gold/dim_customer"),
        inputs.read("gold/dim_currency"),
    )


def _pipeline(inputs: TransformInputs) -> DataFrame:
    return build_agg_sales_pipeline(inputs.read("gold/fact_opportunities"))


def build(contracts: dict[str, Contract]) -> list[dg.AssetsDefinition]:
    return [
        build_spark_asset(contracts["gold/fact_opportunities"], contracts, _fact),
        build_spark_asset(contracts["gold/agg_sales_pipeline"], contracts, _pipeline),
    ]
