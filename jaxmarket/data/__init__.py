"""Loaders for real market data and the market statistics computed from it."""

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
    "eurusd_hourly",
    "eurusd_statistics",
    "load_lobster",
    "load_ohlc",
    "market_statistics",
    "periods_per_year",
    "realized_vol",
    "volatility_profile",
    "volume_profile",
]
