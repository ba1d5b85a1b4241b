"""The OTC dealer market as pure functions: configuration, parameters, state, and one round.

One security (FX-like, EUR/USD). ``n_lps`` liquidity providers stream quotes to the clients they
are connected to; clients are ``n_lts`` RL clients (acting through the env) followed by ``n_flow``
flow clients (exogenous). A round: the LPs quote (``quote``) and fix a hedge fraction, the RL
clients choose a venue and side (``choose``), then ``settle`` fills the flow clients at the
cheapest connected venue, books every client trade on both sides, hedges each LP's inventory on
the ECN, moves the reference price, and computes the rewards.

Units: sizes in units of the base currency (say EUR 1M); money in the quote currency for the
same units. Every party's mark-to-market wealth ``W = cash + x P`` is kept instead of cash, so the
small spread and hedge terms never sit next to a large cash balance in float32; ``cash = W - x P``.
Accounting identities, exact up to float rounding: the inventories of LPs, clients and the ECN sum
to 0 and so do their wealths; each LP's wealth is its spread PnL + inventory PnL - hedge cost.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarket.core.multi_agent import TurnOrder, check_turn_order
from jaxmarket.core.spaces import discrete_index
from jaxmarket.core.supertypes import PROB_SUM_TOLERANCE, Supertype, check_supertype, sample_types
from jaxmarket.core.validation import check_choice, check_int, check_order, check_range, is_concrete
from jaxmarket.otc import clients, ecn, reference, rewards
from jaxmarket.otc.quotes import client_costs
from jaxmarket.otc.types import (
    LP_TYPE_BOUNDS, LP_TYPE_FIELDS, LT_TYPE_BOUNDS, LT_TYPE_FIELDS, default_lp_supertype, default_lt_supertype,
)

FAMILIES = ("lp", "lt")
STACKELBERG: TurnOrder = (("lp",), ("lt",))
SIMULTANEOUS: TurnOrder = (("lp", "lt"),)
REFERENCES = ("gbm", "replay")
LP_ACTION_EXTRA = 2  # skew and hedge fraction after the tier multipliers
NO_TRADE = 0  # LT action code for "do not trade"
MIN_EPS = -1.0  # spread multipliers must stay above this (ask > bid)
# Valid reference prices. Money is held as wealth in PnL-scale terms and rewards are in units of
# price0 * 1 bp, so results do not depend on the price level (float32 is relative); the bounds keep
# price * size * 1 bp far from float32's underflow and overflow.
PRICE_MIN, PRICE_MAX = 1e-6, 1e9


@dataclasses.dataclass(frozen=True)
class OTCConfig:
    """Static configuration (changing it recompiles)."""

    n_lps: int = 4
    n_lts: int = 4  # RL clients, acting through the env
    n_flow: int = 12  # exogenous flow clients
    n_tiers: int = 3
    turn_order: TurnOrder = STACKELBERG
    reference: str = "gbm"  # "gbm" or "replay" (of ``OTCParams.series``)

    def __post_init__(self) -> None:
        check_int("n_lps", self.n_lps, 1)
        check_int("n_lts", self.n_lts, 0)
        check_int("n_flow", self.n_flow, 0)
        if self.n_lts + self.n_flow < 1:
            raise ValueError(f"n_lts + n_flow = {self.n_lts + self.n_flow}: need at least one client (valid range [1, inf])")
        check_int("n_tiers", self.n_tiers, 1)
        check_turn_order(self.turn_order, FAMILIES)
        check_choice("reference", self.reference, REFERENCES)

    @property
    def n_clients(self) -> int:
        return self.n_lts + self.n_flow

    @property
    def n_phases(self) -> int:
        return len(self.turn_order)

    @property
    def n_venues(self) -> int:
        """The LPs, then the ECN, then "no trade"."""
        return self.n_lps + 2

    @property
    def n_lt_actions(self) -> int:
        """0: no trade; 1 + 2j + s: LP j; 1 + 2 n_lps + s: the ECN (s = 0 buy, 1 sell)."""
        return 1 + 2 * (self.n_lps + 1)


@struct.dataclass
class OTCParams:
    """Numeric parameters (traced: change them without recompiling). Relative prices are fractions
    of the mid (1e-4 = 1 bp); sizes in units."""

    n_rounds: int = 96  # rounds per episode (a day of 15-minute rounds)
    price0: float = 1.1  # opening GBM price
    annual_vol: float = 0.10  # GBM volatility per year
    rounds_per_year: float = 252.0 * 96.0
    impact: float = 0.0  # permanent impact: log-price change per unit of net ECN volume
    series: Any = None  # (L,) reference prices to replay (reference="replay"), L >= n_rounds + 1
    ecn_spread_mean: float = 1.5e-4
    ecn_spread_std: float = 0.5e-4
    ecn_spread_min: float = 2e-5
    ecn_spread_max: float = 5e-4
    ecn_lambda: float = 1.6  # cost-curve exponent, > 1
    ecn_depth: float = 50.0  # v_max, units
    max_fill: float = 0.99  # largest fraction of ecn_depth traded at once
    p_connect: float = 0.8  # probability that an LP streams to a client
    tier_probs: Any = None  # (n_tiers,) client tier probabilities; None: uniform
    p_buy: float = 0.5  # an uninformed flow client's probability of buying
    size_log_std: float = 0.5  # log-std of flow sizes
    eps_min: float = -0.9  # spread multiplier range (> -1)
    eps_max: float = 1.0  # quotes at up to twice the ECN curve; the range centre is near 0 (the ECN price)
    skew_max: float = 2.0  # |eps_skew| bound
    inventory_scale: float = 10.0  # units; inventories are divided by it in observations
    lp_supertype: Supertype = dataclasses.field(default_factory=default_lp_supertype)
    lt_supertype: Supertype = dataclasses.field(default_factory=default_lt_supertype)

    def check(self) -> None:
        """Raise ``ValueError`` naming any out-of-range field (concrete values only)."""
        check_int("n_rounds", self.n_rounds, 1)
        check_range("price0", self.price0, PRICE_MIN, PRICE_MAX)
        check_range("annual_vol", self.annual_vol, 0.0)
        check_range("rounds_per_year", self.rounds_per_year, 0.0, low_open=True)
        check_range("impact", self.impact)
        check_range("ecn_spread_mean", self.ecn_spread_mean, 0.0, low_open=True)
        check_range("ecn_spread_std", self.ecn_spread_std, 0.0)
        check_range("ecn_spread_min", self.ecn_spread_min, 0.0, low_open=True)
        check_range("ecn_spread_max", self.ecn_spread_max, 0.0, 1.0, low_open=True)
        check_order("ecn_spread_min", self.ecn_spread_min, "ecn_spread_max", self.ecn_spread_max)
        check_range("ecn_lambda", self.ecn_lambda, 1.0, low_open=True)
        check_range("ecn_depth", self.ecn_depth, 0.0, low_open=True)
        check_range("max_fill", self.max_fill, 0.0, 1.0, low_open=True, high_open=True)
        check_range("p_connect", self.p_connect, 0.0, 1.0)
        check_range("p_buy", self.p_buy, 0.0, 1.0)
        check_range("size_log_std", self.size_log_std, 0.0)
        check_range("eps_min", self.eps_min, MIN_EPS, low_open=True)
        check_range("eps_max", self.eps_max, MIN_EPS, low_open=True)
        check_order("eps_min", self.eps_min, "eps_max", self.eps_max)
        check_range("skew_max", self.skew_max, 0.0)
        check_range("inventory_scale", self.inventory_scale, 0.0, low_open=True)
        if self.tier_probs is not None and is_concrete(self.tier_probs):
            probs = np.asarray(self.tier_probs, np.float64)
            check_range("tier_probs", probs, 0.0, 1.0)
            if probs.ndim != 1 or abs(probs.sum() - 1.0) > PROB_SUM_TOLERANCE:
                raise ValueError(f"tier_probs = {self.tier_probs!r} must be a vector of probabilities summing to 1")
        check_supertype("lp", self.lp_supertype, LP_TYPE_BOUNDS)
        check_supertype("lt", self.lt_supertype, LT_TYPE_BOUNDS)


def check_params_for(config: OTCConfig, params: OTCParams) -> None:
    """Checks that need the configuration: tier probabilities and the replay series."""
    params.check()
    if params.tier_probs is not None and is_concrete(params.tier_probs):
        if np.shape(params.tier_probs) != (config.n_tiers,):
            raise ValueError(
                f"tier_probs has shape {np.shape(params.tier_probs)}: need ({config.n_tiers},), one per tier (n_tiers)"
            )
    if config.reference == "replay":
        if is_concrete(params.impact) and params.impact != 0:
            raise ValueError(f"impact = {params.impact!r}: price impact applies to reference='gbm' only (use 0 with replay)")
        if params.series is None:
            raise ValueError("series = None: reference='replay' needs a price series (e.g. jaxmarket.data.eurusd_hourly())")
        if is_concrete(params.series):
            check_series(np.asarray(params.series), int(params.n_rounds))


def check_series(series: np.ndarray, n_rounds: int) -> None:
    """Raise ``ValueError`` naming the first bad index of a replay series (NaN, gap, a price
    outside ``[PRICE_MIN, PRICE_MAX]``)."""
    if series.ndim != 1:
        raise ValueError(f"series has shape {series.shape}: need a 1-D array of prices")
    if series.shape[0] < n_rounds + 1:
        raise ValueError(f"series has {series.shape[0]} prices: need at least n_rounds + 1 = {n_rounds + 1}")
    bad = np.flatnonzero(~np.isfinite(series))
    if bad.size:
        raise ValueError(f"series[{bad[0]}] = {series[bad[0]]!r}: prices must be finite (a NaN is a gap in the series)")
    bad = np.flatnonzero((series < PRICE_MIN) | (series > PRICE_MAX))
    if bad.size:
        raise ValueError(f"series[{bad[0]}] = {series[bad[0]]!r}: prices must be in [{PRICE_MIN}, {PRICE_MAX}]")


@struct.dataclass
class OTCState:
    """What evolves. Per-agent arrays have a leading agent axis; clients are RL first, then flow."""

    round: jax.Array  # int32, rounds settled this episode
    phase: jax.Array  # int32, index into turn_order
    price: jax.Array  # float32, reference price P_t
    price0: jax.Array  # float32, the episode's opening price (money unit = price0 * 1 bp)
    offset: jax.Array  # int32, replay start index
    s0: jax.Array  # float32, this round's ECN spread
    last_return: jax.Array  # float32, last round's log return of P
    lp_types: jax.Array  # (n_lps, len(LP_TYPE_FIELDS))
    lt_types: jax.Array  # (n_clients, len(LT_TYPE_FIELDS))
    connected: jax.Array  # bool (n_lps, n_clients)
    tier: jax.Array  # int32 (n_clients,)
    tier_eps: jax.Array  # (n_lps, n_tiers), the LPs' current spread multipliers
    skew: jax.Array  # (n_lps,)
    hedge: jax.Array  # (n_lps,), hedge fraction in [0, 1]
    lt_choice: jax.Array  # int32 (n_lts,), the RL clients' current action codes
    lp_inventory: jax.Array  # (n_lps,) units
    lp_wealth: jax.Array  # (n_lps,) money
    lt_inventory: jax.Array  # (n_clients,) units
    lt_wealth: jax.Array  # (n_clients,) money
    lt_executed: jax.Array  # (n_clients,) signed units executed this episode
    ecn_inventory: jax.Array  # units
    ecn_wealth: jax.Array  # money
    lp_spread_pnl: jax.Array  # (n_lps,) money, episode totals of the PnL terms
    lp_inventory_pnl: jax.Array  # (n_lps,)
    lp_hedge_cost: jax.Array  # (n_lps,)
    lp_volume: jax.Array  # (n_lps,) units traded with clients
    lp_hedge_volume: jax.Array  # (n_lps,) units traded on the ECN
    lp_last_buy: jax.Array  # (n_lps,) units clients bought from the LP last round
    lp_last_sell: jax.Array  # (n_lps,) units clients sold to the LP last round
    lp_last_share: jax.Array  # (n_lps,) the LP's share of last round's client volume
    ecn_client_volume: jax.Array  # units clients traded on the ECN this episode
    n_client_trades: jax.Array  # int32 client trades this episode
    n_no_trade: jax.Array  # int32 client-rounds without a trade
    tier_spread: jax.Array  # (n_tiers,) sum over rounds of the LPs' mean quoted S_ref(0)(1 + eps_k), bp
    n_invalid_lp: jax.Array  # int32 LP actions with a non-finite or out-of-range entry
    n_invalid_lt: jax.Array  # int32 RL client actions out of range or at an unconnected LP


def money_unit(state: OTCState) -> jax.Array:
    """One basis point of one unit's notional at the opening price: the unit of rewards."""
    return state.price0 * rewards.BASIS_POINT


