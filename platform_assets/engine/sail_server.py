"""One Sail Spark Connect server per process, started on first use and stopped at exit."""

from __future__ import annotations

import atexit
import os
import threading

_lock = threading.Lock()
_server = None
_endpoint: str | None = None


def sail_endpoint() -> str:
    """``sc://127.0.0.1:<port>`` of this process' in-process Sail server (starting it if needed)."""
    global _server, _endpoint
    with _lock:
        if _endpoint is None:
            os.environ.setdefault("RUST_LOG", "error")  # Sail logs every session at INFO otherwise
            from pysail.spark import SparkConnectServer

            server = SparkConnectServer(ip="127.0.0.1", port=0)
            server.start(background=True)
            host, port = server.listening_address
            _server, _endpoint = server, f"sc://{host}:{port}"
            atexit.register(_stop)
        return _endpoint


def _stop() -> None:
    global _server, _endpoint
    if _server is not None:
        try:
            _server.stop()
        finally:
            _server, _endpoint = None, None
