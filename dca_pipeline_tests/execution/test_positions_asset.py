"""The positions asset keeps a coin with no bar today at its last close, flagged by `price_date`."""
from datetime import date
from decimal import Decimal

import polars as pl
from dagster import materialize

from dca_pipeline.execution import ledger
from dagster import AssetKey

from dca_pipeline.execution.assets import execution_day
from dca_pipeline.execution.paper_fill import paper_fills
from dca_pipeline.execution.orders import plan_dca_orders
from dca_pipeline.paths import dca_home, warehouse_path
from dca_pipeline.execution.resources import Broker
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.storage.resources import Warehouse
from dca_pipeline.storage import parquet_store
from dca_pipeline.storage.io_managers import WarehouseIOManager

D1, D2 = date(2021, 3, 1), date(2021, 3, 2)


def _raw(day: date, rows: list[tuple[str, float]]) -> None:
    frame = pl.DataFrame({"symbol": [s for s, _ in rows], "date": [day] * len(rows), "close": [c for _, c in rows]})
    parquet_store.write_partition("ohlcv_1d", day, frame)


def test_stale_coin_is_valued_at_its_last_close() -> None:
    _raw(D1, [("A/BRL", 10.0), ("B/BRL", 2.0)])
    _raw(D2, [("B/BRL", 3.0)])  # A has no bar on D2 (halted or delisted)
    db = warehouse_path()
    targets = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "weight": [0.5, 0.5]})
    prices = pl.DataFrame({"symbol": ["A/BRL", "B/BRL"], "close": [10.0, 2.0]})
    orders = plan_dca_orders(D1, targets, ledger.holdings(db, D1), prices, 4_000, 1_000)
    ledger.record_orders(db, D1, orders, 4_000)
    fills, status = paper_fills(orders, prices.rename({"close": "open"}), Decimal("0.007"), 0)
    ledger.record_fills(db, D1, fills, status)
    result = materialize(
        [execution_day], partition_key=str(D2),
        resources={"warehouse": Warehouse(), "warehouse_io_manager": WarehouseIOManager(), "config": PipelineConfig(),
                   "market_data": MarketData(source="replay"), "broker": Broker(mode="paper")},
        selection=[AssetKey("positions")],
    )
    assert result.success
    out = {r["symbol"]: r for r in result.output_for_node("execution_day", "positions").iter_rows(named=True)}
    assert out["A/BRL"]["price_date"] == D1 and out["A/BRL"]["close_brl"] == 10.0
    assert out["B/BRL"]["price_date"] == D2 and out["B/BRL"]["close_brl"] == 3.0
    assert result.asset_materializations_for_node("execution_day")[0].metadata["stale_prices"].value == 1