def tier_probabilities(config: OTCConfig, params: OTCParams) -> jax.Array:
    if params.tier_probs is None:
        return jnp.full((config.n_tiers,), 1.0 / config.n_tiers, jnp.float32)
    return jnp.asarray(params.tier_probs, jnp.float32)


def reset(key: jax.Array, config: OTCConfig, params: OTCParams) -> OTCState:
    """A fresh episode: types, connectivity, tiers, the opening price and ECN spread."""
    k_lp, k_lt, k_conn, k_tier, k_spread, k_offset = jax.random.split(key, 6)
    n_lps, n_c = config.n_lps, config.n_clients
    if config.reference == "replay":
        series = jnp.asarray(params.series, jnp.float32)
        span = series.shape[0] - params.n_rounds
        offset = jax.random.randint(k_offset, (), 0, jnp.maximum(span, 1))
        price = series[offset]
    else:
        offset = jnp.array(0, jnp.int32)
        price = jnp.asarray(params.price0, jnp.float32)
    f0 = lambda *shape: jnp.zeros(shape, jnp.float32)  # noqa: E731
    i0 = jnp.array(0, jnp.int32)
    return OTCState(
        round=i0,
        phase=i0,
        price=price,
        price0=price,
        offset=offset.astype(jnp.int32),
        s0=spread_draw(k_spread, params),
        last_return=f0(),
        lp_types=sample_types(k_lp, params.lp_supertype, LP_TYPE_FIELDS, n_lps),
        lt_types=sample_types(k_lt, params.lt_supertype, LT_TYPE_FIELDS, n_c),
        connected=jax.random.uniform(k_conn, (n_lps, n_c)) < params.p_connect,
        tier=jax.random.categorical(k_tier, jnp.log(tier_probabilities(config, params)), shape=(n_c,)).astype(jnp.int32),
        tier_eps=f0(n_lps, config.n_tiers),
        skew=f0(n_lps),
        hedge=f0(n_lps),
        lt_choice=jnp.zeros((config.n_lts,), jnp.int32),
        lp_inventory=f0(n_lps),
        lp_wealth=f0(n_lps),
        lt_inventory=f0(n_c),
        lt_wealth=f0(n_c),
        lt_executed=f0(n_c),
        ecn_inventory=f0(),
        ecn_wealth=f0(),
        lp_spread_pnl=f0(n_lps),
        lp_inventory_pnl=f0(n_lps),
        lp_hedge_cost=f0(n_lps),
        lp_volume=f0(n_lps),
        lp_hedge_volume=f0(n_lps),
        lp_last_buy=f0(n_lps),
        lp_last_sell=f0(n_lps),
        lp_last_share=f0(n_lps),
        ecn_client_volume=f0(),
        n_client_trades=i0,
        n_no_trade=i0,
        tier_spread=f0(config.n_tiers),
        n_invalid_lp=i0,
        n_invalid_lt=i0,
    )


