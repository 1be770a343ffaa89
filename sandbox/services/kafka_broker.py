"""A real Apache Kafka broker (KRaft, single node) on loopback, run with ``java`` from Maven jars.

The jars come from ``scripts/fetch_kafka.sh`` (``make install``) into ``<repo>/.cache/kafka/libs`` (or
``$SANDBOX_KAFKA_LIBS_DIR``); nothing is downloaded at run time. One JVM is both controller and broker.
Its files (``server.properties``, ``log4j2.properties``, ``broker.log``, ``data/``) live in ``home``: a
temporary folder removed by ``stop()`` unless a folder is given (then the data persists and a restart
reuses the formatted storage).

    with KafkaBroker() as broker:
        broker.create_topic("orders.events", partitions=3)
        Producer({"bootstrap.servers": broker.bootstrap_servers})
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from sandbox.detached import port_free
from sandbox.services.tls import SandboxCA

HOST = "127.0.0.1"
LIBS_DIR_ENV = "SANDBOX_KAFKA_LIBS_DIR"
FETCH_SCRIPT = "scripts/fetch_kafka.sh"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
TOPIC_TIMEOUT_SECONDS = 30.0
LOG_TAIL_LINES = 40
# Below librdkafka's test session timeout (2000 ms): the broker's default minimum is 6000 ms.
MIN_SESSION_TIMEOUT_MS = 1000

_REPO_ROOT = Path(__file__).resolve().parents[2]


class KafkaBrokerError(RuntimeError):
    """The broker could not be started, answered wrongly, or did not stop."""


def kafka_libs_dir() -> Path:
    """Where the Kafka jars live: ``$SANDBOX_KAFKA_LIBS_DIR``, else ``<repo>/.cache/kafka/libs``."""
    configured = os.environ.get(LIBS_DIR_ENV)
    return Path(configured) if configured else _REPO_ROOT / ".cache" / "kafka" / "libs"


def client_security(ca_path: Path | str | None) -> dict[str, str]:
    """librdkafka settings to reach a sandbox broker: TLS verified against ``ca_path``, or plaintext (None)."""
    if ca_path is None:
        return {}
    return {"security.protocol": "SSL", "ssl.ca.location": str(ca_path)}


def consumer_config(bootstrap_servers: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    """librdkafka consumer settings for tests and the sandbox: fast group joins, manual commits.

    A low session timeout matters: with librdkafka's default (45 s) a consumer joining a group that a
    previous consumer just left waits for that member to expire.
    """
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "session.timeout.ms": 2000,
        "heartbeat.interval.ms": 500,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **overrides,
    }


def create_topic(
    bootstrap_servers: str,
    name: str,
    partitions: int = 3,
    *,
    exist_ok: bool = False,
    security: Mapping[str, str] | None = None,
) -> bool:
    """Create ``name`` (replication 1) and wait until every partition has a leader.

    Returns True if created, False if it already existed (only with ``exist_ok``).
    """
    admin = _admin(bootstrap_servers, security)
    future = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name]
    error = _future_error(future)
    if error is not None and not (exist_ok and error.code() == KafkaError.TOPIC_ALREADY_EXISTS):
        raise KafkaBrokerError(f"could not create topic {name!r} on {bootstrap_servers}: {error}")
    _wait_for_leaders(admin, name)
    return error is None


class KafkaBroker:
    """One Kafka 4.x process (KRaft broker + controller) on free loopback ports, until ``stop()``."""

    def __init__(
        self,
        home: Path | None = None,
        *,
        port: int = 0,
        libs_dir: Path | None = None,
        heap: str = "384m",
        extra_properties: Mapping[str, str] | None = None,
        ca: SandboxCA | None = None,
    ) -> None:
        """``port`` 0 picks a free one; ``home`` None means a temporary folder removed on ``stop()``;
        ``ca``: the client listener serves TLS (``SSL://``) with a certificate from this sandbox CA."""
        self.ca = ca
        self._given_home = home
        self._requested_port = port
        self._libs_dir = libs_dir or kafka_libs_dir()
        self._heap = heap
        self._extra_properties = dict(extra_properties or {})
        self._home: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.controller_port: int | None = None

    # ----------------------------------------------------------------------------------------- lifecycle
    @property
    def bootstrap_servers(self) -> str:
        if self.port is None:
            raise KafkaBrokerError("the Kafka broker is not started")
        return f"{HOST}:{self.port}"

    @property
    def security(self) -> dict[str, str]:
        """librdkafka settings a client needs besides ``bootstrap.servers`` (TLS against the CA, or none)."""
        return client_security(self.ca.ca_path if self.ca else None)

    def client_env(self) -> dict[str, str]:
        """The platform's settings (environment variables) that point its Kafka client at this broker."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers}
        if self.ca is None:
            return env | {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
        return env | {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": str(self.ca.ca_path)}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def home(self) -> Path | None:
        return self._home

    @property
    def log_path(self) -> Path | None:
        return self._home / "broker.log" if self._home is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_seconds: float = START_TIMEOUT_SECONDS) -> None:
        if self._process is not None:
            raise KafkaBrokerError(f"the Kafka broker is already started at {self.bootstrap_servers}")
        java_classpath = self._classpath()
        java = shutil.which("java")
        if java is None:
            raise KafkaBrokerError("java is not installed (Kafka needs a Java 17+ runtime on PATH)")
        self._home = self._given_home or Path(tempfile.mkdtemp(prefix="sandbox-kafka-"))
        self._home.mkdir(parents=True, exist_ok=True)
        try:
            self.port = self._requested_port or _free_port()
            if self._requested_port and not port_free(self._requested_port):
                raise KafkaBrokerError(f"port {self._requested_port} on {HOST} is already in use")
            self.controller_port = _free_port(exclude={self.port})
            config = self._write_config()
            self._format_storage(java, java_classpath, config)
            self._launch(java, java_classpath, config)
            self._wait_ready(timeout_seconds)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_seconds: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM (a controlled shutdown), then SIGKILL; the temporary home is removed."""
        process, self._process = self._process, None
        try:
            if process is not None and process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout_seconds)
                except subprocess.TimeoutExpired:
                    _signal_group(process.pid, signal.SIGKILL)
                    try:
                        process.wait(timeout_seconds)
                    except subprocess.TimeoutExpired as exc:
                        raise KafkaBrokerError(f"Kafka broker (pid {process.pid}) survived SIGKILL") from exc
            if process is not None:
                _signal_group(process.pid, signal.SIGKILL)  # stray children of the group, if any
        finally:
            if self._given_home is None and self._home is not None:
                shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
            self.port = None
            self.controller_port = None

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ helpers
    def create_topic(self, name: str, partitions: int = 3, *, exist_ok: bool = False) -> bool:
        return create_topic(
            self.bootstrap_servers, name, partitions, exist_ok=exist_ok, security=self.security
        )

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        return consumer_config(self.bootstrap_servers, group_id, **{**self.security, **overrides})

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no broker log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --------------------------------------------------------------------------------------- internals
    def _classpath(self) -> str:
        libs = self._libs_dir
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise KafkaBrokerError(
                f"the Kafka jars are not in {libs}: run `bash {FETCH_SCRIPT}` (part of `make install`)"
            )
        return f"{libs}/*"

    def _write_config(self) -> Path:
        assert self._home is not None and self.port is not None and self.controller_port is not None
        data_dir = self._home / "data"
        # The client listener is SSL with a CA (the broker's own inter-broker client verifies it too); the
        # controller listener stays internal: loopback, between this JVM's broker and controller.
        client = "SSL" if self.ca is not None else "PLAINTEXT"
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Static voters: `format` then needs neither --standalone nor --initial-controllers.
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"{client}://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"{client}://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": client,
            "listener.security.protocol.map": f"{client}:{client},CONTROLLER:PLAINTEXT",
            **self._tls_properties(),
            "log.dirs": str(data_dir),
            "num.partitions": "3",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",  # 50 by default: slow first group join on 2 cores
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "group.min.session.timeout.ms": str(MIN_SESSION_TIMEOUT_MS),
            "num.network.threads": "2",
            "num.io.threads": "2",
            **self._extra_properties,
        }
        config = self._home / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        (self._home / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)
        return config

    def _tls_properties(self) -> dict[str, str]:
        if self.ca is None:
            return {}
        cert = self.ca.server_cert("kafka")  # PEM key stores: Kafka reads the PKCS#8 key + chain file
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(cert.bundle),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca.ca_path),
            "ssl.client.auth": "none",
            "ssl.endpoint.identification.algorithm": "https",
        }

    def _java_command(self, java: str, classpath: str, main_class: str, *args: str) -> list[str]:
        assert self._home is not None
        return [
            java,
            f"-Xmx{self._heap}",
            "-Xms64m",
            "-XX:+UseSerialGC",  # one GC thread: the machine is shared
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._home / 'log4j2.properties'}",
            "-cp",
            classpath,
            main_class,
            *args,
        ]

    def _format_storage(self, java: str, classpath: str, config: Path) -> None:
        # A given home keeps its data and cluster id across restarts: format only once.
        assert self._home is not None
        if (self._home / "data" / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        command = self._java_command(
            java, classpath, "kafka.tools.StorageTool", "format",
            # "--cluster-id=" form: a base64url id may start with "-", which argparse would take for an option
            f"--cluster-id={cluster_id}", "-c", str(config),
        )  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise KafkaBrokerError(
                f"formatting Kafka storage failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _launch(self, java: str, classpath: str, config: Path) -> None:
        assert self.log_path is not None
        command = self._java_command(java, classpath, "kafka.Kafka", str(config))
        with open(self.log_path, "ab") as log:
            # Own session/process group: a Ctrl-C meant for the caller does not hit the JVM, and stop()
            # can signal the whole group.
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )

    def _wait_ready(self, timeout_seconds: float) -> None:
        assert self._process is not None and self.port is not None
        deadline = time.monotonic() + timeout_seconds
        last_error = "port not open"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise KafkaBrokerError(
                    f"Kafka broker exited with code {self._process.returncode} during start-up; "
                    f"log tail ({self.log_path}):\n{self.log_tail()}"
                )
            # Probe the port first: librdkafka logs every refused connection to stderr.
            if _port_open(self.port):
                try:
                    metadata = _admin(self.bootstrap_servers, self.security).list_topics(timeout=2)
                    if metadata.brokers:
                        return
                    last_error = "metadata without brokers"
                except KafkaException as exc:
                    last_error = str(exc)
            time.sleep(0.2)
        raise KafkaBrokerError(
            f"Kafka broker on {self.bootstrap_servers} did not answer within {timeout_seconds:.0f} s "
            f"({last_error}); log tail ({self.log_path}):\n{self.log_tail()}"
        )


_LOG4J2_PROPERTIES = """\
# Warnings and errors only (the broker log is read when start-up fails), plus the "started" line.
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


def _future_error(future: Future[Any]) -> KafkaError | None:
    """The Kafka error of an admin future, or None.

    Read with ``exception()``, not by catching ``result()``: a raised exception's traceback forms a cycle
    that keeps the AdminClient (and its reconnect logging) alive until the next garbage collection.
    """
    exc = future.exception(timeout=TOPIC_TIMEOUT_SECONDS)
    if exc is None:
        return None
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    raise KafkaBrokerError(f"unexpected admin error: {exc!r}")


def _admin(bootstrap_servers: str, security: Mapping[str, str] | None = None) -> AdminClient:
    return AdminClient(
        {**(security or {}), "bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 5000}
    )


def _wait_for_leaders(admin: AdminClient, name: str) -> None:
    # create_topics returns once the controller accepted it; producers need leaders in the metadata.
    deadline = time.monotonic() + TOPIC_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        topic = admin.list_topics(topic=name, timeout=5).topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and all(p.leader >= 0 for p in topic.partitions.values())
        ):
            return
        time.sleep(0.1)
    raise KafkaBrokerError(
        f"topic {name!r} has no leader for every partition after {TOPIC_TIMEOUT_SECONDS} s"
    )


def _free_port(exclude: set[int] | None = None) -> int:
    # Bind to port 0 and release it: a tiny race with other processes, acceptable on loopback.
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in (exclude or set()):
            return port


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
