"""What a change feed looks like, and the ordering every apply shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from platform_assets.contracts.model import Contract

DELETED = "_is_deleted"  # tombstone flag: the key's change at this sequence was a delete
VALID_FROM, VALID_TO, IS_CURRENT = "valid_from", "valid_to", "is_current"


@dataclass(frozen=True)
class ChangeSpec:
    """Keys, the sequence that orders changes (lexicographic), the value columns, and deletes.

    ``apply_as_deletes`` is a SQL condition over a change row (``Op = 'D'``, ``IsDeleted = true``),
    like Databricks' APPLY AS DELETE WHEN. Sequence columns must be sortable and increase with
    time at the source (a commit timestamp plus a tiebreaker such as an LSN or file position).
    ``partition_by`` is the target's partition column, a value column that never changes for a key
    (an order's date): an apply given the partitions it covers reads and merges only those.
    """

    dataset: str
    keys: tuple[str, ...]
    sequence_by: tuple[str, ...]
    value_columns: tuple[str, ...]
    apply_as_deletes: str | None = None
    partition_by: str | None = None
    # SCD2: the value columns whose change opens a version (None: all of them, as AUTO CDC)
    track_history: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.keys or not self.sequence_by:
            raise ValueError(f"{self.dataset}: change apply needs keys and sequence_by")
        untracked = set(self.track_history or ()) - set(self.value_columns)
        if untracked:
            raise ValueError(f"{self.dataset}: tracked columns {sorted(untracked)} are not value columns")
        overlap = set(self.keys) & set(self.value_columns)
        if overlap:
            raise ValueError(f"{self.dataset}: columns {sorted(overlap)} are both keys and values")

    @classmethod
    def from_contract(cls, contract: Contract) -> ChangeSpec:
        """Keys, sequence and deletes from the contract; every other schema column is a value."""
        if contract.cdc is None:
            raise ValueError(f"{contract.dataset}: the contract has no 'cdc' section")
        return cls(
            dataset=contract.dataset,
            keys=tuple(contract.keys),
            sequence_by=tuple(contract.sequence_by),
            value_columns=tuple(contract.value_columns),
            apply_as_deletes=contract.cdc.apply_as_deletes,
            partition_by=contract.partitioning.column if contract.partitioning else None,
            track_history=tuple(contract.cdc.tracked_columns(contract.value_columns)),
        )

    @property
    def tracked_columns(self) -> tuple[str, ...]:
        return self.value_columns if self.track_history is None else self.track_history

    @property
    def state_columns(self) -> list[str]:
        """Columns of an applied row: keys, values, the sequence it came with, the tombstone flag."""
        seen: list[str] = []
        for name in (*self.keys, *self.value_columns, *self.sequence_by, DELETED):
            if name not in seen:
                seen.append(name)
        return seen

    def is_delete(self) -> Column:
        return (
            F.coalesce(F.expr(self.apply_as_deletes), F.lit(False)) if self.apply_as_deletes else F.lit(False)
        )

    def newest_first(self) -> list[Column]:
        """Total order inside one key: higher sequence first; on an exact tie a delete wins."""
        return [*(F.col(c).desc_nulls_last() for c in self.sequence_by), F.col(DELETED).desc()]

    def normalize(self, changes: DataFrame) -> DataFrame:
        """The change feed reduced to state columns, with the tombstone flag computed."""
        missing = [
            c for c in (*self.keys, *self.value_columns, *self.sequence_by) if c not in changes.columns
        ]
        if missing:
            raise ValueError(f"{self.dataset}: the change feed lacks column(s) {missing}")
        return changes.withColumn(DELETED, self.is_delete()).select(*self.state_columns)

    def within(self, partitions: Sequence[date] | None, alias: str | None = None) -> str:
        """SQL: the partition column (of ``alias``) is one of ``partitions`` (TRUE when not restricted)."""
        if self.partition_by is None or partitions is None:
            return "TRUE"
        column = f"{alias}.`{self.partition_by}`" if alias else f"`{self.partition_by}`"
        days = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(set(partitions)))
        return f"{column} IN ({days})" if days else "FALSE"

    def create(self, rows: DataFrame, target_uri: str) -> None:
        """Write the first version of the target table (partitioned by ``partition_by``, if any)."""
        writer = rows.write.format("delta")
        if self.partition_by is not None:
            writer = writer.partitionBy(self.partition_by)
        writer.save(target_uri)

    def newer_than(self, source: str, target: str) -> str:
        """SQL: the source row's sequence is strictly after the target row's (lexicographic)."""
        clauses = []
        for position, column in enumerate(self.sequence_by):
            equal_before = [f"{source}.`{c}` = {target}.`{c}`" for c in self.sequence_by[:position]]
            clauses.append(" AND ".join([*equal_before, f"{source}.`{column}` > {target}.`{column}`"]))
        return " OR ".join(f"({c})" for c in clauses)


def latest(frame: DataFrame, partition_by: list[str], spec: ChangeSpec) -> DataFrame:
    """The newest row per ``partition_by`` group, in the spec's order."""
    window = Window.partitionBy(*partition_by).orderBy(*spec.newest_first())
    return frame.withColumn("_rank", F.row_number().over(window)).where("_rank = 1").drop("_rank")