def spread_draw(key: jax.Array, params: OTCParams) -> jax.Array:
    return ecn.draw_spread(key, params.ecn_spread_mean, params.ecn_spread_std, params.ecn_spread_min, params.ecn_spread_max)


def curve(v: jax.Array, state: OTCState, params: OTCParams) -> jax.Array:
    """``S_ref(v)`` this round (relative to the mid)."""
    return ecn.half_spread(v, state.s0, params.ecn_depth, params.ecn_lambda, params.max_fill)


def sanitize_lp_action(action: Any, config: OTCConfig, params: OTCParams):
    """Split (n_lps, n_tiers + 2) LP actions into tier multipliers, skews and hedge fractions.

    Values are clipped to ``[eps_min, eps_max]``, ``[-skew_max, skew_max]`` and ``[0, 1]``; a
    non-finite entry means the widest spread, no skew and no hedge. Returns the three parts and
    the number of LPs whose action had an invalid entry.
    """
    k = config.n_tiers
    action = jnp.asarray(action, jnp.float32).reshape(config.n_lps, k + LP_ACTION_EXTRA)
    eps, skew, hedge = action[:, :k], action[:, k], action[:, k + 1]
    bad_eps = ~jnp.isfinite(eps) | (eps < params.eps_min) | (eps > params.eps_max)
    bad_skew = ~jnp.isfinite(skew) | (jnp.abs(skew) > params.skew_max)
    bad_hedge = ~jnp.isfinite(hedge) | (hedge < 0) | (hedge > 1)
    invalid = bad_eps.any(axis=1) | bad_skew | bad_hedge
    eps = jnp.clip(jnp.where(jnp.isfinite(eps), eps, params.eps_max), params.eps_min, params.eps_max)
    skew = jnp.clip(jnp.where(jnp.isfinite(skew), skew, 0.0), -params.skew_max, params.skew_max)
    hedge = jnp.clip(jnp.where(jnp.isfinite(hedge), hedge, 0.0), 0.0, 1.0)
    return eps, skew, hedge, invalid.sum().astype(jnp.int32)


