"""SCD type 2: every version of every key, with ``valid_from``, ``valid_to`` and ``is_current``.

Semantics are Databricks AUTO CDC's. For the keys a batch touches, the stored versions and the new
changes are put back in sequence order and the versions re-derived, so a late change lands in its
place in history. Within one commit (the first sequence column) the last change wins.

- A change opens a new version when a tracked column (``ChangeSpec.tracked_columns``: all value
  columns unless the contract lists them) differs from the change before it, or when it follows a
  delete. Otherwise it is absorbed: the current version takes its untracked values and its sequence,
  and keeps its ``valid_from``.
- A delete closes the last live version at the delete's time and is kept as a tombstone row
  (``_is_deleted``, ``valid_from = valid_to`` = the delete's time, never current), so
  ``WHERE valid_to IS NULL`` returns only live keys while a late change still finds its place
  behind the delete; a re-insert after it opens a new version. Deletes in a row are one tombstone.
- A stored version that absorbed changes re-enters the derivation twice: at its ``valid_from``
  (its opening, whose own tiebreaker is no longer known) and at its latest change. So a late change
  that splits it splits it; the opening part carries the version's latest untracked values.

Rows are matched on (keys, valid_from); a stored version that the re-derivation folds into another
is deleted in the same MERGE. The same batch applied twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from platform_assets.cdc.merge import key_match, merge_into
from platform_assets.cdc.spec import DELETED, IS_CURRENT, VALID_FROM, VALID_TO, ChangeSpec, latest
from platform_assets.engine.delta_io import read_delta
from platform_assets.lake.delta_tables import open_table

_VERSION, _STALE = "_version", "_stale"


def history_columns(spec: ChangeSpec) -> list[str]:
    return [*spec.state_columns, VALID_FROM, VALID_TO, IS_CURRENT]


def _opens_version(spec: ChangeSpec, in_order: Window) -> Column:
    previous_deleted = F.lag(F.col(DELETED)).over(in_order)
    changed = reduce(
        Column.__or__,
        [~F.col(c).eqNullSafe(F.lag(F.col(c)).over(in_order)) for c in spec.tracked_columns],
        F.lit(False),
    )
    return previous_deleted.isNull() | (F.col(DELETED) != previous_deleted) | (~F.col(DELETED) & changed)


def _versions(events: DataFrame, spec: ChangeSpec) -> DataFrame:
    first = spec.sequence_by[0]
    per_commit = latest(events, [*spec.keys, first], spec)
    in_order = Window.partitionBy(*spec.keys).orderBy(F.col(first).asc())
    numbered = per_commit.withColumn("_opens", _opens_version(spec, in_order).cast("int")).withColumn(
        _VERSION, F.sum("_opens").over(in_order.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    )
    started = numbered.withColumn(
        VALID_FROM, F.min(F.col(first)).over(Window.partitionBy(*spec.keys, _VERSION))
    )
    by_start = Window.partitionBy(*spec.keys).orderBy(F.col(VALID_FROM).asc())
    return (
        latest(started, [*spec.keys, _VERSION], spec)
        .withColumn(
            VALID_TO,
            F.when(F.col(DELETED), F.col(VALID_FROM)).otherwise(F.lead(F.col(VALID_FROM)).over(by_start)),
        )
        .withColumn(IS_CURRENT, F.col(VALID_TO).isNull())
        .select(*history_columns(spec))
    )


def _as_changes(stored: DataFrame, spec: ChangeSpec) -> DataFrame:
    """Stored versions as change events: each at its latest change, and an absorbing one also at its
    opening (``valid_from``; the other sequence columns unknown, so NULL: it loses a tie)."""
    first = spec.sequence_by[0]
    opening = stored.where(F.col(VALID_FROM) != F.col(first)).withColumn(first, F.col(VALID_FROM))
    for column in spec.sequence_by[1:]:
        opening = opening.withColumn(column, F.lit(None).cast(stored.schema[column].dataType))
    return stored.select(*spec.state_columns).unionByName(opening.select(*spec.state_columns))


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
        .select(*spec.state_columns, VALID_FROM)
    )
    versions = _versions(_as_changes(stored, spec).unionByName(incoming), spec)
    match_on = [*spec.keys, VALID_FROM]
    stale = stored.select(*match_on).join(versions.select(*match_on), match_on, "left_anti")
    source = versions.withColumn(_STALE, F.lit(False)).unionByName(
        stale.withColumn(_STALE, F.lit(True)), allowMissingColumns=True
    )
    columns = history_columns(spec)
    same_version = " AND ".join(
        f"t.`{c}` <=> s.`{c}`"
        for c in (*spec.value_columns, *spec.sequence_by, DELETED, VALID_TO, IS_CURRENT)
    )
    merge_into(
        source,
        target_uri,
        f"{key_match(spec.keys)} AND t.`{VALID_FROM}` = s.`{VALID_FROM}` AND {spec.within(partitions, 't')}",
        f"WHEN MATCHED AND s.`{_STALE}` THEN DELETE "
        f"WHEN MATCHED AND NOT ({same_version}) THEN UPDATE SET "
        + ", ".join(f"t.`{c}` = s.`{c}`" for c in columns)
        + f" WHEN NOT MATCHED AND NOT s.`{_STALE}` THEN INSERT ({', '.join(f'`{c}`' for c in columns)}) "
        f"VALUES ({', '.join(f's.`{c}`' for c in columns)})",
    )
