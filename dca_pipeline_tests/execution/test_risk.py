"""The drawdown circuit breaker: by hand, in the backtest, and its alert sensor."""
import json
from datetime import date

import polars as pl
import pytest
from dagster import AssetMaterialization, DagsterInstance, build_sensor_context

from dca_pipeline.backtest import run_backtest
from dca_pipeline.backtest.sweep import override
from dca_pipeline.config import load_settings
from dca_pipeline.execution.risk import drawdown_breaker
from dca_pipeline.paths import dca_home


def test_breaker_by_hand() -> None:
    # index 1.0 -> 2.0 (peak) -> 1.1: drawdown 1.1/2 - 1 = -45%
    assert drawdown_breaker([0.0, 1.0, 0.1], 0.4).tripped
    decision = drawdown_breaker([0.0, 1.0, 0.1], 0.5)
    assert not decision.tripped and decision.drawdown == pytest.approx(-0.45)
    assert not drawdown_breaker([0.0, 1.0, 0.1], None).tripped  # disabled
    assert not drawdown_breaker([], 0.1).tripped


def test_backtest_withholds_orders_while_tripped_and_carries_cash() -> None:
    settings = override(load_settings(), "risk.max_drawdown_halt", "0.2")
    r = run_backtest(settings, date(2019, 6, 1), date(2019, 12, 31))
    assert r.metrics["breaker_days"] > 0
    eq = r.equity.with_columns((1 + pl.col("twr")).alias("idx")).with_columns((pl.col("idx") / pl.col("idx").cum_max() - 1).alias("dd"))
    tripped_days = eq.filter(pl.col("dd").shift(1) <= -0.2)["date"].to_list()
    assert tripped_days and r.orders.filter(pl.col("date").is_in(tripped_days)).is_empty()
    assert r.metrics["ledger_reconciles"] == 1.0
    assert float(r.equity.filter(pl.col("date") == tripped_days[-1])["cash_brl"][0]) > 10  # the budget waits in cash


def test_circuit_breaker_sensor_alerts() -> None:
    from dca_pipeline.monitoring.sensors import circuit_breaker_alert

    with DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            AssetMaterialization("dca_orders", partition="2021-01-05", metadata={"circuit_breaker": "tripped", "drawdown": -0.65})
        )
        with build_sensor_context(instance=instance) as ctx:
            tick = circuit_breaker_alert.evaluate_tick(ctx)  # reads the newest dca_orders materialization
        assert tick.cursor is not None
        instance.report_runless_asset_event(AssetMaterialization("dca_orders", partition="2021-01-06", metadata={"circuit_breaker": "ok"}))
        with build_sensor_context(instance=instance, cursor=tick.cursor) as ctx:
            assert circuit_breaker_alert.evaluate_tick(ctx).skip_message == "circuit breaker not tripped"
    alerts = [json.loads(x) for x in (dca_home() / "alerts.jsonl").read_text().splitlines()]
    assert len(alerts) == 1 and alerts[0]["severity"] == "CRITICAL" and alerts[0]["fields"]["partition"] == "2021-01-05"
