"""S3 lifecycle tiering from the contracts: old partition files to cheaper storage, never the Delta log.

For every contract with a partitioned table and ``infrequent_access_after_days`` (bronze by default),
one rule on the prefix ``<lake prefix>/<layer>/<table>/<partition column>=``: objects move to
STANDARD_IA after that many days and to GLACIER_IR after ``archive_after_days``. The prefix names the
partition folders only, so ``_delta_log/`` (which every read needs) always stays in STANDARD. Bronze is
partitioned by ingestion day, so an object's age is its partition's age. GLACIER_IR is the archive class
because it is read in place (milliseconds): delta-rs and Spark keep reading old partitions and time
travel keeps working, which GLACIER / DEEP_ARCHIVE (restore first) would break.

Applying keeps the bucket's other rules: only rules whose ID starts with ``platform-`` are replaced.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from platform_assets.contracts.model import Contract

RULE_PREFIX = "platform-"


def tiered(contract: Contract) -> bool:
    """Whether the lifecycle rules move this table's partition files to cheaper classes."""
    return (
        contract.partitioning is not None
        and contract.maintenance_policy.infrequent_access_after_days is not None
    )


def storage_class(contract: Contract, age_days: float) -> str:
    """The class the rules have put an object of this age in: standard, infrequent or archive."""
    policy = contract.maintenance_policy
    if not tiered(contract) or policy.infrequent_access_after_days is None:
        return "standard"
    if policy.archive_after_days is not None and age_days >= policy.archive_after_days:
        return "archive"
    return "infrequent" if age_days >= policy.infrequent_access_after_days else "standard"


def _bucket_and_prefix(root: str) -> tuple[str, str]:
    parsed = urlparse(root)
    if parsed.scheme not in ("s3", "s3a"):
        raise ValueError(f"lifecycle rules apply to an s3:// lake root, not {root!r}")
    prefix = parsed.path.strip("/")
    return parsed.netloc, f"{prefix}/" if prefix else ""


def lifecycle_rules(contracts: dict[str, Contract], root: str) -> list[dict]:
    """The lifecycle rules for the lake at ``root`` (an s3:// URI), one per tiered table."""
    _, prefix = _bucket_and_prefix(root)
    rules = []
    for dataset, contract in sorted(contracts.items()):
        policy = contract.maintenance_policy
        if not tiered(contract) or contract.partitioning is None:
            continue
        transitions = [{"Days": policy.infrequent_access_after_days, "StorageClass": "STANDARD_IA"}]
        if policy.archive_after_days is not None:
            transitions.append({"Days": policy.archive_after_days, "StorageClass": "GLACIER_IR"})
        rules.append(
            {
                "ID": f"{RULE_PREFIX}{dataset.replace('/', '-')}",
                "Filter": {"Prefix": f"{prefix}{dataset}/{contract.partitioning.column}="},
                "Status": "Enabled",
                "Transitions": transitions,
            }
        )
    return rules


def s3_client(storage_options: dict[str, str]) -> Any:  # a boto3 S3 client (untyped)
    import boto3

    options = {k.upper(): v for k, v in storage_options.items()}
    return boto3.client(
        "s3",
        endpoint_url=options.get("AWS_ENDPOINT_URL"),
        aws_access_key_id=options.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=options.get("AWS_SECRET_ACCESS_KEY"),
        region_name=options.get("AWS_REGION", "us-east-1"),
    )


def apply_lifecycle(contracts: dict[str, Contract], root: str, storage_options: dict[str, str]) -> list[dict]:
    """Put the rules on the lake's bucket, keeping rules the platform does not own; returns all rules."""
    bucket, _ = _bucket_and_prefix(root)
    client = s3_client(storage_options)
    try:
        existing = client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except client.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        existing = []
    kept = [r for r in existing if not str(r.get("ID", "")).startswith(RULE_PREFIX)]
    rules = kept + lifecycle_rules(contracts, root)
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    return rules
