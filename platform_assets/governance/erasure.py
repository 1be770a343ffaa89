"""`platform erase --subject customer_id=123` (or ``email=...``): remove a person from the lake.

1. Resolve the subject to customer ids (and the emails stored for them, which dead letters and old
   log entries may quote) through the lookup tables of ``subjects.yaml``.
2. Plan every table that can hold the person, from the contracts: a dataset with an id column and a
   pii column describes the person (rows deleted); one without pii records their transactions (rows
   kept, re-keyed to the erased member, so measures survive); the quarantine copy of each follows
   its dataset; every bronze dead-letter table loses the raw payloads that mention the person.
3. Rewrite (delta-rs DELETE / UPDATE), add the erased member to the dimension, then remove the
   history: vacuum every file the current version no longer references (retention 0, not a dry
   run, full mode so nothing is left to a lite pass), and drop the old log entries (their file
   statistics quote values) behind a fresh checkpoint.
4. Verify: no version reachable by time travel, no data file on storage and no log file still holds
   the subject. Append the erasure record to ``ops/audit_log`` and the subject to the suppression
   list (governance/suppression.py), so sources that re-send them are filtered at bronze.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from deltalake import DeltaTable, QueryBuilder, write_deltalake
from pydantic import BaseModel, ConfigDict

from platform_assets.contracts.model import Classification, Contract
from platform_assets.lake.delta_tables import in_predicate, open_table
from platform_assets.lake.location import Lake

SUBJECTS_FILE = Path(__file__).parent / "subjects.yaml"
DEFAULT_LOG_RETENTION = "interval 30 days"


class SubjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id_columns: list[str]
    lookup: dict[str, list[str]]
    erased_id: int
    erased_key: int
    erased_member_of: str
    unknown_key: int

    @classmethod
    def load(cls, path: Path = SUBJECTS_FILE) -> SubjectConfig:
        return cls.model_validate(yaml.safe_load(path.read_text()))


class ErasureError(ValueError):
    pass


@dataclass(frozen=True)
class Subject:
    kind: str  # customer_id | email
    value: str

    @classmethod
    def parse(cls, text: str, config: SubjectConfig) -> Subject:
        kind, sep, value = text.partition("=")
        kinds = ["customer_id", *config.lookup]
        if not sep or kind not in kinds or not value.strip():
            raise ErasureError(f"--subject {text!r}: use one of {', '.join(f'{k}=VALUE' for k in kinds)}")
        if kind == "customer_id" and not value.strip().lstrip("-").isdigit():
            raise ErasureError(f"--subject {text!r}: customer_id must be an integer")
        return cls(kind, value.strip())


@dataclass
class Identity:
    """What identifies the person in stored data."""

    ids: list[int]
    emails: list[str]


@dataclass
class Target:
    label: str  # dataset, or quarantine/<dataset>
    uri: str
    action: str  # delete | rekey | raw (dead letters: delete the payloads that mention the person)
    id_columns: list[str] = field(default_factory=list)
    key_columns: list[str] = field(default_factory=list)  # re-pointed at the erased member
    email_columns: list[str] = field(default_factory=list)


def _query(table: DeltaTable, sql: str) -> pa.Table:
    return pa.RecordBatchReader.from_stream(QueryBuilder().register("t", table).execute(sql)).read_all()


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def resolve(lake: Lake, config: SubjectConfig, subject: Subject) -> Identity:
    ids: set[int] = {int(subject.value)} if subject.kind == "customer_id" else set()
    emails: set[str] = {subject.value} if subject.kind == "email" else set()
    for dataset in config.lookup.get("email", []):
        table = open_table(lake.uri(dataset), lake.storage_options)
        if table is None:
            continue
        if subject.kind == "email":
            found = _query(table, f"SELECT DISTINCT customer_id FROM t WHERE email = {_quote(subject.value)}")
            ids |= {v for v in found.column("customer_id").to_pylist() if v is not None}
    for dataset in config.lookup.get("email", []):  # the emails stored for those ids, all versions
        table = open_table(lake.uri(dataset), lake.storage_options)
        if table is not None and ids:
            found = _query(table, f"SELECT DISTINCT email FROM t WHERE {in_predicate('customer_id', ids)}")
            emails |= {v for v in found.column("email").to_pylist() if v}
    return Identity(sorted(ids), sorted(emails))


def _columns(uri: str, lake: Lake) -> list[str] | None:
    table = open_table(uri, lake.storage_options)
    return None if table is None else [f.name for f in table.schema().fields]


def plan(lake: Lake, contracts: dict[str, Contract], config: SubjectConfig) -> list[Target]:
    targets = []
    for dataset, contract in sorted(contracts.items()):
        id_columns = [c for c in config.id_columns if c in contract.column_names]
        has_pii = any(c.classification == Classification.PII for c in contract.columns)
        key_columns = [c.name for c in contract.columns if config.erased_member_of in c.lineage]
        if dataset == config.erased_member_of.rpartition(".")[0]:
            key_columns = []
        for label, uri in (
            (dataset, lake.uri(dataset)),
            (f"quarantine/{dataset}", lake.quarantine_uri(dataset)),
        ):
            present = _columns(uri, lake)
            if present is None or not any(c in present for c in id_columns):
                continue
            targets.append(
                Target(
                    label,
                    uri,
                    "delete" if has_pii else "rekey",
                    [c for c in id_columns if c in present],
                    [c for c in key_columns if c in present and not has_pii],
                    [c for c in present if c == "email"],
                )
            )
        if contract.ref.layer == "bronze":
            dlq = lake.uri(f"{dataset}_dlq")
            if _columns(dlq, lake) is not None:
                targets.append(Target(f"{dataset}_dlq", dlq, "raw"))
    return targets


def predicate(target: Target, identity: Identity) -> str:
    """SQL (delta-rs / DataFusion) selecting the subject's rows in the target."""
    if target.action == "raw":
        clauses = [f"_raw LIKE {_quote('%' + e + '%')}" for e in identity.emails]
        for cid in identity.ids:
            for column in ("customer_id", "Customer_Id__c"):
                clauses.append(f"""regexp_like(_raw, '"{column}": ?"?{cid}"?[,}}]')""")
        return " OR ".join(clauses) or "FALSE"
    clauses = [in_predicate(f'"{c}"', identity.ids) for c in target.id_columns if identity.ids]
    clauses += [in_predicate(f'"{c}"', identity.emails) for c in target.email_columns if identity.emails]
    return " OR ".join(clauses) or "FALSE"


