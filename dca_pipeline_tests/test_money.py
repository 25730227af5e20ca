"""Money: daily slices add up to the monthly budget exactly; fees round to the centavo."""
from datetime import date
from decimal import Decimal

from dca_pipeline.money import daily_contribution_centavos, fee_centavos, floor_quantity, to_brl, to_centavos


def test_daily_slices_sum_to_budget_in_every_month_length() -> None:
    for month in (date(2021, 1, 1), date(2021, 2, 1), date(2020, 2, 1), date(2021, 4, 1)):
        n = (date(month.year + (month.month == 12), month.month % 12 + 1, 1) - month).days
        slices = [daily_contribution_centavos(100_000, month.replace(day=d)) for d in range(1, n + 1)]
        assert sum(slices) == 100_000
        assert max(slices) - min(slices) <= 1


def test_january_slices_by_hand() -> None:
    # 100000 / 31 = 3225.8: floor(100000*1/31)=3225, floor(100000*2/31)=6451 -> 3226
    assert daily_contribution_centavos(100_000, date(2021, 1, 1)) == 3225
    assert daily_contribution_centavos(100_000, date(2021, 1, 2)) == 3226


def test_fee_and_conversions() -> None:
    assert fee_centavos(3225, Decimal("0.007")) == 23  # 22.575 -> 23
    assert fee_centavos(1000, Decimal("0.007")) == 7
    assert fee_centavos(50, Decimal("0.007")) == 0  # 0.35 -> 0
    assert to_brl(123456) == Decimal("1234.56")
    assert to_centavos("10.005") == 1000  # banker's rounding
    assert floor_quantity(Decimal("1.123456789")) == Decimal("1.12345678")


def test_owed_contribution_credits_the_uncredited_days_since_the_last_one() -> None:
    from datetime import date

    from dca_pipeline.money import owed_contribution_centavos

    # by hand, R$1000 over January's 31 days: slice(d) = 100000*d//31 - 100000*(d-1)//31
    assert owed_contribution_centavos(100_000, date(2021, 1, 16), None) == (3225, [date(2021, 1, 16)])  # first day ever
    assert owed_contribution_centavos(100_000, date(2021, 1, 16), date(2021, 1, 15)) == (3225, [date(2021, 1, 16)])
    # the 15th was blocked: 48387 - 45161 = 3226 for it, 51612 - 48387 = 3225 for the 16th
    assert owed_contribution_centavos(100_000, date(2021, 1, 16), date(2021, 1, 14)) == (6451, [date(2021, 1, 15), date(2021, 1, 16)])
    # across a month end: January 31st (100000 - 96774 = 3226) and February 1st (100000*1//28 = 3571)
    assert owed_contribution_centavos(100_000, date(2021, 2, 1), date(2021, 1, 30))[0] == 6797
    # a long pause reaches back to the first day of the previous month only: all of December, then 100000*3//31 = 9677
    amount, days = owed_contribution_centavos(100_000, date(2021, 1, 3), date(2020, 10, 15))
    assert (amount, days[0], len(days)) == (109_677, date(2020, 12, 1), 34)
