"""SCD type 1: one row per key holding its latest change; deletes become tombstones.

A change is applied only if its sequence is strictly after the row's, so out-of-order, duplicated
and re-delivered batches converge to the same state, and applying a batch twice changes nothing.
A delete keeps the key as a tombstone (``_is_deleted``) with the delete's sequence, so a late,
older update cannot bring it back, while a newer re-insert does. Readers filter tombstones out
(``current_rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from platform_assets.cdc.merge import key_match, merge_into
from platform_assets.cdc.spec import DELETED, ChangeSpec, latest
from platform_assets.lake.delta_tables import open_table


def apply_scd1(
    changes: DataFrame,
    target_uri: str,
    spec: ChangeSpec,
    storage_options: dict[str, str] | None = None,
    partitions: Sequence[date] | None = None,
    one_per_key: bool = False,
) -> None:
    """Merge the newest change per key; with ``partitions``, only those target partitions are read.

    ``one_per_key``: the changes are already the newest per key (``winning_changes``), so the
    latest-per-key window is not computed again over them.
    """
    normalized = spec.normalize(changes)
    newest = normalized if one_per_key else latest(normalized, list(spec.keys), spec)
    if open_table(target_uri, storage_options) is None:
        spec.create(newest, target_uri)
        return
    merge_into(
        newest,
        target_uri,
        f"{key_match(spec.keys)} AND {spec.within(partitions, 't')}",
        f"WHEN MATCHED AND ({spec.newer_than('s', 't')}) THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    )


def winning_changes(changes: DataFrame, spec: ChangeSpec) -> DataFrame:
    """The newest change per key of a feed, all its columns kept: the only ones an SCD1 apply can
    write, so the ones worth validating (a bad change superseded by a correction never lands)."""
    return latest(changes.withColumn(DELETED, spec.is_delete()), list(spec.keys), spec).drop(DELETED)


def current_rows(state: DataFrame) -> DataFrame:
    """The live rows of an SCD1 table (tombstones removed)."""
    return state.where(~F.col(DELETED))
