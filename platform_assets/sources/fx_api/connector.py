"""Reads the FX service: rate records by publication date, and the publication feed (for sensors).

Records come back exactly as the service sent them (no renaming, no type conversion): bronze keeps the
raw payload, and conforming types is silver's job.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import date
from types import TracebackType
from typing import Any

from platform_assets.sources.errors import SourceResponseError
from platform_assets.sources.http.circuit_breaker import CircuitBreaker
from platform_assets.sources.http.resilient_client import ResilientHttpClient, RetryPolicy

SOURCE = "fx_api"
RATES_PATH = "/v1/rates"
PUBLICATIONS_PATH = "/v1/publications"
MAX_PAGE_SIZE = 1000


class FxApiConnector:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        page_size: int = 100,
        max_attempts: int = 6,
        base_backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        timeout_seconds: float = 10.0,
        circuit_failure_threshold: int = 3,
        circuit_cooldown_seconds: float = 60.0,
        ca_path: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"{SOURCE}: page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.breaker = CircuitBreaker(
            SOURCE, circuit_failure_threshold, circuit_cooldown_seconds, clock=clock
        )
        self._client = ResilientHttpClient(
            SOURCE,
            self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout_seconds=timeout_seconds,
            retry=RetryPolicy(max_attempts, base_backoff_seconds, max_backoff_seconds),
            breaker=self.breaker,
            sleep=sleep,
            rng=rng,
            ca_path=ca_path,
            ca_setting="FX_API_CA_PATH (or PLATFORM_CA_PATH)",
        )

    def iter_rate_pages(self, published_date: date) -> Iterator[list[dict[str, Any]]]:
        """Pages of the rate records published on ``published_date`` (UTC), following next_page_token."""
        params = {"published_date": published_date.isoformat(), "page_size": self.page_size}
        yield from self._pages(RATES_PATH, params, f"published_date={published_date.isoformat()}")

    def list_publications(self, since_seq: int) -> list[dict[str, Any]]:
        """Every visible publication with seq > since_seq (all pages), in seq order."""
        params = {"since_seq": since_seq, "page_size": self.page_size}
        return [p for page in self._pages(PUBLICATIONS_PATH, params, f"since_seq={since_seq}") for p in page]

    def _pages(self, path: str, params: dict[str, Any], query: str) -> Iterator[list[dict[str, Any]]]:
        token: str | None = None
        seen: set[str] = set()
        page_number = 1
        while True:
            body = self._client.get_json(path, {**params, "page_token": token})
            where = f"{self.base_url}{path}"
            records, token = _parse_page(body, where, f"{query}, page {page_number}")
            yield records
            if token is None:
                return
            if token in seen:  # a server bug must not turn into an endless loop
                raise SourceResponseError(
                    SOURCE, where, f"{query}, page {page_number}: next_page_token repeats an earlier token"
                )
            seen.add(token)
            page_number += 1

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> FxApiConnector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _parse_page(body: Any, url: str, where: str) -> tuple[list[dict[str, Any]], str | None]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise SourceResponseError(SOURCE, url, f"{where}: expected an object with a 'data' list")
    token = body.get("next_page_token")
    if token is not None and not isinstance(token, str):
        raise SourceResponseError(
            SOURCE, url, f"{where}: next_page_token must be a string or null, got {token!r}"
        )
    for index, record in enumerate(body["data"]):
        if not isinstance(record, dict):
            raise SourceResponseError(
                SOURCE, url, f"{where}: record {index} is not an object: {record!r:.200}"
            )
    return body["data"], token
