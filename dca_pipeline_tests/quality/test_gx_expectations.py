"""Great Expectations suites: each passes on a clean frame and names the planted bad rows; a failing suite on
the stored daily bars stops every downstream asset of the real daily job and shows the rows in its metadata."""
import math
from datetime import date, timedelta

import polars as pl
from dagster import DagsterInstance, Definitions

from dca_pipeline.definitions import defs as project
from dca_pipeline.ingestion.sources import ReplaySource
from dca_pipeline.monitoring.jobs import daily_job
from dca_pipeline.paths import dca_home
from dca_pipeline.quality import expectations, gx_run
from dca_pipeline.ingestion.resources import MarketData

DAY = date(2021, 9, 10)


def bars(symbols: list[str], day: date = DAY) -> pl.DataFrame:
    rows = []
    for i, sym in enumerate(symbols):
        close = (50.0 + 10 * i) * math.exp(0.01 * math.sin(day.toordinal() + i))
        rows.append((sym, day, close, close * 1.01, close * 0.99, close, 1000.0, 1000.0 * close))
    return pl.DataFrame(rows, schema=["symbol", "date", "open", "high", "low", "close", "volume", "volume_brl"], orient="row")


def failed(outcome: gx_run.SuiteOutcome) -> dict[str, gx_run.ExpectationOutcome]:
    return {f"{o.expectation}:{o.column}": o for o in outcome.failed}


