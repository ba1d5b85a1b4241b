"""OHLC bar and tick CSV files to validated price series.

``load_ohlc`` reads a CSV file with a header row: one timestamp column and one or more price
columns, e.g. ``Time,Open,High,Low,Close,Volume`` (bars) or ``Time,Bid,Ask`` (ticks). It returns a
``PriceSeries``: timestamps as ``datetime64[s]`` (timezone-aware stamps converted to UTC; sub-second
parts dropped) and prices as ``float64`` in the file's own quote units (for the bundled sample:
US dollars per euro). With ``volume_column`` (e.g. ``"Volume"``) it also reads the traded volume of
each row (``float64``, finite and ``>= 0``, in the file's own units). Every malformed value raises
``ValueError`` naming the file, the line, the column and the value. Only numpy and the standard
library are used.

``eurusd_hourly`` loads the bundled sample ``eurusd_1h_2017.csv``: hourly EUR/USD ask bars from
2017-01-01 22:00 to 2017-12-29 21:00 (6225 bars, weekends and holidays absent). It is an
unmodified copy of ``gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv`` from gym-anytrading
2.0.0 (https://github.com/AminHP/gym-anytrading), MIT License, Copyright (c) 2019 Mohammad Amin
Haghpanah; the full licence text ships alongside it as ``EURUSD_LICENSE``.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources

import numpy as np

DEFAULT_PRICE_COLUMN = "Close"
DEFAULT_TIME_COLUMN = "Time"
DEFAULT_VOLUME_COLUMN = "Volume"
# FX closes for about 48-50 h over weekends and holidays; a longer hole means missing data.
DEFAULT_MAX_GAP_HOURS = 72.0
SECONDS_PER_HOUR = 3600.0
MIN_ROWS = 2  # fewest rows that give one return
OHLC_COLUMNS = ("Open", "High", "Low", "Close")
# Tried in order when ``time_format`` is None; ``None`` stands for ISO 8601 (``datetime.fromisoformat``).
TIME_FORMATS: tuple[str | None, ...] = (None, "%d.%m.%Y %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
TIME_UNIT = "datetime64[s]"

DATA_PACKAGE = "jaxmarket.data"
EURUSD_FILE = "eurusd_1h_2017.csv"


@dataclass(frozen=True, eq=False)
class PriceSeries:
    """A price series: ``times`` (``datetime64[s]``, shape ``(n,)``, strictly increasing),
    ``prices`` (``float64``, shape ``(n,)``, finite and positive), ``source`` (where it came from)
    and, optionally, ``volumes`` (``float64``, shape ``(n,)``, finite and ``>= 0``: the volume traded
    in each bar, in the source's own units; ``None`` when the source has none). The arrays are
    read-only.

    Raises:
        ValueError: naming ``source``, for ``times``/``prices``/``volumes`` that are not 1-D of equal
            length, or for a ``volumes`` entry that is not finite or is negative (naming its index
            and value).
    """

    times: np.ndarray
    prices: np.ndarray
    source: str
    volumes: np.ndarray | None = None

    def __post_init__(self) -> None:
        times = np.array(self.times, dtype=TIME_UNIT)
        prices = np.array(self.prices, dtype=np.float64)
        if times.ndim != 1 or prices.shape != times.shape:
            raise ValueError(
                f"{self.source}: times {times.shape} and prices {prices.shape} must be 1-D of equal length"
            )
        times.flags.writeable = False
        prices.flags.writeable = False
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "prices", prices)
        if self.volumes is not None:
            volumes = np.array(self.volumes, dtype=np.float64)
            if volumes.shape != prices.shape:
                raise ValueError(
                    f"{self.source}: volumes {volumes.shape} must have the shape of prices {prices.shape}"
                )
            bad = np.flatnonzero(~(np.isfinite(volumes) & (volumes >= 0)))
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"{self.source}: volumes[{i}] = {float(volumes[i])!r} is out of range: valid range is [0, inf)"
                )
            volumes.flags.writeable = False
            object.__setattr__(self, "volumes", volumes)

    def __len__(self) -> int:
        return int(self.prices.shape[0])

    def returns(self) -> np.ndarray:
        """Log returns ``log(p[t+1] / p[t])``, ``float64``, shape ``(n - 1,)``."""
        return np.diff(np.log(self.prices))


def _where(path: str, line: int, column: str) -> str:
    return f"{path}: line {line}, column {column!r}"


def _parse_finite(cell: str, path: str, line: int, column: str, kind: str) -> float:
    """A finite float, else ``ValueError`` naming the location and the value."""
    where = _where(path, line, column)
    if not cell:
        raise ValueError(f"{where}: empty cell")
    try:
        value = float(cell)
    except ValueError:
        raise ValueError(f"{where}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {kind} {cell!r} is not finite")
    return value


def _parse_price(cell: str, path: str, line: int, column: str) -> float:
    """A finite positive float, else ``ValueError`` naming the location and the value."""
    value = _parse_finite(cell, path, line, column, "price")
    if value <= 0:
        raise ValueError(f"{_where(path, line, column)}: price {cell!r} is not positive")
    return value


def _parse_volume(cell: str, path: str, line: int, column: str) -> float:
    """A finite float ``>= 0``, else ``ValueError`` naming the location and the value."""
    value = _parse_finite(cell, path, line, column, "volume")
    if value < 0:
        raise ValueError(f"{_where(path, line, column)}: volume {cell!r} is negative; valid range is [0, inf)")
    return value


def _time_parser(time_format: str | None) -> Callable[[str], datetime]:
    if time_format is None:
        return datetime.fromisoformat
    return lambda cell: datetime.strptime(cell, time_format)


def _to_utc_naive(stamp: datetime) -> datetime:
    if stamp.tzinfo is None:
        return stamp
    return stamp.astimezone(timezone.utc).replace(tzinfo=None)


def _detect_format(cell: str, path: str, line: int, column: str) -> str | None:
    """The first of ``TIME_FORMATS`` that parses ``cell``."""
    for time_format in TIME_FORMATS:
        try:
            _time_parser(time_format)(cell)
        except ValueError:
            continue
        return time_format
    tried = ", ".join("ISO 8601" if f is None else repr(f) for f in TIME_FORMATS)
    raise ValueError(f"{_where(path, line, column)}: timestamp {cell!r} matches none of {tried}; pass time_format")


def _check_bar(bar: dict[str, float], path: str, line: int) -> None:
    """``Low <= min(Open, Close)`` and ``High >= max(Open, Close)``, else ``ValueError``."""
    low, high = min(bar["Open"], bar["Close"]), max(bar["Open"], bar["Close"])
    if bar["Low"] > low:
        raise ValueError(f"{_where(path, line, 'Low')}: Low {bar['Low']!r} is above min(Open, Close) = {low!r}")
    if bar["High"] < high:
        raise ValueError(f"{_where(path, line, 'High')}: High {bar['High']!r} is below max(Open, Close) = {high!r}")


def _cell(row: Sequence[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def load_ohlc(
    path: str | os.PathLike,
    *,
    column: str = DEFAULT_PRICE_COLUMN,
    time_column: str = DEFAULT_TIME_COLUMN,
    time_format: str | None = None,
    max_gap_hours: float = DEFAULT_MAX_GAP_HOURS,
    volume_column: str | None = None,
) -> PriceSeries:
    """Read one price column (and optionally a volume column) of a bar or tick CSV file with a
    header row into a ``PriceSeries``. Blank lines are skipped.

    Args:
        path: the CSV file.
        column: the price column (``Open``/``High``/``Low``/``Close`` of a bar file, or any column
            of a tick file, e.g. ``Bid``).
        time_column: the timestamp column.
        time_format: a ``datetime.strptime`` format; ``None`` tries ``TIME_FORMATS`` on the first
            row and uses the first that parses for every row.
        max_gap_hours: the longest allowed time between consecutive rows, hours, in ``(0, inf]``.
        volume_column: the traded-volume column (e.g. ``DEFAULT_VOLUME_COLUMN``, ``"Volume"``), or
            ``None`` (the default) to read no volumes.

    Returns:
        A ``PriceSeries``: ``times`` ``datetime64[s]`` ``(n,)`` (UTC, strictly increasing),
        ``prices`` float64 ``(n,)`` in the file's quote units, ``n >= 2``, and ``volumes`` float64
        ``(n,)`` (finite, ``>= 0``, the file's units) with ``volume_column``, else ``None``.

    Raises:
        ValueError: naming the file, line, column and value, for a missing column, fewer than two
            rows, an empty, unparsable, non-finite or non-positive price, an empty, unparsable,
            non-finite or negative volume, an unparsable timestamp,
            timestamps not strictly increasing at one-second resolution, a gap longer than
            ``max_gap_hours`` and, where all of Open/High/Low/Close exist, a bar with
            ``Low > min(Open, Close)`` or ``High < max(Open, Close)``; and for a ``max_gap_hours``
            out of its range.
    """
    source = os.fspath(path)
    is_number = isinstance(max_gap_hours, (int, float, np.number)) and not isinstance(max_gap_hours, bool)
    if not (is_number and max_gap_hours > 0):
        raise ValueError(f"max_gap_hours = {max_gap_hours!r} is out of range: valid range is (0, inf]")
    max_gap_seconds = float(max_gap_hours) * SECONDS_PER_HOUR

    with open(source, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or not any(name.strip() for name in header):
            raise ValueError(f"{source}: empty file, expected a header row with {time_column!r} and {column!r}")
        names = [name.strip() for name in header]
        wanted_columns = (time_column, column) if volume_column is None else (time_column, column, volume_column)
        for wanted in wanted_columns:
            if wanted not in names:
                raise ValueError(f"{source}: no column {wanted!r}; columns available: {', '.join(map(repr, names))}")
        time_index, price_index = names.index(time_column), names.index(column)
        volume_index = None if volume_column is None else names.index(volume_column)
        check_bars = all(name in names for name in OHLC_COLUMNS)
        bar_index = {name: names.index(name) for name in OHLC_COLUMNS} if check_bars else {}

        stamps: list[datetime] = []
        prices: list[float] = []
        volumes: list[float] = []
        lines: list[int] = []
        parse: Callable[[str], datetime] | None = None
        format_name = ""
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            time_cell = _cell(row, time_index)
            if not time_cell:
                raise ValueError(f"{_where(source, line, time_column)}: empty cell")
            if parse is None:
                chosen = time_format
                if chosen is None:
                    chosen = _detect_format(time_cell, source, line, time_column)
                parse, format_name = _time_parser(chosen), "ISO 8601" if chosen is None else repr(chosen)
            try:
                stamp = _to_utc_naive(parse(time_cell))
            except ValueError:
                where = _where(source, line, time_column)
                raise ValueError(f"{where}: timestamp {time_cell!r} does not match {format_name}") from None
            price = _parse_price(_cell(row, price_index), source, line, column)
            if check_bars:
                _check_bar({name: _parse_price(_cell(row, i), source, line, name) for name, i in bar_index.items()},
                           source, line)
            if volume_index is not None:
                volumes.append(_parse_volume(_cell(row, volume_index), source, line, str(volume_column)))
            stamps.append(stamp)
            prices.append(price)
            lines.append(line)

    if len(prices) < MIN_ROWS:
        raise ValueError(f"{source}: {len(prices)} data row(s) in column {column!r}, at least {MIN_ROWS} needed")
    times = np.array(stamps, dtype=TIME_UNIT)
    steps = np.diff(times).astype(np.int64)  # seconds
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{_where(source, lines[i + 1], time_column)}: timestamp {str(times[i + 1])!r} is not after "
            f"{str(times[i])!r} (line {lines[i]}); timestamps must be strictly increasing at one-second resolution"
        )
    gaps = np.flatnonzero(steps > max_gap_seconds)
    if gaps.size:
        i = int(gaps[0])
        raise ValueError(
            f"{_where(source, lines[i + 1], time_column)}: gap of {steps[i] / SECONDS_PER_HOUR:g} h between "
            f"{str(times[i])!r} (line {lines[i]}) and {str(times[i + 1])!r} exceeds max_gap_hours = {max_gap_hours!r}"
        )
    return PriceSeries(
        times=times,
        prices=np.array(prices, dtype=np.float64),
        source=source,
        volumes=None if volume_column is None else np.array(volumes, dtype=np.float64),
    )


def eurusd_hourly() -> PriceSeries:
    """The bundled hourly EUR/USD ask closes of 2017, with each bar's volume.

    Data: gym-anytrading 2.0.0, MIT License, Copyright (c) 2019 Mohammad Amin Haghpanah (see
    ``EURUSD_LICENSE`` next to the file).

    Returns:
        A ``PriceSeries`` of 6225 bars: ``times`` ``datetime64[s]`` from 2017-01-01 22:00 to
        2017-12-29 21:00 (UTC; a bar is stamped with its opening time), ``prices`` float64, US
        dollars per euro, and ``volumes`` float64, the file's ``Volume`` column (all positive; the
        source does not state its unit, so use it only in relative terms, e.g. shares of the
        total).
    """
    with resources.as_file(resources.files(DATA_PACKAGE).joinpath(EURUSD_FILE)) as path:
        return load_ohlc(path, column=DEFAULT_PRICE_COLUMN, volume_column=DEFAULT_VOLUME_COLUMN)
