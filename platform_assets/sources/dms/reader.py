"""Reads one table's AWS DMS landing prefix: which files are new, and the change records in each.

DMS writes, per source table, ``LOAD<8 hex>.csv`` full-load files and ``<YYYYMMDD-HHMMSS...>.csv`` CDC
files. The files this platform expects (see ``sandbox/services/dms_task.py`` for the producer side):

- a header row (DMS ``addColumnName=true``);
- CDC rows start with ``Op`` (I/U/D) then the commit timestamp column (``timestampColumnName``), then the
  table's columns; full-load rows have no ``Op`` (``includeOpForFullLoad=false``) unless the header says so;
- NULL is written as a marker (``csvNullValue``), ``\\N`` by default, so NULL and '' stay distinct.

Listing goes through a ``FileStore`` so an S3 listing (key, LastModified, size, ETag) can replace the local
one without touching the ordering or parsing rules here; which files are new is ``discovery.py``'s job.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Collection, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TextIO

from platform_assets.sources.dms.discovery import ProcessedFiles

DEFAULT_TIMESTAMP_COLUMN = "_dms_commit_ts"
DEFAULT_NULL_VALUE = "\\N"
OPS = frozenset({"I", "U", "D"})
RESERVED = ("op", "commit_ts", "_file", "_row")

# op, commit_ts and the columns are text (None for NULL); _row is an int.
DmsRecord = dict[str, str | int | None]

_FULL_LOAD_NAME = re.compile(r"^LOAD[0-9A-F]{8}\.csv$")
_CDC_NAME = re.compile(r"^\d{8}-\d{6,}\.csv$")
# Files are read as UTF-8 with undecodable bytes kept as lone surrogates, so that the reader can name the
# row and column of a bad byte (a strict decoder fails on a whole chunk, rows before the bad one).
TEXT_ENCODING = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}
_UNDECODED = re.compile("[\udc80-\udcff]")


class DmsFileError(ValueError):
    """A DMS file cannot be read as expected; names the file and, when known, the row."""

    def __init__(self, file: str, message: str, row: int | None = None) -> None:
        where = f"{file}, row {row}" if row is not None else file
        super().__init__(f"DMS file {where}: {message}")
        self.file = file
        self.detail = message  # without the file and row: the error can be raised again elsewhere
        self.row = row


@dataclass(frozen=True)
class StoredObject:
    """One entry of a store listing (what an S3 ListObjectsV2 page gives: key, LastModified, size, ETag)."""

    key: str
    last_modified: datetime
    size: int
    etag: str = ""


class FileStore(Protocol):
    def list(self, prefix: str) -> Iterable[StoredObject]: ...

    def open_text(self, key: str) -> AbstractContextManager[TextIO]: ...

    def hadoop_uri(self, key: str) -> str:
        """The object's address for a Hadoop filesystem (what an engine's file reader is given)."""
        ...


@dataclass(frozen=True)
class LocalFileStore:
    """A folder as a store: keys are paths relative to ``root`` with ``/`` separators."""

    root: Path

    def list(self, prefix: str) -> Iterator[StoredObject]:
        folder = self.root / prefix if prefix else self.root
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            if path.is_file():
                stat = path.stat()
                yield StoredObject(
                    key=path.relative_to(self.root).as_posix(),
                    last_modified=datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=UTC),
                    size=stat.st_size,
                    etag=_md5(path),  # what S3 gives as the ETag of a single-part upload
                )

    def open_text(self, key: str) -> AbstractContextManager[TextIO]:
        # newline="" lets the csv module handle line breaks inside quoted values.
        return (self.root / key).open("r", **TEXT_ENCODING)

    def hadoop_uri(self, key: str) -> str:
        return (self.root / key).resolve().as_uri()


@dataclass(frozen=True)
class BytesFileStore:
    """Files already in memory (an engine task's ``binaryFile`` rows), read with the same rules."""

    contents: dict[str, bytes] = field(default_factory=dict)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        raise NotImplementedError("a BytesFileStore holds given files; it is not listed")

    def open_text(self, key: str) -> AbstractContextManager[TextIO]:
        return io.TextIOWrapper(io.BytesIO(self.contents[key]), **TEXT_ENCODING)  # as LocalFileStore

    def hadoop_uri(self, key: str) -> str:
        raise NotImplementedError("a BytesFileStore's files have no address")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class DmsFile:
    key: str
    name: str
    last_modified: datetime
    size: int
    is_full_load: bool
    store: FileStore = field(compare=False, repr=False)
    etag: str = ""


def list_files(prefix: str | Path, store: FileStore | None = None) -> list[DmsFile]:
    """Every DMS data file under ``prefix``, in listing order. Without ``store``, a local folder."""
    if store is None:
        store, prefix = LocalFileStore(Path(prefix)), ""
    files = []
    for obj in store.list(str(prefix)):
        name = obj.key.rsplit("/", 1)[-1]
        full_load = bool(_FULL_LOAD_NAME.match(name))
        if not full_load and not _CDC_NAME.match(name):
            continue  # temp files, task state, anything that is not a DMS data file
        files.append(DmsFile(obj.key, name, obj.last_modified, obj.size, full_load, store, obj.etag))
    return files


def list_new_files(
    prefix: str | Path,
    processed: ProcessedFiles | None = None,
    store: FileStore | None = None,
) -> list[DmsFile]:
    """DMS data files under ``prefix`` not in ``processed``, in DMS order: full-load files first (CDC
    rows are changes on top of them), then CDC files by name, whatever the files' timestamps say."""
    return (processed or ProcessedFiles()).pending(list_files(prefix, store))


def read_changes(
    file: DmsFile,
    timestamp_column: str = DEFAULT_TIMESTAMP_COLUMN,
    null_value: str = DEFAULT_NULL_VALUE,
    required_columns: Collection[str] = (),
) -> list[DmsRecord]:
    """The file's records in order: ``op``, ``commit_ts``, each column as text as written (the NULL
    marker becomes None), ``_file`` (the key) and ``_row`` (1-based data row, the header not counted).

    A header lacking one of ``required_columns`` stops the read: a column missing from the file is
    not a NULL, and reading it as one would overwrite stored values downstream."""
    with file.store.open_text(file.key) as handle:
        rows = csv.reader(handle, strict=True)
        try:
            header = next(rows)
        except StopIteration:
            raise DmsFileError(file.key, "is empty: expected a header row (addColumnName=true)") from None
        except csv.Error as exc:
            raise DmsFileError(file.key, f"unreadable header: {exc}") from exc
        _require_utf8(file, header, None, header)
        has_op, columns = _parse_header(file, header, timestamp_column)
        _require_columns(file, columns, required_columns)
        records = []
        row_number = 0
        while True:
            row_number += 1
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                raise DmsFileError(file.key, f"malformed CSV: {exc}", row_number) from exc
            _require_utf8(file, row, row_number, header)
            records.append(_record(file, row, row_number, has_op, columns, null_value))
    return records


def _parse_header(file: DmsFile, header: list[str], timestamp_column: str) -> tuple[bool, list[str]]:
    has_op = bool(header) and header[0] == "Op"
    if not has_op and not file.is_full_load:
        raise DmsFileError(file.key, f"CDC file header must start with Op, got {header[:3]}")
    rest = header[1:] if has_op else header
    if not rest or rest[0] != timestamp_column:
        raise DmsFileError(
            file.key, f"expected the timestamp column {timestamp_column!r} next, got {rest[:1]}"
        )
    columns = rest[1:]
    clashes = sorted(set(columns) & set(RESERVED))
    if clashes or len(set(columns)) != len(columns):
        raise DmsFileError(file.key, f"header has duplicate or reserved column names: {clashes or columns}")
    return has_op, columns


def _require_utf8(file: DmsFile, row: list[str], row_number: int | None, header: list[str]) -> None:
    """A value with bytes that are not UTF-8 stops the read, naming its row, column and first bad byte."""
    if not _UNDECODED.search("".join(row)):
        return
    index, value = next((i, v) for i, v in enumerate(row) if _UNDECODED.search(v))
    bad = _UNDECODED.search(value)
    assert bad is not None
    column = header[index] if row_number is not None and index < len(header) else f"header field {index + 1}"
    raise DmsFileError(
        file.key,
        f"column {column!r} is not UTF-8 text (byte 0x{ord(bad.group()) - 0xDC00:02x} at character "
        f"{bad.start() + 1}); DMS writes UTF-8: check the task's source encoding",
        row_number,
    )


def _require_columns(file: DmsFile, columns: list[str], required: Collection[str]) -> None:
    missing = [name for name in required if name not in columns]
    if missing:
        raise DmsFileError(
            file.key,
            f"header lacks column(s) {missing} (it has {columns}); a missing column is not a NULL, "
            "so the file is not read: fix the DMS task's table mapping, or the contract",
        )


def _record(
    file: DmsFile, row: list[str], row_number: int, has_op: bool, columns: list[str], null_value: str
) -> DmsRecord:
    expected = len(columns) + (2 if has_op else 1)
    if len(row) != expected:
        raise DmsFileError(file.key, f"has {len(row)} values, the header has {expected} columns", row_number)
    op = row[0] if has_op else "I"  # full-load rows are inserts
    if op not in OPS:
        raise DmsFileError(file.key, f"unknown Op {op!r} (expected I, U or D)", row_number)
    values = row[2:] if has_op else row[1:]
    record: DmsRecord = {"op": op, "commit_ts": row[1] if has_op else row[0]}
    record.update(
        (name, None if value == null_value else value) for name, value in zip(columns, values, strict=True)
    )
    record["_file"] = file.key
    record["_row"] = row_number
    return record
