"""Loaders for real market data."""

from jaxmarket.data.lobster import EVENT_MAPPING, CrossPrints, LobsterStream, load_lobster
from jaxmarket.data.ohlc import PriceSeries, eurusd_hourly, load_ohlc

__all__ = ["EVENT_MAPPING", "CrossPrints", "LobsterStream", "PriceSeries", "eurusd_hourly", "load_lobster", "load_ohlc"]
