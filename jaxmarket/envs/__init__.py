"""The registered environments, one module each."""

from jaxmarket.core.registry import register
from jaxmarket.envs.daily_investor import DailyInvestor, DailyInvestorParams, DailyInvestorState
from jaxmarket.envs.execution import Execution, ExecutionParams, ExecutionState
from jaxmarket.envs.market_making import MarketMaking, MarketMakingParams, MarketMakingState
from jaxmarket.envs.otc import OTC
from jaxmarket.envs.otc_lp import OTCLP, OTCLPParams

register("jaxmarket/MarketMaking-AS-v0", MarketMaking)
register("jaxmarket/DailyInvestor-v0", DailyInvestor)
register("jaxmarket/Execution-v0", Execution)
register("jaxmarket/OTC-v0", OTC)
register("jaxmarket/OTC-LP-v0", OTCLP)

__all__ = [
    "DailyInvestor", "DailyInvestorParams", "DailyInvestorState", "Execution", "ExecutionParams", "ExecutionState",
    "MarketMaking", "MarketMakingParams", "MarketMakingState", "OTC", "OTCLP", "OTCLPParams",
]
