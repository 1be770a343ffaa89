"""A DMS-like replication task: PostgreSQL logical replication (pgoutput) -> AWS DMS S3-style CSV files.

Layout under ``target_dir`` (as DMS writes under ``bucketFolder``)::

    <schema>/<table>/LOAD00000001.csv           full load (hex counter, LOAD0000000A after ...09)
    <schema>/<table>/<YYYYMMDD-HHMMSSfff>.csv   one CDC file per table per poll, names strictly increasing
    _dms_task/<slot>.json                       the task's own write-ahead state (not a DMS file)

CSV conventions, as DMS endpoint settings would name them:

- ``addColumnName=true``: a header row. DMS writes none by default; a header makes the files
  self-describing, so a column added mid-stream cannot silently shift values.
- ``includeOpForFullLoad=false`` (the DMS default): full-load rows have no ``Op`` column. The reader
  tells the two kinds apart by the header and gives full-load rows ``op = "I"``.
- ``timestampColumnName=_dms_commit_ts``, format ``yyyy-MM-dd HH:mm:ss.SSSSSS`` in UTC: the commit time
  of the source transaction for CDC rows. For full-load rows it is the task start time (taken just before
  the slot is created), like DMS's ``useTaskStartTimeForFullLoadTimestamp=true``: it is then never later
  than the commit time of a change that the full load does not contain.
- CDC rows: ``Op`` (I/U/D) first, then ``_dms_commit_ts``, then the table's columns; I and U carry the
  after image, D the before image (the table has ``REPLICA IDENTITY FULL``, so the whole row).
- ``csvNullValue='\\N'``: DMS writes NULL as an empty field by default, which cannot be told apart from
  an empty string; a marker keeps them distinct. (A text value that is literally ``\\N`` would read back
  as NULL, the same trade-off DMS's setting has.)
- Values are PostgreSQL's text output in a UTC session (the full load casts to text; pgoutput sends text).

Landing on S3 (``publish_to``, e.g. the platform's ``S3FileStore`` of the landing root): the folder above is
then the task's durable staging area, and every data file in it that the store lacks is PUT there (one
PUT per file, so an object appears whole, as a DMS file does) after the files are durable: at the end of
``full_load`` and ``poll`` and on restart. A crash before a PUT is repaired by the next one; a file is
never PUT before it is complete.

Consistency: ``full_load`` creates the logical slot first (exporting its snapshot) and copies the tables
inside that snapshot, so every change is either in the full load or in the stream, never both. ``poll``
acknowledges an LSN (``flush_lsn``) only after the files holding those transactions are durable (temp
name, fsync, atomic rename). The state file is written before the renames, so a crash between rename and
acknowledgement is repaired on restart (renames rolled forward, re-sent transactions skipped): no change
is lost and none is written twice.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import select
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg2
import psycopg2.extras
from psycopg2 import sql

TIMESTAMP_COLUMN = "_dms_commit_ts"
NULL_VALUE = "\\N"
FULL_LOAD_PREFIX = "LOAD"
STATE_DIR = "_dms_task"
SESSION_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO,YMD"  # fixes the text form of timestamps
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_CDC_NAME = re.compile(r"^(\d{8}-\d{9})\.csv$")


class DmsTaskError(RuntimeError):
    """The task cannot go on; the message names the slot, table or file."""


# --- pgoutput (protocol version 1) decoding -------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    table: str
    columns: tuple[str, ...]


@dataclass
class RowChange:
    op: str  # I, U or D
    relation: Relation
    values: tuple[str | None, ...]


@dataclass
class Transaction:
    commit_ts: datetime
    end_lsn: int = 0
    changes: list[RowChange] = field(default_factory=list)


class _Reader:
    """Cursor over one pgoutput message body (network byte order)."""

    def __init__(self, payload: bytes) -> None:
        self.buf = payload
        self.pos = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from("!" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("!" + fmt)
        return int(value)

    def byte(self) -> str:
        value = chr(self.buf[self.pos])
        self.pos += 1
        return value

    def string(self) -> str:
        end = self.buf.index(b"\0", self.pos)
        value = self.buf[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return value

    def tuple_data(self) -> list[tuple[str, str | None]]:
        columns = []
        for _ in range(self.take("h")):
            kind = self.byte()
            if kind == "t":
                length = self.take("i")
                columns.append((kind, self.buf[self.pos : self.pos + length].decode("utf-8")))
                self.pos += length
            else:  # "n" NULL, "u" unchanged TOASTed value (filled from the old image below)
                columns.append((kind, None))
        return columns


def _timestamp(micros: int) -> datetime:
    return _PG_EPOCH + timedelta(microseconds=micros)


class PgOutputDecoder:
    """Turns pgoutput messages into complete transactions, keeping the relation cache between calls."""

    def __init__(self) -> None:
        self.relations: dict[int, Relation] = {}
        self.open: Transaction | None = None

    def feed(self, payload: bytes) -> Transaction | None:
        """Decodes one message; returns the transaction when ``payload`` is its Commit."""
        r = _Reader(payload)
        kind = r.byte()
        if kind == "B":
            r.take("q")  # final LSN of the transaction
            self.open = Transaction(commit_ts=_timestamp(r.take("q")))
        elif kind == "C":
            r.take("b")  # flags
            r.take("q")  # commit LSN
            end_lsn = r.take("q")
            done, self.open = self._require_open("Commit"), None
            done.end_lsn = end_lsn
            return done
        elif kind == "R":
            oid = r.take("I")
            schema, table = r.string(), r.string()
            r.take("b")  # replica identity setting
            names = []
            for _ in range(r.take("h")):
                r.take("b")  # flags (part of the key)
                names.append(r.string())
                r.take("I")  # type oid
                r.take("i")  # type modifier
            self.relations[oid] = Relation(oid, schema or "public", table, tuple(names))
        elif kind in "IUD":
            self._row(kind, r)
        # "Y" (type), "O" (origin), "M" (message), "T" (truncate): DMS's S3 target writes no rows for them.
        return None

    def _row(self, kind: str, r: _Reader) -> None:
        txn = self._require_open(f"{kind} message")
        oid = r.take("I")
        relation = self.relations.get(oid)
        if relation is None:
            raise DmsTaskError(
                f"pgoutput sent a {kind} row for relation oid {oid} before its Relation message"
            )
        old: list[tuple[str, str | None]] | None = None
        marker = r.byte()
        if kind in "UD" and marker in "KO":
            old = r.tuple_data()
            marker = r.byte() if kind == "U" else marker
        if kind == "D":
            if old is None:
                raise DmsTaskError(f"delete on {relation.schema}.{relation.table} carried no old row image")
            values = [v for _, v in old]
        else:
            if marker != "N":
                raise DmsTaskError(
                    f"{kind} on {relation.schema}.{relation.table}: expected new tuple, got {marker!r}"
                )
            new = r.tuple_data()
            values = []
            for index, (kind_of, value) in enumerate(new):
                if kind_of == "u":  # unchanged TOAST: REPLICA IDENTITY FULL sends it in the old image
                    if old is None:
                        raise DmsTaskError(
                            f"update on {relation.schema}.{relation.table}: column {relation.columns[index]} "
                            "is an unchanged TOAST value and no old image was sent (needs REPLICA IDENTITY FULL)"
                        )
                    value = old[index][1]
                values.append(value)
        txn.changes.append(RowChange(kind, relation, tuple(values)))

    def _require_open(self, what: str) -> Transaction:
        if self.open is None:
            raise DmsTaskError(f"pgoutput sent a {what} outside a transaction")
        return self.open


# --- files -----------------------------------------------------------------------------------------------


def format_commit_ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _csv_cell(value: str | None) -> str:
    return NULL_VALUE if value is None else value


def _write_durably(path: Path, write_rows: Callable[[Any], None]) -> Path:
    """Writes ``<path>.tmp`` and fsyncs it; the caller renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    with temp.open("w", encoding="utf-8", newline="") as handle:
        write_rows(csv.writer(handle, lineterminator="\n"))
        handle.flush()
        os.fsync(handle.fileno())
    return temp


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LandingStore(Protocol):
    """Where the files are published (an S3 prefix): its listing's keys, and one PUT per file."""

    def list(self, prefix: str) -> Any: ...  # objects with a ``key`` relative to the store's root

    def put(self, key: str, data: bytes) -> None: ...


