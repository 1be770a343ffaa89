"""Step retries for errors that can pass (network, throttling, commit conflicts), and only for those.

A Dagster ``RetryPolicy`` retries every exception: a malformed file waited 30 s and 60 s for two
retries that could not succeed, and the step then showed only "Exceeded max_retries of 2". Here the
step body is wrapped instead: a transient error (anywhere in the exception's cause chain) asks for a
retry with exponential backoff (``dg.RetryRequested``); any other error fails the step at once with
its own message. Connectors already retry single requests with backoff; this re-runs the whole step
after a longer outage.

An error type elsewhere in the platform marks itself transient with a class attribute
``transient = True`` (e.g. a lost optimistic-concurrency race on a committed position).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import httpx
import psycopg2
from confluent_kafka import KafkaException
from deltalake.exceptions import CommitFailedError

from platform_assets.sources.errors import CircuitOpenError, SourceServerError, SourceUnavailableError

MAX_RETRIES = 2
FIRST_DELAY_SECONDS = 30.0
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted
    TimeoutError,
    httpx.TransportError,  # network and timeouts
    psycopg2.OperationalError,  # connection lost
    CommitFailedError,  # a concurrent Delta commit won: re-read and try again
    CircuitOpenError,
)


def _is_transient_here(exc: BaseException) -> bool:
    if getattr(type(exc), "transient", False) is True:
        return True
    if isinstance(exc, SourceServerError):  # a 5xx the client decided not to retry
        return False
    if isinstance(exc, (SourceUnavailableError, *_TRANSIENT_TYPES)):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in (429, 502, 503, 504)
    if isinstance(exc, KafkaException) and exc.args:
        error = exc.args[0]
        return bool(getattr(error, "retriable", lambda: False)())
    return False


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` or anything in its cause/context chain is an error worth retrying."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _is_transient_here(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def retry_transient_errors(compute: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """Wrap a generator asset body: transient errors request a retry, others fail the step once."""

    @functools.wraps(compute)
    def _wrapped(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from compute(context, *args, **kwargs)
        except (dg.Failure, dg.RetryRequested):
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = FIRST_DELAY_SECONDS * 2**context.retry_number
            context.log.warning(f"transient error, retry in {delay:.0f} s: {type(exc).__name__}: {exc}")
            raise dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=delay) from exc

    return _wrapped
