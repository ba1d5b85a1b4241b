"""Loaders for real market data."""

from jaxmarket.data.lobster import EVENT_MAPPING, LobsterStream, load_lobster

__all__ = ["EVENT_MAPPING", "LobsterStream", "load_lobster"]
