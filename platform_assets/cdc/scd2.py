"""SCD type 2: every version of every key, with ``valid_from``, ``valid_to`` and ``is_current``.

For the keys a batch touches, the stored versions and the new changes are put back in sequence
order and the versions re-derived, so a late change lands in its place in history and closes the
version before it. One version per key and ``valid_from`` (the first sequence column): within one
commit the last change wins. A delete is kept as a tombstone version (``_is_deleted``, never
current); a later re-insert opens a new version. Rows are matched on (keys, valid_from), so the
same batch applied twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from platform_assets.cdc.merge import key_match, merge_into
from platform_assets.cdc.spec import DELETED, IS_CURRENT, VALID_FROM, VALID_TO, ChangeSpec, latest
from platform_assets.engine.delta_io import read_delta
from platform_assets.lake.delta_tables import open_table


def history_columns(spec: ChangeSpec) -> list[str]:
    return [*spec.state_columns, VALID_FROM, VALID_TO, IS_CURRENT]


def _versions(events: DataFrame, spec: ChangeSpec) -> DataFrame:
    first = spec.sequence_by[0]
    per_commit = latest(events, [*spec.keys, first], spec)
    in_order = Window.partitionBy(*spec.keys).orderBy(F.col(first).asc())
    return (
        per_commit.withColumn(VALID_FROM, F.col(first))
        .withColumn(VALID_TO, F.lead(F.col(first)).over(in_order))
        .withColumn(IS_CURRENT, F.col(VALID_TO).isNull() & ~F.col(DELETED))
        .select(*history_columns(spec))
    )


def apply_scd2(
    changes: DataFrame,
    target_uri: str,
    spec: ChangeSpec,
    storage_options: dict[str, str] | None = None,
    partitions: Sequence[date] | None = None,
) -> None:
    """Rebuild the touched keys' versions; with ``partitions``, only those target partitions are read."""
    incoming = spec.normalize(changes)
    if open_table(target_uri, storage_options) is None:
        spec.create(_versions(incoming, spec), target_uri)
        return
    touched = incoming.select(*spec.keys).distinct()
    stored = (
        read_delta(incoming.sparkSession, target_uri, spec.within(partitions))
        .join(touched, list(spec.keys), "left_semi")
        .select(*spec.state_columns)
    )
    versions = _versions(stored.unionByName(incoming), spec)
    same_version = " AND ".join(
        [
            f"t.`{c}` <=> s.`{c}`"
            for c in (*spec.value_columns, *spec.sequence_by, DELETED, VALID_TO, IS_CURRENT)
        ]
    )
    merge_into(
        versions,
        target_uri,
        f"{key_match(spec.keys)} AND t.`{VALID_FROM}` = s.`{VALID_FROM}` AND {spec.within(partitions, 't')}",
        f"WHEN MATCHED AND NOT ({same_version}) THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    )
