"""The OHLC / tick CSV loader and the bundled EUR/USD sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxmarket.data import PriceSeries, eurusd_hourly, load_ohlc
from jaxmarket.data.ohlc import DEFAULT_MAX_GAP_HOURS, DEFAULT_VOLUME_COLUMN

BUNDLED_ROWS = 6225
FIRST_CLOSE, LAST_CLOSE = 1.05227, 1.20075
FIRST_VOLUME, LAST_VOLUME = 143539993.3, 4885529785.0
PRICE_BOUNDS = (1.0, 1.3)
HEADER = "Time,Open,High,Low,Close,Volume"
GOOD_ROWS = [
    "01.01.2017 22:00:00.000,1.05236,1.05253,1.05221,1.05227,143539993.3",
    "01.01.2017 23:00:00.000,1.05227,1.05426,1.05226,1.05282,253139999.4",
    "02.01.2017 00:00:00.000,1.05283,1.05283,1.05268,1.05281,131399993.9",
]
BAD_LINE = 3  # the header is line 1, so GOOD_ROWS[1] sits on line 3


def write(tmp_path: Path, lines: list[str], name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def with_row(row: str) -> list[str]:
    """The good file with its second data row (line ``BAD_LINE``) replaced."""
    return [HEADER, GOOD_ROWS[0], row, GOOD_ROWS[2]]


def test_bundled_sample() -> None:
    series = eurusd_hourly()
    assert isinstance(series, PriceSeries)
    assert len(series) == BUNDLED_ROWS
    assert series.times.dtype == np.dtype("datetime64[s]") and series.prices.dtype == np.float64
    assert series.prices[0] == FIRST_CLOSE and series.prices[-1] == LAST_CLOSE
    assert series.times[0] == np.datetime64("2017-01-01T22:00:00")
    steps = np.diff(series.times).astype(np.int64)
    assert np.all(steps > 0)
    assert steps.max() <= DEFAULT_MAX_GAP_HOURS * 3600
    assert np.all((series.prices > PRICE_BOUNDS[0]) & (series.prices < PRICE_BOUNDS[1]))
    assert not series.prices.flags.writeable


def test_returns_are_log_differences() -> None:
    series = eurusd_hourly()
    returns = series.returns()
    assert returns.shape == (BUNDLED_ROWS - 1,)
    np.testing.assert_array_equal(returns, np.diff(np.log(series.prices)))


def test_columns_and_formats(tmp_path: Path) -> None:
    path = write(tmp_path, [HEADER, *GOOD_ROWS])
    np.testing.assert_array_equal(load_ohlc(path, column="Open").prices, [1.05236, 1.05227, 1.05283])
    iso = write(tmp_path, ["Time,Close", "2024-03-01T09:30:00+01:00,10.5", "2024-03-01T09:31:00+01:00,10.25"], "iso.csv")
    series = load_ohlc(iso)
    assert series.times[0] == np.datetime64("2024-03-01T08:30:00")  # converted to UTC
    np.testing.assert_array_equal(series.prices, [10.5, 10.25])
    daily = write(tmp_path, ["Date,Price", "2024-03-01,100", "2024-03-04,101"], "daily.csv")
    assert len(load_ohlc(daily, column="Price", time_column="Date")) == 2
    custom = write(tmp_path, ["Time,Close", "03/01/2024 09:30,1", "03/01/2024 09:31,2"], "custom.csv")
    assert len(load_ohlc(custom, time_format="%m/%d/%Y %H:%M")) == 2


def test_tick_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        ["Time,Bid,Ask", "2024-01-02 10:00:00,1.1000,1.1002", "2024-01-02 10:00:01,1.1001,1.1003", "", ""],
        "ticks.csv",
    )
    bid, ask = load_ohlc(path, column="Bid"), load_ohlc(path, column="Ask")
    np.testing.assert_array_equal(bid.prices, [1.1, 1.1001])
    np.testing.assert_array_equal(ask.prices, [1.1002, 1.1003])
    np.testing.assert_array_equal(bid.times, np.array(["2024-01-02T10:00:00", "2024-01-02T10:00:01"], "datetime64[s]"))


@pytest.mark.parametrize(
    ("row", "column", "shown"),
    [
        ("01.01.2017 23:00:00.000,1.05227,1.05426,1.05226,,253139999.4", "Close", "empty"),
        ("01.01.2017 23:00:00.000,1.05227,1.05426,1.05226,abc,253139999.4", "Close", "'abc'"),
        ("01.01.2017 23:00:00.000,1.05227,1.05426,1.05226,nan,253139999.4", "Close", "'nan'"),
        ("01.01.2017 23:00:00.000,1.05227,1.05426,1.05226,inf,253139999.4", "Close", "'inf'"),
        ("01.01.2017 23:00:00.000,1.05227,1.05426,1.05226,0,253139999.4", "Close", "'0'"),
        ("01.01.2017 23:00:00.000,-1.05227,1.05426,1.05226,1.05282,253139999.4", "Open", "'-1.05227'"),
        ("01.01.2017 23:00:00.000,1.05227,1.05426,1.05226", "Close", "empty"),  # short row
        ("2017-01-01 23:00,1.05227,1.05426,1.05226,1.05282,253139999.4", "Time", "'2017-01-01 23:00'"),
        (",1.05227,1.05426,1.05226,1.05282,253139999.4", "Time", "empty"),
        ("01.01.2017 21:00:00.000,1.05227,1.05426,1.05226,1.05282,253139999.4", "Time", "2017-01-01T21:00:00"),
        ("01.01.2017 22:00:00.000,1.05227,1.05426,1.05226,1.05282,253139999.4", "Time", "2017-01-01T22:00:00"),
        ("01.01.2017 23:00:00.000,1.05227,1.05426,1.05300,1.05282,253139999.4", "Low", "1.053"),
        ("01.01.2017 23:00:00.000,1.05227,1.05250,1.05226,1.05282,253139999.4", "High", "1.0525"),
    ],
)
def test_bad_row_names_line_column_and_value(tmp_path: Path, row: str, column: str, shown: str) -> None:
    path = write(tmp_path, with_row(row))
    with pytest.raises(ValueError) as error:
        load_ohlc(path)
    message = str(error.value)
    assert str(path) in message and f"line {BAD_LINE}" in message and repr(column) in message and shown in message


def test_unparsable_first_timestamp(tmp_path: Path) -> None:
    path = write(tmp_path, ["Time,Close", "yesterday,1.0", "today,1.1"])
    with pytest.raises(ValueError, match=r"line 2, column 'Time'.*'yesterday'"):
        load_ohlc(path)


def test_missing_column_lists_available(tmp_path: Path) -> None:
    path = write(tmp_path, [HEADER, *GOOD_ROWS])
    with pytest.raises(ValueError, match=r"no column 'Bid'; columns available: 'Time', 'Open'"):
        load_ohlc(path, column="Bid")
    with pytest.raises(ValueError, match=r"no column 'Date'"):
        load_ohlc(path, time_column="Date")


@pytest.mark.parametrize("lines", [[], [HEADER], [HEADER, GOOD_ROWS[0]]])
def test_too_few_rows(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "short.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match="empty file|at least 2") as error:
        load_ohlc(path)
    assert str(path) in str(error.value)


def test_gaps(tmp_path: Path) -> None:
    weekend = write(tmp_path, ["Time,Close", "2017-01-06 21:00:00,1.05", "2017-01-08 22:00:00,1.06"], "weekend.csv")
    assert len(load_ohlc(weekend)) == 2  # 49 h: an FX weekend
    hole = ["Time,Close", "2017-01-06 21:00:00,1.05", "2017-01-06 22:00:00,1.05", "2017-01-10 22:00:00,1.06"]
    path = write(tmp_path, hole, "hole.csv")
    with pytest.raises(ValueError) as error:
        load_ohlc(path)
    message = str(error.value)
    for part in ("line 4", "'Time'", "2017-01-06T22:00:00", "2017-01-10T22:00:00", "96 h", "max_gap_hours"):
        assert part in message
    with pytest.raises(ValueError, match="gap of 49 h"):
        load_ohlc(weekend, max_gap_hours=48)
    assert len(load_ohlc(path, max_gap_hours=float("inf"))) == 3


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), True])
def test_max_gap_hours_must_be_positive(tmp_path: Path, bad: float) -> None:
    path = write(tmp_path, [HEADER, *GOOD_ROWS])
    with pytest.raises(ValueError, match=r"max_gap_hours.*valid range is \(0, inf\]"):
        load_ohlc(path, max_gap_hours=bad)


def test_bundled_volumes() -> None:
    series = eurusd_hourly()
    assert series.volumes is not None
    assert series.volumes.shape == (BUNDLED_ROWS,) and series.volumes.dtype == np.float64
    assert series.volumes[0] == FIRST_VOLUME and series.volumes[-1] == LAST_VOLUME
    assert np.all(series.volumes > 0)
    assert not series.volumes.flags.writeable


def test_volume_column(tmp_path: Path) -> None:
    path = write(tmp_path, [HEADER, *GOOD_ROWS])
    assert load_ohlc(path).volumes is None  # only on request
    series = load_ohlc(path, volume_column=DEFAULT_VOLUME_COLUMN)
    np.testing.assert_array_equal(series.volumes, [143539993.3, 253139999.4, 131399993.9])
    np.testing.assert_array_equal(series.prices, load_ohlc(path).prices)
    zero = write(tmp_path, ["Time,Close,Volume", "2024-01-02 10:00:00,1.1,0", "2024-01-02 11:00:00,1.2,5"], "zero.csv")
    np.testing.assert_array_equal(load_ohlc(zero, volume_column="Volume").volumes, [0.0, 5.0])
    with pytest.raises(ValueError, match=r"no column 'Size'; columns available: 'Time', 'Open'"):
        load_ohlc(path, volume_column="Size")


@pytest.mark.parametrize(
    ("volume", "shown"),
    [("", "empty"), ("abc", "'abc'"), ("nan", "'nan'"), ("inf", "'inf'"), ("-1", "'-1'")],
)
def test_bad_volume_names_line_column_and_value(tmp_path: Path, volume: str, shown: str) -> None:
    path = write(tmp_path, with_row(f"01.01.2017 23:00:00.000,1.05227,1.05426,1.05226,1.05282,{volume}"))
    load_ohlc(path)  # the volume column is not read unless asked for
    with pytest.raises(ValueError) as error:
        load_ohlc(path, volume_column="Volume")
    message = str(error.value)
    assert str(path) in message and f"line {BAD_LINE}" in message and "'Volume'" in message and shown in message


def test_price_series_volumes() -> None:
    times = np.array(["2024-01-02T10:00", "2024-01-02T11:00"], dtype="datetime64[s]")
    series = PriceSeries(times, [1.0, 1.1], "made", [3, 0])
    assert series.volumes.dtype == np.float64 and not series.volumes.flags.writeable
    assert PriceSeries(times, [1.0, 1.1], "made").volumes is None
    with pytest.raises(ValueError, match=r"made: volumes \(3,\) must have the shape of prices \(2,\)"):
        PriceSeries(times, [1.0, 1.1], "made", [1.0, 2.0, 3.0])
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"made: volumes\[1\] = .* valid range is \[0, inf\)"):
            PriceSeries(times, [1.0, 1.1], "made", [1.0, bad])
