"""S3 lifecycle tiering from the contracts, applied to moto_server (S3 cannot run here) and read back."""

from __future__ import annotations

import json

import boto3

from platform_assets.cli import main
from platform_assets.contracts import load_contracts
from platform_assets.operations.lifecycle import lifecycle_rules
from platform_assets_tests.test_lake_s3 import BUCKET, s3_endpoint  # noqa: F401 (the moto_server fixture)

BRONZE = [
    "bronze/fx_rates",
    "bronze/order_events",
    "bronze/rds_customers_cdc",
    "bronze/salesforce_account",
    "bronze/salesforce_opportunity",
    "bronze/snowflake_products",
]


def test_rules_tier_bronze_partitions_and_never_the_log() -> None:
    rules = lifecycle_rules(load_contracts(), "s3://lake/prod")
    assert [r["ID"] for r in rules] == [f"platform-{d.replace('/', '-')}" for d in BRONZE]
    fx = rules[0]
    assert fx["Filter"] == {"Prefix": "prod/bronze/fx_rates/_proc_date="}
    assert fx["Transitions"] == [
        {"Days": 30, "StorageClass": "STANDARD_IA"},
        {"Days": 180, "StorageClass": "GLACIER_IR"},
    ]
    for rule in rules:  # the log's prefix is never matched by a rule
        assert not "prod/bronze/fx_rates/_delta_log/00000000000000000000.json".startswith(
            rule["Filter"]["Prefix"]
        )


def test_platform_lifecycle_applies_the_rules_and_keeps_others(s3_endpoint: str, monkeypatch, capsys) -> None:  # noqa: F811
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    other = {
        "ID": "team-logs-expiry",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 7},
    }
    client.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [other]})
    monkeypatch.setenv("PLATFORM_LAKE_ROOT", f"s3://{BUCKET}/prod")
    monkeypatch.setenv(
        "PLATFORM_STORAGE_OPTIONS",
        json.dumps({"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "test",
                    "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}),
    )  # fmt: skip

    assert main(["lifecycle"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["Rules"]) == len(BRONZE)
    assert main(["lifecycle", "--apply"]) == 0
    assert main(["lifecycle", "--apply"]) == 0  # idempotent: the platform's rules are replaced
    assert (
        capsys.readouterr().out.splitlines()[-1] == f"7 lifecycle rule(s) on the bucket of s3://{BUCKET}/prod"
    )

    read_back = client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    by_id = {r["ID"]: r for r in read_back}
    assert set(by_id) == {"team-logs-expiry", *(f"platform-{d.replace('/', '-')}" for d in BRONZE)}
    assert by_id["platform-bronze-order_events"]["Filter"]["Prefix"] == "prod/bronze/order_events/_proc_date="
    assert [t["StorageClass"] for t in by_id["platform-bronze-order_events"]["Transitions"]] == [
        "STANDARD_IA",
        "GLACIER_IR",
    ]
    assert by_id["team-logs-expiry"]["Expiration"] == {"Days": 7}
