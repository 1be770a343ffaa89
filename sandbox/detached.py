"""A sandbox service run as a detached process: start it, find it again, ask it, stop it.

One mechanism for every `sandbox <service>-start|status|stop` command. State lives in the sandbox
home: ``<name>.pid`` (the serving process), ``<name>.address`` (where it answers), ``<name>.log`` and
any extra files the service keeps. A pid counts only while its process is alive and its command
line carries the service's marker (a reused pid is not ours).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
EXIT_NOT_RUNNING = 3  # LSB convention for `status` of a stopped service


@dataclass(frozen=True)
class DetachedService:
    """How to recognise, reach and stop one kind of detached service."""

    label: str  # as printed: "fx_api", "kafka"
    name: str  # state file prefix: "fx", "kafka"
    marker: bytes  # in the serving process's command line, e.g. b"serve-fx"
    answers: Callable[[Path, str, int], bool]  # (home, address, pid) -> ours, and healthy, there
    start_timeout: float = 20.0
    stop_timeout: float = 10.0
    extra_state: tuple[str, ...] = ()
    # the service's own leftovers to clean up when its serving process is gone (returns a pid it killed)
    kill_orphans: Callable[[Path], int | None] = field(default=lambda home: None)

    def state_files(self) -> tuple[str, ...]:
        return (f"{self.name}.pid", f"{self.name}.address", *self.extra_state)

    def running_pid(self, home: Path) -> int | None:
        return pid_from_file(home / f"{self.name}.pid", self.marker)

    def address(self, home: Path, default: str) -> str:
        return read_text(home / f"{self.name}.address") or default

    def remove_state(self, home: Path) -> None:
        for name in self.state_files():
            (home / name).unlink(missing_ok=True)

    def start(
        self,
        home: Path,
        command: Sequence[str],
        address: str,
        port: int | None,
        port_hint: str,
        env: Mapping[str, str] | None = None,
        started_note: str = "",
    ) -> int:
        """Launch ``command`` in its own session and wait until it answers at ``address``.

        ``port`` (None for a service that listens on nothing) must be free beforehand."""
        pid = self.running_pid(home)
        if pid is not None:
            print(f"{self.label} already running at {self.address(home, address)} (pid {pid}{started_note})")
            return 0
        self.kill_orphans(home)
        if port is not None and not port_free(port):
            print(f"error: port {port} on {HOST} is in use by another process; set {port_hint} or --port")
            return 1
        home.mkdir(parents=True, exist_ok=True)
        self.remove_state(home)
        log_path = home / f"{self.name}.log"
        with open(log_path, "ab") as log:
            child = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=dict(env) if env is not None else None,
            )
        (home / f"{self.name}.pid").write_text(f"{child.pid}\n")
        (home / f"{self.name}.address").write_text(f"{address}\n")
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and child.poll() is None:
            if self.answers(home, address, child.pid):
                print(f"{self.label} started at {address} (pid {child.pid}{started_note})")
                return 0
            time.sleep(0.1)
        exit_code = child.poll()
        terminate(child.pid, self.stop_timeout)
        self.kill_orphans(home)
        self.remove_state(home)
        if exit_code is not None:
            print(f"error: {self.label} exited during start-up (code {exit_code}); see {log_path}")
        else:
            within = f"{self.start_timeout:.0f} s"
            print(f"error: {self.label} did not become healthy at {address} within {within}; see {log_path}")
        return 1

    def stop(self, home: Path) -> int:
        pid = self.running_pid(home)
        if pid is not None and not terminate(pid, self.stop_timeout):
            print(f"error: {self.label} (pid {pid}) did not exit after SIGTERM and SIGKILL")
            return 1
        orphan = self.kill_orphans(home)
        self.remove_state(home)
        if pid is None and orphan is None:
            print(f"{self.label} is not running")
        else:
            print(f"{self.label} stopped (pid {pid if pid is not None else orphan})")
        return 0

    def status(self, home: Path, default_address: str, unhealthy: str) -> int:
        pid = self.running_pid(home)
        if pid is None:
            print(f"{self.label} is not running")
            return EXIT_NOT_RUNNING
        address = self.address(home, default_address)
        healthy = self.answers(home, address, pid)
        print(f"{self.label} running at {address} (pid {pid}, {'healthy' if healthy else unhealthy})")
        return 0 if healthy else 1


def read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def pid_from_file(pid_file: Path, marker: bytes) -> int | None:
    """The pid in ``pid_file`` if that process is alive and its command line carries ``marker``."""
    raw = read_text(pid_file)
    if raw is None or not raw.isdigit():
        return None
    pid = int(raw)
    if not alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return pid if not cmdline.exists() or marker in cmdline.read_bytes() else None  # no procfs: trust
    except OSError:
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")  # a zombie (exited, not yet reaped) is not running
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def terminate(pid: int, timeout_seconds: float) -> bool:
    """SIGTERM, then SIGKILL, each given ``timeout_seconds`` to take effect; True once the process is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if not alive(pid):
                return True
            time.sleep(0.05)
    return not alive(pid)


def kill_group(pid: int, timeout_seconds: float) -> bool:
    """SIGKILL a process group (a JVM and its children) and wait for its leader to go."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True
