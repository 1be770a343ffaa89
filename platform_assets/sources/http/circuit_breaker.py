"""A circuit breaker: stop calling a source that keeps failing, probe it again after a cooldown.

closed --(N consecutive failed requests)--> open --(cooldown elapsed)--> half_open
half_open --(trial succeeds)--> closed;  half_open --(trial fails)--> open (new cooldown)

A "failed request" is one whose retries were all exhausted, so a breaker never trips on a single blip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from platform_assets.sources.errors import CircuitOpenError

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        source: str,
        failure_threshold: int = 3,
        cooldown_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"{source}: circuit failure_threshold must be >= 1, got {failure_threshold}")
        if cooldown_seconds < 0:
            raise ValueError(f"{source}: circuit cooldown_seconds must be >= 0, got {cooldown_seconds}")
        self.source = source
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> State:
        with self._lock:
            if self._state == "open" and self._cooldown_left() <= 0:
                return "half_open"
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def before_call(self, url: str = "") -> None:
        """Raise CircuitOpenError unless a call may go out now (closed, or the single half-open trial)."""
        with self._lock:
            if self._state == "closed":
                return
            if self._state == "open":
                left = self._cooldown_left()
                if left > 0:
                    raise CircuitOpenError(self.source, self._failures, left, url)
                self._state = "half_open"
            if self._trial_in_flight:  # half-open lets exactly one probe through at a time
                raise CircuitOpenError(self.source, self._failures, 0.0, url)
            self._trial_in_flight = True

    def record_success(self) -> None:
        with self._lock:
            self._state = "closed"
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_in_flight = False
            if self._state == "half_open" or self._failures >= self.failure_threshold:
                self._state = "open"
                self._opened_at = self._clock()

    def abandon_call(self) -> None:
        """The call ended without a verdict (e.g. interrupted): free the half-open trial slot."""
        with self._lock:
            self._trial_in_flight = False

    def _cooldown_left(self) -> float:
        return self._opened_at + self.cooldown_seconds - self._clock()
