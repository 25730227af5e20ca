"""The backtest is a backfill: twelve months through a Dagster single-run backfill and through `run_backtest`
give the same targets, orders, fills, delisting exits and daily values to the centavo.

The window (2021) is chosen to contain every decision the day core makes: rebalance sells (allow_sells on),
a delisting (BCD's bars are cut after 2021-09-20, while it is held: a synthetic injection, the bundle has no held coin whose data
stops), a pre-send guard withholding orders (max_position_brl), and regime scaling switched on. A small
universe keeps the run short; both paths read the same source.
"""
from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml
from dagster import DagsterInstance, materialize

from dca_pipeline.config import load_settings
from dca_pipeline.ingestion.sources import MarketDataSource, ReplaySource
from dca_pipeline.paths import warehouse_path
from dca_pipeline.execution.resources import Broker
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import duck
from dca_pipeline.storage.io_managers import ParquetPartitionIOManager, WarehouseIOManager

START, END = date(2021, 1, 1), date(2021, 12, 31)
CUT_SYMBOL, CUT_AFTER = "BCD/BRL", date(2021, 9, 20)
UNIVERSE = {"BTC", "LUNA", "HBAR", "LRC", "ENJ", "ZEN", "XVG", "DCR", "ZIL", "HOT", "BCD", "MANA", "SC", "ICX", "RVN"}
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class SmallCutReplay(ReplaySource):
    """The bundled history restricted to UNIVERSE, with CUT_SYMBOL's bars gone after CUT_AFTER."""

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        bars = super().fetch_ohlcv_1d(start, end)
        keep = pl.col("symbol").str.split("/").list.first().is_in(list(UNIVERSE))
        return bars.filter(keep & ~((pl.col("symbol") == CUT_SYMBOL) & (pl.col("date") > CUT_AFTER)))

    def listed_symbols(self, start: date, end: date) -> pl.DataFrame:
        bars = self.fetch_ohlcv_1d(start, end)
        return bars.select("symbol", "date").sort("symbol", "date")


class SmallCutMarketData(MarketData):
    def client(self) -> MarketDataSource:
        return SmallCutReplay()


