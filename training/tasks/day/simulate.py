"""One simulated trading day, recorded minute by minute (``plots.plot_day`` draws it).

    series = simulate_market(seed=0)                                     # background only, 09:30-16:00
    series = simulate_day("jaxmarket/Execution-v0", twap(), seed=0)      # one episode of an agent

Each row of a series is the market at the end of one step (one minute by default), prices in
cents (one tick), float64. Inside ``jit`` prices are recorded as float32 deviations from the
market's reference tick (``state.market.ref``) and the tick is added back in float64 here, so the
series are exact to the cent at every valid ``r_bar``; times are read from the integer clock:

- ``time``: seconds after midnight (``state.market.time_ms / 1000``);
- ``mid``: ABIDES-Gym's mid (``market_env.mid_ticks``); ``fundamental``: the background's fundamental;
- ``best_bid``, ``best_ask``, ``spread``, ``last_trade``: NaN when the side is empty (spread:
  unless both sides hold orders; last trade: before the first trade);
- ``bid_depth``, ``ask_depth``: shares in the top ``DEPTH`` price levels.

Env runs add the agent's columns: ``act_time`` (when the agent acted: the step's start),
``fills`` (signed shares traded in the step, + for buys: the
change of ``holdings`` for DailyInvestor, of ``done_qty`` in the parent's direction for
Execution), ``fill_price`` (their average price, NaN without fills) and ``reward``; and the
episode's totals as 0-d arrays: ``return``, ``length`` and the env's ``episode_metrics`` (e.g.
``done_qty``). Both simulations also return ``book_events`` of the final market
(``background.book_events``) and ``open_s``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxmarket as jm
from jaxmarket.baselines import always_market, always_passive, buy_and_hold, random_trader, twap
from jaxmarket.core.evaluate import Policy
from jaxmarket.core.keys import seed_key
from jaxmarket.envs.daily_investor import DailyInvestor
from jaxmarket.envs.execution import Execution
from jaxmarket.envs import market_env
from jaxmarket.lob import views
from jaxmarket import background
from jaxmarket.background import clock
from jaxmarket.background import MarketConfig, MarketParams, MarketState
from jaxmarket.lob.constants import ASK, BID

DEPTH = 5  # price levels per side counted in the depth series
MINUTE_S = 60.0
MINUTE_MS = 60_000
PRICE_COLUMNS = ("mid", "fundamental", "best_bid", "best_ask", "last_trade", "fill_price")
MARKET_COLUMNS = ("time", "mid", "fundamental", "best_bid", "best_ask", "spread", "bid_depth", "ask_depth",
                  "last_trade")
AGENT_COLUMNS = ("act_time", "fills", "fill_price", "reward")

# The CLI's choices: env name -> (env id, {policy name: factory}); the first policy is the default.
ENVS: dict[str, tuple[str, dict[str, Any]]] = {
    "daily-investor": ("jaxmarket/DailyInvestor-v0", {"buy-and-hold": buy_and_hold, "random": random_trader}),
    "execution": ("jaxmarket/Execution-v0", {"twap": twap, "market": always_market, "passive": always_passive}),
}


def market_row(market: MarketState) -> dict[str, jax.Array]:
    """The market columns of one row as recorded inside ``jit``: ``time`` int32 ms, ``ref`` the
    reference tick, prices float32 minus ``ref``, the rest float32 (``to_series`` converts)."""
    book = market.book
    f32 = jnp.float32
    nan = jnp.asarray(jnp.nan, f32)
    ref = market.ref
    has_bid, has_ask = book.n[BID] > 0, book.n[ASK] > 0
    bid = jnp.where(has_bid, (views.best_bid(book) - ref).astype(f32), nan)
    ask = jnp.where(has_ask, (views.best_ask(book) - ref).astype(f32), nan)
    levels = views.l2(book, DEPTH)
    return {
        "time": market.time_ms,
        "ref": ref,
        "mid": market_env.mid_rel(book, ref, ref),
        "fundamental": market.fundamental_dev,
        "best_bid": bid,
        "best_ask": ask,
        "spread": jnp.where(has_bid & has_ask, views.spread(book).astype(f32), nan),
        "bid_depth": levels.bid_qty.sum().astype(f32),
        "ask_depth": levels.ask_qty.sum().astype(f32),
        "last_trade": jnp.where(book.last_trade_price > 0, (book.last_trade_price - ref).astype(f32), nan),
    }


def to_series(rows: dict[str, Any]) -> dict[str, np.ndarray]:
    """Recorded rows as numpy: prices plus ``ref`` in float64 cents, times (``time``,
    ``act_time``) in float64 seconds after midnight; ``ref`` itself is dropped."""
    out = {name: np.asarray(value) for name, value in rows.items()}
    ref = out.pop("ref").astype(np.float64)
    for name in PRICE_COLUMNS:
        if name in out:
            out[name] = ref + out[name].astype(np.float64)
    for name in ("time", "act_time"):
        if name in out:
            out[name] = out[name].astype(np.float64) / clock.MS_PER_S
    return out


def _split_overrides(overrides: dict[str, Any]) -> tuple[MarketConfig, MarketParams]:
    """``MarketConfig`` and ``MarketParams`` from field overrides, checked (``ValueError``)."""
    config_names = {f.name for f in dataclasses.fields(MarketConfig)}
    param_names = {f.name for f in dataclasses.fields(MarketParams)}
    unknown = sorted(set(overrides) - config_names - param_names)
    if unknown:
        raise ValueError(f"unknown market field(s) {unknown}: valid fields are {sorted(config_names | param_names)}")
    config = MarketConfig(**{k: v for k, v in overrides.items() if k in config_names})
    params = MarketParams(**{k: v for k, v in overrides.items() if k in param_names})
    config.check()
    params.check()
    return config, params


@functools.partial(jax.jit, static_argnames=("config", "minutes"))
def _market_day(key: jax.Array, config: MarketConfig, params: MarketParams, minutes: int):
    init_key, key = jax.random.split(key)
    market = background.init(init_key, config, params)

    def minute(market: MarketState, k: jax.Array):
        market = background.advance_ms(k, market, config, params, MINUTE_MS)
        return market, market_row(market)

    market, rows = jax.lax.scan(minute, market, jax.random.split(key, minutes))
    return rows, background.book_events(market)


def simulate_market(seed: int = 0, minutes: int | None = 390, **param_overrides: Any) -> dict[str, np.ndarray]:
    """The background market alone from the open: ``background.init``, then ``minutes`` calls of
    ``advance`` for 60 s, one row after each (in one jitted scan). ``minutes=None``: open to close.
    ``param_overrides`` are ``MarketConfig`` and ``MarketParams`` fields; minutes past the close
    repeat the closed market."""
    config, params = _split_overrides(param_overrides)
    if minutes is None:
        minutes = max(1, -(-params.session_ms // MINUTE_MS))
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
        raise ValueError(f"minutes = {minutes!r}: expected an int >= 1 or None")
    rows, events = _market_day(seed_key(seed), config, params, minutes)
    out = to_series(rows)
    out["book_events"] = np.asarray(events)
    out["open_s"] = np.asarray(params.open_ms / clock.MS_PER_S, np.float64)
    return out


def default_policy(env: Any) -> Policy:
    """Buy-and-hold for DailyInvestor, TWAP for Execution."""
    if isinstance(env, DailyInvestor):
        return buy_and_hold()
    if isinstance(env, Execution):
        return twap()
    raise ValueError(f"no default policy for {type(env).__name__}: pass policy=")


def _agent_fill(old: Any, new: Any, params: Any) -> tuple[jax.Array, jax.Array]:
    """``(signed shares, average price minus the market's reference tick)`` the agent traded between
    two states (float32; the price NaN without fills), from the env's relative accounting."""
    ref = old.market.ref
    if hasattr(old, "holdings"):  # DailyInvestor: fill_edge = sum fill * (price - previous mark)
        qty = (new.holdings - old.holdings).astype(jnp.float32)
        price = (old.mark - ref).astype(jnp.float32) + new.fill_edge / jnp.maximum(jnp.abs(qty), 1.0)
    elif hasattr(old, "done_qty"):  # Execution: cost += sign * sum qty * (entry - price)
        sign = jnp.where(params.direction == BID, 1.0, -1.0)
        done = (new.done_qty - old.done_qty).astype(jnp.float32)
        qty = sign * done
        entry = (old.entry_tick - ref).astype(jnp.float32) + old.entry_half
        price = entry - sign * (new.cost - old.cost) / jnp.maximum(done, 1.0)
    else:
        raise ValueError(f"{type(old).__name__} has neither holdings nor done_qty: no agent fills to record")
    return qty, jnp.where(qty != 0, price, jnp.nan)


def simulate_day(env_id: str = "jaxmarket/DailyInvestor-v0", policy: Policy | None = None, seed: int = 0,
                 **overrides: Any) -> dict[str, np.ndarray]:
    """One episode of ``env_id`` (``jm.make(env_id, **overrides)``) under ``policy`` (default:
    ``default_policy``): ``reset_env``, then ``params.max_steps_in_episode`` calls of ``step_env`` in
    one jitted scan, frozen after the episode ends (as ``jm.evaluate``'s rollout). The series hold
    the episode's steps only (``length`` rows)."""
    env, params = jm.make(env_id, **overrides)
    if not isinstance(env, market_env.MarketEnv):
        raise ValueError(f"{env_id} does not run on the background market")
    env.check_params(params)
    policy = default_policy(env) if policy is None else policy
    num_steps = int(params.max_steps_in_episode)

    @jax.jit
    def run(key: jax.Array, params: Any):
        reset_key, key = jax.random.split(key)
        obs, state = env.reset_env(reset_key, params)

        def step(carry, step_key):
            obs, state, done = carry
            act_key, env_key = jax.random.split(step_key)
            action = policy(act_key, obs, state, params)
            next_obs, next_state, reward, terminated, _ = env.step_env(env_key, state, action, params)
            truncated = env.is_truncated(next_state, params)
            alive = jnp.logical_not(done)
            qty, price = _agent_fill(state, next_state, params)
            agent = {"act_time": state.market.time_ms, "fills": jnp.where(alive, qty, 0.0),
                     "fill_price": jnp.where(alive, price, jnp.nan),
                     "reward": jnp.where(alive, reward, 0.0).astype(jnp.float32), "alive": alive}
            keep = lambda old, new: jnp.where(done, old, new)  # noqa: E731
            state = jax.tree.map(keep, state, next_state)
            obs = jax.tree.map(keep, obs, next_obs)
            return (obs, state, done | terminated | truncated), {**market_row(state.market), **agent}

        init = (obs, state, jnp.array(False))
        (_, state, _), rows = jax.lax.scan(step, init, jax.random.split(key, num_steps))
        totals = {"book_events": background.book_events(state.market), **env.episode_metrics(state, params)}
        return rows, totals

    rows, totals = run(seed_key(seed), params)
    rows = to_series(rows)
    length = int(rows.pop("alive").sum())  # the live steps are a prefix
    out = {name: value[:length] for name, value in rows.items()}
    out.update({name: np.asarray(value) for name, value in totals.items()})
    out["return"] = np.asarray(out["reward"].sum(dtype=np.float64), np.float32)
    out["length"] = np.asarray(length, np.int32)
    out["open_s"] = np.asarray(params.open_ms / clock.MS_PER_S, np.float64)
    return out


def summarize(series: dict[str, np.ndarray]) -> dict[str, float]:
    """Minutes simulated since the open, mean |mid - fundamental| (cents), median spread (cents,
    two-sided rows), book events, and the return for env runs."""
    gap = np.abs(series["mid"].astype(np.float64) - series["fundamental"])
    spread = series["spread"][np.isfinite(series["spread"])]
    out = {
        "minutes": float((series["time"][-1] - series["open_s"]) / MINUTE_S) if len(series["time"]) else 0.0,
        "rows": float(len(series["time"])),
        "mean_abs_mid_minus_fundamental": float(gap.mean()) if gap.size else float("nan"),
        "median_spread": float(np.median(spread)) if spread.size else float("nan"),
        "book_events": float(series["book_events"]),
    }
    if "reward" in series:
        out["return"] = float(series["return"])
        out["agent_shares"] = float(np.abs(series["fills"]).sum())
    return out


__all__ = ["DEPTH", "ENVS", "default_policy", "market_row", "simulate_day", "simulate_market", "summarize",
           "to_series"]
