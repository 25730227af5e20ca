"""Graceful degradation: never buy on stale prices or with every source down; the skip raises a WARNING alert."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from dca_pipeline.governance.degradation import decide_and_alert, decide_buy
from dca_pipeline.governance.alerts import AlertRouter, LogChannel, Severity
from dca_pipeline.paths import dca_home

NOW = datetime(2026, 1, 10, 4, 15, tzinfo=timezone.utc)
AGE = timedelta(hours=36)


def test_fresh_prices_and_one_healthy_source_buy() -> None:
    d = decide_buy({"ccxt": True, "replay": False}, {"ADA/BRL": NOW - timedelta(hours=3), "DOT/BRL": NOW - AGE}, NOW, AGE, 3333)
    assert d.buy and d.carry_forward_centavos == 0 and d.unhealthy_sources == ("replay",)


def test_one_stale_or_missing_price_skips_the_whole_day() -> None:
    d = decide_buy({"ccxt": True}, {"ADA/BRL": NOW - AGE - timedelta(seconds=1), "DOT/BRL": None,
                                    "SOL/BRL": NOW - timedelta(hours=1)}, NOW, AGE, 3333)
    assert not d.buy and d.stale_symbols == ("ADA/BRL", "DOT/BRL") and d.carry_forward_centavos == 3333


def test_all_sources_down_skips() -> None:
    d = decide_buy({"ccxt": False, "fallback": False}, {"ADA/BRL": NOW}, NOW, AGE, 100)
    assert not d.buy and "no healthy" in d.reason and d.carry_forward_centavos == 100


def test_future_and_naive_times_are_refused() -> None:
    assert not decide_buy({"a": True}, {"ADA/BRL": NOW + timedelta(hours=2)}, NOW, AGE, 1).buy
    with pytest.raises(ValueError, match="ADA/BRL"):
        decide_buy({"a": True}, {"ADA/BRL": datetime(2026, 1, 10)}, NOW, AGE, 1)


def test_a_skipped_day_sends_a_warning_alert(tmp_path) -> None:  # noqa: ANN001
    router = AlertRouter([(LogChannel(), Severity.INFO)], state_path=tmp_path / "state.json")
    d = decide_and_alert({"ccxt": True}, {"ADA/BRL": NOW - timedelta(days=3)}, "2026-01-09", 3333, 36, now=NOW, router=router)
    assert not d.buy
    record = json.loads((dca_home() / "alerts.jsonl").read_text().splitlines()[-1])
    assert record["severity"] == "WARNING" and record["title"] == "daily buy skipped"
    assert record["fields"]["carried_forward"] == "R$ 33.33" and record["fields"]["stale"] == "ADA/BRL"
    ok = decide_and_alert({"ccxt": True}, {"ADA/BRL": NOW}, "2026-01-10", 3333, 36, now=NOW, router=router)
    assert ok.buy and len((dca_home() / "alerts.jsonl").read_text().splitlines()) == 1


def test_stale_prices_judges_each_bar_by_its_close() -> None:
    from datetime import date

    from dca_pipeline.governance.degradation import bar_close_time, stale_prices

    assert bar_close_time(date(2021, 1, 5)) == datetime(2021, 1, 6, tzinfo=timezone.utc)
    bars = {"A/BRL": bar_close_time(date(2021, 1, 5)), "B/BRL": bar_close_time(date(2021, 1, 3)), "C/BRL": None}
    now = datetime(2021, 1, 6, 4, 15, tzinfo=timezone.utc)  # the 01:15 São Paulo run after 2021-01-05 closed
    out = stale_prices(bars, now, timedelta(hours=36))
    assert sorted(out) == ["B/BRL", "C/BRL"]  # B closed 52h15m before: stale; A 4h15m: fresh
    assert out["C/BRL"] == "no price" and "2 days, 4:15:00" in out["B/BRL"]
