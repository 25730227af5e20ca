"""Retries with exponential backoff and full jitter, Retry-After, and a per-exchange rolling-minute request budget.

Sleep and clock are injectable so tests exercise every fault without waiting.
"""
from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Callable, Mapping, TypeVar

T = TypeVar("T")
Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetrySettings:
    """How hard to try: attempts in total (1 = no retry), first backoff cap, largest single wait."""

    max_attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0


class RequestBudget:
    """At most `max_per_minute` requests in any rolling 60 s window; `acquire` sleeps until one is free."""

    def __init__(self, max_per_minute: int, sleep: Sleep = time.sleep, clock: Clock = time.monotonic) -> None:
        if max_per_minute < 1:
            raise ValueError(f"request budget must allow at least 1 request a minute, got {max_per_minute}")
        self.max_per_minute, self.sleep, self.clock = max_per_minute, sleep, clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited_s = 0.0  # total time spent waiting for the budget (reported, tested)

    def acquire(self) -> None:
        with self._lock:
            while True:
                now = self.clock()
                while self._sent and now - self._sent[0] >= 60.0:
                    self._sent.popleft()
                if len(self._sent) < self.max_per_minute:
                    self._sent.append(now)
                    return
                wait = 60.0 - (now - self._sent[0])
                self.waited_s += wait
                self.sleep(wait)


_BUDGETS: dict[str, RequestBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def shared_budget(key: str, max_per_minute: int) -> RequestBudget:
    """One budget per exchange (key) and process, so several source objects share the exchange's limit."""
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(key)
        if budget is None or budget.max_per_minute != max_per_minute:
            budget = _BUDGETS[key] = RequestBudget(max_per_minute)
        return budget


@dataclass
class RetryLog:
    """What happened during one call: attempts made and every wait (with whether Retry-After set it)."""

    attempts: int = 0
    waits: list[tuple[float, str]] = field(default_factory=list)


class PermanentError(Exception):
    """Raised by callers for failures that retrying cannot fix (malformed payload, 4xx)."""


def backoff_delay(attempt: int, settings: RetrySettings, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(max_delay, base * 2**(attempt-1))]."""
    cap = min(settings.max_delay_s, settings.base_delay_s * (2 ** (attempt - 1)))
    return rng.uniform(0.0, cap)


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds asked for by a Retry-After header (delta seconds or HTTP date), None when absent or unreadable."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def call_with_retry(
    fn: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None],
    settings: RetrySettings,
    sleep: Sleep = time.sleep,
    budget: RequestBudget | None = None,
    rng: random.Random | None = None,
    log: RetryLog | None = None,
) -> T:
    """Call `fn` until it succeeds, a permanent error occurs or attempts run out (the last error is re-raised).

    Waits are max(Retry-After, jittered backoff) capped at max_delay_s; each attempt first takes a slot
    from the request budget.
    """
    rng = rng or random.Random()
    log = log if log is not None else RetryLog()
    attempt = 0
    while True:
        attempt += 1
        log.attempts = attempt
        if budget is not None:
            budget.acquire()
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified right below
            if not is_transient(exc) or attempt >= settings.max_attempts:
                raise
            asked = retry_after(exc)
            delay = backoff_delay(attempt, settings, rng)
            reason = "backoff"
            if asked is not None and asked >= delay:
                delay, reason = asked, "retry-after"
            delay = min(delay, settings.max_delay_s)
            log.waits.append((delay, reason))
            sleep(delay)
