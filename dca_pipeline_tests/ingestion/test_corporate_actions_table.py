"""The corporate-actions table and the continuous price history it gives, on the bundled MATIC/POL and
LUNA/LUNC/LUNA2 bars. Expected values are the bundle's own raw rows read here with polars (not through the code
under test) and the published facts named in data/corporate_actions.csv."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from dca_pipeline.ingestion.corporate_actions import CorporateActionsError, continuous_history, load_corporate_actions
from dca_pipeline.paths import bundled_data_dir

RAW = pl.read_parquet(bundled_data_dir() / "ohlcv_1d_usd.parquet")


def _raw(base: str) -> pl.DataFrame:
    return RAW.filter(pl.col("base") == base).sort("date")


def test_the_table_holds_the_known_actions() -> None:
    a = load_corporate_actions()
    row = {r["action_id"]: r for r in a.iter_rows(named=True)}
    assert (row["matic_pol_2024"]["from_base"], row["matic_pol_2024"]["to_base"], row["matic_pol_2024"]["ratio"],
            row["matic_pol_2024"]["effective_date"]) == ("MATIC", "POL", 1.0, date(2024, 9, 4))
    assert row["luna_lunc_2022"]["effective_date"] == date(2022, 5, 28)
    # Terra's published airdrop ratios (pre-attack 1.034735071, post-attack 0.000015307927 LUNA per LUNC)
    assert row["luna2_airdrop_pre_attack_2022"]["ratio"] == 1.034735071
    assert row["luna2_airdrop_post_attack_2022"]["record_date"] == date(2022, 5, 26)
    assert {r["from_base"] for r in a.iter_rows(named=True) if r["kind"] == "multiplier"} == {"SHIB1000", "1000LUNC", "1000BTT", "1000XEC"}


def test_matic_history_continues_as_pol_with_no_jump_at_the_switch() -> None:
    stitched = continuous_history(RAW, load_corporate_actions(), date(2024, 9, 30))
    pol = stitched.filter(pl.col("base") == "POL").sort("date")
    assert "MATIC" not in stitched["base"].to_list()
    assert len(pol) == len(_raw("MATIC")) + len(_raw("POL"))  # 1958 MATIC days + 7 POL days, none dropped
    assert pol["date"].is_unique().all() and pol["date"].diff().drop_nulls().max().days == 1  # no hole at the switch
    last_matic, first_pol = _raw("MATIC").row(-1, named=True), _raw("POL").row(0, named=True)
    assert last_matic["date"] == date(2024, 9, 3) and first_pol["date"] == date(2024, 9, 4)
    switch = pol.filter(pl.col("date").is_between(date(2024, 9, 3), date(2024, 9, 4)))
    assert switch["close"].to_list() == [last_matic["close"], first_pol["close"]]  # 1:1, prices untouched
    assert first_pol["open"] == last_matic["close"]  # the exchange's own continuity: no gap between close and open
    assert abs(first_pol["close"] / last_matic["close"] - 1) < 0.05  # −4.1% that day: a move, not a crash


def test_point_in_time_matic_stays_matic_before_the_switch() -> None:
    before = continuous_history(RAW.filter(pl.col("date") <= date(2024, 9, 3)), load_corporate_actions(), date(2024, 9, 3))
    assert before.filter(pl.col("base") == "MATIC").height == len(_raw("MATIC"))
    assert before.filter(pl.col("base") == "POL").is_empty()


def test_luna_continues_as_lunc_and_terra_2_is_never_stitched_onto_it() -> None:
    stitched = continuous_history(RAW, load_corporate_actions(), date(2022, 10, 1))
    lunc = stitched.filter(pl.col("base") == "LUNC").sort("date")
    assert len(lunc) == len(_raw("LUNA")) + len(_raw("LUNC"))
    around = lunc.filter(pl.col("date").is_between(date(2022, 5, 1), date(2022, 9, 30)))
    # the real crash stays (LUNA to 0.00005 on 2022-05-13) and the series resumes with Bybit's 1000LUNC / 1000
    assert around.filter(pl.col("date") == date(2022, 5, 13))["close"].item() == _raw("LUNA").filter(pl.col("date") == date(2022, 5, 13))["close"].item()
    assert around.filter(pl.col("date") > date(2022, 5, 13))["date"].min() == date(2022, 9, 9)
    assert around["close"].max() < 100 and around.filter(pl.col("date") >= date(2022, 5, 14))["close"].max() < 0.01
    # Terra 2.0 (8.8 USD on its first bar) keeps its own series: a ticker-only join would jump ×176,000 here
    luna2 = stitched.filter(pl.col("base") == "LUNA2")
    assert luna2["date"].min() == date(2022, 5, 31) and len(luna2) == len(_raw("LUNA2"))


def test_symbols_with_a_quote_are_relabelled_too() -> None:
    bars = pl.DataFrame({"symbol": ["MATIC/BRL", "POL/BRL", "1000LUNC/USDT"], "date": [date(2024, 9, 3), date(2024, 9, 4), date(2024, 9, 4)],
                         "close": [2.0, 1.9, 0.5], "volume": [10.0, 20.0, 3.0]})
    out = continuous_history(bars, load_corporate_actions(), date(2024, 9, 4))
    assert out.rows() == [("LUNC/USDT", date(2024, 9, 4), 0.0005, 3000.0), ("POL/BRL", date(2024, 9, 3), 2.0, 10.0),
                          ("POL/BRL", date(2024, 9, 4), 1.9, 20.0)]


@pytest.mark.parametrize("row, message", [
    ("x,migration,AAA,BBB,0,2024-01-01,,,", "ratio"),
    ("x,migration,AAA,AAA,1,2024-01-01,,,", "both AAA"),
    ("x,airdrop,AAA,BBB,1,,,,", "needs an effective_date"),
    ("x,split,AAA,BBB,1,2024-01-01,,,", "kind"),
])
def test_a_bad_row_is_a_clear_error_naming_its_line(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "ca.csv"
    path.write_text("action_id,kind,from_base,to_base,ratio,effective_date,record_date,source,note\n" + row + "\n")
    with pytest.raises(CorporateActionsError, match=rf"(?s)line 2 .*{message}"):
        load_corporate_actions(path)
