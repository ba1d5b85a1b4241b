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
from jaxmarket.otc.market import NO_TRADE, OTCConfig, OTCParams, encode_lt_action, pack_lp_action
from jaxmarket.otc.observations import lp_index, lt_index
from jaxmarket.otc.rewards import BASIS_POINT

CURVE_ALPHA = 0.5  # curve-pricing exponent: below 1 quotes inside the ECN curve for sizes above 0
REF_SIZE = 1.0  # units: the size at which curve pricing is exact
HEDGE_SCALE = 1.0  # k in the hedge fraction
SKEW_COEF = 0.0  # skew per unit of inventory / inventory_scale (0: no skew)
TRADE_THRESHOLD = 0.5  # a cheapest-quote client trades when at least this many sizes behind its schedule


def curve_pricing_eps(
    tier_aggressiveness: jax.Array, n_tiers: int, params: OTCParams, alpha: float = CURVE_ALPHA, ref_size: float = REF_SIZE
) -> jax.Array:
    """Spread multipliers of curve pricing: ``eps_u = r^(alpha - 1) + delta u / r - 1`` for tier ``u``.

    ``r = S_ref(ref_size) / S_ref(0)`` is the ECN curve ratio at the reference size (see the module
    docstring and docs/otc.md, "Heuristic baselines").

    Args:
      tier_aggressiveness: (n,) float, each LP's ``delta`` (extra half-spread per tier, in units of
        ``S_ref(0)``).
      n_tiers: number of client tiers.
      params: the market parameters (``ecn_depth``, ``max_fill``, ``ecn_lambda``, ``eps_min``, ``eps_max``).
      alpha: the curve-pricing exponent (>= 0).
      ref_size: the size (units, > 0) at which curve pricing is exact.

    Returns:
      (n, n_tiers) float32 spread multipliers, clipped to ``[eps_min, eps_max]``.
    """
    u = jnp.minimum(ref_size / params.ecn_depth, params.max_fill)
    r = ecn.curve_ratio(u, params.ecn_lambda)
    tiers = jnp.arange(n_tiers, dtype=jnp.float32)
    eps = r ** (alpha - 1.0) + tier_aggressiveness[:, None] * tiers[None, :] / r - 1.0
    return jnp.clip(eps, params.eps_min, params.eps_max)


def hedge_fraction(gamma: jax.Array, ecn_half_spread: jax.Array, params: OTCParams, scale: float = HEDGE_SCALE) -> jax.Array:
    """The risk-averse hedger's fraction ``k gamma sigma / (k gamma sigma + S_ref(0))``.

    Args:
      gamma: (n,) float, each LP's risk aversion (>= 0).
      ecn_half_spread: ``S_ref(0)``, relative to the mid (scalar or (n,)).
      params: the market parameters (``annual_vol`` and ``rounds_per_year`` give ``sigma``).
      scale: ``k`` (>= 0).

    Returns:
      (n,) float32 hedge fractions in [0, 1).
    """
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
    """Actions of curve-pricing, risk-averse-hedging LPs, from their observations.

    Args:
      obs: (n, lp_obs_size()) float32 LP observations (``jaxmarket.otc.observations``).
      config: the market configuration (``n_tiers``).
      params: the market parameters.
      alpha: the curve-pricing exponent (see ``curve_pricing_eps``).
      ref_size: units, the size at which curve pricing is exact.
      hedge_scale: ``k`` of ``hedge_fraction``.
      skew_coef: skew per unit of ``inventory / inventory_scale``, against the inventory (0: none).

    Returns:
      (n, n_tiers + 2) float32 LP actions: tier multipliers, skew (clipped to ``skew_max``), hedge fraction.
    """
    eps = curve_pricing_eps(obs[:, lp_index("tier_aggressiveness")], config.n_tiers, params, alpha, ref_size)
    half = obs[:, lp_index("ecn_half_spread_bp")] * BASIS_POINT
    hedge = hedge_fraction(obs[:, lp_index("gamma")], half, params, hedge_scale)
    skew = jnp.clip(-skew_coef * obs[:, lp_index("inventory")], -params.skew_max, params.skew_max)
    return pack_lp_action(eps, skew, hedge)


def cheapest_quote_lt_actions(obs: jax.Array, config: OTCConfig, params: OTCParams) -> jax.Array:
    """Action codes of clients that trade towards their linear execution schedule.

    A client trades its size when at least ``TRADE_THRESHOLD`` sizes behind the schedule of its
    ``target``, at the cheapest venue among its connected LPs and the ECN (the first on ties).

    Args:
      obs: (n, lt_obs_size(config)) float32 RL client observations.
      config: the market configuration (``n_lps``).
      params: the market parameters (``n_rounds``).

    Returns:
      (n,) int32 action codes (see ``OTCConfig.n_lt_actions``).
    """
    n_lps = config.n_lps
    size = obs[:, lt_index("size_scale", config)]
    target = obs[:, lt_index("target", config)]
    behind = target / params.n_rounds - obs[:, lt_index("schedule_gap", config)]  # units to trade this round
    trade = jnp.abs(behind) >= TRADE_THRESHOLD * size
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
    ecn_cost = obs[:, lt_index("ecn_cost_bp", config)]
    costs = jnp.concatenate([lp_costs, ecn_cost[:, None]], axis=1)  # the ECN last, at venue ecn_venue(n_lps)
    venue = jnp.argmin(costs, axis=1)
    return jnp.where(trade, encode_lt_action(venue, buy), NO_TRADE).astype(jnp.int32)


def heuristic_policy(env: Any, **lp_options: float) -> Any:
    """The heuristic policy of ``OTC-v0``: curve-pricing hedging LPs and cheapest-quote clients.

    Args:
      env: an ``OTC`` env (its ``config`` sizes the actions).
      **lp_options: keyword arguments of ``heuristic_lp_actions`` (``alpha``, ``ref_size``,
        ``hedge_scale``, ``skew_coef``).

    Returns:
      ``act(key, obs, state, params) -> {"lp": (n_lps, n_tiers + 2) float32, "lt": (n_lts,) int32}``,
      reading only ``obs`` (a dict keyed by family).
    """

    def act(key: jax.Array, obs: dict, state: Any, params: OTCParams) -> dict:
        del key, state
        return {
            "lp": heuristic_lp_actions(obs["lp"], env.config, params, **lp_options),
            "lt": cheapest_quote_lt_actions(obs["lt"], env.config, params),
        }

    return act
