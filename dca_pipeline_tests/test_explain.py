"""The UI's explanations: charts are real PNGs, and the numbers beside them are computed as worked out by hand."""
import base64
import re
from datetime import date

import polars as pl
import pytest

from dca_pipeline.charts import area_below_zero, grouped_bars, lines
from dca_pipeline.execution.explain import chart_rows, decisions_explained, orders_metadata, ordered_per_coin
from dca_pipeline.intelligence.explain import regime_metadata
from dca_pipeline.monitoring.explain import btc_dca_same_flows, drawdown, performance_metadata
from dca_pipeline.portfolio.explain import target_weights_metadata, weights_explained

PNG = b"\x89PNG\r\n\x1a\n"
D1, D2, D3 = date(2025, 6, 1), date(2025, 6, 2), date(2025, 6, 3)


def _png(markdown: str) -> bytes:
    m = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert m, markdown[:80]
    return base64.b64decode(m.group(1))


def test_charts_are_png_markdown_images() -> None:
    for md in (grouped_bars(["A", "B"], [0.6, 0.4], ["t1", "t2"], "w", "weight", percent=True),
               lines([D1, D2, D3], {"v": [1.0, 0.0, 3.0]}, "log with a zero", "BRL", log=True),
               area_below_zero([D1, D2], [0.0, -0.2], "dd", "drawdown")):
        data = _png(md)
        assert data.startswith(PNG) and len(data) > 2000


def test_btc_only_dca_buys_each_contribution_at_the_close_and_waits_for_a_missing_close() -> None:
    history = pl.DataFrame({"date": [D1, D2, D3], "invested_brl": [100.0, 200.0, 300.0]})
    closes = pl.DataFrame({"date": [D1, D3], "close": [10.0, 20.0]})
    # D1: 100/10 = 10 BTC → 100; D2: no close, 100 cash + 10 × 10 → 200; D3: (100+100)/20 = 10 more → 20 × 20 = 400
    assert btc_dca_same_flows(history, closes) == [100.0, 200.0, 400.0]


def test_drawdown_of_the_time_weighted_index() -> None:
    # levels 1.10, 0.88, 1.21 → 0, 0.88/1.10 − 1 = −20 %, new high 0
    assert drawdown([0.10, -0.12, 0.21]) == pytest.approx([0.0, -0.2, 0.0])


def test_performance_metadata_has_linear_log_and_drawdown_charts() -> None:
    history = pl.DataFrame({"date": [D1, D2, D3], "invested_brl": [100.0, 200.0, 300.0],
                            "value_brl": [100.0, 180.0, 330.0], "twr": [0.0, -0.1, 0.0]})
    meta = performance_metadata(history, pl.DataFrame({"date": [D1, D2, D3], "close": [10.0, 10.0, 10.0]}))
    for key in ("equity_chart", "equity_chart_log", "drawdown_chart"):
        assert _png(meta[key].value).startswith(PNG)
    assert meta["max_drawdown"] == pytest.approx(-0.1)
    records = meta["performance_table"].records
    assert [r.data["btc_only_dca_brl"] for r in records] == [300.0, 200.0, 100.0]  # newest first, flat BTC price


def test_weights_table_flags_coins_at_their_cap_and_binding_constraints_are_listed() -> None:
    weights = pl.DataFrame({"symbol": ["A/BRL", "B/BRL", "C/BRL"], "tier": ["large", "large", "small"],
                            "weight": [0.10, 0.05, 0.20], "cap": [0.10, 0.10, 0.25], "score": [1.5, 0.2, 0.9]})
    table = weights_explained(weights)
    assert table.select("symbol", "binding").rows() == [("A/BRL", "at cap"), ("B/BRL", ""), ("C/BRL", "")]
    meta = target_weights_metadata(weights, {"binding_constraints": "at cap (1): A/BRL; tier small at maximum 20.00%"}, [])
    assert meta["binding_constraints"].value == "- at cap (1): A/BRL\n- tier small at maximum 20.00%"
    assert _png(meta["weights_chart"].value).startswith(PNG)
    assert [r.data["score"] for r in meta["weights_table"].records] == [1.5, 0.2, 0.9]


def test_every_skip_keeps_its_reason_and_orders_are_summed_per_coin() -> None:
    decisions = pl.DataFrame({"date": [D1, D1, D2, D2], "symbol": ["X/BRL", "A/BRL", "A/BRL", "B/BRL"],
                              "side": ["buy"] * 4, "decision": ["skipped", "buy", "buy", "skipped"],
                              "amount_centavos": [None, 1500, 2500, 900],
                              "reason": ["stale price: last close 2025-05-28", "most underweight", "most underweight",
                                         "below the minimum order R$10.00"]})
    table = decisions_explained(decisions)
    assert table.select("symbol", "decision").rows() == [("A/BRL", "buy"), ("A/BRL", "buy"), ("X/BRL", "skipped"), ("B/BRL", "skipped")]
    orders = pl.DataFrame({"date": [D1, D2, D2], "symbol": ["A/BRL", "A/BRL", "C/BRL"], "side": ["buy", "buy", "buy"],
                           "amount_centavos": [1500, 2500, 1000]})
    assert ordered_per_coin(orders).rows() == [("A/BRL", "buy", 40.0), ("C/BRL", "buy", 10.0)]
    meta = orders_metadata(orders, decisions)
    reasons = [r.data["reason"] for r in meta["decisions_table"].records if r.data["decision"] == "skipped"]
    assert reasons == ["stale price: last close 2025-05-28", "below the minimum order R$10.00"]
    assert _png(meta["orders_chart"].value).startswith(PNG)


def test_the_orders_chart_keeps_the_largest_coins_and_sums_the_rest_per_side() -> None:
    per_coin = pl.DataFrame({"symbol": [f"C{i:02d}/BRL" for i in range(30)], "side": ["buy"] * 27 + ["sell"] * 3,
                             "amount_brl": [float(100 - i) for i in range(30)]})
    shown = chart_rows(per_coin, bars=10)
    assert shown["symbol"].to_list() == [f"C{i:02d}/BRL" for i in range(9)] + ["other (18 coins)", "other (3 coins)"]
    assert shown.filter(pl.col("symbol") == "other (18 coins)")["amount_brl"].item() == sum(100.0 - i for i in range(9, 27))
    assert shown.filter(pl.col("side") == "sell")["amount_brl"].item() == sum(100.0 - i for i in range(27, 30))
    assert shown["amount_brl"].sum() == per_coin["amount_brl"].sum()
    assert chart_rows(per_coin.head(10), bars=10).equals(per_coin.head(10))
    lone = chart_rows(per_coin.head(28), bars=10)  # one sell left over: shown by its name
    assert lone["symbol"].to_list()[-2:] == ["other (18 coins)", "C27/BRL"]


def test_regime_probabilities_most_likely_first() -> None:
    meta = regime_metadata("bull", {"bear": 0.2, "bull": 0.7, "crisis": 0.1})
    rows = [(r.data["regime"], r.data["probability"], r.data["chosen"]) for r in meta["probabilities_table"].records]
    assert rows == [("bull", 0.7, True), ("bear", 0.2, False), ("crisis", 0.1, False)]
    assert _png(meta["probabilities_chart"].value).startswith(PNG)
