"""What each agent observes: only its own state, public market data and, for clients, the quotes
of the LPs it is connected to. An LP never sees another LP's quotes or trades.

LP observation (float32, ``LP_FEATURES`` then the type ``LP_TYPE_FIELDS``):
  inventory / inventory_scale, rounds left / n_rounds, ECN half-spread S_ref(0) in bp, last
  round's log return in bp, units its clients bought from it and sold to it last round, its share
  of last round's client volume, the fraction of clients it streams to.

RL client observation (float32, ``LT_FEATURES``, then per LP ``LT_QUOTE_FEATURES``, then the type
``LT_TYPE_FIELDS``): inventory / inventory_scale, rounds left / n_rounds, the gap to its linear
execution schedule (units), its tier, the ECN cost S_ref(size) in bp; per LP: whether it is
connected and the relative cost (bp) of buying and of selling its size at that LP's current
quote (0 when not connected).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmarket.otc import ecn
from jaxmarket.otc.clients import BUY, SELL
from jaxmarket.otc.market import OTCConfig, OTCParams, OTCState, curve
from jaxmarket.otc.quotes import client_costs
from jaxmarket.otc.rewards import BASIS_POINT
from jaxmarket.otc.types import LP_TYPE_FIELDS, LT_TYPE_FIELDS, column

LP_FEATURES = (
    "inventory", "time_left", "ecn_half_spread_bp", "last_return_bp", "last_buy", "last_sell", "last_share",
    "connected_fraction",
)
LT_FEATURES = ("inventory", "time_left", "schedule_gap", "tier", "ecn_cost_bp")
LT_QUOTE_FEATURES = ("connected", "buy_cost_bp", "sell_cost_bp")


def lp_obs_size() -> int:
    """Length of one LP's observation: ``LP_FEATURES`` then ``LP_TYPE_FIELDS``."""
    return len(LP_FEATURES) + len(LP_TYPE_FIELDS)


def lt_obs_size(config: OTCConfig) -> int:
    """Length of one RL client's observation: ``LT_FEATURES``, per LP ``LT_QUOTE_FEATURES``, then ``LT_TYPE_FIELDS``."""
    return len(LT_FEATURES) + len(LT_QUOTE_FEATURES) * config.n_lps + len(LT_TYPE_FIELDS)


def lp_index(name: str) -> int:
    """Column of feature or type field ``name`` in an LP observation.

    Raises:
      ValueError: ``name`` is neither in ``LP_FEATURES`` nor in ``LP_TYPE_FIELDS``.
    """
    names = LP_FEATURES + LP_TYPE_FIELDS
    return names.index(name)


def lt_index(name: str, config: OTCConfig, lp: int | None = None) -> int:
    """Column of ``name`` in an RL client's observation; quote features need the LP index ``lp``.

    Raises:
      ValueError: ``name`` is not a feature, quote feature or type field.
    """
    if name in LT_QUOTE_FEATURES:
        return len(LT_FEATURES) + len(LT_QUOTE_FEATURES) * lp + LT_QUOTE_FEATURES.index(name)
    if name in LT_FEATURES:
        return LT_FEATURES.index(name)
    return len(LT_FEATURES) + len(LT_QUOTE_FEATURES) * config.n_lps + LT_TYPE_FIELDS.index(name)


def time_left(state: OTCState, params: OTCParams) -> jax.Array:
    """The fraction of the episode's rounds still to play (float32 scalar)."""
    return (params.n_rounds - state.round) / params.n_rounds


def lp_observation(state: OTCState, config: OTCConfig, params: OTCParams) -> jax.Array:
    """Every LP's observation.

    Returns:
      (n_lps, lp_obs_size()) float32: the columns of ``LP_FEATURES``, then the LP's type.
    """
    n = config.n_lps
    public = {
        "time_left": time_left(state, params),
        "ecn_half_spread_bp": ecn.zero_size_half_spread(state.s0) / BASIS_POINT,
        "last_return_bp": state.last_return / BASIS_POINT,
    }
    columns = {
        "inventory": state.lp_inventory / params.inventory_scale,
        **{name: jnp.broadcast_to(value, (n,)) for name, value in public.items()},
        "last_buy": state.lp_last_buy,
        "last_sell": state.lp_last_sell,
        "last_share": state.lp_last_share,
        "connected_fraction": state.connected.mean(axis=1),
    }
    features = jnp.stack([columns[name] for name in LP_FEATURES], axis=1)
    return jnp.concatenate([features, state.lp_types], axis=1).astype(jnp.float32)


def lt_observation(state: OTCState, config: OTCConfig, params: OTCParams) -> jax.Array:
    """Every RL client's observation (flow clients observe nothing).

    Returns:
      (n_lts, lt_obs_size(config)) float32: the columns of ``LT_FEATURES``, then per LP the
      columns of ``LT_QUOTE_FEATURES``, then the client's type.
    """
    n = config.n_lts
    types = state.client_types[:n]
    size = jnp.minimum(types[:, column(LT_TYPE_FIELDS, "size_scale")], params.max_fill * params.ecn_depth)
    s_v = curve(size, state, params)
    s_0 = ecn.zero_size_half_spread(state.s0)
    connected = state.connected[:, :n]
    tier = state.tier[:n]
    buy = client_costs(state.tier_eps, state.skew, tier, jnp.full((n,), BUY), s_v, s_0)
    sell = client_costs(state.tier_eps, state.skew, tier, jnp.full((n,), SELL), s_v, s_0)
    quote_columns = {
        "connected": connected,
        "buy_cost_bp": jnp.where(connected, buy, 0.0) / BASIS_POINT,
        "sell_cost_bp": jnp.where(connected, sell, 0.0) / BASIS_POINT,
    }
    quotes = jnp.stack([quote_columns[name] for name in LT_QUOTE_FEATURES], axis=-1)  # (n_lps, n, 3)
    quotes = jnp.transpose(quotes, (1, 0, 2)).reshape(n, config.n_lps * len(LT_QUOTE_FEATURES))
    target = types[:, column(LT_TYPE_FIELDS, "target")]
    columns = {
        "inventory": state.client_inventory[:n] / params.inventory_scale,
        "time_left": jnp.broadcast_to(time_left(state, params), (n,)),
        "schedule_gap": state.client_executed[:n] - target * state.round / params.n_rounds,
        "tier": tier.astype(jnp.float32),
        "ecn_cost_bp": s_v / BASIS_POINT,
    }
    own = jnp.stack([columns[name] for name in LT_FEATURES], axis=1)
    return jnp.concatenate([own, quotes, types], axis=1).astype(jnp.float32)
