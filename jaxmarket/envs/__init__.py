"""The registered environments, one module each."""

from jaxmarket.core.registry import register
from jaxmarket.envs.market_making import MarketMaking, MarketMakingParams, MarketMakingState

register("jaxmarket/MarketMaking-AS-v0", MarketMaking)

__all__ = ["MarketMaking", "MarketMakingParams", "MarketMakingState"]
