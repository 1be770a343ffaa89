"""`platform serve`: a Spark Connect endpoint (Sail) over the lake's tables, for any PySpark client.

Sail keeps each session's catalog to itself, so a table registered in one session is invisible to a
client's session; global temporary views are the one namespace Sail shares across sessions. The
endpoint therefore binds every lake table to ``global_temp.<layer>__<table>`` (re-bound every
``refresh_seconds``, so tables built later appear) and a client queries, for example,
``SELECT * FROM global_temp.gold__agg_daily_revenue``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from platform_assets.engine.delta_io import read_delta
from platform_assets.engine.lake_catalog import lake_datasets, view_name
from platform_assets.lake.location import Lake

if TYPE_CHECKING:
    from platform_assets.governance.decision import Caller
    from platform_assets.serving.tls import TlsFiles


def bind_global_views(spark: SparkSession, lake: Lake) -> list[str]:
    """``global_temp.<layer>__<table>`` for every lake table; returns the view names."""
    names = []
    for dataset in lake_datasets(lake):
        read_delta(spark, lake.uri(dataset)).createOrReplaceGlobalTempView(view_name(dataset))
        names.append(f"global_temp.{view_name(dataset)}")
    return names


@dataclass
class LakeEndpoint:
    """A Sail Spark Connect server on ``host:port`` (0: a free port) serving the lake's tables."""

    lake: Lake
    host: str = "127.0.0.1"
    port: int = 0
    refresh_seconds: float = 30.0
    views: list[str] = field(default_factory=list)
    caller: Caller | None = None  # governed: only what this caller's role may read, masked
    tls: TlsFiles | None = None  # TLS on host:port, Sail itself on loopback (serving/tls.py)

    def __post_init__(self) -> None:
        self._server = None
        self._terminator = None
        self._session: SparkSession | None = None
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    @property
    def url(self) -> str:
        """What clients connect to (with TLS: ``sc://host:port/;use_ssl=true``)."""
        if self._terminator is not None:
            host, port = self._terminator.address
            return f"sc://{host}:{port}/;use_ssl=true"
        return self._plain_url

    @property
    def _plain_url(self) -> str:
        host, port = self._server.listening_address  # type: ignore[union-attr]
        return f"sc://{host}:{port}"

    def start(self) -> LakeEndpoint:
        from pysail.spark import SparkConnectServer

        # with TLS, Sail (plain gRPC) listens on loopback only and the terminator takes host:port
        self._server = SparkConnectServer(
            ip="127.0.0.1" if self.tls else self.host, port=0 if self.tls else self.port
        )
        self._server.start(background=True)
        if self.tls is not None:
            from platform_assets.serving.tls import TlsTerminator

            self._terminator = TlsTerminator(
                self._server.listening_address, self.host, self.port, self.tls
            ).start()
        self._session = SparkSession.builder.remote(self._plain_url).create()
        self._session.conf.set("spark.sql.session.timeZone", "UTC")
        self.views = self._bind()
        self._refresher = threading.Thread(target=self._refresh, name="lake-endpoint-refresh", daemon=True)
        self._refresher.start()
        return self

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.views = self._bind()

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
        if self._session is not None:
            self._session.stop()
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> LakeEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
