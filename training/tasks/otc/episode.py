"""One episode of the OTC dealer market (``jaxmarket/OTC-v0``), recorded round by round and
summarised (the plot is in ``plots``); ``jaxmarket otc`` runs it from the command line.

``simulate_episode`` returns numpy arrays with one row per round ``t = 0 .. n_rounds - 1`` (a
round is ``len(env.turn_order)`` env steps; the row is taken at the round's settling step):

- ``price``: the reference (mid) price during the round, at which the round trades and quotes
  are set; ``price_end``: the mid after the round's move (``price[t + 1] == price_end[t]``);
- ``bid``, ``ask`` (n_rounds, n_lps): each LP's quote to a tier-0 client for ``QUOTE_SIZE``
  units, from ``jaxmarket.otc.quotes.quote_prices`` on the ECN curve ``market.curve`` with the
  LP's tier-0 multiplier and skew in force that round;
- ``ecn_spread_bp``: the round's full ECN spread ``s0`` in bp;
- ``inventory`` (n_rounds, n_lps): each LP's inventory (units) after the round's trades and hedge;
- ``hedge`` (n_rounds, n_lps): the signed quantity each LP traded on the ECN (units, + bought),
  from ``market.settle``'s round info;
- ``share`` (n_rounds, n_lps): the LP's share of the round's client volume;
- ``lp_flow`` (n_rounds, n_lps), ``client_flow`` (n_rounds,): units clients traded with each LP,
  and with the LPs and the ECN together, this round;
- ``cum_share`` (n_rounds, n_lps): the LP's share of all client volume so far
  (``cumsum(lp_flow) / cumsum(client_flow)``, 0 before any client volume);
- ``lp_reward`` (n_rounds, n_lps), ``lt_reward`` (n_rounds, n_lts): the round's rewards (bp-units).

It also holds the episode's totals: ``env.episode_metrics`` of the final state under their own
names (``market_share``, ``spread_pnl``, ...; see ``jaxmarket.otc.metrics``) and ``n_rounds``.

PRNG keys follow ``jaxmarket.core.evaluate.rollout_episode``: ``reset_key, key = split(key(seed))``,
one key per env step from ``split(key, n_rounds * n_phases)``, each split into the policy's and
the env's key, so an episode can be replayed step by step with ``env.step_env``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core.evaluate import Policy
from jaxmarket.core.keys import seed_key
from jaxmarket.envs.otc import OTC
from jaxmarket.otc import market
from jaxmarket.otc.quotes import quote_prices
from jaxmarket.otc.rewards import BASIS_POINT

ENV_ID = "jaxmarket/OTC-v0"
QUOTE_SIZE = 1.0  # units: the size at which the recorded bid and ask are quoted (tier 0)
ROUND_COLUMNS = ("price", "price_end", "bid", "ask", "ecn_spread_bp", "inventory", "hedge", "share", "lp_flow",
                 "client_flow", "cum_share", "lp_reward", "lt_reward")


def round_quotes(state: market.OTCState, params: market.OTCParams) -> tuple[jax.Array, jax.Array]:
    """Each LP's (bid, ask) prices (n_lps,) to a tier-0 client for ``QUOTE_SIZE`` units in ``state``."""
    s_v = market.curve(jnp.full((1,), QUOTE_SIZE, jnp.float32), state, params)
    bid, ask = quote_prices(state.price, state.tier_eps, state.skew, jnp.zeros((1,), jnp.int32), s_v, 0.5 * state.s0)
    return bid[:, 0], ask[:, 0]


def scan_rounds(env: OTC, params: market.OTCParams, policy: Policy, key: jax.Array, n_rounds: int,
                row: Callable, prepare: Callable | None = None) -> tuple[dict, market.OTCState]:
    """One episode of ``n_rounds`` rounds, a ``lax.scan`` over rounds with the phases of a round
    unrolled (no auto-reset; keys as in the module docstring). ``prepare(state)`` may change the
    fresh episode's state (observations are recomputed from it). Each round's row is
    ``row(seen, start, end, rewards, info)``: ``seen`` maps each family to the (observation,
    action) of its phase, ``start`` and ``end`` are the states before and after the round, and
    ``rewards``, ``info`` those of its settling step. Returns (stacked rows, final state)."""
    n_phases = env.config.n_phases
    reset_key, key = jax.random.split(key)
    _, state = env.reset_env(reset_key, params)
    if prepare is not None:
        state = prepare(state)
    obs = env.observe(state, params)

    def one_round(carry, keys):
        obs, start = carry
        state, seen = start, {}
        for phase in range(n_phases):  # reset and every round end in phase 0, so state.phase == phase
            act_key, env_key = jax.random.split(keys[phase])
            actions = policy(act_key, obs, state, params)
            seen.update({f: (obs[f], actions[f]) for f in env.turn_order[phase]})
            obs, state, rewards, _, info = env.step_env(env_key, state, actions, params)
        return (obs, state), row(seen, start, state, rewards, info)

    keys = jax.random.split(key, (n_rounds, n_phases))
    (_, final), rows = jax.lax.scan(one_round, (obs, state), keys)
    return rows, final


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def _run(env: OTC, policy: Policy, key: jax.Array, params: market.OTCParams, n_rounds: int):
    """One episode recorded for the plot (``scan_rounds``)."""
    n_lps = env.config.n_lps

    def row(seen, start, state, rewards, step_info):
        del seen
        info = step_info["trades"]  # the last phase settles the round
        before = state.replace(price=start.price, s0=start.s0)  # the round's quotes, price and ECN spread
        bid, ask = round_quotes(before, params)
        at_lp = (info["venue"][None, :] == jnp.arange(n_lps)[:, None]).astype(jnp.float32)
        return {
            "price": before.price,
            "price_end": state.price,
            "bid": bid,
            "ask": ask,
            "ecn_spread_bp": before.s0 / BASIS_POINT,
            "inventory": state.lp_inventory,
            "hedge": info["hedge"],
            "share": info["share"],
            "lp_flow": at_lp @ info["size"],
            "client_flow": jnp.where(info["venue"] <= n_lps, info["size"], 0.0).sum(),
            "lp_reward": rewards["lp"],
            "lt_reward": rewards["lt"],
        }

    rows, state = scan_rounds(env, params, policy, key, n_rounds, row)
    return rows, env.episode_metrics(state, params), state


