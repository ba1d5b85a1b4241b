"""Loaders for real market data, the market statistics computed from it, and recorded episodes as
Minari datasets (``to_minari``, ``from_minari``, ``iterate_minari``, ``dataset_info``)."""

from jaxmarket.data.datasets import dataset_info, from_minari, iterate_minari, to_minari
from jaxmarket.data.lobster import EVENT_MAPPING, CrossPrints, LobsterStream, load_lobster
from jaxmarket.data.ohlc import PriceSeries, eurusd_hourly, load_ohlc
from jaxmarket.data.statistics import (
    HOURS_PER_DAY,
    eurusd_statistics,
    market_statistics,
    periods_per_year,
    realized_vol,
    volatility_profile,
    volume_profile,
)

__all__ = [
    "EVENT_MAPPING",
    "HOURS_PER_DAY",
    "CrossPrints",
    "LobsterStream",
    "PriceSeries",
    "dataset_info",
    "eurusd_hourly",
    "eurusd_statistics",
    "from_minari",
    "iterate_minari",
    "load_lobster",
    "load_ohlc",
    "market_statistics",
    "periods_per_year",
    "realized_vol",
    "to_minari",
    "volatility_profile",
    "volume_profile",
]
