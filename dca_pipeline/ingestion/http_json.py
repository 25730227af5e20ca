"""JSON over plain HTTP (CoinGecko, BCB) with the same retry, Retry-After and request-budget rules as ccxt calls."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Mapping

from dca_pipeline.ingestion.errors import SourceError
from dca_pipeline.ingestion.retry import RequestBudget, RetryLog, RetrySettings, call_with_retry, retry_after_seconds


class HttpStatusError(Exception):
    """A non-2xx answer; transient when 408/429 or 5xx."""

    def __init__(self, status: int, url: str, headers: Mapping[str, str], body: str) -> None:
        self.status, self.headers = status, dict(headers)
        super().__init__(f"HTTP {status} from {url}: {body[:200]}")

    @property
    def transient(self) -> bool:
        return self.status in (408, 429) or self.status >= 500


class MalformedJson(Exception):
    """The server answered 200 with something that is not the JSON document expected."""


def _is_transient(exc: BaseException) -> bool:
    import requests

    if isinstance(exc, HttpStatusError):
        return exc.transient
    return isinstance(exc, (requests.Timeout, requests.ConnectionError))


def _retry_after(exc: BaseException) -> float | None:
    return retry_after_seconds(exc.headers) if isinstance(exc, HttpStatusError) else None


@dataclass
class JsonHttpClient:
    """GETs JSON for one named source; every final failure is a SourceError (source, symbol, range)."""

    source: str
    timeout_s: float = 10.0
    retry: RetrySettings = field(default_factory=RetrySettings)
    budget: RequestBudget | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold an API key: never printed
    last_log: RetryLog = field(default_factory=RetryLog)

    def __post_init__(self) -> None:
        import requests

        self.session = requests.Session()

    def get(self, url: str, params: Mapping[str, Any] | str | None, what: str, symbol: str | None = None,
            start: date | datetime | None = None, end: date | datetime | None = None) -> Any:
        log = RetryLog()
        self.last_log = log

        def once() -> Any:
            response = self.session.get(url, params=params, headers=self.headers, timeout=self.timeout_s)
            if response.status_code >= 400:
                raise HttpStatusError(response.status_code, response.url.split("?")[0], response.headers, response.text)
            try:
                return response.json()
            except ValueError as exc:
                raise MalformedJson(f"malformed JSON from {response.url.split('?')[0]}: {response.text[:120]!r}") from exc

        try:
            return call_with_retry(once, is_transient=_is_transient, retry_after=_retry_after, settings=self.retry,
                                   sleep=self.sleep, budget=self.budget, rng=self.rng, log=log)
        except Exception as exc:  # noqa: BLE001 - re-raised naming source, symbol and range
            raise SourceError(self.source, what, symbol, start, end, f"{type(exc).__name__}: {exc}", log.attempts) from exc
