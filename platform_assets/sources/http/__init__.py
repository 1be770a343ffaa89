"""HTTP plumbing shared by REST connectors: retries with backoff, Retry-After, circuit breaking."""

from platform_assets.sources.http.circuit_breaker import CircuitBreaker
from platform_assets.sources.http.resilient_client import ResilientHttpClient, RetryPolicy, parse_retry_after

__all__ = ["CircuitBreaker", "ResilientHttpClient", "RetryPolicy", "parse_retry_after"]
