"""GET-JSON over httpx with the failure handling every REST source needs.

- 429, 502, 503, 504, timeouts and connection errors are retried with exponential backoff and full
  jitter (sleep uniform(0, min(cap, base * 2**n))); a ``Retry-After`` header (seconds or HTTP-date)
  replaces the jittered delay, capped by ``max_backoff_seconds``.
- 401/403 raise SourceAuthError at once; other 4xx raise SourceRequestError, other 5xx SourceServerError
  (retrying cannot help; a SourceServerError still counts against the circuit breaker).
- A server certificate that does not verify raises SourceTlsError at once (verification is always on;
  ``ca_path`` names the CA bundle to trust, e.g. the sandbox's CA).
- A request whose retries are exhausted counts as one failure for the circuit breaker.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx

from platform_assets.sources.errors import (
    SourceAuthError,
    SourceRequestError,
    SourceResponseError,
    SourceServerError,
    SourceTlsError,
    SourceUnavailableError,
)
from platform_assets.sources.http.circuit_breaker import CircuitBreaker

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
# Network-level failures worth retrying; protocol misuse (bad URL, unsupported scheme) is not.
RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
BODY_EXCERPT_CHARS = 300

QueryParams = Mapping[str, str | int | float | None]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # total tries per request, the first one included
    base_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0  # caps both the jittered backoff and Retry-After

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("backoff seconds must be >= 0")

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full-jitter delay before retry ``retry_number`` (1 for the first retry)."""
        ceiling = min(self.max_backoff_seconds, self.base_backoff_seconds * 2 ** (retry_number - 1))
        return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None  # rejects negatives and NaN
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class ResilientHttpClient:
    """GET JSON from one source with retries, Retry-After and a circuit breaker."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float = 10.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
        trust_env: bool = True,
        ca_path: str | None = None,
        ca_setting: str = "the CA setting",
    ) -> None:
        """``ca_path``: a PEM CA bundle to verify the server with (None: the system store); certificates
        are always verified. ``ca_setting`` names the setting to fix in a certificate error."""
        self.source = source
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(source)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._wall_clock = wall_clock
        self._ca_setting = ca_setting
        # trust_env (default on) lets corporate proxies and CA bundles from the environment apply.
        self._http = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=timeout_seconds,
            transport=transport,
            trust_env=trust_env,
            verify=ssl.create_default_context(cafile=ca_path) if ca_path else True,
        )

    def get_json(self, path: str, params: QueryParams | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        url = str(self._http.build_request("GET", path, params=clean).url)
        self.breaker.before_call(url)
        try:
            response = self._get_with_retries(path, clean, url)
        except SourceUnavailableError:
            self.breaker.record_failure()
            raise
        except (SourceAuthError, SourceRequestError, SourceTlsError):
            self.breaker.record_success()  # the source answered: it is up, the request was wrong
            raise
        except BaseException:
            self.breaker.abandon_call()  # interrupted: no evidence either way
            raise
        self.breaker.record_success()
        try:
            return response.json()
        except ValueError:
            raise SourceResponseError(self.source, url, f"body is not JSON: {_excerpt(response)}") from None

    def _get_with_retries(self, path: str, params: dict[str, Any], url: str) -> httpx.Response:
        attempts = self.retry.max_attempts
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                response = self._http.get(path, params=params)
            except httpx.ConnectError as exc:
                if _certificate_error(exc):  # the same certificate fails every retry
                    raise SourceTlsError(self.source, url, _certificate_error(exc), self._ca_setting) from exc
                last_error = f"{type(exc).__name__}: {exc}"
            except RETRYABLE_ERRORS as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status in AUTH_STATUSES:
                    raise SourceAuthError(self.source, url, status)
                if status >= 500 and status not in RETRYABLE_STATUSES:
                    raise SourceServerError(self.source, url, status, _excerpt(response))
                if status not in RETRYABLE_STATUSES:
                    raise SourceRequestError(self.source, url, status, _excerpt(response))
                last_error = f"HTTP {status}: {_excerpt(response)}"
                retry_after = parse_retry_after(response.headers.get("retry-after"), self._wall_clock())
            if attempt == attempts:
                break
            delay = self.retry.backoff(attempt, self._rng) if retry_after is None else retry_after
            delay = min(delay, self.retry.max_backoff_seconds)
            log.warning(
                "%s: GET %s -> %s; retry %d/%d in %.2f s",
                self.source,
                url,
                last_error,
                attempt,
                attempts - 1,
                delay,
            )
            self._sleep(delay)
        raise SourceUnavailableError(self.source, url, attempts, last_error)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ResilientHttpClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _certificate_error(exc: BaseException) -> str:
    """The certificate verification failure behind ``exc``, or ''."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause.verify_message or str(cause)
        cause = cause.__cause__ or cause.__context__
    return ""


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "..."
