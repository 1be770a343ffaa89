"""Reads changed rows from a Snowflake table, incremental by an ``updated_at`` watermark.

Each extraction runs ``SELECT ... FROM <table> WHERE <updated_at> >= <watermark> ORDER BY <updated_at>,
<key>`` and drops the keys the watermark already delivered at its timestamp (see
``platform_assets.sources.watermark``): ties are neither lost nor duplicated. Only the latest version of a
row is visible, so versions overwritten at the source between two extractions are not returned (the
source no longer has them). Deletes are invisible to a watermark query; tables that delete need a
soft-delete column or a stream.

``updated_at`` is read as ``TIMESTAMP_NTZ`` holding UTC (naive values are taken as UTC; aware values are
converted). Column names come back lower-cased (Snowflake folds unquoted identifiers to upper case).

TLS: the connector always verifies the server's certificate. It has no CA-bundle parameter: its vendored
``requests`` reads ``REQUESTS_CA_BUNDLE`` on every request, so ``ca_path`` (the sandbox's CA) is set there
for this process (a bundle already set there is kept, combined with ``ca_path`` in one file).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from platform_assets.sources.errors import (
    SourceAuthError,
    SourceError,
    SourceRequestError,
    SourceResponseError,
    SourceTlsError,
    SourceUnavailableError,
)
from platform_assets.sources.watermark import ChangeBatch, Watermark

SOURCE = "snowflake"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
# Snowflake error numbers that mean "your credentials or token were refused".
AUTH_ERRNOS = frozenset({390100, 390101, 390102, 390114, 390144, 390195, 390303, 390318})


class SnowflakeAuthError(SourceAuthError):
    """Snowflake refused the credentials. Retrying cannot help."""

    def __init__(self, url: str, detail: str) -> None:
        SourceError.__init__(
            self,
            SOURCE,
            url,
            f"{SOURCE}: login to {url} was refused ({detail}); check the {SOURCE} credentials",
        )
        self.status = 401


class SnowflakeQueryError(SourceRequestError):
    """Snowflake rejected a statement (missing table or column, SQL error): a bug or bad setting on our side."""

    def __init__(self, url: str, table: str, errno: int | None, detail: str) -> None:
        SourceError.__init__(
            self, SOURCE, url, f"{SOURCE}: query on {table} failed (error {errno}): {detail}"
        )
        self.status = errno or 0
        self.body_excerpt = detail
        self.table = table


def _checked_name(name: str, what: str) -> str:
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(_IDENT.match(p) for p in parts):
        raise ValueError(f"{SOURCE}: {what} {name!r} is not a plain (optionally qualified) identifier")
    return name


def build_changes_sql(
    table: str, columns: Sequence[str] | None, key_column: str, updated_at_column: str, has_watermark: bool
) -> str:
    selected = ", ".join(columns) if columns else "*"
    where = f" WHERE {updated_at_column} >= %(watermark)s" if has_watermark else ""
    return f"SELECT {selected} FROM {table}{where} ORDER BY {updated_at_column}, {key_column}"


def _as_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _trust(ca_path: str | None) -> None:
    """Make the connector's ``requests`` verify against ``ca_path`` (see the module docstring). A bundle
    already in ``REQUESTS_CA_BUNDLE`` (e.g. the system store) is kept: both go into one combined file."""
    if ca_path is None:
        return
    current = os.environ.get("REQUESTS_CA_BUNDLE")
    if not current or current == ca_path or current == _COMBINED.get(ca_path):
        os.environ["REQUESTS_CA_BUNDLE"] = current or ca_path
        return
    combined = Path(tempfile.gettempdir()) / f"platform-ca-{os.getpid()}-{abs(hash((current, ca_path)))}.pem"
    combined.write_bytes(Path(current).read_bytes() + b"\n" + Path(ca_path).read_bytes())
    _COMBINED[ca_path] = str(combined)
    os.environ["REQUESTS_CA_BUNDLE"] = str(combined)


_COMBINED: dict[str, str] = {}  # the sandbox CA -> the combined bundle made for it in this process


class SnowflakeConnector:
    def __init__(
        self,
        account: str,
        user: str,
        password: str,
        database: str | None = None,
        schema: str | None = None,
        warehouse: str | None = None,
        role: str | None = None,
        host: str | None = None,
        port: int | None = None,
        protocol: str = "https",
        login_timeout_seconds: int = 30,
        network_timeout_seconds: int = 60,
        ca_path: str | None = None,
    ) -> None:
        self._ca_path = ca_path
        self._params: dict[str, Any] = {
            "account": account,
            "user": user,
            "password": password,
            "database": database,
            "schema": schema,
            "warehouse": warehouse,
            "role": role,
            "host": host,
            "port": port,
            "protocol": protocol,
            "login_timeout": login_timeout_seconds,
            "network_timeout": network_timeout_seconds,
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        }
        self._params = {k: v for k, v in self._params.items() if v is not None}
        where = f"{host}:{port}" if host else f"{account}.snowflakecomputing.com"
        self.url = f"snowflake://{user}@{where}/{database or ''}/{schema or ''}".rstrip("/")
        self._conn: Any = None

    def fetch_changes(
        self,
        table: str,
        watermark: Watermark | None,
        *,
        key_column: str = "product_id",
        updated_at_column: str = "updated_at",
        columns: Sequence[str] | None = None,
    ) -> ChangeBatch:
        """Rows of ``table`` whose ``updated_at_column`` moved past ``watermark``, latest version each."""
        _checked_name(table, "table")
        for name in (key_column, updated_at_column, *(columns or ())):
            _checked_name(name, "column")
        if columns and not {key_column.lower(), updated_at_column.lower()} <= {c.lower() for c in columns}:
            raise ValueError(
                f"{SOURCE}: columns for {table} must include {key_column} and {updated_at_column}"
            )
        sql = build_changes_sql(table, columns, key_column, updated_at_column, watermark is not None)
        # The column is TIMESTAMP_NTZ in UTC: compare with a naive UTC value.
        params = {"watermark": watermark.timestamp.replace(tzinfo=None)} if watermark else None
        rows = self._query(table, sql, params)

        key, stamp_column = key_column.lower(), updated_at_column.lower()

        def stamped() -> Iterator[tuple[dict[str, Any], tuple[datetime, str]]]:
            for index, row in enumerate(rows):
                record = {str(k).lower(): v for k, v in row.items()}
                ts = _as_utc(record.get(stamp_column))
                if ts is None or record.get(key) is None:
                    raise SourceResponseError(
                        SOURCE,
                        self.url,
                        f"{table} row {index} has no {key_column} or a non-timestamp {updated_at_column}: "
                        f"{record!r:.200}",
                    )
                yield record, (ts, str(record[key]))

        return ChangeBatch.after(SOURCE, table, watermark, stamped())

    def _connection(self) -> Any:
        if self._conn is None:
            import snowflake.connector  # heavy import: only when a Snowflake asset runs
            from snowflake.connector.errors import DatabaseError

            _trust(self._ca_path)
            try:
                self._conn = snowflake.connector.connect(**self._params)
            except DatabaseError as exc:
                if "certificate verify failed" in str(exc):
                    detail = "certificate verify failed"
                    raise SourceTlsError(
                        SOURCE, self.url, detail, "SNOWFLAKE_CA_PATH (or PLATFORM_CA_PATH)"
                    ) from exc
                if exc.errno in AUTH_ERRNOS:
                    raise SnowflakeAuthError(self.url, exc.raw_msg or str(exc)) from exc
                raise SourceUnavailableError(SOURCE, self.url, 1, f"connect failed: {exc}") from exc
        return self._conn

    def _query(self, table: str, sql: str, params: dict[str, Any] | None) -> list[dict[str, Any]]:
        from snowflake.connector import DictCursor
        from snowflake.connector.errors import DatabaseError, OperationalError, ProgrammingError

        conn = self._connection()
        try:
            with conn.cursor(DictCursor) as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        except ProgrammingError as exc:
            if exc.errno in AUTH_ERRNOS:
                raise SnowflakeAuthError(self.url, exc.raw_msg or str(exc)) from exc
            raise SnowflakeQueryError(self.url, table, exc.errno, exc.raw_msg or str(exc)) from exc
        except (OperationalError, DatabaseError) as exc:
            raise SourceUnavailableError(SOURCE, self.url, 1, f"query on {table}: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SnowflakeConnector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
