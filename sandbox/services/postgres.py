"""A throwaway PostgreSQL server with logical replication on: the sandbox's stand-in for RDS PostgreSQL.

``PostgresServer`` runs initdb into a fresh temporary folder (as the ``postgres`` OS user when we are
root: initdb refuses root), starts the server with pg_ctl on 127.0.0.1 at a free port (its unix socket
in the same folder, trust auth: loopback testing only), and by default creates the ``shop`` database
with the ``customers`` table and a publication for it. ``stop()`` shuts down fast and removes the folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg2

from sandbox.services.ports import free_port
from sandbox.services.tls import SandboxCA

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"  # both the OS user running the server and the database superuser
SHOP_DATABASE = "shop"
CUSTOMERS_TABLE = "customers"
CUSTOMERS_PUBLICATION = "customers_pub"

# REPLICA IDENTITY FULL: updates and deletes carry the whole before image (DMS writes it for D rows).
SHOP_DDL = f"""
CREATE TABLE public.{CUSTOMERS_TABLE} (
    customer_id integer PRIMARY KEY,
    name text,
    email text,
    phone text,
    address text,
    country text,
    updated_at timestamptz
);
ALTER TABLE public.{CUSTOMERS_TABLE} REPLICA IDENTITY FULL;
CREATE PUBLICATION {CUSTOMERS_PUBLICATION} FOR TABLE public.{CUSTOMERS_TABLE};
"""

LOG_TAIL_LINES = 30


def client_tls(ca_path: Path | str) -> str:
    """libpq settings of a client that insists on TLS and checks the server's certificate and name."""
    return f"sslmode=verify-full sslrootcert={ca_path}"


class PostgresStartError(RuntimeError):
    """The server did not initialise or start; the message carries the command output and log tail."""