def test_clean_bars_pass_and_data_docs_are_written() -> None:
    outcome = gx_run.validate(bars(["X/BRL", "Y/BRL"]), expectations.raw_ohlcv_1d_suite(), "clean")
    assert outcome.success and outcome.failed == [] and outcome.rows == 2
    assert (dca_home() / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()
    assert outcome.docs_url.startswith("file://") and outcome.docs_url.endswith("local_site/index.html")


def test_planted_bar_problems_are_counted_with_their_rows() -> None:
    frame = pl.concat([bars(["X/BRL", "Y/BRL", "Z/USDT"]), bars(["X/BRL"])])  # a USDT pair and a duplicate key
    frame = frame.with_columns(  # Y closes above its high
        pl.when(pl.col("symbol") == "Y/BRL").then(pl.col("high") * 1.1).otherwise(pl.col("close")).alias("close"))
    bad = failed(gx_run.validate(frame, expectations.raw_ohlcv_1d_suite(), "planted"))
    assert set(bad) == {"expect_column_values_to_match_regex:symbol", "expect_compound_columns_to_be_unique:symbol,date",
                        "expect_column_pair_values_a_to_be_greater_than_b:high,close"}
    regex = bad["expect_column_values_to_match_regex:symbol"]
    assert regex.unexpected_count == 1 and regex.sample["symbol"].to_list() == ["Z/USDT"]
    dup = bad["expect_compound_columns_to_be_unique:symbol,date"]
    assert dup.unexpected_count == 2 and dup.sample["symbol"].to_list() == ["X/BRL", "X/BRL"]
    high_close = bad["expect_column_pair_values_a_to_be_greater_than_b:high,close"]
    assert high_close.unexpected_count == 1 and high_close.sample["symbol"].to_list() == ["Y/BRL"]


def test_target_weights_suite_catches_over_cap_unknown_tier_and_sum_above_one() -> None:
    good = pl.DataFrame({"month": [date(2021, 1, 1)] * 3, "symbol": ["A/BRL", "B/BRL", "C/BRL"],
                         "tier": ["large", "mid", "small"], "weight": [0.4, 0.35, 0.25], "cap": [0.4, 0.4, 0.4]})
    suite = expectations.target_weights_suite(["large", "mid", "small"])
    assert gx_run.validate(good, suite, "good").success
    # optimiser round-off (0.078125 vs 0.07812499999999999) is within tolerance
    assert gx_run.validate(good.with_columns(pl.Series("cap", [0.39999999999999997, 0.4, 0.4])), suite, "round-off").success
    bad_frame = good.with_columns(pl.Series("weight", [0.5, 0.35, 0.25]), pl.Series("tier", ["large", "mid", "micro"]))
    bad = failed(gx_run.validate(bad_frame, suite, "bad"))
    over_cap = bad["expect_column_values_to_be_between:cap_headroom"]
    assert over_cap.unexpected_count == 1 and over_cap.sample["symbol"].to_list() == ["A/BRL"]
    assert bad["expect_column_values_to_be_in_set:tier"].sample["symbol"].to_list() == ["C/BRL"]
    assert "expect_column_sum_to_be_between:weight" in bad  # 0.5 + 0.35 + 0.25 = 1.1 > 1
    assert bad["expect_column_sum_to_be_between:weight"].observed.startswith("1.1")


def test_orders_suite_enforces_the_exchange_minimum_and_unique_ids() -> None:
    orders = pl.DataFrame({"date": [DAY] * 3, "symbol": ["A/BRL", "B/BRL", "B/BRL"], "side": ["buy", "buy", "hold"],
                           "amount_centavos": [1500, 499, 2000], "client_order_id": ["a", "b", "b"]})
    bad = failed(gx_run.validate(orders, expectations.dca_orders_suite(500), "orders"))
    assert bad["expect_column_values_to_be_between:amount_centavos"].sample["amount_centavos"].to_list() == [499]
    assert bad["expect_column_values_to_be_unique:client_order_id"].unexpected_count == 2
    assert bad["expect_column_values_to_be_in_set:side"].sample["side"].to_list() == ["hold"]
    empty = orders.clear()
    assert gx_run.validate(empty, expectations.dca_orders_suite(500), "no orders").success  # a day without orders


class PlantedSource(ReplaySource):
    """The bundled replay for everything but the daily bars: two BRL coins plus one USDT pair the source mixed in."""

    def fetch_ohlcv_1d(self, start: date, end: date) -> pl.DataFrame:
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return pl.concat([bars(["X/BRL", "Y/BRL", "Z/USDT"], d) for d in days])


class PlantedMarket(MarketData):
    def client(self) -> ReplaySource:
        return PlantedSource()


def test_failing_suite_blocks_the_daily_job_downstream_and_shows_the_rows() -> None:
    defs = Definitions(
        assets=project.assets, asset_checks=project.asset_checks,
        jobs=[daily_job], resources={**project.resources, "market_data": PlantedMarket()},
    )
    job = defs.resolve_job_def("daily_job")
    result = job.execute_in_process(instance=DagsterInstance.ephemeral(), partition_key=DAY.isoformat(), raise_on_error=False)
    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    gx_check = checks[("raw_ohlcv_1d", "gx_expectations")]
    assert not gx_check.passed
    assert gx_check.metadata["unexpected_count"].value == 1 and gx_check.metadata["failed_expectations"].value == 1
    assert "| Z/USDT | 2021-09-10 |" in gx_check.metadata["sample_rows"].value
    assert gx_check.metadata["data_docs"].value.startswith("file://")
    assert checks[("raw_ohlcv_1d", "quarantine_share")].passed  # the per-row rules alone let the USDT bar through
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert "raw_ohlcv_1d" in materialized
    assert not materialized & {"features_daily", "risk_metrics", "correlation_matrix", "dca_orders", "fills", "positions"}


def test_stored_results_are_bounded_and_the_check_links_its_own_page() -> None:
    suite = expectations.raw_ohlcv_1d_suite()
    outcomes = [gx_run.validate(bars(["X/BRL"], DAY + timedelta(days=i)), suite, f"raw_ohlcv_1d d{i}") for i in range(3)]
    root = dca_home() / "gx"
    store = root / "uncommitted" / "validations" / "raw_ohlcv_1d"
    pages = root / "uncommitted" / "data_docs" / "local_site" / "validations" / "raw_ohlcv_1d"
    assert len(list(store.glob("*/*/*.json"))) == 3 and len(list(pages.glob("*/*/*.html"))) == 3
    assert "raw_ohlcv_1d%20d2/" in outcomes[-1].page_url  # the page of this validation, not only the index
    assert gx_run.prune_results(root, "raw_ohlcv_1d", keep=1) == 2
    assert [p.parent.parent.name for p in store.glob("*/*/*.json")] == ["raw_ohlcv_1d d2"]
    assert [p.parent.parent.name for p in pages.glob("*/*/*.html")] == ["raw_ohlcv_1d d2"]