def run_episode(env: OTC, params: market.OTCParams, policy: Policy, seed: int = 0) -> tuple[dict, dict, Any]:
    """``(rows, episode metrics, final state)`` of one episode as JAX values (see ``simulate_episode``)."""
    if not isinstance(env, OTC):
        raise ValueError(f"env is a {type(env).__name__}: simulate_episode runs {ENV_ID} (jaxmarket.envs.otc.OTC)")
    env.check_params(params)
    return _run(env, policy, seed_key(seed), params, int(params.n_rounds))


def cumulative_share(lp_volume: np.ndarray, client_volume: np.ndarray) -> np.ndarray:
    """(n_rounds, n_lps) share of each LP in all client volume up to each round (0 before any)."""
    lp = np.cumsum(np.asarray(lp_volume, np.float64), axis=0)
    total = np.cumsum(np.asarray(client_volume, np.float64))[:, None]
    return np.divide(lp, total, out=np.zeros_like(lp), where=total > 0)


def simulate_episode(env: OTC, params: market.OTCParams, policy: Policy, seed: int = 0) -> dict[str, np.ndarray]:
    """One ``OTC-v0`` episode under ``policy`` (``act(key, obs, state, params) -> {"lp", "lt"}``),
    in one jitted scan; returns the per-round record and the episode's metrics (module docstring)."""
    rows, metrics, _ = run_episode(env, params, policy, seed)
    record = {name: np.asarray(value) for name, value in rows.items()}
    record["cum_share"] = cumulative_share(record["lp_flow"], record["client_flow"])
    clash = sorted(set(record) & set(metrics))
    if clash:  # a metric named like a round column would overwrite it
        raise ValueError(f"episode metrics {clash} clash with the record's round columns")
    record.update({name: np.asarray(value) for name, value in metrics.items()})
    record["n_rounds"] = np.asarray(int(params.n_rounds), np.int32)
    return record


def summarize(record: dict[str, np.ndarray], metrics: dict[str, Any] | None = None) -> str:
    """A text table per LP: market share, PnL decomposition (bp-units: spread + inventory - hedge
    cost = total), client and hedge volume (units), internalization, final inventory; then the
    flow split. ``metrics``: ``env.episode_metrics`` of the final state (default: the record's)."""
    m = {k: np.asarray(v) for k, v in (record if metrics is None else metrics).items()}
    header = (f"{'LP':>3} {'share':>7} {'spread':>9} {'inventory':>10} {'hedge cost':>11} {'PnL':>9} "
              f"{'volume':>8} {'hedged':>8} {'intern.':>8} {'final inv':>10}")
    lines = [f"OTC-v0, {int(record['n_rounds'])} rounds. PnL = spread + inventory - hedge cost, in bp-units "
             "(1 bp of one unit at the opening price); volumes and inventory in units",
             header, "-" * len(header)]
    for j in range(len(m["market_share"])):
        lines.append(
            f"{j:>3} {100 * m['market_share'][j]:>6.1f}% {m['spread_pnl'][j]:>9.2f} {m['inventory_pnl'][j]:>10.2f} "
            f"{m['hedge_cost'][j]:>11.2f} {m['lp_pnl'][j]:>9.2f} {m['lp_volume'][j]:>8.1f} "
            f"{m['hedge_volume'][j]:>8.1f} {100 * m['internalization'][j]:>7.1f}% {m['final_inventory'][j]:>10.2f}")
    lines.append(f"client flow: {100 * float(m['flow_lp']):.1f}% with LPs, "
                 f"{100 * float(m['flow_ecn']):.1f}% on the ECN; "
                 f"{100 * float(m['flow_none']):.1f}% of client-rounds without a trade; "
                 f"invalid actions: {int(m['n_invalid_lp'])} LP, {int(m['n_invalid_lt'])} LT")
    return "\n".join(lines)


def policies() -> dict[str, Any]:
    """The CLI's policies: name -> factory ``f(env) -> act``; the first is the default."""
    from jaxmarket.otc.dealer import heuristic_policy
    from jaxmarket.core.evaluate import random_policy

    return {"heuristic": heuristic_policy, "random": random_policy}


__all__ = ["ENV_ID", "QUOTE_SIZE", "ROUND_COLUMNS", "cumulative_share", "policies",
           "round_quotes", "run_episode", "simulate_episode", "summarize"]
