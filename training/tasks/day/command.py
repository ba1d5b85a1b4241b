"""``jaxmarket day``: one simulated trading day, summarised and plotted: the background market
alone (``day`` or ``day market``), or an episode of an env on it (``day daily-investor``,
``day execution``) under a baseline policy."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from jaxmarket.background import MarketConfig, MarketParams
from jaxmarket.envs.daily_investor import DailyInvestorParams
from jaxmarket.envs.execution import ExecutionParams
from training.tasks import common
from training.tasks.day import simulate as md
from training.tasks.day.plots import clock_label, plot_day
from training.tasks.registry import register

SECONDS_PER_HOUR = 3600.0


@dataclasses.dataclass(frozen=True)
class DayFlags:
    """What every ``day`` subcommand takes."""

    seed: int = 0
    """simulation seed"""
    out: str = "runs/day/day.png"
    """the PNG to write"""
    market: MarketConfig = dataclasses.field(default_factory=MarketConfig)
    """the market's static configuration (populations, book capacity, slots)"""


@dataclasses.dataclass(frozen=True)
class MarketDayConfig(DayFlags):
    """The background market alone, open to close."""

    env: MarketParams = dataclasses.field(default_factory=MarketParams)
    """the market's numeric parameters (MarketParams)"""


@dataclasses.dataclass(frozen=True)
class InvestorDayConfig(DayFlags):
    """One DailyInvestor-v0 episode under a baseline policy."""

    policy: Literal["buy-and-hold", "random"] = "buy-and-hold"
    """the agent's policy"""
    env: DailyInvestorParams = dataclasses.field(default_factory=DailyInvestorParams)
    """the env's parameters (DailyInvestorParams)"""


@dataclasses.dataclass(frozen=True)
class ExecutionDayConfig(DayFlags):
    """One Execution-v0 episode under a baseline policy."""

    policy: Literal["twap", "market", "passive"] = "twap"
    """the agent's policy"""
    env: ExecutionParams = dataclasses.field(default_factory=ExecutionParams)
    """the env's parameters (ExecutionParams)"""


def report(series: dict[str, np.ndarray], title: str, out: str) -> None:
    """Print the day's summary and write its plot to ``out``."""
    s = md.summarize(series)
    start, end = clock_label(series["open_s"] / SECONDS_PER_HOUR), clock_label(series["time"][-1] / SECONDS_PER_HOUR)
    print(f"{title}: {s['minutes']:.1f} min simulated ({start}-{end}, {int(s['rows'])} rows)")
    print(f"mean |mid - fundamental| = {s['mean_abs_mid_minus_fundamental']:.2f} cents; "
          f"median spread = {s['median_spread']:.1f} cents; book events = {int(s['book_events']):,}")
    if "return" in s:
        print(f"return = {s['return']:.4f} over {int(series['length'])} steps; "
              f"agent traded {int(s['agent_shares']):,} shares")
    print(f"plot: {plot_day(series, out, title)}")


def run_market(config: MarketDayConfig) -> None:
    """The background market alone, open to close."""
    series = md.simulate_market(seed=config.seed, minutes=None, **common.overrides(config.market, config.env))
    report(series, f"Background market, one day (seed {config.seed})", config.out)


def run_episode(config: InvestorDayConfig | ExecutionDayConfig) -> None:
    """One env episode under the chosen baseline policy."""
    name = "daily-investor" if isinstance(config, InvestorDayConfig) else "execution"
    env_id, policies = md.ENVS[name]
    overrides = common.overrides(config.market, config.env)
    series = md.simulate_day(env_id, policies[config.policy](), seed=config.seed, **overrides)
    report(series, f"{env_id.split('/')[-1]} under {config.policy} (seed {config.seed})", config.out)


register(("day", "market"), MarketDayConfig, run_market, "the background market alone, open to close", default=True)
register(("day", "daily-investor"), InvestorDayConfig, run_episode, "a DailyInvestor-v0 episode under a baseline")
register(("day", "execution"), ExecutionDayConfig, run_episode, "an Execution-v0 episode under a baseline")