def _count(table: DeltaTable, where: str) -> int:
    return int(_query(table, f"SELECT COUNT(*) AS n FROM t WHERE {where}").column("n")[0].as_py())


def _add_erased_member(lake: Lake, config: SubjectConfig) -> None:
    """The dimension's erased member: a copy of its unknown member under the erased key and id."""
    dataset, _, key = config.erased_member_of.rpartition(".")
    table = open_table(lake.uri(dataset), lake.storage_options)
    if table is None or _count(table, f'"{key}" = {config.erased_key}'):
        return
    unknown = _query(table, f'SELECT * FROM t WHERE "{key}" = {config.unknown_key}')
    if unknown.num_rows == 0:
        return
    member = unknown.slice(0, 1)
    for column, value in ((key, config.erased_key), ("customer_id", config.erased_id)):
        if column in member.column_names:
            index = member.column_names.index(column)
            member = member.set_column(index, column, pa.array([value], member.schema.field(column).type))
    write_deltalake(lake.uri(dataset), member, mode="append", storage_options=lake.storage_options or None)


def rewrite(lake: Lake, target: Target, identity: Identity, config: SubjectConfig) -> int:
    """Delete or re-key the subject's rows; returns how many rows were touched."""
    table = open_table(target.uri, lake.storage_options)
    assert table is not None
    where = predicate(target, identity)
    touched = _count(table, where)
    if not touched:
        return 0
    if target.action in ("delete", "raw"):
        table.delete(where)
    else:
        updates = {f'"{c}"': str(config.erased_id) for c in target.id_columns}
        updates |= {f'"{c}"': str(config.erased_key) for c in target.key_columns}
        table.update(updates=updates, predicate=where)
    return touched


