"""The FX connector and resilient HTTP client against the real sandbox service on loopback."""

import random
import socket
import time
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from platform_assets.sources.errors import (
    CircuitOpenError,
    SourceAuthError,
    SourceRequestError,
    SourceUnavailableError,
)
from platform_assets.sources.fx_api import FxApiConnector, FxApiResource
from platform_assets.sources.http import CircuitBreaker, ResilientHttpClient, parse_retry_after
from sandbox.services.fx_api import FxApiServer

DAY3 = date(2026, 11, 4)  # 16 records published that day


class RecordingSleep:
    """Stands in for time.sleep: records the delays so tests stay fast and can assert them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connector(server: FxApiServer, **overrides: Any) -> FxApiConnector:
    """A connector with a recording sleep and seeded jitter unless a test overrides them."""
    settings: dict[str, Any] = {"token": server.token, "sleep": RecordingSleep(), "rng": random.Random(0)}
    return FxApiConnector(server.base_url, **{**settings, **overrides})


def test_rate_pages_are_the_raw_records_page_by_page(fx_server: FxApiServer) -> None:
    with connector(fx_server, page_size=5) as fx:
        pages = list(fx.iter_rate_pages(DAY3))
    assert [len(p) for p in pages] == [5, 5, 5, 1]
    assert [r for p in pages for r in p] == fx_server.dataset.records_published_on(DAY3)
    assert fx_server.stats()["requests"] == 4


def test_list_publications_follows_every_page(fx_server: FxApiServer) -> None:
    with connector(fx_server, page_size=2) as fx:
        assert fx.list_publications(since_seq=0) == [p.summary() for p in fx_server.dataset.publications]
        assert [p["seq"] for p in fx.list_publications(since_seq=6)] == [7, 8, 9]
        assert fx.list_publications(since_seq=9) == []


def test_429s_are_retried_after_retry_after(fx_server: FxApiServer) -> None:
    # Fault seed 3 at rate 0.5 throttles requests 1, 3, 6 and 7 of the 8 this read needs.
    fx_server.set_faults(rate_429=0.5, seed=3)
    sleep = RecordingSleep()
    with connector(fx_server, page_size=5, sleep=sleep) as fx:
        records = [r for p in fx.iter_rate_pages(DAY3) for r in p]
    assert records == fx_server.dataset.records_published_on(DAY3)
    stats = fx_server.stats()
    assert (stats["requests"], stats["responses_429"]) == (8, 4)
    assert sleep.delays == [1.0, 1.0, 1.0, 1.0]  # the server's Retry-After, not the jittered backoff


def test_retry_after_is_really_waited(fx_server: FxApiServer) -> None:
    fx_server.set_faults(rate_429=0.5, seed=1)  # seed 1: the first request is throttled, the second is not
    started = time.monotonic()
    with FxApiConnector(fx_server.base_url, fx_server.token) as fx:
        records = [r for p in fx.iter_rate_pages(DAY3) for r in p]
    elapsed = time.monotonic() - started
    assert len(records) == 16
    assert fx_server.stats()["responses_429"] == 1
    assert elapsed >= 1.0


def test_retry_after_is_capped_by_max_backoff(fx_server: FxApiServer) -> None:
    fx_server.set_faults(rate_429=0.5, seed=1, retry_after_seconds=120)
    sleep = RecordingSleep()
    with connector(fx_server, sleep=sleep, max_backoff_seconds=2.0) as fx:
        assert len(next(fx.iter_rate_pages(DAY3))) == 16
    assert sleep.delays == [2.0]


def test_transient_5xx_are_retried_with_jittered_backoff(fx_server: FxApiServer) -> None:
    fx_server.set_faults(rate_5xx=0.5, seed=3)  # same draws as above: requests 1, 3, 6, 7 answer 503
    sleep = RecordingSleep()
    with connector(fx_server, page_size=5, sleep=sleep, base_backoff_seconds=0.5) as fx:
        records = [r for p in fx.iter_rate_pages(DAY3) for r in p]
    assert records == fx_server.dataset.records_published_on(DAY3)
    assert fx_server.stats()["responses_5xx"] == 4
    # Retry numbers per page: 1 | 1 | - | 1, 2. Full jitter: uniform(0, min(cap, 0.5 * 2**(n-1))).
    ceilings = [0.5, 0.5, 0.5, 1.0]
    assert len(sleep.delays) == 4
    assert all(0.0 <= d <= c for d, c in zip(sleep.delays, ceilings, strict=True))
    assert len(set(sleep.delays)) == 4  # jittered, not a fixed schedule


def test_exhausted_retries_raise_a_clear_error(fx_server: FxApiServer) -> None:
    fx_server.set_faults(outage=True)
    sleep = RecordingSleep()
    with (
        connector(fx_server, max_attempts=3, sleep=sleep) as fx,
        pytest.raises(SourceUnavailableError) as err,
    ):
        next(fx.iter_rate_pages(DAY3))
    message = str(err.value)
    url = f"{fx_server.base_url}/v1/rates?published_date=2026-11-04&page_size=100"
    assert message.startswith(f"fx_api: GET {url} failed after 3 attempts; last error: HTTP 503")
    assert "sandbox outage" in message
    assert fx_server.stats()["requests"] == 3
    assert len(sleep.delays) == 2  # no sleep after the last attempt


def test_circuit_breaker_opens_rejects_half_opens_and_closes(fx_server: FxApiServer) -> None:
    clock = FakeClock()
    fx = connector(
        fx_server, max_attempts=2, circuit_failure_threshold=2, circuit_cooldown_seconds=60, clock=clock
    )
    fx_server.set_faults(outage=True)
    for _ in range(2):
        with pytest.raises(SourceUnavailableError):
            fx.list_publications(since_seq=0)
    assert fx.breaker.state == "open"
    assert fx_server.stats()["requests"] == 4

    with pytest.raises(CircuitOpenError, match=r"^fx_api: circuit open after 2 consecutive failed requests"):
        fx.list_publications(since_seq=0)
    assert fx_server.stats()["requests"] == 4  # rejected without touching the server

    clock.now += 59.0
    with pytest.raises(CircuitOpenError):
        fx.list_publications(since_seq=0)
    clock.now += 1.0
    assert fx.breaker.state == "half_open"

    fx_server.set_faults(outage=False)
    assert len(fx.list_publications(since_seq=0)) == 9
    assert fx.breaker.state == "closed"
    assert fx_server.stats()["requests"] == 5
    fx.close()


def test_failed_half_open_trial_reopens_the_circuit() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("fx_api", failure_threshold=1, cooldown_seconds=10, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 10
    breaker.before_call()  # the trial goes out...
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # ...and only one trial at a time
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 9.9
    with pytest.raises(CircuitOpenError, match=r"for another 0\.1 s"):
        breaker.before_call()


def test_wrong_token_raises_auth_error_without_retrying(fx_server: FxApiServer) -> None:
    sleep = RecordingSleep()
    with connector(fx_server, token="wrong", sleep=sleep) as fx, pytest.raises(SourceAuthError) as err:
        fx.list_publications(since_seq=0)
    assert str(err.value) == (
        f"fx_api: GET {fx_server.base_url}/v1/publications?since_seq=0&page_size=100 answered HTTP 401: "
        "the token was rejected; check the credentials configured for fx_api"
    )
    stats = fx_server.stats()
    assert (stats["requests"], stats["responses_401"]) == (1, 1)
    assert sleep.delays == []


def test_other_4xx_raise_request_error_with_the_body(fx_server: FxApiServer) -> None:
    client = ResilientHttpClient(
        "fx_api",
        fx_server.base_url,
        headers={"Authorization": f"Bearer {fx_server.token}"},
        sleep=RecordingSleep(),
    )
    with client, pytest.raises(SourceRequestError) as err:
        client.get_json("/v1/rates", {"published_date": "yesterday"})
    assert err.value.status == 400
    assert "published_date must be a date YYYY-MM-DD, got 'yesterday'" in err.value.body_excerpt
    assert fx_server.stats()["requests"] == 1


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleep = RecordingSleep()
    fx = FxApiConnector(f"http://127.0.0.1:{port}", "t", max_attempts=2, sleep=sleep)
    with (
        fx,
        pytest.raises(SourceUnavailableError, match=r"failed after 2 attempts; last error: ConnectError"),
    ):
        fx.list_publications(since_seq=0)
    assert len(sleep.delays) == 1


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 4, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("1", now) == 1.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=5), usegmt=True), now) == 5.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now) == 0.0
    for invalid in (None, "", "soon", "-3"):
        assert parse_retry_after(invalid, now) is None


def test_resource_builds_a_working_connector(fx_server: FxApiServer) -> None:
    resource = FxApiResource(base_url=fx_server.base_url, token=fx_server.token, page_size=7)
    with resource.connector() as fx:
        assert [len(p) for p in fx.iter_rate_pages(DAY3)] == [7, 7, 2]
    fields = FxApiResource.model_fields
    assert set(fields) == {
        "base_url",
        "token",
        "ca_path",
        "page_size",
        "max_attempts",
        "max_backoff_seconds",
        "timeout_seconds",
        "circuit_failure_threshold",
        "circuit_cooldown_seconds",
    }
    assert all(f.description for f in fields.values())
