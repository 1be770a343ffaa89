"""The `platform serve` endpoint's catalog for one role: the lake tables the role may read, each bound
as a masked, filtered global view (``global_temp.<layer>__<table>``).

Sail shares global views between every session of a server and cannot tell one connecting client
from another, so the role is the endpoint's: one endpoint per role (docs/governance.md). A binding
that changes what the endpoint serves is audited (action ``serve``); the queries clients then run
inside Sail are not visible to the platform.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from platform_assets.engine.lake_catalog import view_name
from platform_assets.governance.decision import Caller
from platform_assets.governance.policy_audit import audit_policy_version
from platform_assets.governance.read_path import (
    Governance,
    applied_filters,
    decisions_for,
    governed_frame,
    masked_columns,
)
from platform_assets.lake.audit_log import audit_write
from platform_assets.lake.location import Lake


def bind_governed_views(
    spark: SparkSession, lake: Lake, caller: Caller, previous: list[str] | None = None
) -> list[str]:
    from platform_assets.engine.lake_catalog import lake_datasets

    governance = Governance.load()
    audit_policy_version(lake)
    decisions = decisions_for(lake, governance, caller, lake_datasets(lake))
    allowed = [d for d in decisions if d.allowed]
    for decision in allowed:
        governed_frame(spark, lake, decision).createOrReplaceGlobalTempView(view_name(decision.dataset))
    names = [f"global_temp.{view_name(d.dataset)}" for d in allowed]
    if names != (previous or []):
        audit_write(
            lake,
            "serve",
            user=caller.user,
            role=caller.role,
            datasets=[d.dataset for d in allowed],
            statement="bind the endpoint's catalog",
            columns_masked=masked_columns(allowed),
            row_filters=applied_filters(allowed),
            reason=f"{len(decisions) - len(allowed)} table(s) not granted to the role left out",
        )
    return names
