"""A Spark standalone cluster on loopback with a Spark Connect server: the sandbox's stand-in for EMR.

Started from the Spark distribution PySpark ships (``pyspark/bin/spark-class``): one master, N workers
(1 core and 2 GiB each by default: the machine is small and shared) and a Spark Connect server that
submits to the master as its driver, carrying the Delta jars and the s3a / Kafka-source jars
(``make spark-jars``). Every port is picked free on 127.0.0.1. Each JVM runs in its own process group
(a worker's executors are its children), so stopping kills the groups, executors included.

State in ``home``: ``cluster.json`` (pids, ports, URLs) and one log per process, so ``sandbox cluster-down``
run from another process finds and stops what ``cluster-up`` started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from sandbox.services.ports import free_port

HOST = "127.0.0.1"
STATE_FILE = "cluster.json"
CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
_REPO_ROOT = Path(__file__).resolve().parents[2]


class ClusterError(RuntimeError):
    """A process of the cluster did not start; the message names it and its log."""


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def delta_jars() -> list[Path]:
    folder = Path(os.environ.get("PLATFORM_DELTA_JARS_DIR") or _REPO_ROOT / ".cache" / "jars")
    return sorted(folder.glob("*.jar"))


def cluster_jars() -> list[Path]:
    """The s3a filesystem and Kafka source jars (``make spark-jars``): next to the Delta jars."""
    default = Path(os.environ.get("PLATFORM_DELTA_JARS_DIR") or _REPO_ROOT / ".cache" / "jars") / "cluster"
    return sorted(Path(os.environ.get("PLATFORM_CLUSTER_JARS_DIR") or default).glob("*.jar"))


def s3a_conf(storage_options: Mapping[str, str]) -> dict[str, str]:
    """Spark settings that make ``s3://`` and ``s3a://`` paths go to the same S3 endpoint as delta-rs.

    Delta's paths stay ``s3://bucket/...`` (the lake root as delta-rs writes it), so the ``s3`` scheme is
    mapped to the s3a filesystem; credentials are passed as Spark settings of the server process (its
    command line is in our process table only; production uses an instance role instead, docs/deployment.md).
    """
    endpoint = storage_options.get("AWS_ENDPOINT_URL")
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        ),
        "spark.hadoop.fs.s3a.endpoint.region": storage_options.get("AWS_REGION", "us-east-1"),
        "spark.hadoop.fs.s3a.change.detection.mode": "none",  # small S3 servers send no version ids
        "spark.delta.logStore.s3.impl": "io.delta.storage.S3SingleDriverLogStore",
    }
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    for key, name in (("AWS_ACCESS_KEY_ID", "access.key"), ("AWS_SECRET_ACCESS_KEY", "secret.key")):
        if storage_options.get(key):
            conf[f"spark.hadoop.fs.s3a.{name}"] = storage_options[key]
    return conf


@dataclass
class ClusterState:
    master_url: str = ""
    master_ui_url: str = ""
    connect_url: str = ""
    connect_ui_url: str = ""
    pids: dict[str, int] = field(default_factory=dict)  # process label -> pid (its process group)

    @classmethod
    def read(cls, home: Path) -> ClusterState | None:
        try:
            return cls(**json.loads((home / STATE_FILE).read_text()))
        except FileNotFoundError:
            return None

    def write(self, home: Path) -> None:
        (home / STATE_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")


@dataclass
class ClusterConfig:
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "2g"
    executor_memory: str = "1g"
    driver_memory: str = "1g"
    daemon_memory: str = "256m"  # master and worker daemons themselves
    shuffle_partitions: int = 4
    spark_conf: dict[str, str] = field(default_factory=dict)  # extra settings for the Connect server


class SparkCluster:
    """Master + workers + Spark Connect server; ``connect_url`` answers until ``stop()``."""

    def __init__(self, home: Path, config: ClusterConfig | None = None, start_timeout: float = 120.0) -> None:
        self.home = Path(home)
        self.config = config or ClusterConfig()
        self.start_timeout = start_timeout
        self.state = ClusterState()
        self._children: list[subprocess.Popen[bytes]] = []

    @property
    def connect_url(self) -> str:
        return self.state.connect_url

    @property
    def master_url(self) -> str:
        return self.state.master_url

    # -- start -----------------------------------------------------------------------------------------
    def start(self) -> SparkCluster:
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self._start_master()
            for index in range(self.config.workers):  # the JVMs boot side by side
                self._start_worker(index)
            connect = self._spawn_connect_server()
            self._wait_for_workers()
            self._wait("connect", connect, self._connect_ready)
        except BaseException:
            self.stop()
            raise
        return self

    def _env(self, label: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_"))}
        env |= {
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": HOST,
            "SPARK_LOG_DIR": str(self.home / "logs"),
        }
        if label == "connect":  # the driver: spark-class sizes it from SPARK_DRIVER_MEMORY
            env["SPARK_DRIVER_MEMORY"] = self.config.driver_memory
            # the Python the executors run UDFs with (bronze typing, engine_kafka.py): this venv's,
            # which has the package; Spark Connect takes it from the server's environment
            env["PYSPARK_PYTHON"] = sys.executable
        else:  # master and worker daemons (not their executors)
            env["SPARK_DAEMON_MEMORY"] = self.config.daemon_memory
        return env

    def _spawn(self, label: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        (self.home / "logs").mkdir(exist_ok=True)
        log_path = self.home / "logs" / f"{label}.log"
        command = [str(spark_home() / "bin" / "spark-class"), *argv]
        with open(log_path, "ab") as log:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() kills the JVM and its executors
                env=self._env(label),
                cwd=self.home,
            )
        self._children.append(child)
        self.state.pids[label] = child.pid
        self.state.write(self.home)
        return child

    def _wait(self, label: str, child: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise ClusterError(f"{label} exited (code {child.returncode}); see {self._log(label)}")
            if ready():
                return
            time.sleep(0.25)
        raise ClusterError(f"{label} not ready within {self.start_timeout:.0f} s; see {self._log(label)}")

    def _log(self, label: str) -> Path:
        return self.home / "logs" / f"{label}.log"

    def _start_master(self) -> None:
        port, ui_port = free_port(), free_port()
        child = self._spawn(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                HOST,
                "--port",
                str(port),
                "--webui-port",
                str(ui_port),
            ],
        )
        self.state.master_url = f"spark://{HOST}:{port}"
        self.state.master_ui_url = f"http://{HOST}:{ui_port}"
        self._wait("master", child, lambda: self.master_status() is not None)

    def _start_worker(self, index: int) -> None:
        work_dir = self.home / f"worker-{index}"
        work_dir.mkdir(exist_ok=True)
        argv = ["org.apache.spark.deploy.worker.Worker", "--host", HOST, "--webui-port", str(free_port())]
        argv += ["--cores", str(self.config.worker_cores), "--memory", self.config.worker_memory]
        argv += ["--work-dir", str(work_dir), self.state.master_url]
        self._spawn(f"worker-{index}", argv)

    def _wait_for_workers(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            status = self.master_status() or {}
            alive = [w for w in status.get("workers", []) if w.get("state") == "ALIVE"]
            if len(alive) >= self.config.workers:
                return
            time.sleep(0.25)
        raise ClusterError(f"{self.config.workers} workers did not register; see {self.home / 'logs'}")

    def _spawn_connect_server(self) -> subprocess.Popen[bytes]:
        port, ui_port = free_port(), free_port()
        jars = [*delta_jars(), *cluster_jars()]
        if not jars:
            raise ClusterError("no Delta jars: run `make spark-jars`")
        cfg = self.config
        # The jars are on every node's disk (one machine here; an EMR bootstrap action or image there), so
        # driver and executors load them from their class path: `--jars` would copy the 690 MB AWS SDK
        # bundle into every executor's work folder before its first task.
        class_path = ":".join(str(j) for j in jars)
        conf = {
            "spark.driver.extraClassPath": class_path,
            "spark.executor.extraClassPath": class_path,
            "spark.connect.grpc.binding.address": HOST,
            "spark.connect.grpc.binding.port": str(port),
            "spark.driver.host": HOST,
            "spark.driver.bindAddress": HOST,
            "spark.ui.port": str(ui_port),
            "spark.ui.showConsoleProgress": "false",
            "spark.executor.cores": str(cfg.worker_cores),
            "spark.cores.max": str(cfg.workers * cfg.worker_cores),
            "spark.executor.memory": cfg.executor_memory,
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
            "spark.default.parallelism": str(cfg.workers * cfg.worker_cores),
            "spark.databricks.delta.snapshotPartitions": "2",
            "spark.scheduler.mode": "FAIR",  # several Dagster runs share the one server
            # Spark's Parquet default is INT96, which delta-rs reads as nanoseconds: 9999-12-31 (the open
            # end of a gold version's effective range) overflows and reads back as 1816-03-29
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            **cfg.spark_conf,
        }
        argv = ["org.apache.spark.deploy.SparkSubmit", "--master", self.state.master_url]
        argv += ["--class", CONNECT_SERVER_CLASS, "--name", "platform-spark-connect"]
        argv += ["--driver-memory", cfg.driver_memory]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        argv.append("spark-internal")
        child = self._spawn("connect", argv)
        self.state.connect_url = f"sc://{HOST}:{port}"
        self.state.connect_ui_url = f"http://{HOST}:{ui_port}"
        self.state.write(self.home)
        return child

    def _connect_ready(self) -> bool:
        """The gRPC port listens and the server's application holds executors on the workers."""
        port = int(self.state.connect_url.rsplit(":", 1)[1])
        if not (_port_open(port) and self._app_running()):
            return False
        try:
            return len(executor_tasks(self.state.connect_ui_url)) >= self.config.workers
        except (httpx.HTTPError, ValueError, KeyError, IndexError):
            return False

    # -- status ----------------------------------------------------------------------------------------
    def master_status(self) -> dict | None:
        """The master's JSON status (workers, applications), or None when it does not answer."""
        return master_status(self.state.master_ui_url)

    def _app_running(self) -> bool:
        status = self.master_status() or {}
        return any(app.get("name") == "platform-spark-connect" for app in status.get("activeapps", []))

    # -- stop ------------------------------------------------------------------------------------------
    def stop(self) -> None:
        stop_processes(self.state.pids, reap=self._children)
        self._children.clear()
        (self.home / STATE_FILE).unlink(missing_ok=True)
        self.state.pids.clear()

    def __enter__(self) -> SparkCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def master_status(ui_url: str) -> dict | None:
    if not ui_url:
        return None
    try:
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            response = client.get(f"{ui_url}/json/")
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def executor_summary(connect_ui_url: str) -> dict[str, dict[str, float]]:
    """Per executor id of the Connect server's application (the driver excluded): its completed tasks
    and the seconds its tasks ran (``totalDuration``)."""
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        apps = client.get(f"{connect_ui_url}/api/v1/applications").json()
        app_id = apps[0]["id"]
        executors = client.get(
            f"{connect_ui_url}/api/v1/applications/{app_id}/executors"
        ).json()  # the active ones
    return {
        e["id"]: {"tasks": int(e["completedTasks"]), "task_seconds": round(e["totalDuration"] / 1000, 3)}
        for e in executors
        if e["id"] != "driver"
    }


def executor_tasks(connect_ui_url: str) -> dict[str, int]:
    """Completed tasks per executor id of the Connect server's application (the driver excluded)."""
    return {e: int(figures["tasks"]) for e, figures in executor_summary(connect_ui_url).items()}


def stop_processes(
    pids: Mapping[str, int], timeout_seconds: float = 20.0, reap: Sequence[subprocess.Popen[bytes]] = ()
) -> None:
    """SIGTERM every process group (Connect server first, master last), then SIGKILL what is left."""
    order = sorted(pids, key=lambda label: (label != "connect", label == "master"))
    for label in order:
        _signal_group(pids[label], signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline and any(_group_alive(pids[label]) for label in order):
        for child in reap:  # our own children must be reaped, or they linger as zombies
            child.poll()
        time.sleep(0.1)
    for label in order:
        _signal_group(pids[label], signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_open(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=0.5).close()
        return True
    except OSError:
        return False