def quote(state: OTCState, action: Any, config: OTCConfig, params: OTCParams) -> OTCState:
    """The LPs set their quotes and hedge fractions from ``action`` (n_lps, n_tiers + 2)."""
    eps, skew, hedge, n_bad = sanitize_lp_action(action, config, params)
    return state.replace(tier_eps=eps, skew=skew, hedge=hedge, n_invalid_lp=state.n_invalid_lp + n_bad)


def decode_lt_action(code: jax.Array, n_lps: int) -> tuple[jax.Array, jax.Array]:
    """(venue, side) of LT action codes: venue in [0, n_lps] (n_lps is the ECN) or n_lps + 1
    (no trade); side +1 buy, -1 sell, 0 no trade."""
    trade = code >= 1
    venue = jnp.where(trade, (code - 1) // 2, n_lps + 1)
    side = jnp.where(trade, jnp.where((code - 1) % 2 == 0, 1.0, -1.0), 0.0)
    return venue, side


def choose(state: OTCState, action: Any, config: OTCConfig) -> OTCState:
    """The RL clients choose venue and side: ``action`` (n_lts,) integer codes (see
    ``OTCConfig.n_lt_actions``). An out-of-range or non-integer code, or an LP the client is not
    connected to, means no trade and is counted in ``n_invalid_lt``."""
    n_lts, n_lps = config.n_lts, config.n_lps
    code, in_range = discrete_index(jnp.asarray(action).reshape(n_lts), config.n_lt_actions)
    code = jnp.where(in_range, code, NO_TRADE)
    venue, _ = decode_lt_action(code, n_lps)
    lp_link = jnp.concatenate([state.connected[:, :n_lts], jnp.ones((2, n_lts), bool)], axis=0)
    reachable = jnp.take_along_axis(lp_link, venue[None, :], axis=0)[0]
    valid = in_range & reachable
    code = jnp.where(valid, code, NO_TRADE)
    return state.replace(lt_choice=code, n_invalid_lt=state.n_invalid_lt + (~valid).sum().astype(jnp.int32))


def client_orders(state: OTCState, key: jax.Array, price_up: jax.Array, config: OTCConfig, params: OTCParams):
    """Sides and sizes (n_clients,) of every client this round (RL clients from their choices,
    flow clients drawn), and the RL clients' venues (n_lts,)."""
    types = state.lt_types
    size_col, p_col, inf_col = (LT_TYPE_FIELDS.index(f) for f in ("size_scale", "p_trade", "informed"))
    max_size = params.max_fill * params.ecn_depth
    rl_venue, rl_side = decode_lt_action(state.lt_choice, config.n_lps)
    rl_size = jnp.where(rl_side != 0, jnp.minimum(types[: config.n_lts, size_col], max_size), 0.0)
    flow = types[config.n_lts :]
    flow_side, flow_size = clients.flow_orders(
        key, flow[:, p_col], flow[:, size_col], flow[:, inf_col], price_up, params.p_buy, params.size_log_std, max_size
    )
    side = jnp.concatenate([rl_side, flow_side])
    size = jnp.concatenate([rl_size, flow_size])
    side = jnp.where(size > 0, side, 0.0)
    return side, size, rl_venue


def venue_costs(state: OTCState, side: jax.Array, size: jax.Array, params: OTCParams) -> jax.Array:
    """Relative cost per unit (n_lps + 1, n_clients) of each LP's quote and of the ECN."""
    s_v = curve(size, state, params)
    s_0 = 0.5 * state.s0
    lp = client_costs(state.tier_eps, state.skew, state.tier, side, s_v, s_0)
    return jnp.concatenate([lp, s_v[None, :]], axis=0)


def next_price(state: OTCState, z: jax.Array, config: OTCConfig, params: OTCParams) -> jax.Array:
    """The next reference price before impact."""
    if config.reference == "replay":
        return reference.replay_price(jnp.asarray(params.series, jnp.float32), state.offset, state.round + 1)
    sigma = reference.round_volatility(params.annual_vol, params.rounds_per_year)
    return reference.gbm_next(state.price, z, sigma)


def settle(key: jax.Array, state: OTCState, config: OTCConfig, params: OTCParams):
    """Trade, hedge, move the price and reward. Returns ``(state, lp_rewards (n_lps,),
    lt_rewards (n_lts,), round_info)``; ``round_info`` holds this round's trades for plots/tests."""
    k_flow, k_tie, k_price, k_spread = jax.random.split(key, 4)
    n_lps, n_lts = config.n_lps, config.n_lts
    price = state.price
    mu = money_unit(state)
    raw_next = next_price(state, jax.random.normal(k_price, (), jnp.float32), config, params)

    # client orders and venues
    side, size, rl_venue = client_orders(state, k_flow, raw_next >= price, config, params)
    costs = venue_costs(state, side, size, params)
    available = jnp.concatenate([state.connected, jnp.ones((1, config.n_clients), bool)], axis=0)
    flow_venue = clients.cheapest_venue(costs[:, n_lts:], available[:, n_lts:], k_tie)
    venue = jnp.concatenate([rl_venue, flow_venue])
    trading = side != 0
    venue = jnp.where(trading, venue, n_lps + 1)
    onehot = (venue[None, :] == jnp.arange(n_lps + 1)[:, None]).astype(jnp.float32)  # (n_lps + 1, n_clients)
    unit_cost = jnp.sum(onehot * costs, axis=0)
    paid = size * price * unit_cost  # money each client pays over the mid
    signed = side * size  # units each client buys

    # booking: clients against LPs and the ECN
    per_venue = lambda x: jnp.sum(onehot * x[None, :], axis=1)  # noqa: E731  (n_lps + 1,)
    lp_spread_all = per_venue(paid)
    buys_all, sells_all = per_venue(jnp.maximum(signed, 0.0)), per_venue(jnp.maximum(-signed, 0.0))
    net_all = buys_all - sells_all
    lp_spread, ecn_paid = lp_spread_all[:n_lps], lp_spread_all[n_lps]
    lp_inv = state.lp_inventory - net_all[:n_lps]
    lp_buys, lp_sells = buys_all[:n_lps], sells_all[:n_lps]
    lp_vol = lp_buys + lp_sells
    ecn_client_net = net_all[n_lps]
    ecn_client_vol = buys_all[n_lps] + sells_all[n_lps]
    lt_inv = state.lt_inventory + signed

    # hedging on the ECN
    cap = params.max_fill * params.ecn_depth
    hedge_qty = jnp.clip(-state.hedge * lp_inv, -cap, cap)
    hedge_size = jnp.abs(hedge_qty)
    hedge_cost = hedge_size * price * curve(hedge_size, state, params)
    lp_inv = lp_inv + hedge_qty
    ecn_inv = state.ecn_inventory - ecn_client_net - hedge_qty.sum()

    # price move and inventory PnL
    net_ecn = ecn_client_net + hedge_qty.sum()
    impact = 0.0 if config.reference == "replay" else params.impact
    new_price = raw_next * reference.impact_factor(impact, net_ecn)
    move = new_price - price
    lp_inv_pnl = lp_inv * move
    lt_inv_pnl = lt_inv * move

    # rewards (bp-units)
    total_vol = lp_vol.sum() + ecn_client_vol
    has_volume = total_vol > 0
    share = jnp.where(has_volume, lp_vol / jnp.where(has_volume, total_vol, 1.0), 0.0)
    lpt = state.lp_types
    col = LP_TYPE_FIELDS.index
    lp_r = rewards.lp_reward(
        lp_spread / mu, lp_inv_pnl / mu, hedge_cost / mu, share, has_volume,
        lpt[:, col("gamma")], lpt[:, col("omega")], lpt[:, col("target_share")], lpt[:, col("share_weight")],
    )
    executed = state.lt_executed + signed
    t_next = state.round + 1
    ltt = state.lt_types[:n_lts]
    tcol = LT_TYPE_FIELDS.index
    schedule = ltt[:, tcol("target")] * t_next / params.n_rounds
    lt_r = rewards.lt_reward(
        -paid[:n_lts] / mu, lt_inv_pnl[:n_lts] / mu, executed[:n_lts], schedule,
        ltt[:, tcol("omega")], ltt[:, tcol("alpha")], ltt[:, tcol("gamma")],
    )

    quoted = (1.0 + state.tier_eps).mean(axis=0) * (0.5 * state.s0) / rewards.BASIS_POINT
    new_state = state.replace(
        round=t_next,
        phase=jnp.array(0, jnp.int32),
        price=new_price,
        s0=spread_draw(k_spread, params),
        last_return=jnp.log(new_price / price),
        lp_inventory=lp_inv,
        lp_wealth=state.lp_wealth + lp_spread - hedge_cost + lp_inv_pnl,
        lt_inventory=lt_inv,
        lt_wealth=state.lt_wealth - paid + lt_inv_pnl,
        lt_executed=executed,
        ecn_inventory=ecn_inv,
        ecn_wealth=state.ecn_wealth + ecn_paid + hedge_cost.sum() + ecn_inv * move,
        lp_spread_pnl=state.lp_spread_pnl + lp_spread,
        lp_inventory_pnl=state.lp_inventory_pnl + lp_inv_pnl,
        lp_hedge_cost=state.lp_hedge_cost + hedge_cost,
        lp_volume=state.lp_volume + lp_vol,
        lp_hedge_volume=state.lp_hedge_volume + hedge_size,
        lp_last_buy=lp_buys,
        lp_last_sell=lp_sells,
        lp_last_share=share,
        ecn_client_volume=state.ecn_client_volume + ecn_client_vol,
        n_client_trades=state.n_client_trades + trading.sum().astype(jnp.int32),
        n_no_trade=state.n_no_trade + (~trading).sum().astype(jnp.int32),
        tier_spread=state.tier_spread + quoted,
    )
    info = {
        "venue": venue, "side": side, "size": size, "paid": paid, "hedge": hedge_qty,
        "lp_spread": lp_spread, "lp_hedge_cost": hedge_cost, "lp_inventory_pnl": lp_inv_pnl, "share": share,
    }
    return new_state, lp_r, lt_r, info
