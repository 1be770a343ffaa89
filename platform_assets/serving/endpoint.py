"""`platform serve`: a Spark Connect endpoint (Sail) over the lake's tables, for any PySpark client.

Sail keeps each session's catalog to itself, so a table registered in one session is invisible to a
client's session; global temporary views are the one namespace Sail shares across sessions. The
endpoint therefore binds every lake table to ``global_temp.<layer>__<table>`` (re-bound every
``refresh_seconds``, so tables built later appear), and clients connect through a proxy
(``session_proxy.py``) that creates, in each client session before its first call, the databases
``bronze``/``silver``/``gold`` with one view per served table over its global view. A client queries
``SELECT * FROM gold.agg_daily_revenue``, exactly as in ``platform sql``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from platform_assets.engine.delta_io import read_delta
from platform_assets.engine.lake_catalog import lake_datasets, view_name
from platform_assets.lake.location import Lake
from platform_assets.serving.session_proxy import SessionProxy

if TYPE_CHECKING:
    from platform_assets.governance.decision import Caller
    from platform_assets.serving.tls import TlsFiles


def session_statements(views: list[str]) -> list[str]:
    """What a client session runs first: ``CREATE DATABASE <layer>`` and ``<layer>.<table>`` views."""
    tables = [name.removeprefix("global_temp.").split("__", 1) for name in views]
    layers = sorted({layer for layer, _ in tables})
    return [f"CREATE DATABASE IF NOT EXISTS {layer}" for layer in layers] + [
        f"CREATE OR REPLACE VIEW {layer}.{table} AS SELECT * FROM global_temp.{layer}__{table}"
        for layer, table in tables
    ]


def bind_global_views(spark: SparkSession, lake: Lake) -> list[str]:
    """``global_temp.<layer>__<table>`` for every lake table; returns the view names."""
    names = []
    for dataset in lake_datasets(lake):
        read_delta(spark, lake.uri(dataset)).createOrReplaceGlobalTempView(view_name(dataset))
        names.append(f"global_temp.{view_name(dataset)}")
    return names


@dataclass
class LakeEndpoint:
    """A Spark Connect endpoint on ``host:port`` (0: a free port) serving the lake's tables by name.

    Sail listens on a private loopback port; clients reach it through the session proxy.
    """

    lake: Lake
    host: str = "127.0.0.1"
    port: int = 0
    refresh_seconds: float = 30.0
    views: list[str] = field(default_factory=list)
    caller: Caller | None = None  # governed: only what this caller's role may read, masked
    tls: TlsFiles | None = None  # TLS on host:port, Sail itself on loopback (serving/tls.py)

    def __post_init__(self) -> None:
        self._server = None
        self._proxy: SessionProxy | None = None
        self._generation = 0  # bumped when the served views change: sessions re-run their statements
        self._retired: list[str] = []  # views served before and no longer: dropped from sessions
        self._terminator = None
        self._session: SparkSession | None = None
        self._stop = threading.Event()
        self._views_lock = threading.Lock()
        self._refresher: threading.Thread | None = None

    @property
    def url(self) -> str:
        """What clients connect to (with TLS: ``sc://host:port/;use_ssl=true``)."""
        if self._terminator is not None:
            host, port = self._terminator.address
            return f"sc://{host}:{port}/;use_ssl=true"
        assert self._proxy is not None
        return f"sc://{self._proxy.host}:{self._proxy.port}"

    @property
    def _sail_address(self) -> str:
        host, port = self._server.listening_address  # type: ignore[union-attr]
        return f"{host}:{port}"

    def start(self) -> LakeEndpoint:
        from pysail.spark import SparkConnectServer

        self._server = SparkConnectServer(ip="127.0.0.1", port=0)
        self._server.start(background=True)
        self._session = SparkSession.builder.remote(f"sc://{self._sail_address}").create()
        self._session.conf.set("spark.sql.session.timeZone", "UTC")
        self._publish(self._bind())
        # with TLS, the session proxy listens on loopback only and the terminator takes host:port
        proxy_host, proxy_port = ("127.0.0.1", 0) if self.tls else (self.host, self.port)
        self._proxy = SessionProxy(self._sail_address, proxy_host, proxy_port, self._statements).start()
        if self.tls is not None:
            from platform_assets.serving.tls import TlsTerminator

            self._terminator = TlsTerminator(
                (self._proxy.host, self._proxy.port), self.host, self.port, self.tls
            ).start()
        self._refresher = threading.Thread(target=self._refresh, name="lake-endpoint-refresh", daemon=True)
        self._refresher.start()
        return self

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self._publish(self._bind())

    def _publish(self, views: list[str]) -> None:
        with self._views_lock:
            if views != self.views:
                self._retired = sorted({*self._retired, *self.views} - set(views))
                self.views = views
                self._generation += 1

    def _statements(self) -> tuple[int, list[str]]:
        with self._views_lock:
            dropped = [
                f"DROP VIEW IF EXISTS {v.removeprefix('global_temp.').replace('__', '.', 1)}"
                for v in self._retired
            ]
            return self._generation, dropped + session_statements(self.views)

    def _bind(self) -> list[str]:
        assert self._session is not None
        if self.caller is None:
            return bind_global_views(self._session, self.lake)
        from platform_assets.governance.serving_catalog import bind_governed_views

        return bind_governed_views(self._session, self.lake, self.caller, self.views)

    def stop(self) -> None:
        self._stop.set()
        if self._terminator is not None:
            self._terminator.stop()
        if self._proxy is not None:
            self._proxy.stop()
        if self._session is not None:
            self._session.stop()
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> LakeEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