# --- the task --------------------------------------------------------------------------------------------


class DmsTask:
    """Full load + CDC of the tables in ``publication`` into ``target_dir``, through slot ``slot``."""

    def __init__(
        self,
        dsn: str,
        slot: str,
        publication: str,
        target_dir: Path | str,
        max_rows_per_load_file: int = 100_000,
        publish_to: LandingStore | None = None,
    ) -> None:
        self.dsn = dsn
        self.slot = slot
        self.publication = publication
        self.target_dir = Path(target_dir)
        self.max_rows_per_load_file = max_rows_per_load_file
        self.publish_to = publish_to
        self._decoder = PgOutputDecoder()
        self._repl_conn: psycopg2.extensions.connection | None = None
        self._repl_cur: psycopg2.extras.ReplicationCursor | None = None
        self._skip_through_lsn = 0  # set by crash recovery: transactions already in files
        self._recovered = False
        self.skipped_transactions = 0  # re-sent after a crash and already in files
        self.acknowledged_lsn = 0

    @property
    def state_file(self) -> Path:
        return self.target_dir / STATE_DIR / f"{self.slot}.json"

    # -- full load ---------------------------------------------------------------------------------------
    def full_load(self, on_slot_created: Callable[[], None] | None = None) -> list[Path]:
        """Creates the slot, then copies every published table as of the slot's consistent point.

        ``on_slot_created`` runs after the slot exists and before the copy (tests use it to change the
        table in between: those changes must appear in CDC, not in the full load).
        """
        with contextlib.closing(psycopg2.connect(self.dsn, options=SESSION_OPTIONS)) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT clock_timestamp()")
                task_start: datetime = cur.fetchone()[0]
                cur.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
                if cur.fetchone():
                    raise DmsTaskError(
                        f"replication slot {self.slot!r} already exists: full load needs a new slot"
                    )
            conn.rollback()
        repl = psycopg2.connect(
            self.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection, options=SESSION_OPTIONS
        )
        try:
            with repl.cursor() as rcur:
                # The exported snapshot stays valid while this connection is open and idle.
                rcur.execute(f"CREATE_REPLICATION_SLOT {self.slot} LOGICAL pgoutput EXPORT_SNAPSHOT")
                _, consistent_point, snapshot_name, _ = rcur.fetchone()
                if on_slot_created is not None:
                    on_slot_created()
                written = self._copy_snapshot(snapshot_name, task_start)
        finally:
            repl.close()
        self._write_state({"consistent_point": consistent_point, "end_lsn": 0, "pending": []})
        self._publish()
        return written

    def _copy_snapshot(self, snapshot_name: str, task_start: datetime) -> list[Path]:
        written: list[Path] = []
        with contextlib.closing(psycopg2.connect(self.dsn, options=SESSION_OPTIONS)) as conn:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
                cur.execute(
                    "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1, 2",
                    (self.publication,),
                )
                tables = cur.fetchall()
            if not tables:
                raise DmsTaskError(f"publication {self.publication!r} has no tables (or does not exist)")
            for schema, table in tables:
                written += self._copy_table(conn, schema, table, format_commit_ts(task_start))
            conn.rollback()
        return written

    def _copy_table(
        self, conn: psycopg2.extensions.connection, schema: str, table: str, ts: str
    ) -> list[Path]:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attnum",
                (sql.Identifier(schema, table).as_string(conn),),
            )
            columns = [name for (name,) in cur.fetchall()]
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns),
            sql.Identifier(schema, table),
        )
        folder = self.target_dir / schema / table
        header = [TIMESTAMP_COLUMN, *columns]
        written: list[Path] = []
        # A server-side cursor streams the table: memory stays bounded whatever its size.
        with conn.cursor(name=f"dms_full_load_{table}") as cur:
            cur.itersize = 5000
            cur.execute(query)
            rows = iter(cur)
            exhausted = False
            while not exhausted:
                chunk = []
                for row in rows:
                    chunk.append([ts, *(_csv_cell(v) for v in row)])
                    if len(chunk) >= self.max_rows_per_load_file:
                        break
                else:
                    exhausted = True
                if not chunk and written:
                    break
                path = folder / f"{FULL_LOAD_PREFIX}{len(written) + 1:08X}.csv"

                def write(writer: Any, chunk: list[list[str]] = chunk) -> None:
                    writer.writerow(header)
                    writer.writerows(chunk)

                _write_durably(path, write).replace(path)
                written.append(path)
        _fsync_dir(folder)
        return written

    # -- CDC -----------------------------------------------------------------------------------------------
    def poll(self, timeout_seconds: float = 5.0) -> list[Path]:
        """Reads the slot until caught up with the server's WAL (or the timeout), writes one CDC file per
        table with changes, and only then acknowledges. Returns the files written, in name order."""
        self._recover_once()
        cur = self._replication_cursor()
        target_lsn = self._server_wal_lsn()
        deadline = time.monotonic() + timeout_seconds
        done: list[Transaction] = []
        last_end_lsn = 0  # of every complete transaction seen, written or skipped
        while True:
            message = cur.read_message()
            if message is not None:
                txn = self._decoder.feed(message.payload)
                if txn is not None:
                    last_end_lsn = txn.end_lsn
                    if txn.end_lsn > self._skip_through_lsn:
                        done.append(txn)
                    else:  # already in a file: the crash came before the acknowledgement
                        self.skipped_transactions += 1
                continue
            caught_up = self._decoder.open is None and cur.wal_end >= target_lsn
            remaining = deadline - time.monotonic()
            if caught_up or remaining <= 0:
                break
            select.select([cur], [], [], min(remaining, 0.2))
        written = self._write_cdc(done) if any(t.changes for t in done) else []
        if last_end_lsn:
            self._acknowledge(cur, last_end_lsn)
        self._publish()
        return written

    def close(self) -> None:
        if self._repl_conn is not None:
            self._repl_conn.close()
        self._repl_conn = None
        self._repl_cur = None

    def __enter__(self) -> DmsTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _replication_cursor(self) -> psycopg2.extras.ReplicationCursor:
        if self._repl_cur is None:
            self._repl_conn = psycopg2.connect(
                self.dsn,
                connection_factory=psycopg2.extras.LogicalReplicationConnection,
                options=SESSION_OPTIONS,
            )
            self._repl_cur = self._repl_conn.cursor()
            try:
                # start_lsn 0: the server resumes at the slot's confirmed_flush_lsn.
                self._repl_cur.start_replication(
                    slot_name=self.slot,
                    decode=False,
                    options={"proto_version": "1", "publication_names": self.publication},
                )
            except psycopg2.Error as exc:
                self.close()
                raise DmsTaskError(
                    f"cannot stream from replication slot {self.slot!r}: {exc}".strip()
                ) from exc
        return self._repl_cur

    def _server_wal_lsn(self) -> int:
        with contextlib.closing(psycopg2.connect(self.dsn)) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            return int(cur.fetchone()[0])

    def _acknowledge(self, cur: psycopg2.extras.ReplicationCursor, lsn: int) -> None:
        self.acknowledged_lsn = max(self.acknowledged_lsn, lsn)
        cur.send_feedback(write_lsn=lsn, flush_lsn=lsn, force=True)

    def _write_cdc(self, transactions: list[Transaction]) -> list[Path]:
        transactions = [t for t in transactions if t.changes]
        # Group rows per table in commit order; a column change (ALTER TABLE) starts a new file.
        segments: list[tuple[Relation, list[list[str]]]] = []
        last_segment: dict[tuple[str, str], int] = {}
        for txn in transactions:
            ts = format_commit_ts(txn.commit_ts)
            for change in txn.changes:
                key = (change.relation.schema, change.relation.table)
                index = last_segment.get(key)
                if index is None or segments[index][0].columns != change.relation.columns:
                    segments.append((change.relation, []))
                    index = last_segment[key] = len(segments) - 1
                segments[index][1].append([change.op, ts, *(_csv_cell(v) for v in change.values)])
        planned: list[tuple[Path, Path]] = []
        for relation, rows in segments:
            path = self._next_cdc_path(relation, [p for p, _ in planned])
            header = ["Op", TIMESTAMP_COLUMN, *relation.columns]

            def write(writer: Any, rows: list[list[str]] = rows, header: list[str] = header) -> None:
                writer.writerow(header)
                writer.writerows(rows)

            planned.append((path, _write_durably(path, write)))
        end_lsn = max(t.end_lsn for t in transactions)
        # Write-ahead: the state names the files before they appear, so recovery can finish the renames.
        self._write_state(
            {"end_lsn": end_lsn, "pending": [str(p.relative_to(self.target_dir)) for p, _ in planned]}
        )
        for path, temp in planned:
            temp.replace(path)
        for folder in {path.parent for path, _ in planned}:
            _fsync_dir(folder)
        return [path for path, _ in planned]

    def _next_cdc_path(self, relation: Relation, taken: list[Path]) -> Path:
        folder = self.target_dir / relation.schema / relation.table
        names = [p.name for p in taken if p.parent == folder]
        if folder.exists():
            names += [p.name for p in folder.iterdir()]
        latest = max((m.group(1) for n in names if (m := _CDC_NAME.match(n))), default="")
        stamp = datetime.now(UTC)
        candidate = stamp.strftime("%Y%m%d-%H%M%S") + f"{stamp.microsecond // 1000:03d}"
        if candidate <= latest:  # same millisecond or a clock step back: keep names strictly increasing
            after = datetime.strptime(latest + "000", "%Y%m%d-%H%M%S%f") + timedelta(milliseconds=1)
            candidate = after.strftime("%Y%m%d-%H%M%S") + f"{after.microsecond // 1000:03d}"
        return folder / f"{candidate}.csv"

    def _publish(self) -> list[str]:
        """PUT the durable data files the store lacks, table by table in name order; returns their keys."""
        if self.publish_to is None:
            return []
        put: list[str] = []
        for folder in sorted(
            p for p in self.target_dir.glob("*/*") if p.is_dir() and p.parent.name != STATE_DIR
        ):
            prefix = f"{folder.parent.name}/{folder.name}"
            present = {obj.key for obj in self.publish_to.list(prefix)}
            for path in sorted(folder.glob("*.csv")):  # not *.csv.tmp: a file still being written
                key = f"{prefix}/{path.name}"
                if key not in present:
                    self.publish_to.put(key, path.read_bytes())
                    put.append(key)
        return put

    # -- state and recovery ----------------------------------------------------------------------------
    def _write_state(self, state: dict[str, object]) -> None:
        path = self.state_file
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".tmp")
        previous = self._read_state()
        temp.write_text(json.dumps({**previous, **state, "slot": self.slot}, indent=2), encoding="utf-8")
        with temp.open("rb") as handle:
            os.fsync(handle.fileno())
        temp.replace(path)

    def _read_state(self) -> dict[str, object]:
        if not self.state_file.exists():
            return {}
        try:
            return dict(json.loads(self.state_file.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise DmsTaskError(f"task state file {self.state_file} is not valid JSON: {exc}") from exc

    def _recover_once(self) -> None:
        """Finishes renames a crash interrupted and skips transactions that are already in files."""
        if self._recovered:
            return
        self._recovered = True
        state = self._read_state()
        for relative in state.get("pending", []) or []:
            path = self.target_dir / str(relative)
            temp = path.with_name(path.name + ".tmp")
            if not path.exists():
                if not temp.exists():
                    raise DmsTaskError(f"task state lists {path} but neither it nor {temp.name} exists")
                temp.replace(path)
        self._skip_through_lsn = int(state.get("end_lsn", 0) or 0)  # type: ignore[call-overload]
        # Temp files that no state names are from a crash before the state write: they will be rewritten.
        for temp in self.target_dir.glob("*/*/*.csv.tmp"):
            temp.unlink()
        self._publish()  # files made durable before a crash but not PUT yet
