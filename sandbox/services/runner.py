"""Run an ASGI app with uvicorn in a background thread on loopback (tests and embedding)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from types import TracebackType

import httpx
import uvicorn
from starlette.types import ASGIApp


class ThreadedUvicorn:
    """Serves ``app`` on ``host:port`` (port 0 picks a free one) until ``stop()``; HTTPS with a cert file."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        health_path: str = "/health",
        ssl_certfile: str | None = None,
        client_verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._health_path = health_path
        self._ssl_certfile = ssl_certfile  # a PEM holding the server certificate and its key
        self._client_verify = client_verify  # how the health check trusts that certificate
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("server is not started")
        scheme = "https" if self._ssl_certfile else "http"
        return f"{scheme}://{self._host}:{self.port}"

    def start(self, timeout_seconds: float = 10.0) -> None:
        # Bind first so the port is known (and reserved) before uvicorn starts.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._requested_port))
        self.port = sock.getsockname()[1]
        tls = {}
        if self._ssl_certfile:
            # an idle keep-alive TLS client never sends close_notify: bound the graceful wait at shutdown
            tls = {"ssl_certfile": self._ssl_certfile, "timeout_graceful_shutdown": 1}
        config = uvicorn.Config(self._app, log_level="warning", access_log=False, lifespan="off", **tls)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{self.port}", daemon=True
        )
        self._thread.start()
        self._wait_healthy(timeout_seconds)

    def stop(self, timeout_seconds: float = 10.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        if self._ssl_certfile:
            self._thread.join(0.5)
            self._server.force_exit = True  # only idle keep-alive clients remain: nothing is in flight
        self._thread.join(timeout_seconds)
        if self._thread.is_alive():
            raise RuntimeError(f"uvicorn on {self.base_url} did not stop within {timeout_seconds} s")
        self._server = None
        self._thread = None

    def _wait_healthy(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        url = self.base_url + self._health_path
        last_error = "no answer"
        with httpx.Client(timeout=1.0, trust_env=False, verify=self._client_verify) as client:
            while time.monotonic() < deadline:
                if self._thread is not None and not self._thread.is_alive():
                    raise RuntimeError(f"server thread for {self.base_url} exited during start-up")
                try:
                    if client.get(url).status_code == 200:
                        return
                    last_error = "health check did not answer 200"
                except httpx.TransportError as exc:
                    last_error = repr(exc)
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"server on {self.base_url} not healthy after {timeout_seconds} s: {last_error}")

    def __enter__(self) -> ThreadedUvicorn:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