def purge_history(lake: Lake, uri: str) -> int:
    """Remove every file the current version does not reference and the log entries before it."""
    table = open_table(uri, lake.storage_options)
    assert table is not None
    removed = table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True)
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    table.create_checkpoint()
    table.cleanup_metadata()
    table.alter.set_table_properties({"delta.logRetentionDuration": DEFAULT_LOG_RETENTION})
    return len(removed)


def _file_filter(target: Target, identity: Identity, names: list[str]) -> pc.Expression | None:
    clauses: list[pc.Expression] = []
    if target.action == "raw":
        if "_raw" in names:
            for email in identity.emails:
                clauses.append(pc.match_substring(pc.field("_raw"), email))
            for cid in identity.ids:
                for column in ("customer_id", "Customer_Id__c"):
                    clauses.append(pc.match_substring_regex(pc.field("_raw"), f'"{column}": ?"?{cid}"?[,}}]'))
    else:
        clauses += [pc.field(c).isin(identity.ids) for c in target.id_columns if c in names]
        clauses += [pc.field(c).isin(identity.emails) for c in target.email_columns if c in names]
    if not clauses:
        return None
    expression = clauses[0]
    for clause in clauses[1:]:
        expression = expression | clause
    return expression


def _file_holds(path: Path, target: Target, identity: Identity) -> bool:
    """One data file read directly from storage (only the identifying columns, one file at a time)."""
    names = pq.read_schema(path).names
    wanted = ["_raw"] if target.action == "raw" else [*target.id_columns, *target.email_columns]
    columns = [c for c in wanted if c in names]
    expression = _file_filter(target, identity, columns)
    if expression is None:
        return False
    table = pq.read_table(path, columns=columns)
    plain = pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_string_view(f.type) else f for f in table.schema]
    )
    return table.cast(plain).filter(expression).num_rows > 0


def verify(lake: Lake, targets: list[Target], identity: Identity) -> list[str]:
    """Where the subject can still be found: reachable versions, data files on storage, log files."""
    findings: list[str] = []
    for target in targets:
        table = open_table(target.uri, lake.storage_options)
        if table is None:
            continue
        where = predicate(target, identity)
        for version in range(table.version() + 1):
            try:
                old = DeltaTable(target.uri, version=version, storage_options=lake.storage_options or None)
            except Exception:  # log entries removed: the version is not reachable any more
                continue
            try:
                found = _count(old, where)
            except Exception:  # a data file of that version was vacuumed: not readable
                continue
            if found:
                findings.append(f"{target.label} version {version}: {found} row(s)")
        if lake.is_remote:
            continue  # data files on object storage: listed by the S3 lifecycle check (docs/governance.md)
        for path in sorted(Path(target.uri).rglob("*.parquet")):
            if "_delta_log" not in path.parts and _file_holds(path, target, identity):
                findings.append(f"{target.label}: data file {path.name} still holds the subject")
        log = Path(target.uri) / "_delta_log"
        for path in sorted(log.iterdir()) if log.is_dir() else []:
            content = path.read_bytes()
            if any(email.encode() in content for email in identity.emails):
                findings.append(f"{target.label}: log file {path.name} quotes the subject's email")
    return findings


@dataclass
class ErasureOutcome:
    identity: Identity
    rows: dict[str, int]  # per target label, rows deleted or re-keyed
    files_removed: int
    findings: list[str]


def erase(
    lake: Lake, contracts: dict[str, Contract], subject: Subject, config: SubjectConfig
) -> ErasureOutcome:
    identity = resolve(lake, config, subject)
    if not identity.ids and not identity.emails:
        return ErasureOutcome(identity, {}, 0, [])
    targets = plan(lake, contracts, config)
    rows = {t.label: rewrite(lake, t, identity, config) for t in targets}
    touched = {t.uri for t in targets if rows[t.label]}
    if any(rows[t.label] for t in targets if t.action == "rekey"):
        _add_erased_member(lake, config)
        touched.add(lake.uri(config.erased_member_of.rpartition(".")[0]))
    files = sum(purge_history(lake, uri) for uri in sorted(touched))
    return ErasureOutcome(
        identity, {k: v for k, v in rows.items() if v}, files, verify(lake, targets, identity)
    )