class PostgresServer:
    """A PostgreSQL cluster in a temp dir, ``wal_level=logical``, reachable at ``dsn`` until ``stop()``."""

    def __init__(
        self,
        bin_dir: Path = DEFAULT_BIN_DIR,
        port: int = 0,
        create_shop: bool = True,
        start_timeout_seconds: float = 30.0,
        ca: SandboxCA | None = None,
    ) -> None:
        """``ca``: serve TLS only (``ssl=on``, ``hostssl`` rules) with a certificate from this sandbox CA;
        ``dsn`` then asks for ``sslmode=verify-full`` against it. None: plaintext TCP."""
        self.bin_dir = bin_dir
        self.ca = ca
        self._requested_port = port
        self._create_shop = create_shop
        self._start_timeout = start_timeout_seconds
        self.port: int | None = None
        self.base_dir: Path | None = None

    # -- paths and DSNs --------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base()

    @property
    def log_file(self) -> Path:
        return self._base() / "postgres.log"

    @property
    def dsn(self) -> str:
        """The ``shop`` database over TCP (what a DMS source endpoint would use)."""
        return self.dsn_for(SHOP_DATABASE)

    def dsn_for(self, database: str) -> str:
        if self.port is None:
            raise RuntimeError("PostgresServer is not started")
        dsn = f"host=127.0.0.1 port={self.port} dbname={database} user={OS_USER}"
        return f"{dsn} {client_tls(self.ca.ca_path)}" if self.ca else dsn

    def _base(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError("PostgresServer is not started")
        return self.base_dir

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.base_dir = Path(tempfile.mkdtemp(prefix="sandbox-postgres-"))
        self.port = self._requested_port or free_port()
        try:
            self._chown_to_server_user(self.base_dir)
            self._run_as_server_user(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    OS_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",  # a throwaway cluster: durability of initdb's files does not matter
                ],
                what="initdb",
            )
            self._write_config()
            self._run_as_server_user(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(int(self._start_timeout)),
                    "start",
                ],
                what="pg_ctl start",
            )
            self._wait_ready()
            if self._create_shop:
                self._create_shop_schema()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Fast shutdown (falls back to immediate), then removes the whole temp folder."""
        base = self.base_dir
        if base is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                result = self._run_as_server_user(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-m",
                        mode,
                        "-w",
                        "-t",
                        "20",
                        "stop",
                    ],
                    what=f"pg_ctl stop -m {mode}",
                    check=False,
                )
                if result.returncode == 0:
                    break
        shutil.rmtree(base, ignore_errors=True)
        self.base_dir = None
        self.port = None

    @property
    def postmaster_pid(self) -> int | None:
        """The server's process id while it runs (first line of postmaster.pid)."""
        if self.base_dir is None:
            return None
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        return int(pid_file.read_text(encoding="utf-8").splitlines()[0])

    def is_running(self) -> bool:
        if self.base_dir is None:
            return False
        result = self._run_as_server_user(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"],
            what="pg_ctl status",
            check=False,
        )
        return result.returncode == 0

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers ---------------------------------------------------------------------------------------
    def _write_config(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "wal_level": "logical",
            "max_replication_slots": "8",
            "max_wal_senders": "8",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            "datestyle": "'iso, ymd'",
            # Throwaway data: skip fsync so tests stay fast on a shared 2-core machine.
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": "30",
            # The DMS stand-in reads its slot only when polled: a test may leave the replication
            # connection idle for minutes (a long gold run), longer than the default 60 s timeout.
            "wal_sender_timeout": "0",
        }
        if self.ca is not None:
            cert = self.ca.server_cert("postgres")
            for source, name in ((cert.chain, "server.crt"), (cert.key, "server.key")):
                target = self.data_dir / name  # the server reads them as its own user, key mode 0600
                shutil.copyfile(source, target)
                self._chown_to_server_user(target)
                target.chmod(0o600)
            settings |= {"ssl": "on", "ssl_cert_file": "'server.crt'", "ssl_key_file": "'server.key'"}
        if self._has_setting("output_plugin_libraries"):
            # Some Debian builds only load output plugins listed here (see verified-facts.md).
            settings["output_plugin_libraries"] = "'pgoutput, test_decoding'"
        conf = "\n".join(f"{key} = {value}" for key, value in settings.items())
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as handle:
            handle.write("\n# sandbox settings\n" + conf + "\n")
        # Trust on loopback and the private socket only, including replication connections; with a CA,
        # TCP connections must use TLS (hostssl): a plaintext one finds no rule and is refused.
        tcp = "hostssl" if self.ca is not None else "host"
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "local replication all trust\n"
            f"{tcp} all all 127.0.0.1/32 trust\n"
            f"{tcp} replication all 127.0.0.1/32 trust\n",
            encoding="utf-8",
        )

    def _has_setting(self, name: str) -> bool:
        result = self._run_as_server_user(
            [str(self.bin_dir / "postgres"), "--describe-config"],
            what="postgres --describe-config",
            check=False,
        )
        return any(line.split("\t", 1)[0] == name for line in result.stdout.splitlines())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            try:
                psycopg2.connect(self.dsn_for("postgres"), connect_timeout=2).close()
                return
            except psycopg2.OperationalError as exc:
                last_error = str(exc).strip()
                time.sleep(0.1)
        raise PostgresStartError(
            f"PostgreSQL on port {self.port} did not accept connections within {self._start_timeout} s: "
            f"{last_error}\n{self._log_tail()}"
        )

    def create_database(self, name: str) -> None:
        admin = psycopg2.connect(self.dsn_for("postgres"))
        try:
            admin.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with admin.cursor() as cur:
                cur.execute(f"CREATE DATABASE {name}")
        finally:
            admin.close()

    def _create_shop_schema(self) -> None:
        self.create_database(SHOP_DATABASE)
        shop = psycopg2.connect(self.dsn)
        try:
            with shop, shop.cursor() as cur:
                cur.execute(SHOP_DDL)
        finally:
            shop.close()

    def _chown_to_server_user(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(OS_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o700)

    def _run_as_server_user(
        self, argv: list[str], what: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # initdb and the postmaster refuse to run as root: drop to the postgres user when we are root.
        if os.geteuid() == 0:
            argv = ["runuser", "-u", OS_USER, "--", *argv]
        result = subprocess.run(
            argv, capture_output=True, text=True, check=False, cwd=self.base_dir, stdin=subprocess.DEVNULL
        )
        if check and result.returncode != 0:
            raise PostgresStartError(
                f"{what} failed (exit {result.returncode}) for cluster {self.base_dir}:\n"
                f"{result.stdout.strip()}\n{result.stderr.strip()}\n{self._log_tail()}"
            )
        return result

    def _log_tail(self) -> str:
        if self.base_dir is None or not self.log_file.exists():
            return "(no server log)"
        lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        return "server log tail:\n" + "\n".join(lines[-LOG_TAIL_LINES:])
