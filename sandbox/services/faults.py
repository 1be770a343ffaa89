"""Seeded fault injection for sandbox services: throttling (429), transient errors (503) and outages."""

from __future__ import annotations

import math
import random
import threading
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class FaultConfig:
    rate_429: float = 0.0  # probability that a request is throttled
    rate_5xx: float = 0.0  # probability of a transient 503
    retry_after_seconds: float = 1.0  # sent in Retry-After on 429, rounded up to whole seconds
    outage: bool = False  # every request answers 503
    seed: int = 0  # seeds the draws, so a fault sequence replays exactly

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_5xx"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.rate_429 + self.rate_5xx > 1.0:
            raise ValueError(f"rate_429 + rate_5xx must not exceed 1, got {self.rate_429 + self.rate_5xx}")
        if self.retry_after_seconds < 0:
            raise ValueError(f"retry_after_seconds must be >= 0, got {self.retry_after_seconds}")

    def updated(self, changes: dict[str, Any]) -> FaultConfig:
        """A copy with ``changes`` applied; unknown keys and wrong types raise ValueError naming the key."""
        types: dict[str, tuple[type, ...]] = {
            "rate_429": (int, float),
            "rate_5xx": (int, float),
            "retry_after_seconds": (int, float),
            "outage": (bool,),
            "seed": (int,),
        }
        for key, value in changes.items():
            if key not in types:
                raise ValueError(f"unknown fault setting {key!r}; known: {', '.join(types)}")
            # bool is an int subclass: reject True/False where a number is expected.
            if not isinstance(value, types[key]) or (isinstance(value, bool) and bool not in types[key]):
                raise ValueError(f"fault setting {key!r} has the wrong type: {value!r}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fault:
    status: int
    headers: dict[str, str]
    error: str
    message: str


class FaultInjector:
    """Decides, per request, whether to answer with a fault. Thread-safe; one draw per request."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)  # a new config restarts the reproducible sequence

    def draw(self) -> Fault | None:
        with self._lock:
            cfg = self._config
            if cfg.outage:
                return Fault(503, {}, "service_unavailable", "the service is down (sandbox outage)")
            roll = self._rng.random()
        if roll < cfg.rate_429:
            seconds = str(math.ceil(cfg.retry_after_seconds))
            message = f"too many requests; retry after {seconds} s"
            return Fault(429, {"Retry-After": seconds}, "rate_limited", message)
        if roll < cfg.rate_429 + cfg.rate_5xx:
            return Fault(503, {}, "service_unavailable", "transient failure (sandbox fault injection)")
        return None
