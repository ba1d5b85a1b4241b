"""Heuristic OTC agents, acting on observations only (they see what an RL agent would see).

- **Curve pricing per tier** (LPs): quote the half-spread ``s(v, u) = S_ref(0) r(v)^alpha +
  delta u S_ref(0)`` to a client of tier ``u``, with ``r(v) = S_ref(v) / S_ref(0)`` the ECN curve
  ratio and ``delta`` the LP's ``tier_aggressiveness`` type. The env's quote is
  ``(1 + eps_u) S_ref(v)``, so the heuristic sets ``eps_u = r^(alpha - 1) + delta u / r - 1`` at
  the reference size ``ref_size`` (exact there, following the ECN curve's shape elsewhere).
- **Risk-averse hedger** (LPs): hedge the fraction ``h = k gamma sigma / (k gamma sigma + S_ref(0))``
  of inventory, which grows with the LP's risk aversion ``gamma`` and the per-round volatility
  ``sigma`` against the ECN half-spread it pays, and optionally skew against inventory.
- **Cheapest-quote clients** (LTs): trade towards the linear execution schedule of their
  ``target``, at the cheapest venue among the connected LPs' quotes and the ECN.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxmarket.otc import ecn, reference
from jaxmarket.otc.market import OTCConfig, OTCParams
from jaxmarket.otc.observations import lp_index, lt_index
from jaxmarket.otc.rewards import BASIS_POINT

CURVE_ALPHA = 0.5  # curve-pricing exponent: below 1 quotes inside the ECN curve for sizes above 0
REF_SIZE = 1.0  # units: the size at which curve pricing is exact
HEDGE_SCALE = 1.0  # k in the hedge fraction
SKEW_COEF = 0.0  # skew per unit of inventory / inventory_scale (0: no skew)


def curve_pricing_eps(
    tier_aggressiveness: jax.Array, n_tiers: int, params: OTCParams, alpha: float = CURVE_ALPHA, ref_size: float = REF_SIZE
) -> jax.Array:
    """Spread multipliers (n, n_tiers) of curve pricing for LPs with ``tier_aggressiveness`` (n,)."""
    u = jnp.minimum(ref_size / params.ecn_depth, params.max_fill)
    r = ecn.curve_ratio(u, params.ecn_lambda)
    tiers = jnp.arange(n_tiers, dtype=jnp.float32)
    eps = r ** (alpha - 1.0) + tier_aggressiveness[:, None] * tiers[None, :] / r - 1.0
    return jnp.clip(eps, params.eps_min, params.eps_max)


def hedge_fraction(gamma: jax.Array, ecn_half_spread: jax.Array, params: OTCParams, scale: float = HEDGE_SCALE) -> jax.Array:
    """The risk-averse hedger's fraction in [0, 1): ``k gamma sigma / (k gamma sigma + S_ref(0))``."""
    risk = scale * gamma * reference.round_volatility(params.annual_vol, params.rounds_per_year)
    return risk / (risk + ecn_half_spread)


def heuristic_lp_actions(
    obs: jax.Array,
    config: OTCConfig,
    params: OTCParams,
    alpha: float = CURVE_ALPHA,
    ref_size: float = REF_SIZE,
    hedge_scale: float = HEDGE_SCALE,
    skew_coef: float = SKEW_COEF,
) -> jax.Array:
    """Actions (n, n_tiers + 2) of curve-pricing, risk-averse-hedging LPs from their observations (n, d)."""
    eps = curve_pricing_eps(obs[:, lp_index("tier_aggressiveness")], config.n_tiers, params, alpha, ref_size)
    half = obs[:, lp_index("ecn_half_spread_bp")] * BASIS_POINT
    hedge = hedge_fraction(obs[:, lp_index("gamma")], half, params, hedge_scale)
    skew = jnp.clip(-skew_coef * obs[:, lp_index("inventory")], -params.skew_max, params.skew_max)
    return jnp.concatenate([eps, skew[:, None], hedge[:, None]], axis=1)


def cheapest_quote_lt_actions(obs: jax.Array, config: OTCConfig, params: OTCParams) -> jax.Array:
    """Action codes (n,) of clients that trade their size towards the schedule (when at least half a
    size behind) at the cheapest connected venue."""
    n_lps = config.n_lps
    size = obs[:, lt_index("size_scale", config)]
    target = obs[:, lt_index("target", config)]
    behind = target / params.n_rounds - obs[:, lt_index("schedule_gap", config)]  # units to trade this round
    trade = jnp.abs(behind) >= 0.5 * size
    buy = behind > 0
    lp_costs = jnp.stack(
        [
            jnp.where(
                obs[:, lt_index("connected", config, j)] > 0,
                jnp.where(buy, obs[:, lt_index("buy_cost_bp", config, j)], obs[:, lt_index("sell_cost_bp", config, j)]),
                jnp.inf,
            )
            for j in range(n_lps)
        ],
        axis=1,
    )
    costs = jnp.concatenate([lp_costs, obs[:, lt_index("ecn_cost_bp", config)][:, None]], axis=1)
    venue = jnp.argmin(costs, axis=1)
    code = 1 + 2 * venue + jnp.where(buy, 0, 1)
    return jnp.where(trade, code, 0).astype(jnp.int32)


def heuristic_policy(env: Any, **lp_options: float) -> Any:
    """``act(key, obs, state, params) -> {"lp": ..., "lt": ...}`` for ``OTC-v0``: curve-pricing
    hedging LPs and cheapest-quote clients. ``lp_options`` go to ``heuristic_lp_actions``."""

    def act(key: jax.Array, obs: dict, state: Any, params: OTCParams) -> dict:
        del key, state
        return {
            "lp": heuristic_lp_actions(obs["lp"], env.config, params, **lp_options),
            "lt": cheapest_quote_lt_actions(obs["lt"], env.config, params),
        }

    return act

