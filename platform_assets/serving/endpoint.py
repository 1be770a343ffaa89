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

    def __post_init__(self) -> None:
        self._server = None
        self._session: SparkSession | None = None
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.listening_address  # type: ignore[union-attr]
        return f"sc://{host}:{port}"

    def start(self) -> LakeEndpoint:
        from pysail.spark import SparkConnectServer

        self._server = SparkConnectServer(ip=self.host, port=self.port)
        self._server.start(background=True)
        self._session = SparkSession.builder.remote(self.url).create()
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
        if self._session is not None:
            self._session.stop()
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> LakeEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
