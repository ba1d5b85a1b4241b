"""Analytic and heuristic policies: ground truth for tests and for learned policies."""

import sys

from jaxmarket.baselines.avellaneda_stoikov import avellaneda_stoikov, avellaneda_stoikov_depths
from jaxmarket.baselines.cartea_jaimungal import cartea_jaimungal, cartea_jaimungal_value
from jaxmarket.otc import dealer
from jaxmarket.baselines.daily_investor import buy_and_hold, random_trader
from jaxmarket.baselines.execution import always_market, always_passive, twap
from jaxmarket.baselines.exact_value import policy_value, tabulate_policy

__all__ = [
    "dealer",
    "always_market",
    "always_passive",
    "buy_and_hold",
    "random_trader",
    "twap",
    "avellaneda_stoikov",
    "avellaneda_stoikov_depths",
    "cartea_jaimungal",
    "cartea_jaimungal_value",
    "policy_value",
    "tabulate_policy",
]

# The dealer heuristics live beside the OTC market (``jaxmarket.otc.dealer``); this keeps
# ``import jaxmarket.baselines.dealer`` working as the same module.
sys.modules[f"{__name__}.dealer"] = dealer
