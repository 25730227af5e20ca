"""What the UI shows on `portfolio_performance`: the value curve against the money invested and against BTC-only
DCA of the same contributions, on a linear and a log scale, the drawdown of the time-weighted return, and the last
days as a table."""
from __future__ import annotations

from datetime import date

import polars as pl
from dagster import MetadataValue

from dca_pipeline.charts import area_below_zero, lines
from dca_pipeline.metadata import frame_table
from dca_pipeline.storage import duck
from dca_pipeline.storage.raw_store import read_daily_window

BTC = "BTC/BRL"
TABLE_DAYS = 31
HISTORY_COLUMNS = {"date": pl.Date, "invested_brl": pl.Float64, "value_brl": pl.Float64, "twr": pl.Float64}


def stored_history(db, before: date) -> pl.DataFrame:  # noqa: ANN001
    """date, invested_brl, value_brl, twr of every stored day before `before` (empty before the first)."""
    if not duck.table_exists(db, "monitoring", "portfolio_performance"):
        return pl.DataFrame(schema=HISTORY_COLUMNS)
    rows = duck.query(db, "select date, invested_brl::double as invested_brl, value_brl::double as value_brl, twr "
                          "from monitoring.portfolio_performance where date < ? order by date", [before])
    return rows.select([pl.col(c).cast(t) for c, t in HISTORY_COLUMNS.items()])


def btc_dca_same_flows(history: pl.DataFrame, btc_closes: pl.DataFrame) -> list[float]:
    """Value of putting each day's contribution (the day's increase of `invested_brl`) into BTC at that day's close,
    without fees; a day without a BTC close keeps its money as cash until the next close."""
    close_on = dict(zip(btc_closes["date"].to_list(), btc_closes["close"].to_list())) if len(btc_closes) else {}
    qty, cash, last, prev_invested, out = 0.0, 0.0, None, 0.0, []
    for day, invested in zip(history["date"].to_list(), history["invested_brl"].to_list()):
        cash += invested - prev_invested
        prev_invested = invested
        if close_on.get(day):
            last = close_on[day]
            qty, cash = qty + cash / last, 0.0
        out.append(qty * last + cash if last is not None else cash)
    return out


def drawdown(twr: list[float]) -> list[float]:
    """Drawdown of the time-weighted index (1 + twr) from its running peak (0 at a new high, negative below)."""
    peak, out = 1.0, []
    for r in twr:
        level = 1.0 + r
        peak = max(peak, level)
        out.append(level / peak - 1.0)
    return out


def performance_metadata(history: pl.DataFrame, btc_closes: pl.DataFrame) -> dict[str, MetadataValue]:
    """`equity_chart` (linear), `equity_chart_log`, `drawdown_chart` and `performance_table` (last TABLE_DAYS days)
    from the whole valued history."""
    history = history.sort("date")
    btc = btc_dca_same_flows(history, btc_closes)
    dd = drawdown(history["twr"].to_list())
    frame = history.with_columns(pl.Series("btc_only_dca_brl", btc, pl.Float64), pl.Series("drawdown", dd, pl.Float64))
    x = frame["date"].to_list()
    series = {"portfolio value": frame["value_brl"].to_list(), "invested": frame["invested_brl"].to_list(),
              "BTC-only DCA (same contributions)": btc}
    return {
        "equity_chart": MetadataValue.md(lines(x, series, "Value vs invested vs BTC-only DCA", "BRL")),
        "equity_chart_log": MetadataValue.md(lines(x, series, "Value vs invested vs BTC-only DCA (log scale)", "BRL", log=True)),
        "drawdown_chart": MetadataValue.md(area_below_zero(x, dd, "Drawdown of the time-weighted return", "drawdown")),
        "max_drawdown": float(min(dd)) if dd else 0.0,
        "performance_table": frame_table(frame.tail(TABLE_DAYS).sort("date", descending=True)
                                         .select("date", "invested_brl", "value_brl", "btc_only_dca_brl", "twr", "drawdown")),
    }


def performance_explained(db, new_rows: pl.DataFrame) -> dict[str, MetadataValue]:  # noqa: ANN001
    """performance_metadata over the stored days before `new_rows` and `new_rows` themselves, with BTC's closes."""
    if new_rows.is_empty():
        return {}
    first, last = new_rows["date"].min(), new_rows["date"].max()
    history = pl.concat([stored_history(db, first), new_rows.select([pl.col(c).cast(t) for c, t in HISTORY_COLUMNS.items()])])
    history = history.filter(pl.col("invested_brl") > 0) if (history["invested_brl"] > 0).any() else history
    closes = read_daily_window("raw_ohlcv_1d", history["date"].min(), last, [BTC])
    closes = closes.select("date", "close") if len(closes) else pl.DataFrame(schema={"date": pl.Date, "close": pl.Float64})
    return performance_metadata(history, closes)
