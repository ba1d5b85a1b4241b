"""Market statistics of a price and volume series: the targets a simulator is calibrated to.

A series is ``n`` bars: times ``t_0 < ... < t_{n-1}`` (``datetime64``, read as UTC), prices
``p_0, ..., p_{n-1}`` (finite, positive) and volumes ``v_0, ..., v_{n-1}`` (finite, ``>= 0``). Its
``n - 1`` log returns are ``r_i = log(p_{i+1} / p_i)``, ``i = 0, ..., n - 2``: return ``r_i`` *ends*
at bar ``i + 1``. The hour of a bar, ``hour(t)``, is the UTC hour of day of its time stamp, an
integer in ``[0, HOURS_PER_DAY)`` (for bars stamped with their opening time, as in the bundled
sample, hour ``h`` is the bar covering ``[h:00, h+1:00)`` UTC).

Definitions (the simulator must compute the same quantities):

- ``periods_per_year(times) = (n - 1) / ((t_{n-1} - t_0) / YEAR)``, ``YEAR = 365.25`` days: the
  number of returns per calendar year of the series' span. Calendar time is used, and the bars that
  are absent (FX weekends and holidays) are not counted, so for an hourly FX series it is near
  ``24 * 5 * 52 ~ 6260``, not ``24 * 365.25 = 8766``. With it,
  ``realized_vol ** 2 = sum(r_i ** 2) / (span in years)``: the realized variance per calendar year,
  where a return across a weekend counts once, like any other.
- ``realized_vol(prices, P) = sqrt(mean_i(r_i ** 2) * P)``: annualized, *uncentered* (the mean of
  squared returns, not their variance).
- ``volume_profile(times, volumes)[h] = sum_{j: hour(t_j) = h} v_j / sum_j v_j``.
- ``volatility_profile(times, prices, P)[h] = sqrt(mean_{i: hour(t_{i+1}) = h}(r_i ** 2) * P)``, NaN
  for an hour with no returns.

``eurusd_statistics()`` gives all three for the bundled EUR/USD 2017 hourly sample.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from jaxmarket.data.ohlc import PriceSeries, eurusd_hourly

HOURS_PER_DAY = 24
DAYS_PER_YEAR = 365.25  # Julian year
SECONDS_PER_HOUR = 3600
SECONDS_PER_YEAR = DAYS_PER_YEAR * HOURS_PER_DAY * SECONDS_PER_HOUR
MIN_PRICES = 2  # fewest prices that give one return
TIME_UNIT = "datetime64[s]"

STATISTICS = ("realized_vol", "volume_profile", "volatility_profile")


def _prices(prices: Any, name: str = "prices") -> np.ndarray:
    """``prices`` as a 1-D float64 array of at least ``MIN_PRICES`` finite positive entries."""
    array = np.asarray(prices, dtype=np.float64)
    if array.ndim != 1 or array.shape[0] < MIN_PRICES:
        raise ValueError(
            f"{name} has shape {array.shape}: valid shapes are (n,) with n >= {MIN_PRICES} "
            f"(one return needs two prices)"
        )
    bad = np.flatnonzero(~(np.isfinite(array) & (array > 0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}[{i}] = {float(array[i])!r} is out of range: valid range is (0, inf)")
    return array


def _times(times: Any, name: str = "times", *, increasing: bool = True) -> np.ndarray:
    """``times`` as a 1-D ``datetime64[s]`` array, strictly increasing if ``increasing``."""
    array = np.asarray(times)
    if not np.issubdtype(array.dtype, np.datetime64):
        raise ValueError(f"{name} has dtype {array.dtype}: valid dtypes are numpy datetime64 (read as UTC)")
    array = array.astype(TIME_UNIT)
    if array.ndim != 1:
        raise ValueError(f"{name} has shape {array.shape}: valid shapes are (n,)")
    if np.isnat(array).any():
        i = int(np.flatnonzero(np.isnat(array))[0])
        raise ValueError(f"{name}[{i}] = NaT: valid values are datetimes")
    if increasing:
        bad = np.flatnonzero(np.diff(array) <= np.timedelta64(0, "s"))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{name}[{i + 1}] = {str(array[i + 1])!r} is not after {name}[{i}] = {str(array[i])!r}: "
                f"valid times are strictly increasing"
            )
    return array


def _annualization(value: Any, name: str = "periods_per_year") -> float:
    is_number = isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
    if not (is_number and np.isfinite(value) and value > 0):
        shown = value.item() if isinstance(value, np.generic) else value
        raise ValueError(f"{name} = {shown!r} is out of range: valid range is (0, inf)")
    return float(value)


def _same_length(times: np.ndarray, other: np.ndarray, name: str) -> None:
    if other.shape != times.shape:
        raise ValueError(f"{name} has shape {other.shape}: valid shape is that of times, {times.shape}")


def _hours(times: np.ndarray) -> np.ndarray:
    """UTC hour of day of each ``datetime64[s]`` stamp, int64 in ``[0, HOURS_PER_DAY)``."""
    seconds = times.astype(np.int64)  # since 1970-01-01T00:00 UTC; floor division handles earlier stamps
    return (seconds // SECONDS_PER_HOUR) % HOURS_PER_DAY


def realized_vol(prices: np.ndarray, periods_per_year: float) -> float:
    """Annualized realized volatility of a price path.

    Definition: ``sqrt(mean_i(r_i ** 2) * periods_per_year)`` with the ``n - 1`` log returns
    ``r_i = log(prices[i + 1] / prices[i])``. Uncentered: the mean of the squared returns, not their
    variance, so a steady trend counts as volatility.

    Args:
        prices: ``(n,)`` prices, any real dtype (read as float64), finite and positive, ``n >= 2``;
            any unit (returns are unit-free).
        periods_per_year: returns per year, finite and ``> 0`` (e.g. ``periods_per_year(times)``).

    Returns:
        The volatility, a float ``>= 0``, per square root of a year (``0.1`` is 10% a year).

    Raises:
        ValueError: naming the argument, its value and the valid range, for ``prices`` that are not
            1-D with at least two entries or hold a non-finite or non-positive entry (its index is
            named), and for a ``periods_per_year`` that is not a finite number ``> 0``.
    """
    returns = np.diff(np.log(_prices(prices)))
    return float(np.sqrt(np.mean(returns**2) * _annualization(periods_per_year)))


def periods_per_year(times: np.ndarray) -> float:
    """Returns per year implied by a series' time stamps.

    Definition: ``(n - 1) / ((times[-1] - times[0]) / YEAR)``, the number of returns divided by the
    span in years, ``YEAR = DAYS_PER_YEAR = 365.25`` days of ``24 h``. The span is calendar time,
    while only the bars present are counted: FX trades about five days a week, so for an hourly FX
    series this is about ``24 * 5 * 52 ~ 6260``, not ``24 * 365.25 = 8766``. This makes
    ``realized_vol(prices, periods_per_year(times)) ** 2`` the realized variance per calendar year
    (``sum_i r_i ** 2 / span in years``), with a return across a weekend or holiday gap counted like
    any other return.

    Args:
        times: ``(n,)`` numpy ``datetime64`` (any unit, read as UTC), strictly increasing, ``n >= 2``.

    Returns:
        Returns per year, a float ``> 0``.

    Raises:
        ValueError: naming ``times``, for a non-datetime64 dtype, a shape other than ``(n,)`` with
            ``n >= 2``, a NaT, or stamps not strictly increasing (naming the first offending pair).
    """
    stamps = _times(times)
    if stamps.shape[0] < MIN_PRICES:
        raise ValueError(f"times has shape {stamps.shape}: valid shapes are (n,) with n >= {MIN_PRICES}")
    span_years = float((stamps[-1] - stamps[0]).astype(np.int64)) / SECONDS_PER_YEAR
    return (stamps.shape[0] - 1) / span_years


def volume_profile(times: np.ndarray, volumes: np.ndarray) -> np.ndarray:
    """Intraday volume profile: the fraction of the total volume traded in each UTC hour of day.

    Definition: ``profile[h] = sum_{j: hour(times[j]) = h} volumes[j] / sum_j volumes[j]`` for
    ``h = 0, ..., HOURS_PER_DAY - 1``, where ``hour(t)`` is the UTC hour of day of the time stamp
    ``t``. The order of the bars does not matter.

    Args:
        times: ``(n,)`` numpy ``datetime64`` (any unit, read as UTC).
        volumes: ``(n,)`` volumes, any real dtype (read as float64), finite and ``>= 0``, not all
            zero; any unit (only shares of the total are used).

    Returns:
        ``(HOURS_PER_DAY,)`` = ``(24,)`` float64, each entry in ``[0, 1]``, summing to 1 (up to
        rounding); an hour with no bars gets 0.

    Raises:
        ValueError: naming the argument, its value and the valid range, for ``times`` that are not
            a 1-D datetime64 array without NaT, ``volumes`` whose shape differs from ``times``', a
            non-finite or negative volume (its index is named), or volumes summing to zero.
    """
    stamps = _times(times, increasing=False)
    weights = np.asarray(volumes, dtype=np.float64)
    _same_length(stamps, weights, "volumes")
    bad = np.flatnonzero(~(np.isfinite(weights) & (weights >= 0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"volumes[{i}] = {float(weights[i])!r} is out of range: valid range is [0, inf)")
    total = float(weights.sum())
    if not total > 0:
        raise ValueError(f"volumes sum to {total!r}: valid totals are > 0 (at least one positive volume)")
    per_hour = np.bincount(_hours(stamps), weights=weights, minlength=HOURS_PER_DAY)
    return per_hour / total


def volatility_profile(times: np.ndarray, prices: np.ndarray, periods_per_year: float) -> np.ndarray:
    """Intraday volatility profile: annualized realized volatility of the returns ending in each
    UTC hour of day.

    Definition: with ``r_i = log(prices[i + 1] / prices[i])``, ``i = 0, ..., n - 2``,
    ``profile[h] = sqrt(mean_{i: hour(times[i + 1]) = h}(r_i ** 2) * periods_per_year)`` for
    ``h = 0, ..., HOURS_PER_DAY - 1``: return ``r_i`` belongs to the hour of its *ending* bar
    ``i + 1``; uncentered, like ``realized_vol``. An hour with no returns gets NaN. The
    count-weighted mean of ``profile ** 2`` is ``realized_vol(prices, periods_per_year) ** 2``.

    Args:
        times: ``(n,)`` numpy ``datetime64`` (any unit, read as UTC), strictly increasing, ``n >= 2``.
        prices: ``(n,)`` prices, any real dtype (read as float64), finite and positive.
        periods_per_year: returns per year, finite and ``> 0`` (e.g. ``periods_per_year(times)``).

    Returns:
        ``(HOURS_PER_DAY,)`` = ``(24,)`` float64, per square root of a year, ``>= 0`` or NaN.

    Raises:
        ValueError: naming the argument, its value and the valid range, for ``times`` that are not
            a 1-D strictly increasing datetime64 array without NaT, ``prices`` that are not 1-D with
            at least two finite positive entries or whose shape differs from ``times``', and a
            ``periods_per_year`` that is not a finite number ``> 0``.
    """
    values = _prices(prices)
    stamps = _times(times)
    _same_length(stamps, values, "prices")
    annualization = _annualization(periods_per_year)
    returns = np.diff(np.log(values))
    hours = _hours(stamps[1:])
    counts = np.bincount(hours, minlength=HOURS_PER_DAY)
    sums = np.bincount(hours, weights=returns**2, minlength=HOURS_PER_DAY)
    means = np.full(HOURS_PER_DAY, np.nan)
    np.divide(sums, counts, out=means, where=counts > 0)
    return np.sqrt(means * annualization)


def market_statistics(series: PriceSeries) -> dict[str, np.ndarray | float]:
    """The calibration targets of a series with volumes, annualized with ``periods_per_year(series.times)``.

    Args:
        series: a ``PriceSeries`` with ``volumes`` (e.g. ``load_ohlc(path, volume_column="Volume")``),
            at least two bars.

    Returns:
        ``{"realized_vol": float, "volume_profile": (24,) float64, "volatility_profile": (24,)
        float64}``: ``realized_vol(series.prices, P)``, ``volume_profile(series.times,
        series.volumes)`` and ``volatility_profile(series.times, series.prices, P)`` with
        ``P = periods_per_year(series.times)`` (see those functions for the definitions and units).

    Raises:
        ValueError: for a series without volumes (``series.volumes is None``), naming its source,
            and as the functions above do for invalid times, prices or volumes.
    """
    if series.volumes is None:
        raise ValueError(
            f"series {series.source!r} has volumes = None: market statistics need volumes "
            f"(load them with load_ohlc(..., volume_column=...))"
        )
    annualization = periods_per_year(series.times)
    return {
        "realized_vol": realized_vol(series.prices, annualization),
        "volume_profile": volume_profile(series.times, series.volumes),
        "volatility_profile": volatility_profile(series.times, series.prices, annualization),
    }


@functools.lru_cache(maxsize=1)
def _eurusd_statistics() -> dict[str, np.ndarray | float]:
    statistics = market_statistics(eurusd_hourly())
    for value in statistics.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return statistics


def eurusd_statistics() -> dict[str, np.ndarray | float]:
    """``market_statistics(eurusd_hourly())``: the targets of the bundled hourly EUR/USD 2017 sample.

    Computed once and cached; each call returns a new dict whose arrays are read-only.

    Returns:
        ``{"realized_vol": float, "volume_profile": (24,) float64, "volatility_profile": (24,)
        float64}`` as ``market_statistics`` defines them, annualized with
        ``periods_per_year(eurusd_hourly().times)`` (about 6280 hourly returns per year).
    """
    return dict(_eurusd_statistics())
