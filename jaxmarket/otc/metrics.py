"""Episode metrics of the OTC market, read from the last state of an episode.

Per LP (n_lps,): market share of all client volume, internalization (the fraction of its client
volume not hedged on the ECN, 1 - hedge volume / client volume), the PnL decomposition in
bp-units (spread, inventory, hedge cost, total), hedge volume, final inventory. Market-wide: the
mean quoted half-spread per tier (bp), the flow split (fractions of client volume traded with LPs
and on the ECN, and of client-rounds without a trade), the counts of invalid actions, and
statistics of the reference price and of the flow by hour of day (``jaxmarket.otc.seasonality``):

- ``realized_vol``: annualized realized volatility ``sqrt(sum_t r_t^2 / T * rounds_per_year)`` of
  the round log returns ``r_t = log(P_{t+1} / P_t)`` (uncentered, as ``jaxmarket.data.statistics``
  computes it for a real series);
- ``volume_profile`` (24,): the fraction of the episode's client volume (LPs and ECN) traded in
  rounds of each hour of day (0 everywhere in an episode without volume);
- ``volatility_profile`` (24,): per hour of day, ``sqrt(mean r_t^2 * rounds_per_year)`` over the
  rounds of that hour (0 for an hour without rounds).

Metrics are addressed by name (``parse_metric``): ``"flow_ecn"``, ``"market_share[0]"`` (LP 0),
``"tier_spread_bp[2]"``, ``"volume_profile"`` (all 24 entries); ``METRIC_RANGES`` gives each one's
range of values.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp

from jaxmarket.otc.market import OTCConfig, OTCParams, OTCState, money_unit
from jaxmarket.otc.seasonality import HOURS_PER_DAY

PER_LP_METRICS = (
    "market_share", "internalization", "spread_pnl", "inventory_pnl", "hedge_cost", "lp_pnl", "hedge_volume",
    "lp_volume", "final_inventory",
)
"""The metrics with one value per LP, shape (n_lps,)."""

HOUR_METRICS = ("volume_profile", "volatility_profile")
"""The metrics with one value per hour of day, shape (24,)."""

FRACTION = (0.0, 1.0)
NON_NEGATIVE = (0.0, math.inf)
ANY_REAL = (-math.inf, math.inf)
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "market_share": FRACTION, "internalization": FRACTION, "spread_pnl": ANY_REAL, "inventory_pnl": ANY_REAL,
    "hedge_cost": NON_NEGATIVE, "lp_pnl": ANY_REAL, "hedge_volume": NON_NEGATIVE, "lp_volume": NON_NEGATIVE,
    "final_inventory": ANY_REAL, "tier_spread_bp": NON_NEGATIVE, "flow_lp": FRACTION, "flow_ecn": FRACTION,
    "flow_none": FRACTION, "n_invalid_lp": NON_NEGATIVE, "n_invalid_lt": NON_NEGATIVE, "realized_vol": NON_NEGATIVE,
    "volume_profile": FRACTION, "volatility_profile": NON_NEGATIVE,
}
"""Every metric of ``episode_metrics`` and the range its values lie in (shares and fractions as fractions)."""

_NAME = re.compile(r"^([a-z_]+)(?:\[(\d+)\])?$")


def metric_size(metric: str, config: OTCConfig) -> int:
    """Entries of metric ``metric`` (a key of ``METRIC_RANGES``): n_lps, n_tiers, 24 or 1 (a scalar)."""
    if metric in PER_LP_METRICS:
        return config.n_lps
    if metric == "tier_spread_bp":
        return config.n_tiers
    return HOURS_PER_DAY if metric in HOUR_METRICS else 1


def parse_metric(name: str, config: OTCConfig) -> tuple[str, int | None]:
    """The metric and entry a name addresses: ``"flow_ecn"`` -> ``("flow_ecn", None)``,
    ``"market_share[0]"`` -> ``("market_share", 0)``; a vector metric without an index means all of it.

    Raises:
      ValueError: an unknown metric (the message lists the valid ones), an index on a scalar
        metric, or an index outside ``[0, size)``.
    """
    match = _NAME.match(name) if isinstance(name, str) else None
    metric = match.group(1) if match else None
    if metric not in METRIC_RANGES:
        raise ValueError(f"metric = {name!r} is not an OTC metric: valid names are {sorted(METRIC_RANGES)}, "
                         "with [i] for one LP, tier or hour (e.g. 'market_share[0]')")
    if match.group(2) is None:
        return metric, None
    index, size = int(match.group(2)), metric_size(metric, config)
    if size == 1:
        raise ValueError(f"metric = {name!r}: {metric} is a scalar, it takes no index")
    if index >= size:
        raise ValueError(f"metric = {name!r}: index {index} is out of range, valid range is [0, {size - 1}]")
    return metric, index


def select_metric(metrics: dict[str, jax.Array], metric: str, index: int | None) -> jax.Array:
    """The entries ``(..., k)`` float32 of a parsed metric from ``episode_metrics`` output with any leading
    axes: one entry (k = 1) for a scalar metric or an index, all of them otherwise."""
    value = jnp.asarray(metrics[metric], jnp.float32)
    if metric_is_scalar(metric):
        return value[..., None]
    return value[..., index : index + 1] if index is not None else value


def metric_is_scalar(metric: str) -> bool:
    """Whether ``metric`` has one value per episode (not one per LP, tier or hour)."""
    return metric not in PER_LP_METRICS and metric != "tier_spread_bp" and metric not in HOUR_METRICS


def _ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def episode_metrics(state: OTCState, params: OTCParams) -> dict[str, jax.Array]:
    """The metrics of an episode from its last state (see the module docstring): float32, per LP (n_lps,),
    per tier (n_tiers,), per hour (24,) or scalars; ``n_invalid_*`` int32."""
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
        "realized_vol": jnp.sqrt(state.hour_sq_return.sum() / rounds * params.rounds_per_year),
        "volume_profile": _ratio(state.hour_volume, state.hour_volume.sum()),
        "volatility_profile": jnp.sqrt(_ratio(state.hour_sq_return, state.hour_rounds) * params.rounds_per_year),
    }
