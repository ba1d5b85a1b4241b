"""The OTC dealer market: reference price, ECN cost curve, LP quoting and hedging, clients,
reward families, agent types, intraday seasonality, observations and metrics, as pure functions
over pytrees.

The environments built on it are ``jaxmarket/OTC-v0`` (multi-agent) and ``jaxmarket/OTC-LP-v0``
(one learning LP); see ``jaxmarket.envs.otc`` and ``jaxmarket.envs.otc_lp``.
"""

from jaxmarket.otc import clients, ecn, metrics, observations, quotes, reference, rewards, seasonality, types
from jaxmarket.otc.market import (
    SIMULTANEOUS, STACKELBERG, OTCConfig, OTCParams, OTCState, check_series, reset, settle, quote, choose,
)

__all__ = [
    "SIMULTANEOUS", "STACKELBERG", "OTCConfig", "OTCParams", "OTCState", "check_series", "choose", "clients", "ecn",
    "metrics", "observations", "quote", "quotes", "reference", "reset", "rewards", "seasonality", "settle", "types",
]
