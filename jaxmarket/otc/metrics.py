"""Episode metrics of the OTC market, read from the last state of an episode.

Per LP (n_lps,): market share of all client volume, internalization (the fraction of its client
volume not hedged on the ECN, 1 - hedge volume / client volume), the PnL decomposition in
bp-units (spread, inventory, hedge cost, total), hedge volume, final inventory. Market-wide: the
mean quoted half-spread per tier (bp), the flow split (fractions of client volume traded with LPs
and on the ECN, and of client-rounds without a trade), and the counts of invalid actions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmarket.otc.market import OTCParams, OTCState, money_unit

PER_LP_METRICS = (
    "market_share", "internalization", "spread_pnl", "inventory_pnl", "hedge_cost", "lp_pnl", "hedge_volume", "lp_volume",
    "final_inventory",
)
"""The metrics with one value per LP, shape (n_lps,)."""


def _ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def episode_metrics(state: OTCState, params: OTCParams) -> dict[str, jax.Array]:
    del params
    mu = money_unit(state)
    lp_total = state.lp_volume.sum()
    client_volume = lp_total + state.ecn_client_volume
    rounds = jnp.maximum(state.round, 1)
    client_rounds = state.n_client_trades + state.n_no_trade
    return {
        "market_share": _ratio(state.lp_volume, client_volume),
        "internalization": jnp.clip(1.0 - _ratio(state.lp_hedge_volume, state.lp_volume), 0.0, 1.0),
        "spread_pnl": state.lp_spread_pnl / mu,
        "inventory_pnl": state.lp_inventory_pnl / mu,
        "hedge_cost": state.lp_hedge_cost / mu,
        "lp_pnl": state.lp_wealth / mu,
        "hedge_volume": state.lp_hedge_volume,
        "lp_volume": state.lp_volume,
        "final_inventory": state.lp_inventory,
        "tier_spread_bp": state.tier_spread / rounds,
        "flow_lp": _ratio(lp_total, client_volume),
        "flow_ecn": _ratio(state.ecn_client_volume, client_volume),
        "flow_none": _ratio(state.n_no_trade.astype(jnp.float32), client_rounds.astype(jnp.float32)),
        "n_invalid_lp": state.n_invalid_lp,
        "n_invalid_lt": state.n_invalid_lt,
    }
