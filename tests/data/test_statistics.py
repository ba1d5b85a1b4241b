"""Market statistics (realized volatility, intraday volume and volatility profiles) against
hand-computed series, a simulated geometric Brownian motion and the bundled EUR/USD sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jaxmarket.data import (
    HOURS_PER_DAY,
    PriceSeries,
    eurusd_hourly,
    eurusd_statistics,
    market_statistics,
    periods_per_year,
    realized_vol,
    volatility_profile,
    volume_profile,
)
from jaxmarket.data.statistics import DAYS_PER_YEAR, STATISTICS

HOURS_PER_YEAR = HOURS_PER_DAY * DAYS_PER_YEAR  # 8766: hourly bars around the clock
EXACT = 1e-12  # relative tolerance of results that are exact up to float rounding
WEEKDAYS = 5
DAYS_PER_WEEK = 7

# The bundled sample: loose sanity bounds.
EURUSD_VOL_BOUNDS = (0.03, 0.20)  # annual realized volatility of EUR/USD
EURUSD_PERIODS_BOUNDS = (6200.0, 6300.0)  # ~24 h x 5 days x 52 weeks of hourly bars a year

# The simulated GBM.
GBM_VOL = 0.1  # annual volatility
GBM_DRIFT = 0.05  # annual drift
GBM_DAYS = 2000  # of 24 hourly returns each
GBM_START_PRICE = 1.1
GBM_STANDARD_ERRORS = 4  # of the whole-series estimate
PROFILE_STANDARD_ERRORS = 5  # of each of the 24 hourly estimates (24 tests at once)


def hourly_times(start: str, count: int) -> np.ndarray:
    return np.datetime64(start, "s") + np.arange(count) * np.timedelta64(1, "h")


def stamps(*values: str) -> np.ndarray:
    return np.array(values, dtype="datetime64[s]")


def count_weighted_mean_square(profile: np.ndarray, times: np.ndarray) -> float:
    """``sum_h n_h profile[h] ** 2 / sum_h n_h``, ``n_h`` = returns ending in hour ``h`` (by datetime.hour)."""
    counts = np.bincount([stamp.hour for stamp in times[1:].astype(object)], minlength=HOURS_PER_DAY)
    filled = counts > 0
    return float(np.sum(counts[filled] * profile[filled] ** 2) / counts.sum())


# --- hand-computed series ---------------------------------------------------------------------


def test_realized_vol_of_constant_ratio_path() -> None:
    growth = 1.01
    prices = 100.0 * growth ** np.arange(10)
    expected = math.log(growth) * math.sqrt(HOURS_PER_YEAR)  # every r_t = log(1.01)
    assert realized_vol(prices, HOURS_PER_YEAR) == pytest.approx(expected, rel=EXACT)
    # Uncentered: the returns' variance is 0 here, yet the volatility is not.
    assert float(np.var(np.diff(np.log(prices)))) == pytest.approx(0.0, abs=EXACT)


def test_realized_vol_of_alternating_path() -> None:
    prices = [1.0, 2.0, 1.0, 2.0, 1.0]  # r_t = +-log 2, mean r_t^2 = log(2)^2
    assert realized_vol(prices, 1.0) == pytest.approx(math.log(2), rel=EXACT)
    assert realized_vol(np.array(prices, dtype=np.float32), 4) == pytest.approx(2 * math.log(2), rel=EXACT)
    assert realized_vol([3.0, 3.0], 1.0) == 0.0
    assert isinstance(realized_vol(prices, 1.0), float)


def test_periods_per_year_hourly_around_the_clock() -> None:
    times = hourly_times("2017-01-02T00:00", 3)  # 2 returns over 2 h
    assert periods_per_year(times) == pytest.approx(HOURS_PER_YEAR, rel=EXACT)
    assert periods_per_year(times.astype("datetime64[ms]")) == pytest.approx(HOURS_PER_YEAR, rel=EXACT)
    assert periods_per_year(times[[0, 2]]) == pytest.approx(HOURS_PER_YEAR / 2, rel=EXACT)


def test_periods_per_year_counts_trading_bars_over_calendar_time() -> None:
    # Mon 00:00 .. Fri 23:00 hourly, then the next Monday 00:00: 120 returns over 7 calendar days.
    week = hourly_times("2017-01-02T00:00", WEEKDAYS * HOURS_PER_DAY)
    times = np.append(week, np.datetime64("2017-01-09T00:00", "s"))
    expected = WEEKDAYS * HOURS_PER_DAY * DAYS_PER_YEAR / DAYS_PER_WEEK  # 6261.4
    assert periods_per_year(times) == pytest.approx(expected, rel=EXACT)


def test_volume_profile_of_four_bars() -> None:
    times = np.array(
        ["1969-12-31T23:30:00.000", "2017-01-02T00:00:00.000", "2017-01-02T01:59:59.999", "2017-01-03T01:00:00.000"],
        dtype="datetime64[ms]",
    )
    volumes = [4.0, 1.0, 2.0, 3.0]  # total 10: hour 23 gets 4, hour 0 gets 1, hour 1 gets 2 + 3
    expected = np.zeros(HOURS_PER_DAY)
    expected[23], expected[0], expected[1] = 4 / 10, 1 / 10, 5 / 10
    profile = volume_profile(times, volumes)
    assert profile.shape == (HOURS_PER_DAY,) and profile.dtype == np.float64
    np.testing.assert_array_equal(profile, expected)
    np.testing.assert_array_equal(volume_profile(times[::-1], volumes[::-1]), expected)  # order is irrelevant
    np.testing.assert_array_equal(volume_profile(times, [0.0, 0.0, 7.0, 0.0]), np.eye(HOURS_PER_DAY)[1])


def test_volatility_profile_of_four_bars() -> None:
    times = stamps("2017-01-02T00:00", "2017-01-02T01:00", "2017-01-02T02:00", "2017-01-03T01:00")
    prices = [1.0, 2.0, 1.0, 4.0]  # r = log 2 (ends at 01 h), -log 2 (02 h), log 4 (01 h)
    profile = volatility_profile(times, prices, 1.0)
    assert profile.shape == (HOURS_PER_DAY,) and profile.dtype == np.float64
    log2 = math.log(2)
    assert profile[1] == pytest.approx(math.sqrt((log2**2 + (2 * log2) ** 2) / 2), rel=EXACT)
    assert profile[2] == pytest.approx(log2, rel=EXACT)
    empty = np.ones(HOURS_PER_DAY, dtype=bool)
    empty[[1, 2]] = False
    assert np.all(np.isnan(profile[empty]))  # hour 0 holds only the first bar: no return ends there
    scaled = volatility_profile(times, prices, 9.0)
    np.testing.assert_allclose(scaled[~empty], 3 * profile[~empty], rtol=EXACT)
    assert count_weighted_mean_square(profile, times) == pytest.approx(realized_vol(prices, 1.0) ** 2, rel=EXACT)


def test_market_statistics_combines_the_functions() -> None:
    times = stamps("2017-01-02T00:00", "2017-01-02T01:00", "2017-01-02T02:00", "2017-01-03T01:00")
    series = PriceSeries(times, [1.0, 2.0, 1.0, 4.0], "made", [1.0, 2.0, 3.0, 4.0])
    statistics = market_statistics(series)
    assert tuple(statistics) == STATISTICS
    annualization = periods_per_year(times)
    assert statistics["realized_vol"] == realized_vol(series.prices, annualization)
    np.testing.assert_array_equal(statistics["volume_profile"], volume_profile(times, series.volumes))
    np.testing.assert_array_equal(
        statistics["volatility_profile"], volatility_profile(times, series.prices, annualization)
    )
    with pytest.raises(ValueError, match=r"'made' has volumes = None"):
        market_statistics(PriceSeries(times, series.prices, "made"))


# --- a simulated geometric Brownian motion ----------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gbm_realized_vol_recovers_the_true_vol(seed: int) -> None:
    """Hourly log returns r = (mu - sigma^2 / 2) dt + sigma sqrt(dt) Z, dt = 1 / 8766 year.

    Tolerance: with the drift term negligible (its square, 2.6e-11, is 2e-5 of sigma^2 dt =
    1.1e-6), n r^2 / (sigma^2 dt) is chi-squared with n degrees of freedom, so the estimate
    sigma_hat^2 = mean(r^2) / dt has relative standard deviation sqrt(2 / n) and, by the delta
    method, sigma_hat has relative standard error 1 / sqrt(2 n) (0.32% for n = 48000 returns). The
    test allows GBM_STANDARD_ERRORS = 4 of them. Each hour of day holds n / 24 = 2000 returns, so its
    estimate has relative standard error 1 / sqrt(2 n / 24) (1.6%); the flat profile is allowed
    PROFILE_STANDARD_ERRORS = 5 of them, since 24 hours are tested at once.
    """
    rng = np.random.default_rng(seed)
    n_returns = GBM_DAYS * HOURS_PER_DAY
    times = hourly_times("2017-01-01T00:00", n_returns + 1)
    annualization = periods_per_year(times)
    assert annualization == pytest.approx(HOURS_PER_YEAR, rel=EXACT)
    dt = 1.0 / annualization
    returns = (GBM_DRIFT - GBM_VOL**2 / 2) * dt + GBM_VOL * math.sqrt(dt) * rng.standard_normal(n_returns)
    prices = GBM_START_PRICE * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))

    estimate = realized_vol(prices, annualization)
    standard_error = GBM_VOL / math.sqrt(2 * n_returns)
    assert abs(estimate - GBM_VOL) < GBM_STANDARD_ERRORS * standard_error

    profile = volatility_profile(times, prices, annualization)
    hourly_error = GBM_VOL / math.sqrt(2 * n_returns / HOURS_PER_DAY)
    np.testing.assert_array_less(np.abs(profile - GBM_VOL), PROFILE_STANDARD_ERRORS * hourly_error)
    assert count_weighted_mean_square(profile, times) == pytest.approx(estimate**2, rel=EXACT)


# --- the bundled EUR/USD sample ---------------------------------------------------------------


def test_eurusd_statistics() -> None:
    series = eurusd_hourly()
    statistics = eurusd_statistics()
    annualization = periods_per_year(series.times)
    volumes, volatility = statistics["volume_profile"], statistics["volatility_profile"]
    correlation = float(np.corrcoef(volumes, volatility)[0, 1])
    with np.printoptions(precision=4, suppress=True, linewidth=120):
        print(
            f"\nEUR/USD 2017 hourly: periods_per_year = {annualization:.2f}, "
            f"realized_vol = {statistics['realized_vol']:.5f}"
        )
        print(f"volume profile (UTC hours 0..23): {volumes}")
        print(f"volatility profile (UTC hours 0..23): {volatility}")
        print(f"correlation of the profiles: {correlation:.3f}")

    assert tuple(statistics) == STATISTICS
    assert EURUSD_PERIODS_BOUNDS[0] < annualization < EURUSD_PERIODS_BOUNDS[1]
    assert isinstance(statistics["realized_vol"], float)
    assert EURUSD_VOL_BOUNDS[0] < statistics["realized_vol"] < EURUSD_VOL_BOUNDS[1]
    for profile in (volumes, volatility):
        assert profile.shape == (HOURS_PER_DAY,) and profile.dtype == np.float64
        assert np.all(profile > 0)  # every hour of day has bars
    assert volumes.sum() == pytest.approx(1.0, rel=EXACT)
    assert np.all((volatility > EURUSD_VOL_BOUNDS[0] / 2) & (volatility < EURUSD_VOL_BOUNDS[1]))
    assert count_weighted_mean_square(volatility, series.times) == pytest.approx(
        statistics["realized_vol"] ** 2, rel=EXACT
    )
    assert correlation > 0  # busier hours move more


def test_eurusd_statistics_against_a_plain_loop() -> None:
    """The profiles recomputed with ``datetime.hour`` and Python sums, bar by bar."""
    series = eurusd_hourly()
    hours = [stamp.hour for stamp in series.times.astype(object)]
    volume_sums = [0.0] * HOURS_PER_DAY
    square_sums, counts = [0.0] * HOURS_PER_DAY, [0] * HOURS_PER_DAY
    for i, (hour, volume) in enumerate(zip(hours, series.volumes.tolist())):
        volume_sums[hour] += volume
        if i:
            square_sums[hour] += math.log(series.prices[i] / series.prices[i - 1]) ** 2
            counts[hour] += 1
    annualization = (len(series) - 1) / ((series.times[-1] - series.times[0]) / np.timedelta64(1, "D") / DAYS_PER_YEAR)
    statistics = eurusd_statistics()
    np.testing.assert_allclose(statistics["volume_profile"], np.array(volume_sums) / sum(volume_sums), rtol=EXACT)
    expected = np.sqrt(np.array(square_sums) / np.array(counts) * annualization)
    np.testing.assert_allclose(statistics["volatility_profile"], expected, rtol=EXACT)
    assert statistics["realized_vol"] == pytest.approx(
        math.sqrt(sum(square_sums) / sum(counts) * annualization), rel=EXACT
    )


def test_eurusd_statistics_is_cached_and_read_only() -> None:
    first, second = eurusd_statistics(), eurusd_statistics()
    assert first is not second
    first["realized_vol"] = 0.0  # a caller's dict is its own
    assert second["realized_vol"] == eurusd_statistics()["realized_vol"] != 0.0
    for key in ("volume_profile", "volatility_profile"):
        assert not second[key].flags.writeable
        with pytest.raises(ValueError):
            second[key][0] = 0.0
        np.testing.assert_array_equal(second[key], market_statistics(eurusd_hourly())[key])


# --- invalid input ----------------------------------------------------------------------------

GOOD_TIMES = stamps("2017-01-02T00:00", "2017-01-02T01:00", "2017-01-02T02:00")
GOOD_PRICES = [1.0, 1.1, 1.2]


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: realized_vol([1.0], 1.0), r"prices has shape \(1,\): valid shapes are \(n,\) with n >= 2"),
        (lambda: realized_vol([[1.0, 2.0]], 1.0), r"prices has shape \(1, 2\): valid shapes are \(n,\) with n >= 2"),
        (lambda: realized_vol([1.0, 0.0, 2.0], 1.0), r"prices\[1\] = 0\.0 is out of range: valid range is \(0, inf\)"),
        (lambda: realized_vol([1.0, -2.0], 1.0), r"prices\[1\] = -2\.0 is out of range: valid range is \(0, inf\)"),
        (lambda: realized_vol([np.nan, 2.0], 1.0), r"prices\[0\] = nan is out of range"),
        (lambda: realized_vol([1.0, np.inf], 1.0), r"prices\[1\] = inf is out of range"),
        (lambda: realized_vol(GOOD_PRICES, 0.0), r"periods_per_year = 0\.0 is out of range: valid range is \(0, inf\)"),
        (lambda: realized_vol(GOOD_PRICES, -1), r"periods_per_year = -1 is out of range"),
        (lambda: realized_vol(GOOD_PRICES, math.nan), r"periods_per_year = nan is out of range"),
        (lambda: realized_vol(GOOD_PRICES, math.inf), r"periods_per_year = inf is out of range"),
        (lambda: realized_vol(GOOD_PRICES, True), r"periods_per_year = True is out of range"),
        (lambda: periods_per_year(GOOD_TIMES[:1]), r"times has shape \(1,\): valid shapes are \(n,\) with n >= 2"),
        (
            lambda: periods_per_year(GOOD_TIMES[[0, 2, 1]]),
            (
                r"times\[2\] = '2017-01-02T01:00:00' is not after times\[1\] = '2017-01-02T02:00:00': "
                r"valid times are strictly increasing"
            ),
        ),
        (lambda: periods_per_year(GOOD_TIMES[[0, 0]]), r"times\[1\] = .* is not after times\[0\]"),
        (
            lambda: periods_per_year(np.array(["2017-01-02", "2017-01-03"])),
            r"times has dtype <U10: valid dtypes are numpy datetime64",
        ),
        (lambda: periods_per_year(np.array(["2017-01-02", "NaT"], dtype="datetime64[s]")), r"times\[1\] = NaT"),
        (lambda: periods_per_year(GOOD_TIMES.reshape(1, 3)), r"times has shape \(1, 3\): valid shapes are \(n,\)"),
        (
            lambda: volume_profile(GOOD_TIMES, [1.0, 2.0]),
            r"volumes has shape \(2,\): valid shape is that of times, \(3,\)",
        ),
        (
            lambda: volume_profile(GOOD_TIMES, [1.0, -1.0, 2.0]),
            r"volumes\[1\] = -1\.0 is out of range: valid range is \[0, inf\)",
        ),
        (lambda: volume_profile(GOOD_TIMES, [1.0, 1.0, np.nan]), r"volumes\[2\] = nan is out of range"),
        (lambda: volume_profile(GOOD_TIMES, [0.0, 0.0, 0.0]), r"volumes sum to 0\.0: valid totals are > 0"),
        (
            lambda: volatility_profile(GOOD_TIMES, GOOD_PRICES[:2], 1.0),
            r"prices has shape \(2,\): valid shape is that of times, \(3,\)",
        ),
        (
            lambda: volatility_profile(GOOD_TIMES, [1.0], 1.0),
            r"prices has shape \(1,\): valid shapes are \(n,\) with n >= 2",
        ),
        (lambda: volatility_profile(GOOD_TIMES, [1.0, 0.0, 1.0], 1.0), r"prices\[1\] = 0\.0 is out of range"),
        (lambda: volatility_profile(GOOD_TIMES[::-1], GOOD_PRICES, 1.0), r"times\[1\] = .* is not after times\[0\]"),
        (lambda: volatility_profile(GOOD_TIMES, GOOD_PRICES, -2.0), r"periods_per_year = -2\.0 is out of range"),
    ],
)
def test_invalid_input_names_argument_value_and_range(call, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()


def test_numpy_scalar_arguments_are_shown_plainly() -> None:
    with pytest.raises(ValueError, match=r"^periods_per_year = -1\.0 is out of range"):
        realized_vol(GOOD_PRICES, np.float64(-1.0))
    assert realized_vol(GOOD_PRICES, np.float32(1.0)) == realized_vol(GOOD_PRICES, 1.0)
