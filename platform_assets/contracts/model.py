"""The shape of a data contract (validated with pydantic, so errors name the field)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from platform_assets.contracts.implicit_rules import complete_rules
from platform_assets.contracts.load_checks import check_rule_columns, condition_columns, enforce_keys
from platform_assets.contracts.rules import Rule, Severity, parse_rules

LAYERS = ("bronze", "silver", "gold")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
SIMPLE_TYPES = ("string", "int", "long", "double", "boolean", "date", "timestamp")
_OWNER = re.compile(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")
_DURATION = re.compile(r"^(\d+)\s*([mhd])$")


class Classification(StrEnum):
    PII = "pii"
    INTERNAL = "internal"
    PUBLIC = "public"


class DatasetRef(BaseModel):
    """``layer/table``: the asset key and the table's place in the lake."""

    model_config = ConfigDict(frozen=True)
    layer: str
    table: str

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        parts = text.split("/")
        if len(parts) != 2 or parts[0] not in LAYERS or not _NAME.match(parts[1]):
            raise ValueError(f"{text!r} is not a dataset reference of the form <bronze|silver|gold>/<table>")
        return cls(layer=parts[0], table=parts[1])

    def __str__(self) -> str:
        return f"{self.layer}/{self.table}"


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration such as '30m', '36h' or '2d'")
    amount, unit = int(match.group(1)), match.group(2)
    return {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnSpec(_Strict):
    name: str
    type: str
    nullable: bool = True
    description: str
    classification: Classification = Classification.INTERNAL
    lineage: list[str] = Field(
        default_factory=list, description="upstream columns as '<layer>/<table>.<column>'"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(f"column name {value!r} must be letters, digits and underscores")
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in SIMPLE_TYPES and not _DECIMAL.match(value):
            raise ValueError(f"type {value!r} is not one of {', '.join(SIMPLE_TYPES)} or decimal(p,s)")
        return value

    @field_validator("lineage")
    @classmethod
    def _lineage(cls, value: list[str]) -> list[str]:
        for item in value:
            dataset, _, column = item.rpartition(".")
            DatasetRef.parse(dataset)
            if not column:
                raise ValueError(f"lineage entry {item!r} must be '<layer>/<table>.<column>'")
        return value


class Partitioning(_Strict):
    column: str
    granularity: Literal["daily"] = "daily"
    start: date
    lookahead_days: int = Field(
        0, ge=0, description="how many later upstream partitions may still hold data for this one"
    )
    business_date: str | None = Field(
        None,
        description=(
            "a date or timestamp column whose UTC date is a row's business date; each materialization "
            "reports the business dates it touched, so downstream business-date partitions (late ones "
            "included) are requested"
        ),
    )


class Freshness(_Strict):
    warn_after: str | None = None
    fail_after: str

    @field_validator("warn_after", "fail_after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> Freshness:
        if self.warn_after and parse_duration(self.warn_after) >= parse_duration(self.fail_after):
            raise ValueError("warn_after must be shorter than fail_after")
        return self


# how long the rows a dataset's writes held back (its quarantine table, a bronze table's dead letters)
# are kept when the contract does not say: long enough to investigate and replay, not forever
HELD_RETENTION_DAYS = {"bronze": 30, "silver": 90, "gold": 90}


class Retention(_Strict):
    days: int = Field(ge=1)
    note: str = ""
    held_days: int | None = Field(
        None,
        ge=1,
        description=(
            "days the dataset's quarantine rows and dead letters are kept (default by layer: "
            "HELD_RETENTION_DAYS); the maintenance asset deletes older ones"
        ),
    )
    column: str | None = Field(
        None,
        description=(
            "the date or timestamp column whose age counts (default: the partition column); rows older "
            "than ``days`` are deleted by the table's maintenance asset"
        ),
    )


class ChangelogEntry(_Strict):
    """One change to a contract; a breaking change needs one naming who approved it and why."""

    date: date
    change: str = Field(min_length=1)
    approved_by: str | None = Field(None, description="an email or 'team:<name>'")
    reason: str = ""

    @field_validator("approved_by")
    @classmethod
    def _approver(cls, value: str | None) -> str | None:
        if value is not None and not _OWNER.match(value):
            raise ValueError(f"approved_by {value!r} must be an email address or 'team:<name>'")
        return value

    @model_validator(mode="after")
    def _why(self) -> ChangelogEntry:
        if self.approved_by and not self.reason.strip():
            raise ValueError("an approval needs a reason (why the change was accepted)")
        return self


class Quality(_Strict):
    default_severity: Severity = Severity.CRITICAL
    rules: Any = None

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: Any, info: ValidationInfo) -> Any:
        parse_rules(value, info.data.get("default_severity", Severity.CRITICAL))  # raises with the reason
        return value


class Maintenance(_Strict):
    """Table maintenance (platform_assets/operations/maintenance.py); unset fields take the layer's default."""

    target_file_size_mb: int | None = Field(None, ge=1, description="compaction target file size")
    z_order: list[str] | None = Field(None, description="columns to Z-order each compacted partition by")
    vacuum_retention: str | None = Field(
        None, description="time-travel window: files removed longer ago than this are vacuumed, e.g. '7d'"
    )
    checkpoint_interval: int | None = Field(None, ge=1, description="commits between checkpoints")
    infrequent_access_after_days: int | None = Field(
        None, ge=30, description="S3 lifecycle: partition files to STANDARD_IA after this many days"
    )
    archive_after_days: int | None = Field(
        None, ge=1, description="S3 lifecycle: then to GLACIER_IR (still readable in place) after this many"
    )

    @model_validator(mode="after")
    def _tiers(self) -> Maintenance:
        ia, archive = self.infrequent_access_after_days, self.archive_after_days
        if ia is not None and archive is not None and archive < ia + 30:
            raise ValueError("archive_after_days must be at least 30 days after infrequent_access_after_days")
        return self

    @field_validator("vacuum_retention")
    @classmethod
    def _retention(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


# per-layer defaults: bronze is append-heavy (many small files, long time travel for replays)
MAINTENANCE_DEFAULTS: dict[str, Maintenance] = {
    "bronze": Maintenance(
        target_file_size_mb=128,
        z_order=[],
        vacuum_retention="30d",
        checkpoint_interval=10,
        infrequent_access_after_days=30,
        archive_after_days=180,
    ),
    "silver": Maintenance(target_file_size_mb=128, z_order=[], vacuum_retention="7d", checkpoint_interval=10),
    "gold": Maintenance(target_file_size_mb=64, z_order=[], vacuum_retention="7d", checkpoint_interval=10),
}


CDC_COLUMNS = {
    "scd1": ("_is_deleted",),
    "scd2": ("_is_deleted", "valid_from", "valid_to", "is_current"),
}


class ChangeApply(_Strict):
    """How a silver table applies a change feed (AUTO-CDC semantics, see platform_assets/cdc)."""

    mode: Literal["scd1", "scd2"]
    apply_as_deletes: str | None = Field(
        None, description="SQL condition marking a change as a delete, e.g. \"Op = 'D'\""
    )
    # SCD2 only, as AUTO CDC: the value columns whose change opens a new version (default: all);
    # an update that changes none of them updates the current version in place
    track_history_column_list: list[str] | None = None
    track_history_except_column_list: list[str] | None = None

    @field_validator("apply_as_deletes")
    @classmethod
    def _delete_condition(cls, value: str | None) -> str | None:
        if value is not None:
            condition_columns(value)
        return value

    def check_tracked(self, value_columns: list[str]) -> None:
        lists = {
            "track_history_column_list": self.track_history_column_list,
            "track_history_except_column_list": self.track_history_except_column_list,
        }
        given = {name: cols for name, cols in lists.items() if cols is not None}
        if given and self.mode != "scd2":
            raise ValueError(f"cdc: {' and '.join(given)} applies to scd2 only (scd1 keeps no history)")
        if len(given) > 1:
            raise ValueError(
                "cdc: give track_history_column_list or track_history_except_column_list, not both"
            )
        for name, cols in given.items():
            unknown = [c for c in cols if c not in value_columns]
            if unknown:
                raise ValueError(
                    f"cdc.{name}: {unknown} are not value columns (keys, sequence_by and the CDC "
                    f"columns never open versions); value columns: {value_columns}"
                )

    def tracked_columns(self, value_columns: list[str]) -> list[str]:
        """The value columns whose change opens a new SCD2 version (all unless a list says)."""
        if self.track_history_column_list is not None:
            return [c for c in value_columns if c in self.track_history_column_list]
        excluded = self.track_history_except_column_list or []
        return [c for c in value_columns if c not in excluded]


class Publish(_Strict):
    """How the gate writes an unpartitioned table: replace it whole, or merge the new state by key."""

    mode: Literal["overwrite", "merge"] = "overwrite"
    merge_keys: list[str] = Field(
        default_factory=list,
        description="merge: the columns that identify a row (null-safe), e.g. natural key and valid_from",
    )


# the sources whose bronze can be read and typed on the engine (``ingest: engine``)
ENGINE_SOURCES = frozenset({"kafka", "rds_dms"})


class Contract(_Strict):
    """One dataset's contract. ``dataset`` must match the file's place under ``datasets/``."""

    dataset: str
    description: str
    owners: list[str] = Field(min_length=1)
    domain: str
    source: str | None = None
    # bronze: type the records in the Dagster process, or read and type them on the Spark engine
    # (ENGINE_SOURCES: layers/bronze/engine_kafka.py, engine_dms.py)
    ingest: Literal["process", "engine"] = "process"
    tags: dict[str, str] = Field(default_factory=dict)
    upstream: list[str] = Field(default_factory=list)
    columns: list[ColumnSpec] = Field(min_length=1, alias="schema")
    keys: list[str] = Field(default_factory=list)
    sequence_by: list[str] = Field(default_factory=list)
    partitioning: Partitioning | None = None
    quality: Quality = Field(default_factory=Quality)
    freshness: Freshness | None = None
    retention: Retention
    cdc: ChangeApply | None = None
    publish: Publish = Field(default_factory=Publish)
    maintenance: Maintenance = Field(default_factory=Maintenance)
    changelog: list[ChangelogEntry] = Field(default_factory=list)

    _rules: list[Rule] = PrivateAttr(default_factory=list)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        DatasetRef.parse(value)
        return value

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, value: list[str]) -> list[str]:
        for item in value:
            DatasetRef.parse(item)
        return value

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        for owner in value:
            if not _OWNER.match(owner):
                raise ValueError(f"owner {owner!r} must be an email address or 'team:<name>'")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not re.match(r"^[A-Za-z0-9_.-]{1,63}$", str(tag)):
                raise ValueError(f"tag {key}={tag!r}: values allow only A-Z a-z 0-9 _ . - (63 at most)")
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> Contract:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"schema: lists columns more than once: {duplicates}")
        for group, cols in (("keys", self.keys), ("sequence_by", self.sequence_by)):
            unknown = [c for c in cols if c not in names]
            if unknown:
                raise ValueError(f"{group}: names columns not in the schema: {unknown}")
        if self.partitioning and self.partitioning.column not in names:
            raise ValueError(f"partitioning.column: {self.partitioning.column!r} is not in the schema")
        if self.ingest == "engine" and self.source not in ENGINE_SOURCES:
            raise ValueError(
                f"ingest: 'engine' is built for the sources {sorted(ENGINE_SOURCES)} only, not {self.source!r}"
            )
        age = self.retention.column
        if age is not None and (age not in names or self.column(age).type not in ("date", "timestamp")):
            raise ValueError(f"retention.column: {age!r} must be a date or timestamp column of the schema")
        business_date = self.partitioning.business_date if self.partitioning else None
        if business_date is not None:
            column = next((c for c in self.columns if c.name == business_date), None)
            if column is None or column.type not in ("date", "timestamp"):
                raise ValueError(
                    f"partitioning.business_date: {business_date!r} must be a date or timestamp column "
                    "of the schema"
                )
        for column in self.columns:
            for item in column.lineage:
                dataset = item.rpartition(".")[0]
                if dataset not in self.upstream:
                    raise ValueError(
                        f"schema.{column.name}.lineage: names {dataset!r}, which is not in upstream"
                    )
        if self.publish.mode == "merge":
            if self.partitioning is not None or self.cdc is not None:
                raise ValueError("publish.mode: merge is for unpartitioned tables the gate replaces whole")
            unknown = [c for c in self.publish.merge_keys if c not in names]
            if not self.publish.merge_keys or unknown:
                raise ValueError(
                    f"publish.merge_keys: must name schema columns, got {self.publish.merge_keys}"
                )
        if self.cdc is not None:
            if not self.keys or not self.sequence_by:
                raise ValueError("cdc: change apply needs keys and sequence_by")
            missing = [c for c in CDC_COLUMNS[self.cdc.mode] if c not in names]
            if missing:
                raise ValueError(f"cdc: {self.cdc.mode} tables carry {missing}; add them to the schema")
        self._rules = parse_rules(self.quality.rules, self.quality.default_severity)
        for rule in self._rules:  # a cross-table rule reads another table: the asset must depend on it
            if "table" in rule.args and rule.args["table"] not in self.upstream:
                raise ValueError(
                    f"quality.rules: rule {rule.name!r} names table {rule.args['table']!r}, which is not in upstream"
                )
        ref = self.ref
        for rule in self._rules:
            if ref.layer == "bronze" and rule.severity is not Severity.WARNING:
                raise ValueError(
                    f"quality.rules: rule {rule.name!r}: bronze keeps every record as received, so its "
                    "rules may only be 'warning'; put blocking rules on the silver contract"
                )
        self._rules = complete_rules(  # nullable: false and type validity, enforced by the gate
            ref.layer,
            [c.name for c in self.columns if not c.nullable],
            self._rules,
            CDC_COLUMNS[self.cdc.mode] if self.cdc else (),
        )
        self._check_at_load()
        return self

    @model_validator(mode="after")
    def _maintenance_columns(self) -> Contract:
        partition = self.partitioning.column if self.partitioning else None
        for column in self.maintenance.z_order or []:
            if column not in self.column_names or column == partition:
                raise ValueError(
                    f"maintenance.z_order: {column!r} must be a schema column other than the partition column"
                )
        return self

    @property
    def maintenance_policy(self) -> Maintenance:
        """The contract's ``maintenance:`` over its layer's defaults (every field set)."""
        explicit = self.maintenance.model_dump(exclude_none=True)
        return MAINTENANCE_DEFAULTS[self.ref.layer].model_copy(update=explicit)

    def _check_at_load(self) -> None:
        """Rules fit the schema, tracked columns are values, and keys are enforced (load_checks)."""
        check_rule_columns(self._rules, {c.name: c.type for c in self.columns})
        if self.ref.layer != "bronze":  # bronze keeps every record as received
            self._rules = enforce_keys(self._rules, self.keys)
        if self.cdc is not None:
            self.cdc.check_tracked(self.value_columns)

    @property
    def value_columns(self) -> list[str]:
        """The columns a change apply carries as values: not keys, sequence or CDC bookkeeping."""
        bookkeeping = {*self.keys, *self.sequence_by, *CDC_COLUMNS["scd2"]}
        return [c for c in self.column_names if c not in bookkeeping]

    @property
    def retention_column(self) -> str | None:
        """The column whose age decides retention: ``retention.column``, else the partition column."""
        if self.retention.column:
            return self.retention.column
        return self.partitioning.column if self.partitioning else None

    @property
    def held_retention_days(self) -> int:
        """Days its quarantine rows and dead letters are kept: ``retention.held_days``, else the layer's."""
        return self.retention.held_days or HELD_RETENTION_DAYS[self.ref.layer]

    @property
    def ref(self) -> DatasetRef:
        return DatasetRef.parse(self.dataset)

    @property
    def rules(self) -> list[Rule]:
        return list(self._rules)

    @property
    def upstream_refs(self) -> list[DatasetRef]:
        return [DatasetRef.parse(u) for u in self.upstream]

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.dataset} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]
