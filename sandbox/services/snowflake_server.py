"""The sandbox Snowflake warehouse: ``fakesnow`` in server mode (a subprocess speaking the Snowflake
connector's HTTP protocol, backed by DuckDB) plus helpers that load and change the product catalogue.

Connect with ``snowflake.connector.connect(**server.conn_params)`` (``account="fakesnow"``,
``host=127.0.0.1``, ``protocol="http"``). Data lives in memory and disappears when the server stops.

With a sandbox CA (``ca=``) the server speaks HTTPS: ``fakesnow -s`` has no TLS option, so the same
fakesnow ASGI app is run by uvicorn with the CA's server certificate (``python -m
sandbox.services.snowflake_server``, still a fakesnow process). ``conn_params`` then says
``protocol="https"`` and carries ``ca_path``: the connector has no CA parameter and verifies against
``REQUESTS_CA_BUNDLE`` (``_connect`` sets it from ``ca_path``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandbox.generator.products import COLUMNS, ProductsDataset, Row
from sandbox.services.ports import free_port
from sandbox.services.tls import SandboxCA

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

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, ca: SandboxCA | None = None) -> None:
        self.host = host
        self.port = port
        self.ca = ca
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def conn_params(self) -> dict[str, Any]:
        """Keyword arguments for ``snowflake.connector.connect`` (and ``SnowflakeConnector``)."""
        if self.port is None or self._process is None:
            raise RuntimeError("FakeSnowflakeServer is not started")
        params: dict[str, Any] = {
            "account": "fakesnow",
            "user": "fake",
            "password": "snow",
            "host": self.host,
            "port": self.port,
            "protocol": "https" if self.ca else "http",
        }
        return params | ({"ca_path": str(self.ca.ca_path)} if self.ca else {})

    def start(self, timeout_seconds: float = 30.0) -> FakeSnowflakeServer:
        self.port = self.port or free_port(self.host)
        # The log goes to a file, not a pipe: a full pipe would block the server.
        self._log = tempfile.NamedTemporaryFile(prefix="fakesnow-", suffix=".log", delete=False)  # noqa: SIM115
        command = [sys.executable, "-m", "fakesnow", "-s", "--host", self.host, "-p", str(self.port)]
        if self.ca is not None:
            cert = self.ca.server_cert("snowflake")
            command = [
                sys.executable,
                "-m",
                __name__,
                "fakesnow",
                self.host,
                str(self.port),
                str(cert.bundle),
            ]
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


@contextlib.contextmanager
def _connect(conn_params: dict[str, Any]) -> Iterator[Any]:
    """A connection for one helper call; with ``ca_path``, ``REQUESTS_CA_BUNDLE`` names it meanwhile (the
    connector's only way to trust a CA) and is put back afterwards."""
    import snowflake.connector  # heavy: imported only when the sandbox talks to the warehouse

    params = dict(conn_params)
    ca_path = params.pop("ca_path", None)
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    if ca_path:
        os.environ["REQUESTS_CA_BUNDLE"] = ca_path
    try:
        conn = snowflake.connector.connect(
            **params,
            session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            login_timeout=30,
            network_timeout=30,
        )
        try:
            yield conn
        finally:
            conn.close()
    finally:
        if ca_path and before is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        elif ca_path and before is not None:
            os.environ["REQUESTS_CA_BUNDLE"] = before


def _qualified(database: str, schema: str) -> str:
    return f"{database}.{schema}.{TABLE}"


def seed_products(
    conn_params: dict[str, Any], dataset: ProductsDataset, database: str = DATABASE, schema: str = SCHEMA
) -> str:
    """Creates ``database.schema.PRODUCTS`` (replacing it) with the initial catalogue; returns its name."""
    table = _qualified(database, schema)
    with _connect(conn_params) as conn:
        cur = conn.cursor()
        cur.execute(f"create database if not exists {database}")
        cur.execute(f"create schema if not exists {database}.{schema}")
        cur.execute(PRODUCTS_DDL.format(table=table))
        placeholders = ", ".join(f"%({c})s" for c in COLUMNS)
        cur.executemany(
            f"insert into {table} ({', '.join(COLUMNS)}) values ({placeholders})", dataset.initial
        )
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
    with _connect(conn_params) as conn:
        cur = conn.cursor()
        for change in dataset.changes_of(round_no):
            cur.execute(*_statement(table, change.kind, change.row))
    return len(dataset.changes_of(round_no))


def _statement(table: str, kind: str, row: Row) -> tuple[str, Row]:
    if kind == "insert":
        placeholders = ", ".join(f"%({c})s" for c in COLUMNS)
        return f"insert into {table} ({', '.join(COLUMNS)}) values ({placeholders})", row
    assignments = ", ".join(f"{c} = %({c})s" for c in COLUMNS if c != "product_id")
    return f"update {table} set {assignments} where product_id = %(product_id)s", row


def _serve_fakesnow_tls(host: str, port: int, certfile: str) -> None:
    """fakesnow's server (its ASGI app, in memory) over HTTPS; SIGINT stops it, as it stops ``fakesnow -s``."""
    import fakesnow.server
    import uvicorn

    uvicorn.run(
        fakesnow.server.app,
        host=host,
        port=port,
        log_level="info",
        ssl_certfile=certfile,
        timeout_graceful_shutdown=1,  # idle keep-alive TLS clients never send close_notify
    )


if __name__ == "__main__":  # python -m sandbox.services.snowflake_server fakesnow HOST PORT CERTFILE
    _, _mode, _host, _port, _certfile = sys.argv
    _serve_fakesnow_tls(_host, int(_port), _certfile)
