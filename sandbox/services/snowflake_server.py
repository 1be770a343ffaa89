"""The sandbox Snowflake warehouse: ``fakesnow`` in server mode (a subprocess speaking the Snowflake
connector's HTTP protocol, backed by DuckDB) plus helpers that load and change the product catalogue.

Connect with ``snowflake.connector.connect(**server.conn_params)`` (``account="fakesnow"``,
``host=127.0.0.1``, ``protocol="http"``). Data lives in memory and disappears when the server stops.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox.generator.products import COLUMNS, ProductsDataset, Row
from sandbox.services.ports import free_port

DATABASE = "SANDBOX"
SCHEMA = "CATALOG"
TABLE = "PRODUCTS"
PRODUCTS_DDL = """
create or replace table {table} (
    product_id number(38, 0) not null,
    sku varchar not null,
    name varchar,
    category varchar,
    list_price number(12, 2),
    currency varchar(3),
    updated_at timestamp_ntz(6) not null
)
"""


class FakeSnowflakeServer:
    """``fakesnow -s`` on a free loopback port, started as a subprocess and stopped with SIGINT."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def conn_params(self) -> dict[str, Any]:
        """Keyword arguments for ``snowflake.connector.connect`` (and ``SnowflakeConnector``)."""
        if self.port is None or self._process is None:
            raise RuntimeError("FakeSnowflakeServer is not started")
        return {
            "account": "fakesnow",
            "user": "fake",
            "password": "snow",
            "host": self.host,
            "port": self.port,
            "protocol": "http",
        }

    def start(self, timeout_seconds: float = 30.0) -> FakeSnowflakeServer:
        self.port = self.port or free_port(self.host)
        # The log goes to a file, not a pipe: a full pipe would block the server.
        self._log = tempfile.NamedTemporaryFile(prefix="fakesnow-", suffix=".log", delete=False)  # noqa: SIM115
        command = [sys.executable, "-m", "fakesnow", "-s", "--host", self.host, "-p", str(self.port)]
        self._process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self._wait_listening(timeout_seconds)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self, timeout_seconds: float) -> None:
        # fakesnow has no health route; uvicorn accepting connections means it is ready (imports take ~5 s).
        deadline = time.monotonic() + timeout_seconds
        assert self._process is not None and self.port is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"fakesnow exited with {self._process.returncode} during start-up: {self._log_tail()}"
                )
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"fakesnow on {self.host}:{self.port} not listening after {timeout_seconds} s")

    def stop(self, timeout_seconds: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fakesnow's server mode exits cleanly on SIGINT
            try:
                process.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_seconds)
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-2000:]

    def __enter__(self) -> FakeSnowflakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _connect(conn_params: dict[str, Any]) -> Any:
    import snowflake.connector  # heavy: imported only when the sandbox talks to the warehouse

    return snowflake.connector.connect(
        **conn_params,
        session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        login_timeout=30,
        network_timeout=30,
    )


def _qualified(database: str, schema: str) -> str:
    return f"{database}.{schema}.{TABLE}"


def seed_products(
    conn_params: dict[str, Any], dataset: ProductsDataset, database: str = DATABASE, schema: str = SCHEMA
) -> str:
    """Creates ``database.schema.PRODUCTS`` (replacing it) with the initial catalogue; returns its name."""
    table = _qualified(database, schema)
    conn = _connect(conn_params)
    try:
        cur = conn.cursor()
        cur.execute(f"create database if not exists {database}")
        cur.execute(f"create schema if not exists {database}.{schema}")
        cur.execute(PRODUCTS_DDL.format(table=table))
        placeholders = ", ".join(f"%({c})s" for c in COLUMNS)
        cur.executemany(
            f"insert into {table} ({', '.join(COLUMNS)}) values ({placeholders})", dataset.initial
        )
    finally:
        conn.close()
    return table


def apply_round(
    conn_params: dict[str, Any],
    dataset: ProductsDataset,
    round_no: int,
    database: str = DATABASE,
    schema: str = SCHEMA,
) -> int:
    """Writes round ``round_no``'s changes in order (a product may be updated several times); returns the
    number of statements run."""
    table = _qualified(database, schema)
    conn = _connect(conn_params)
    try:
        cur = conn.cursor()
        for change in dataset.changes_of(round_no):
            cur.execute(*_statement(table, change.kind, change.row))
    finally:
        conn.close()
    return len(dataset.changes_of(round_no))


def _statement(table: str, kind: str, row: Row) -> tuple[str, Row]:
    if kind == "insert":
        placeholders = ", ".join(f"%({c})s" for c in COLUMNS)
        return f"insert into {table} ({', '.join(COLUMNS)}) values ({placeholders})", row
    assignments = ", ".join(f"{c} = %({c})s" for c in COLUMNS if c != "product_id")
    return f"update {table} set {assignments} where product_id = %(product_id)s", row
