"""`platform clone --env dev --target ROOT`: copy a lake into a non-production one with every PII
column masked at rest (bronze, dead letters and quarantine included).

A column is PII when its contract classifies it so, or when no contract classifies it (the policies'
``defaults.unclassified``: dead-letter payloads, drift columns). PII values are replaced by their salted
SHA-256 token (the target environment's salt: ``PLATFORM_CLONE_SALT``, else that environment's default),
so joins between tables still work in the copy and a value cannot be read back. ``ops/`` tables (audit,
suppression) are not copied: a dev lake starts without the production audit history.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import SparkSession

from platform_assets.contracts.model import Classification
from platform_assets.engine.delta_io import read_delta
from platform_assets.governance.decision import classification_of
from platform_assets.governance.masks import mask_expression, mask_salt
from platform_assets.governance.policy_model import MaskMethod
from platform_assets.governance.read_path import Governance
from platform_assets.lake.delta_tables import row_count
from platform_assets.lake.location import QUARANTINE_ZONE, Lake


class CloneError(ValueError):
    pass


def clone_salt(env: str) -> str:
    return mask_salt({"PLATFORM_ENV": env, "PLATFORM_MASK_SALT": os.environ.get("PLATFORM_CLONE_SALT", "")})


def _tables(lake: Lake) -> list[tuple[str, str, str]]:
    """(dataset the columns are classified by, source uri, relative path) of every table to copy."""
    from platform_assets.engine.lake_catalog import lake_datasets

    found = [(d, lake.uri(d), d) for d in lake_datasets(lake)]
    quarantine = Path(lake.root) / QUARANTINE_ZONE
    for path in sorted(quarantine.iterdir()) if quarantine.is_dir() else []:
        layer, _, table = path.name.partition("_")
        found.append((f"{layer}/{table}", str(path), f"{QUARANTINE_ZONE}/{path.name}"))
    return found


def clone_masked(
    spark: SparkSession, source: Lake, target: Lake, env: str, governance: Governance
) -> dict[str, int]:
    """Rows copied per table (relative path); the target tables are replaced."""
    if env == "prod":
        raise CloneError("clone makes non-production lakes: --env must be dev or staging")
    if source.is_remote:
        raise CloneError("clone reads a local lake today (quarantine tables are listed on disk)")
    salt = clone_salt(env)
    copied = {}
    for dataset, uri, relative in _tables(source):
        contract = governance.contracts.get(dataset)
        frame = read_delta(spark, uri)
        exprs = []
        for column, data_type in frame.dtypes:
            pii = classification_of(dataset, column, contract, governance.policies) == Classification.PII
            exprs.append(
                mask_expression(column, data_type, MaskMethod.HASH if pii else MaskMethod.NONE, salt)
            )
        partition = contract.partitioning.column if contract and contract.partitioning else None
        if partition is None and "_proc_date" in frame.columns:
            partition = "_proc_date"
        writer = (
            frame.selectExpr(*exprs).write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        )
        if partition in frame.columns:
            writer = writer.partitionBy(partition)
        destination = f"{target.root.rstrip('/')}/{relative}"
        writer.save(destination)
        copied[relative] = row_count(destination, target.storage_options)  # from the log, no re-read
    return copied
