"""``sandbox``: start, stop and inspect the sandbox source services.

``start`` launches ``serve-fx`` as a detached process (own session, so it outlives the shell), records
its pid in ``$SANDBOX_HOME/fx.pid`` and its URL in ``fx.url``, logs to ``fx.log``, and waits until
``/health`` answers from that very pid. Settings come from options, then the environment
(``SANDBOX_FX_PORT``, ``SANDBOX_FX_TOKEN``, ``SANDBOX_HOME``), then defaults.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import httpx

DEFAULT_PORT = 8765
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_HOME = ".sandbox"
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
EXIT_NOT_RUNNING = 3  # LSB convention for `status` of a stopped service


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.func(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sandbox", description="Local sandbox source services.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_FX_PORT", DEFAULT_PORT)))
        p.add_argument("--home", type=Path, default=Path(os.environ.get("SANDBOX_HOME", DEFAULT_HOME)))

    def service(p: argparse.ArgumentParser) -> None:
        p.add_argument("--token", default=os.environ.get("SANDBOX_FX_TOKEN", DEFAULT_TOKEN))
        p.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
        p.add_argument("--start-date", type=date.fromisoformat, default=date(2026, 11, 1), help="YYYY-MM-DD")
        p.add_argument("--days", type=int, default=7, help="number of as_of_dates (default 7)")
        p.add_argument("--scale", type=float, default=1.0, help="multiplies the number of days")
        p.add_argument("--rate-429", type=float, default=0.0, help="probability of a 429 per request")
        p.add_argument("--rate-5xx", type=float, default=0.0, help="probability of a 503 per request")
        p.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds sent with 429")
        p.add_argument("--outage", action="store_true", help="answer every /v1 request with 503")
        p.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws")

    start = sub.add_parser("start", help="start the FX service in the background")
    common(start)
    service(start)
    start.set_defaults(func=_start)

    stop = sub.add_parser("stop", help="stop the background FX service")
    common(stop)
    stop.set_defaults(func=_stop)

    status = sub.add_parser("status", help="is the FX service running?")
    common(status)
    status.set_defaults(func=_status)

    serve = sub.add_parser("serve-fx", help="run the FX service in the foreground")
    common(serve)
    service(serve)
    serve.set_defaults(func=_serve_fx)
    return parser


def _serve_fx(args: argparse.Namespace) -> int:
    # Imported here so `sandbox stop/status` stay fast.
    import uvicorn

    from sandbox.generator.fx import generate_fx
    from sandbox.services.faults import FaultConfig
    from sandbox.services.fx_api import create_fx_app

    dataset = generate_fx(seed=args.seed, start=args.start_date, days=args.days, scale=args.scale)
    faults = FaultConfig(
        rate_429=args.rate_429,
        rate_5xx=args.rate_5xx,
        retry_after_seconds=args.retry_after,
        outage=args.outage,
        seed=args.fault_seed,
    )
    app = create_fx_app(dataset, args.token, faults)
    print(f"fx_api serving on http://{HOST}:{args.port} (seed {args.seed}, {dataset.days} days)", flush=True)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning", access_log=False)
    return 0


def _start(args: argparse.Namespace) -> int:
    home: Path = args.home
    url = f"http://{HOST}:{args.port}"
    pid = _running_pid(home)
    if pid is not None:
        running_url = _read(home / "fx.url") or url
        print(f"fx_api already running at {running_url} (pid {pid}, token {args.token})")
        return 0
    if not _port_free(args.port):
        print(
            f"error: port {args.port} on {HOST} is in use by another process; set SANDBOX_FX_PORT or --port"
        )
        return 1
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "fx.log"
    command = [sys.executable, "-m", "sandbox", "serve-fx", *_service_argv(args)]
    env = {**os.environ, "SANDBOX_FX_TOKEN": args.token}  # the token goes by env, not by command line
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env
        )
    (home / "fx.pid").write_text(f"{child.pid}\n")
    (home / "fx.url").write_text(f"{url}\n")
    if not _wait_healthy(url, child, START_TIMEOUT_SECONDS):
        _terminate(child.pid)
        _remove_state(home)
        timeout = f"{START_TIMEOUT_SECONDS:.0f} s"
        print(f"error: fx_api did not become healthy at {url} within {timeout}; see {log_path}")
        return 1
    print(f"fx_api started at {url} (pid {child.pid}, token {args.token})")
    return 0


def _stop(args: argparse.Namespace) -> int:
    home: Path = args.home
    pid = _running_pid(home)
    if pid is None:
        _remove_state(home)
        print("fx_api is not running")
        return 0
    if not _terminate(pid):
        print(f"error: fx_api (pid {pid}) did not exit after SIGTERM and SIGKILL")
        return 1
    _remove_state(home)
    print(f"fx_api stopped (pid {pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    home: Path = args.home
    pid = _running_pid(home)
    if pid is None:
        print("fx_api is not running")
        return EXIT_NOT_RUNNING
    url = _read(home / "fx.url") or f"http://{HOST}:{args.port}"
    healthy = _health_pid(url) == pid
    print(f"fx_api running at {url} (pid {pid}, {'healthy' if healthy else 'NOT answering /health'})")
    return 0 if healthy else 1


def _service_argv(args: argparse.Namespace) -> list[str]:
    argv = [
        f"--port={args.port}",
        f"--seed={args.seed}",
        f"--start-date={args.start_date.isoformat()}",
        f"--days={args.days}",
        f"--scale={args.scale}",
        f"--rate-429={args.rate_429}",
        f"--rate-5xx={args.rate_5xx}",
        f"--retry-after={args.retry_after}",
        f"--fault-seed={args.fault_seed}",
    ]
    return [*argv, "--outage"] if args.outage else argv


def _wait_healthy(url: str, child: subprocess.Popen[bytes], timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                return False
            if _health_pid(url, client) == child.pid:
                return True
            time.sleep(0.05)
    return False


def _health_pid(url: str, client: httpx.Client | None = None) -> int | None:
    """The pid reported by ``/health``, so we know the answer comes from our process and not a squatter."""
    try:
        if client is None:
            with httpx.Client(timeout=1.0, trust_env=False) as own:
                response = own.get(f"{url}/health")
        else:
            response = client.get(f"{url}/health")
        return int(response.json()["pid"]) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def _running_pid(home: Path) -> int | None:
    """The pid in fx.pid if that process is alive and is our service (guards against pid reuse)."""
    raw = _read(home / "fx.pid")
    if raw is None or not raw.isdigit():
        return None
    pid = int(raw)
    return pid if _alive(pid) and _is_ours(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not running.
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_ours(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():  # no procfs: trust the pid file
        return True
    try:
        return b"serve-fx" in cmdline.read_bytes()
    except OSError:
        return False


def _terminate(pid: int) -> bool:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.05)
    return not _alive(pid)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _remove_state(home: Path) -> None:
    for name in ("fx.pid", "fx.url"):
        (home / name).unlink(missing_ok=True)
