"""The sandbox FX REST service: daily rates as paginated JSON behind a bearer token.

Routes (all /v1 routes need ``Authorization: Bearer <token>`` and pass through fault injection):

- ``GET /v1/rates?published_date=YYYY-MM-DD&page_size=N&page_token=T``: records of the publications
  published on that UTC date and visible at the service clock.
- ``GET /v1/publications?since_seq=N&page_size=N&page_token=T``: visible publications with seq > N.
- ``GET /health``: liveness, no auth, no faults.
- ``/_sandbox/clock`` (GET/POST ``{"now": ISO | null}``), ``/_sandbox/faults`` (GET/POST partial
  ``FaultConfig``), ``/_sandbox/stats`` (GET, DELETE resets): test controls, no auth.
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.generator.fx import FxDataset, FxPublication, format_timestamp
from sandbox.services.faults import FaultConfig, FaultInjector
from sandbox.services.paging import PageTokenError, decode_page_token, encode_page_token
from sandbox.services.runner import ThreadedUvicorn
from sandbox.services.tls import SandboxCA

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Handler = Callable[[Request], Awaitable[JSONResponse]]


class BadParameter(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class FxServiceState:
    """Mutable service state: the clock, the fault injector and request statistics."""

    def __init__(
        self, dataset: FxDataset, token: str, faults: FaultConfig | None, now: datetime | None
    ) -> None:
        self.dataset = dataset
        self.token = token
        self.faults = FaultInjector(faults)
        self._lock = threading.Lock()
        self._now = now
        self._stats: Counter[str] = Counter()

    @property
    def now(self) -> datetime:
        # Default clock: the last publication, so everything is visible.
        return self._now or self.dataset.last_published_at

    def set_now(self, now: datetime | None) -> None:
        self._now = now

    def visible(self) -> list[FxPublication]:
        now = self.now
        return [p for p in self.dataset.publications if p.published_at <= now]

    def count(self, status: int) -> None:
        with self._lock:
            self._stats["requests"] += 1
            self._stats[str(status)] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_status = {k: v for k, v in sorted(self._stats.items()) if k != "requests"}
            return {
                "requests": self._stats["requests"],
                "responses_429": self._stats["429"],
                "responses_5xx": sum(v for k, v in by_status.items() if k.startswith("5")),
                "responses_401": self._stats["401"],
                "by_status": by_status,
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()


def create_fx_app(
    dataset: FxDataset, token: str, faults: FaultConfig | None = None, now: datetime | None = None
) -> Starlette:
    state = FxServiceState(dataset, token, faults, now)

    def v1(handler: Callable[[Request], JSONResponse]) -> Handler:
        """Wraps a /v1 handler: faults first (like a gateway would), then auth, then the handler."""

        async def endpoint(request: Request) -> JSONResponse:
            response = _guarded(request, handler)
            state.count(response.status_code)
            return response

        return endpoint

    def _guarded(request: Request, handler: Callable[[Request], JSONResponse]) -> JSONResponse:
        fault = state.faults.draw()
        if fault is not None:
            return _error(fault.status, fault.error, fault.message, headers=fault.headers)
        if request.headers.get("authorization") != f"Bearer {state.token}":
            return _error(
                401,
                "invalid_token",
                "missing or invalid bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            return handler(request)
        except BadParameter as exc:
            return _error(400, "invalid_parameter", str(exc), parameter=exc.parameter)

    def rates(request: Request) -> JSONResponse:
        params = request.query_params
        published = _parse_date(params.get("published_date"), "published_date")
        page_size = _parse_int(params.get("page_size"), "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        records = [r for p in state.visible() if p.published_date == published for r in p.records]
        return _page(records, f"rates:{published.isoformat()}", page_size, params.get("page_token"))

    def publications(request: Request) -> JSONResponse:
        params = request.query_params
        since = _parse_int(params.get("since_seq"), "since_seq", 0, 0, None)
        page_size = _parse_int(params.get("page_size"), "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        rows = [p.summary() for p in state.visible() if p.seq > since]
        return _page(rows, f"publications:{since}", page_size, params.get("page_token"))

    async def health(request: Request) -> JSONResponse:
        # The pid lets `sandbox start` check that the answer comes from the process it launched.
        return JSONResponse({"status": "ok", "service": "fx_api", "pid": os.getpid()})

    async def clock(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await _json_body(request)
            if "now" not in body:
                return _error(
                    400, "invalid_parameter", "body must contain 'now' (ISO timestamp or null)", "now"
                )
            try:
                state.set_now(_parse_timestamp(body["now"]))
            except BadParameter as exc:
                return _error(400, "invalid_parameter", str(exc), parameter=exc.parameter)
        return JSONResponse({"now": format_timestamp(state.now)})

    async def faults_route(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await _json_body(request)
            try:
                state.faults.configure(state.faults.config.updated(body))
            except (ValueError, TypeError) as exc:
                return _error(400, "invalid_parameter", str(exc))
        return JSONResponse(state.faults.config.as_dict())

    async def stats(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            state.reset_stats()
        return JSONResponse(state.stats())

    app = Starlette(
        routes=[
            Route("/v1/rates", v1(rates), methods=["GET"]),
            Route("/v1/publications", v1(publications), methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
            Route("/_sandbox/faults", faults_route, methods=["GET", "POST"]),
            Route("/_sandbox/stats", stats, methods=["GET", "DELETE"]),
        ]
    )
    app.state.fx = state
    return app


def _page(rows: list[Any], query: str, page_size: int, page_token: str | None) -> JSONResponse:
    offset = 0
    if page_token is not None:
        try:
            offset = decode_page_token(page_token, query)
        except PageTokenError as exc:
            raise BadParameter("page_token", str(exc)) from exc
    end = offset + page_size
    next_token = encode_page_token(query, end) if end < len(rows) else None
    return JSONResponse({"data": rows[offset:end], "next_page_token": next_token})


def _parse_date(raw: str | None, name: str) -> date:
    if raw is None:
        raise BadParameter(name, f"{name} is required (YYYY-MM-DD)")
    try:
        if not _DATE_RE.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(name, f"{name} must be a date YYYY-MM-DD, got {raw!r}") from None


def _parse_int(raw: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise BadParameter(name, f"{name} must be {bounds}, got {value}")
    return value


def _parse_timestamp(raw: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        ts = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        raise BadParameter("now", f"now must be an ISO timestamp with a timezone, got {raw!r}") from None
    if ts.tzinfo is None:
        raise BadParameter("now", f"now must include a timezone (e.g. 'Z'), got {raw!r}")
    return ts


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _error(
    status: int, error: str, message: str, parameter: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": error, "message": message}
    if parameter is not None:
        body["parameter"] = parameter
    return JSONResponse(body, status_code=status, headers=headers)


class FxApiServer:
    """The FX service on 127.0.0.1 in a background thread; controls go over real HTTP like any client's."""

    def __init__(
        self,
        dataset: FxDataset,
        token: str = "sandbox-token",
        faults: FaultConfig | None = None,
        now: datetime | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ca: SandboxCA | None = None,
    ) -> None:
        """``ca``: serve HTTPS with a certificate from this sandbox CA (None: plain HTTP)."""
        self.dataset = dataset
        self.token = token
        self.app = create_fx_app(dataset, token, faults, now)
        self.ca_path = str(ca.ca_path) if ca else None
        tls: dict[str, Any] = {}
        if ca is not None:
            tls = {"ssl_certfile": str(ca.server_cert("fx").bundle), "client_verify": ca.client_context()}
        self._runner = ThreadedUvicorn(self.app, host=host, port=port, **tls)
        self._verify = ca.client_context() if ca else True
        self._admin_client: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        return self._runner.base_url

    def start(self) -> FxApiServer:
        self._runner.start()
        self._admin_client = httpx.Client(
            base_url=self.base_url, timeout=5.0, trust_env=False, verify=self._verify
        )
        return self

    def stop(self) -> None:
        if self._admin_client is not None:
            self._admin_client.close()
            self._admin_client = None
        self._runner.stop()

    def __enter__(self) -> FxApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_clock(self, now: datetime | str | None) -> str:
        value = now.isoformat() if isinstance(now, datetime) else now
        return self._admin("POST", "/_sandbox/clock", {"now": value})["now"]

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        return self._admin("POST", "/_sandbox/faults", changes)

    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "/_sandbox/stats")

    def reset_stats(self) -> dict[str, Any]:
        return self._admin("DELETE", "/_sandbox/stats")

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._admin_client is None:
            raise RuntimeError("FxApiServer is not started")
        response = self._admin_client.request(method, path, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"fx sandbox {method} {path} -> {response.status_code}: {response.text}")
        return response.json()