def _config(tmp: Path) -> Path:
    base = yaml.safe_load((Path(__file__).parents[2] / "dca_pipeline" / "default_config.yaml").read_text())
    base["tiers_by"] = "usd"  # the seed's USD bands: this 15-coin universe of 2021 populates them (rank bands need the top 200)
    base["tiers"] = [
        {**base["tiers"][0], "allocation_target": "0.60", "max_assets": 3},
        {**base["tiers"][1], "allocation_target": "0.40", "max_assets": 2},
    ]
    base["portfolio"].update({"max_weight": "0.30", "min_assets": 3, "turnover_cap": "0.50",
                              "sizing": {"regime_scaling": True},
                              "rebalance": {"allow_sells": True, "drift_threshold": 0.25}})
    base["execution"].update({"daily_spend_cap_brl": "150.00", "max_position_brl": "1500.00"})
    path = tmp / "parity.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def _months() -> list[date]:
    return [date(2021, m, 1) for m in range(1, 13)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    import os

    from dca_pipeline.analytics.assets import features_daily
    from dca_pipeline.execution.assets import execution_day, orders_within_budget
    from dca_pipeline.ingestion.assets import fx_usd_brl, market_caps, raw_ohlcv_1d
    from dca_pipeline.intelligence.assets import asset_scores, asset_tiers, market_regime
    from dca_pipeline.monitoring.assets import portfolio_performance
    from dca_pipeline.runner import history_days_needed
    from dca_pipeline.portfolio.assets import target_weights
    from dca_pipeline.backtest import run_backtest
    from dca_pipeline.execution.range_book import RangeBook

    tmp = tmp_path_factory.mktemp("parity")
    old = {k: os.environ.get(k) for k in ("DCA_HOME", "DAGSTER_HOME")}
    os.environ["DCA_HOME"] = str(tmp / "dca_home")
    (tmp / "dagster_home").mkdir()
    os.environ["DAGSTER_HOME"] = str(tmp / "dagster_home")
    cfg = _config(tmp)
    settings = load_settings(cfg)
    resources = {
        "config": PipelineConfig(config_path=str(cfg)), "pipeline_config": PipelineConfig(config_path=str(cfg)),
        "market_data": SmallCutMarketData(source="replay"), "broker": Broker(mode="paper"), "warehouse": Warehouse(),
        "warehouse_io_manager": WarehouseIOManager(), "parquet_io_manager": ParquetPartitionIOManager(),
    }
    mp = pytest.MonkeyPatch()
    try:
        with DagsterInstance.ephemeral() as instance:
            first = max(settings.history_start, START - timedelta(days=history_days_needed(settings)))
            run = lambda assets, **kw: materialize(assets, instance=instance, resources=resources, run_config=QUIET, **kw)  # noqa: E731
            assert run([raw_ohlcv_1d, fx_usd_brl], tags={RANGE_START: first.isoformat(), RANGE_END: (END + timedelta(days=1)).isoformat()}).success
            for month in _months():
                assert run([features_daily], partition_key=(month - timedelta(days=1)).isoformat()).success
                assert run([market_caps, asset_tiers, asset_scores, market_regime, target_weights], partition_key=month.isoformat()).success
            duck.close_all()
            shutil.copytree(tmp / "dca_home", tmp / "dca_home_monthly")  # for the same range written month by month
            writes: list[int] = [0]  # the range book's writes, an item per run
            original = RangeBook.flush
            mp.setattr(RangeBook, "flush", lambda book: (writes.__setitem__(-1, writes[-1] + 1), original(book))[1])
            mp.setattr("dca_pipeline.execution.assets.WRITE_EVERY_SECONDS", float("inf"))  # one write, however slow
            backfill = run([execution_day, portfolio_performance, orders_within_budget],
                           tags={RANGE_START: START.isoformat(), RANGE_END: END.isoformat()})
            assert backfill.success
            metadata = {(m.asset_key.to_user_string(), m.partition): m.metadata
                        for node in ("execution_day", "portfolio_performance") for m in backfill.asset_materializations_for_node(node)}
            tables = _tables(warehouse_path()) | {"metadata": metadata, "writes": writes[-1]}
            duck.close_all()
            os.environ["DCA_HOME"] = str(tmp / "dca_home_monthly")
            mp.setattr("dca_pipeline.execution.assets.WRITE_EVERY_SECONDS", 0.0)
            writes.append(0)
            assert run([execution_day, portfolio_performance], tags={RANGE_START: START.isoformat(), RANGE_END: END.isoformat()}).success
            tables["monthly"] = _tables(warehouse_path()) | {"writes": writes[-1]}
            os.environ["DCA_HOME"] = str(tmp / "dca_home")
        duck.close_all()
        result = run_backtest(settings, START, END, source=SmallCutReplay())
    finally:
        mp.undo()
        duck.close_all()
        for k, v in old.items():
            if v is not None:
                os.environ[k] = v
    return tables, result, settings


def _tables(db: Path) -> dict[str, pl.DataFrame]:
    return {
        "targets": duck.query(db, "select month, symbol, weight from portfolio.target_weights order by all"),
        "orders": duck.query(db, "select date, symbol, side, amount_centavos from execution.dca_orders "
                                 "where client_order_id not like '%-exit' order by all"),
        "fills": duck.query(db, "select date, symbol, quantity, notional_centavos, fee_centavos from execution.fills "
                                "where broker != 'delisting' order by all"),
        "exits": duck.query(db, "select date, symbol, quantity, price_brl, price_date, proceeds_centavos from execution.delisting_exits order by all"),
        "equity": duck.query(db, "select date, invested_brl, value_brl, cash_brl from monitoring.portfolio_performance order by date"),
        "decisions": duck.query(db, "select * from execution.day_decisions order by all"),
        "regimes": duck.query(db, "select month, regime from intelligence.market_regime order by month"),
        "events": duck.query(db, "select * from execution.events order by seq"),
        "positions": duck.query(db, "select * from execution.positions order by all"),
    }


def test_same_targets(runs) -> None:  # noqa: ANN001
    tables, result, _ = runs
    assert result.targets.select("month", "symbol", "weight").sort(pl.all()).rows() == tables["targets"].rows()


def test_same_orders_and_fills_to_the_centavo(runs) -> None:  # noqa: ANN001
    tables, result, _ = runs
    orders = result.orders.select("date", "symbol", "side", "amount_centavos").sort(pl.all())
    assert len(orders) > 100 and orders.rows() == tables["orders"].rows()
    fills = result.fills.select("date", "symbol", "quantity", "notional_centavos", "fee_centavos").sort(pl.all())
    assert len(fills) > 100 and fills.rows() == tables["fills"].rows()


def test_same_delisting_exit(runs) -> None:  # noqa: ANN001
    tables, result, settings = runs
    exits = result.exits.select("date", "symbol", "quantity", "price_brl", "price_date", "proceeds_centavos")
    assert exits.rows() == tables["exits"].rows()
    (day, symbol, quantity, price, price_date, proceeds), = exits.rows()
    assert symbol == CUT_SYMBOL and price_date == CUT_AFTER
    assert day == CUT_AFTER + timedelta(days=settings.delisting.after_days + 1)  # first day beyond the 7 allowed
    last_close = SmallCutReplay().fetch_ohlcv_1d(CUT_AFTER, CUT_AFTER).filter(pl.col("symbol") == CUT_SYMBOL)["close"][0]
    assert price == last_close
    assert proceeds == round(float(quantity) * last_close * 100)  # half-even and round agree off the .5 boundary


def test_same_daily_values_to_the_centavo(runs) -> None:  # noqa: ANN001
    tables, result, _ = runs
    equity = result.equity.select("date", "invested_brl", "value_brl", "cash_brl")
    assert len(equity) == (END - START).days + 1
    assert equity.rows() == tables["equity"].rows()


def test_the_window_holds_every_kind_of_decision(runs) -> None:  # noqa: ANN001
    tables, result, _ = runs
    assert tables["decisions"].sort(pl.all()).rows() == result.decisions.sort(pl.all()).rows()
    d = result.decisions
    assert len(d.filter(pl.col("decision") == "sell")) > 0  # rebalance sells
    assert len(d.filter(pl.col("decision") == "exit")) == 1  # the delisting
    withheld = d.filter(pl.col("reason").str.starts_with("guard: position limit"))
    assert len(withheld) > 0  # a pre-send guard withheld orders the plan wanted
    # regime scaling: a month whose regime has exposure < 1 invests less than its full weight
    exposure = load_settings().portfolio.sizing.regime_exposure
    scaled = [m for m, r in tables["regimes"].rows() if r is not None and exposure.get(r, 1.0) < 1]
    assert scaled, "no bear or crisis month in the window: regime scaling never acted"
    sums = dict(result.targets.group_by("month").agg(pl.col("weight").sum()).rows())
    assert any(sums.get(m, 1.0) < 0.99 for m in scaled)


def test_a_range_puts_its_summary_on_its_last_partition_only(runs) -> None:  # noqa: ANN001
    """Every day of the range names the range; the range's totals, last values and charts are on its last day (the
    asset's latest materialization in the UI), not copied onto each day as if they were that day's."""
    tables, _, _ = runs
    metadata, last = tables["metadata"], END.isoformat()  # the range tags name the last day itself
    days = (END - START).days + 1
    for key in ("dca_orders", "fills", "positions", "portfolio_performance"):
        partitions = sorted(p for k, p in metadata if k == key)
        assert len(partitions) == days and partitions[-1] == last, key
        # (the warehouse IO manager adds its table and the rows it wrote to the outputs it stores)
        assert all(set(metadata[(key, p)]) - {"table", "rows"} == {"range"} for p in partitions[:-1]), key
        assert metadata[(key, last)]["range"].value == f"{START}..{last}"
    perf = metadata[("portfolio_performance", last)]
    assert perf["value_brl"].value == float(tables["equity"]["value_brl"][-1]) and "equity_chart" in perf
    assert metadata[("dca_orders", last)]["days"].value == days and "orders_chart" in metadata[("dca_orders", last)]
    assert metadata[("fills", last)]["fills"].value == len(tables["fills"]) + len(tables["exits"])


def test_write_boundaries_leave_the_same_tables(runs) -> None:  # noqa: ANN001
    """The range book written once a month (WRITE_EVERY_SECONDS = 0) or once, at the end of the year (infinity;
    the default, 10 s, gives that for a year on an idle machine) leaves the same ledger events, orders, fills, positions and values. Only the events' global
    `seq` differs (a write appends its days' plans before their fills); each order's own history is in the same
    order."""
    tables, _, _ = runs
    monthly = tables["monthly"]
    assert monthly.pop("writes") == 12 and tables["writes"] == 1
    for name, frame in monthly.items():
        if name == "events":
            assert frame.drop("seq").sort("event_id").equals(tables[name].drop("seq").sort("event_id"))
            history = lambda f: f.sort("seq").group_by("client_order_id", maintain_order=True).agg("status").sort("client_order_id")  # noqa: E731
            assert history(frame).equals(history(tables[name]))
        else:
            assert frame.equals(tables[name]), name
