"""The OTC dealer market as pure functions: configuration, parameters, state, and one round.

One security (FX-like, EUR/USD). ``n_lps`` liquidity providers stream quotes to the clients they
are connected to; clients are ``n_lts`` RL clients (acting through the env) followed by ``n_flow``
flow clients (exogenous). State names: ``client_*`` covers every client, ``lt_*`` the RL clients
only, ``lp_*`` the LPs (see ``OTCState``). A round: the LPs quote (``quote``) and fix a hedge
fraction, the RL clients choose a venue and side (``choose``), then ``settle`` fills the flow
clients at the cheapest connected venue, books every client trade on both sides, hedges each LP's
inventory on the ECN, moves the reference price, and computes the rewards.

Units: sizes in units of the base currency (say EUR 1M); money in the quote currency for the
same units. Every party's mark-to-market wealth ``W = cash + x P`` is kept instead of cash, so the
small spread and hedge terms never sit next to a large cash balance in float32; ``cash = W - x P``.
Accounting identities, exact up to float rounding: the inventories of LPs, clients and the ECN sum
to 0 and so do their wealths; each LP's wealth is its spread PnL + inventory PnL - hedge cost.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarket.core.multi_agent import TurnOrder, check_turn_order
from jaxmarket.core.spaces import discrete_index
from jaxmarket.core.supertypes import PROB_SUM_TOLERANCE, Supertype, check_supertype, sample_types
from jaxmarket.core.validation import check_choice, check_int, check_order, check_range, is_concrete
from jaxmarket.otc import clients, ecn, reference, rewards, seasonality
from jaxmarket.otc.quotes import client_costs
from jaxmarket.otc.types import (
    LP_TYPE_BOUNDS, LP_TYPE_FIELDS, LT_TYPE_BOUNDS, LT_TYPE_FIELDS, column, default_lp_supertype, default_lt_supertype,
)

FAMILIES = ("lp", "lt")  # the agent families: LPs (dealers) and RL clients (liquidity takers)
STACKELBERG: TurnOrder = (("lp",), ("lt",))
SIMULTANEOUS: TurnOrder = (("lp", "lt"),)
REFERENCES = ("gbm", "replay")

# An LP action is (n_tiers + LP_ACTION_EXTRA,): the spread multiplier of each tier, then the skew,
# then the hedge fraction. The last two are addressed from the end of the row.
LP_ACTION_EXTRA = 2  # skew and hedge fraction after the tier multipliers
SKEW_COLUMN = -2  # column of the skew in an LP action row
HEDGE_COLUMN = -1  # column of the hedge fraction in an LP action row
MIN_EPS = -1.0  # spread multipliers must stay above this (ask > bid)
NO_SKEW = 0.0  # the skew a non-finite skew entry stands for
HEDGE_MIN, HEDGE_MAX = 0.0, 1.0  # range of the hedge fraction (0: keep the inventory, 1: hedge all of it)

# An RL client's action code: NO_TRADE, or FIRST_TRADE_CODE + SIDES_PER_VENUE * venue + side offset,
# with venue j < n_lps an LP and venue n_lps the ECN.
NO_TRADE = 0  # LT action code for "do not trade"
FIRST_TRADE_CODE = 1  # the first code that trades (LP 0, buy)
SIDES_PER_VENUE = 2  # buy and sell at each venue
BUY_OFFSET, SELL_OFFSET = 0, 1  # side offset within a venue's codes

# Valid reference prices. Money is held as wealth in PnL-scale terms and rewards are in units of
# price0 * 1 bp, so results do not depend on the price level (float32 is relative); the bounds keep
# price * size * 1 bp far from float32's underflow and overflow.
PRICE_MIN, PRICE_MAX = 1e-6, 1e9


def ecn_venue(n_lps: int) -> int:
    """Venue index of the ECN: the LPs are venues ``0 .. n_lps - 1``."""
    return n_lps


def no_trade_venue(n_lps: int) -> int:
    """Venue index that stands for "no trade", after the ECN."""
    return n_lps + 1


@dataclasses.dataclass(frozen=True)
class OTCConfig:
    """Static configuration of the OTC market (changing it recompiles).

    Clients are indexed RL clients first (``0 .. n_lts - 1``), then flow clients; per-client arrays
    of ``OTCState`` have ``n_clients = n_lts + n_flow`` rows in that order.

    Attributes:
      n_lps: number of liquidity providers (the ``"lp"`` family), >= 1.
      n_lts: number of RL clients only (the ``"lt"`` family, acting through the env), >= 0; flow
        clients are not counted here.
      n_flow: number of flow clients (exogenous, drawn from their types), >= 0.
      n_tiers: number of client tiers (an LP quotes one spread multiplier per tier), >= 1.
      turn_order: the phases of a round, e.g. ``STACKELBERG`` or ``SIMULTANEOUS``.
      reference: ``"gbm"`` or ``"replay"`` (of ``OTCParams.series``).

    Raises:
      ValueError: a count outside its range, no client at all (``n_lts + n_flow < 1``), a turn
        order that does not name each family exactly once, or an unknown ``reference``.
    """

    n_lps: int = 4
    n_lts: int = 4  # RL clients only, acting through the env
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
        """Every client: the RL clients, then the flow clients."""
        return self.n_lts + self.n_flow

    @property
    def n_phases(self) -> int:
        """Env steps per round."""
        return len(self.turn_order)

    @property
    def n_venues(self) -> int:
        """The LPs, then the ECN, then "no trade"."""
        return self.n_lps + 2

    @property
    def n_lt_actions(self) -> int:
        """Codes of an RL client's action: 0 no trade; 1 + 2j + s: LP j; 1 + 2 n_lps + s: the ECN
        (s = 0 buy, 1 sell)."""
        return FIRST_TRADE_CODE + SIDES_PER_VENUE * (self.n_lps + 1)


@struct.dataclass
class OTCParams:
    """Numeric parameters of the OTC market (traced: change them without recompiling).

    Relative prices are fractions of the mid (1e-4 = 1 bp); sizes are in units of the base
    currency; prices in quote currency per unit. The defaults follow docs/otc.md ("The model").

    Attributes:
      n_rounds: rounds per episode, >= 1 (96: a day of 15-minute rounds).
      price0: opening GBM price, in ``[PRICE_MIN, PRICE_MAX]``.
      annual_vol: GBM annualised volatility (per √year), >= 0.
      rounds_per_year: rounds in a year (> 0), which scales ``annual_vol`` to a round.
      impact: permanent impact, the log-price change per unit of net ECN volume (GBM only).
      series: (L,) reference prices to replay with ``reference="replay"``, ``L >= n_rounds + 1``.
      ecn_spread_mean, ecn_spread_std, ecn_spread_min, ecn_spread_max: the ECN spread ``s0``'s
        normal draw and its clip range (relative; ``0 < min <= max <= 1``).
      ecn_lambda: ECN cost-curve exponent, > 1.
      ecn_depth: ``v_max``, the ECN depth in units, > 0.
      max_fill: largest fraction of ``ecn_depth`` traded at once, in (0, 1).
      p_connect: probability that an LP streams to a client (every client, RL and flow), in [0, 1]:
        a scalar for every LP, or (n_lps,), one per LP (LP j streams to each client with probability
        ``p_connect[j]``).
      tier_probs: (n_tiers,) tier probabilities of every client (RL and flow); None: uniform.
      p_buy: an uninformed flow client's probability of buying, in [0, 1].
      size_log_std: log-std of flow clients' sizes, >= 0.
      eps_min, eps_max: range of the LPs' spread multipliers, ``-1 < eps_min <= eps_max``.
      skew_max: bound on ``|skew|``, >= 0.
      inventory_scale: units an inventory is divided by in observations, > 0.
      hour_profile: (24,) non-negative multipliers of the flow clients' trading probability by hour
        of day (``jaxmarket.otc.seasonality``); all ones (the default): no seasonality.
      open_hour: clock hour (UTC) at the start of round 0, in [0, 24).
      hours_per_round: hours one round lasts, > 0 (0.25: 15-minute rounds, 96 a day).
      lp_supertype: distribution of the LPs' types (fields ``LP_TYPE_FIELDS``).
      lt_supertype: distribution of every client's type, RL and flow clients alike (fields
        ``LT_TYPE_FIELDS``; ``p_trade`` and ``informed`` act on flow clients only).

    ``check`` raises ``ValueError`` naming the field, value and valid range of any concrete field
    outside the ranges above.
    """

    n_rounds: int = 96  # rounds per episode (a day of 15-minute rounds)
    price0: float = 1.1  # opening GBM price
    annual_vol: float = 0.10  # GBM annualised volatility (per √year)
    rounds_per_year: float = 252.0 * 96.0
    impact: float = 0.0  # permanent impact: log-price change per unit of net ECN volume
    series: Any = None  # (L,) reference prices to replay (reference="replay"), L >= n_rounds + 1
    ecn_spread_mean: float = 1.5e-4  # mean of the ECN spread s0's normal draw (relative), > 0
    ecn_spread_std: float = 0.5e-4  # standard deviation of that draw, >= 0
    ecn_spread_min: float = 2e-5  # s0 is clipped to [ecn_spread_min, ecn_spread_max], 0 < min <= max <= 1
    ecn_spread_max: float = 5e-4  # upper end of that clip range
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
    hour_profile: tuple[float, ...] = seasonality.FLAT_HOUR_PROFILE  # (24,) arrival multipliers by hour of day
    open_hour: float = 0.0  # clock hour (UTC) at the start of round 0, in [0, 24)
    hours_per_round: float = 0.25  # hours per round (15 minutes)
    lp_supertype: Supertype = dataclasses.field(default_factory=default_lp_supertype)
    lt_supertype: Supertype = dataclasses.field(default_factory=default_lt_supertype)  # every client, RL and flow

    def check(self) -> None:
        """Check every concrete field (traced ones are skipped).

        Raises:
          ValueError: naming the first field out of its range, its value and the valid range.
        """
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
        check_range("hour_profile", self.hour_profile, 0.0)
        if is_concrete(self.hour_profile) and np.shape(self.hour_profile) != (seasonality.HOURS_PER_DAY,):
            raise ValueError(f"hour_profile has shape {np.shape(self.hour_profile)}: need "
                             f"({seasonality.HOURS_PER_DAY},), one multiplier per hour of day")
        check_range("open_hour", self.open_hour, 0.0, seasonality.HOURS_PER_DAY, high_open=True)
        check_range("hours_per_round", self.hours_per_round, 0.0, low_open=True)
        if is_concrete(self.p_connect) and np.ndim(self.p_connect) > 1:
            raise ValueError(f"p_connect has shape {np.shape(self.p_connect)}: need a scalar or (n_lps,), one per LP")
        if self.tier_probs is not None and is_concrete(self.tier_probs):
            probs = np.asarray(self.tier_probs, np.float64)
            check_range("tier_probs", probs, 0.0, 1.0)
            if probs.ndim != 1 or abs(probs.sum() - 1.0) > PROB_SUM_TOLERANCE:
                raise ValueError(f"tier_probs = {self.tier_probs!r} must be a vector of probabilities summing to 1")
        check_supertype("lp", self.lp_supertype, LP_TYPE_BOUNDS)
        check_supertype("lt", self.lt_supertype, LT_TYPE_BOUNDS)  # every client, RL and flow


def check_params_for(config: OTCConfig, params: OTCParams) -> None:
    """Check ``params`` alone (``OTCParams.check``) and against ``config``.

    Args:
      config: the market's static configuration.
      params: its numeric parameters; traced fields are skipped.

    Raises:
      ValueError: a field out of range; ``tier_probs`` not of shape (n_tiers,); ``p_connect`` not a
        scalar or (n_lps,); a per-agent supertype field whose length is not the family's agent
        count (n_lps; n_clients for ``lt_supertype``, RL clients first); with ``reference="replay"``, a non-zero ``impact``, no ``series``, or a bad series
        (see ``check_series``).
    """
    params.check()
    if is_concrete(params.p_connect) and np.ndim(params.p_connect) == 1 and np.shape(params.p_connect) != (config.n_lps,):
        raise ValueError(f"p_connect has shape {np.shape(params.p_connect)}: need a scalar or ({config.n_lps},), "
                         "one per LP (n_lps)")
    check_supertype("lp", params.lp_supertype, LP_TYPE_BOUNDS, n_agents=config.n_lps)
    check_supertype("lt", params.lt_supertype, LT_TYPE_BOUNDS, n_agents=config.n_clients)
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
    """Check a replay series of reference prices.

    Args:
      series: (L,) prices (quote currency per unit), any float dtype.
      n_rounds: rounds per episode; the series needs ``L >= n_rounds + 1``.

    Raises:
      ValueError: a series that is not 1-D or too short, or naming the first index holding a
        non-finite price (a NaN is a gap) or a price outside ``[PRICE_MIN, PRICE_MAX]``.
    """
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
    """What evolves in the OTC market. Per-agent arrays have a leading agent axis.

    Naming: ``client_*`` fields cover every client, RL and flow, shape (n_clients, ...), RL clients
    first (rows ``0 .. n_lts - 1``), then flow clients; ``lt_*`` and ``*_lt`` fields cover the RL
    clients only (the ``"lt"`` family), shape (n_lts, ...); ``lp_*`` fields cover the LPs, shape
    (n_lps, ...); ``ecn_*`` fields are the exchange's. ``tier`` and ``connected`` also cover every
    client. Money is in quote currency, sizes in units; all floats are float32.
    """

    round: jax.Array  # int32, rounds settled this episode
    phase: jax.Array  # int32, index into turn_order
    price: jax.Array  # float32, reference price P_t
    price0: jax.Array  # float32, the episode's opening price (money unit = price0 * 1 bp)
    offset: jax.Array  # int32, replay start index
    s0: jax.Array  # float32, this round's ECN spread
    last_return: jax.Array  # float32, last round's log return of P
    lp_types: jax.Array  # (n_lps, len(LP_TYPE_FIELDS))
    client_types: jax.Array  # (n_clients, len(LT_TYPE_FIELDS)), every client's type
    connected: jax.Array  # bool (n_lps, n_clients), whether LP j streams to client i
    tier: jax.Array  # int32 (n_clients,), every client's tier
    tier_eps: jax.Array  # (n_lps, n_tiers), the LPs' current spread multipliers
    skew: jax.Array  # (n_lps,)
    hedge: jax.Array  # (n_lps,), hedge fraction in [0, 1]
    lt_choice: jax.Array  # int32 (n_lts,), the RL clients' current action codes
    lp_inventory: jax.Array  # (n_lps,) units
    lp_wealth: jax.Array  # (n_lps,) money
    client_inventory: jax.Array  # (n_clients,) units
    client_wealth: jax.Array  # (n_clients,) money
    client_executed: jax.Array  # (n_clients,) signed units executed this episode
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
    n_client_trades: jax.Array  # int32 client trades (RL and flow) this episode
    n_no_trade: jax.Array  # int32 client-rounds (RL and flow) without a trade
    tier_spread: jax.Array  # (n_tiers,) sum over rounds of the LPs' mean quoted S_ref(0)(1 + eps_k), bp
    hour_volume: jax.Array  # (24,) client volume (units, LPs and ECN) traded in rounds of each hour of day
    hour_sq_return: jax.Array  # (24,) sum of squared log returns of the reference price over rounds of each hour
    hour_rounds: jax.Array  # (24,) rounds settled in each hour of day (float32 counts)
    n_invalid_lp: jax.Array  # int32 LP actions with a non-finite or out-of-range entry
    n_invalid_lt: jax.Array  # int32 RL client actions out of range or at an unconnected LP


# The float32 fields that start each episode at zero, by shape: per LP, per client, market-wide.
LP_ZERO_FIELDS = (
    "skew", "hedge", "lp_inventory", "lp_wealth", "lp_spread_pnl", "lp_inventory_pnl", "lp_hedge_cost", "lp_volume",
    "lp_hedge_volume", "lp_last_buy", "lp_last_sell", "lp_last_share",
)
CLIENT_ZERO_FIELDS = ("client_inventory", "client_wealth", "client_executed")
MARKET_ZERO_FIELDS = ("last_return", "ecn_inventory", "ecn_wealth", "ecn_client_volume")
HOUR_FIELDS = ("hour_volume", "hour_sq_return", "hour_rounds")  # (24,) float32, by hour of day
COUNTER_FIELDS = ("round", "phase", "n_client_trades", "n_no_trade", "n_invalid_lp", "n_invalid_lt")  # int32, from 0


def money_unit(state: OTCState) -> jax.Array:
    """One basis point of one unit's notional at the opening price: the unit of rewards."""
    return state.price0 * rewards.BASIS_POINT


def tier_probabilities(config: OTCConfig, params: OTCParams) -> jax.Array:
    """(n_tiers,) float32 probability of each tier (``tier_probs``, or uniform when None)."""
    if params.tier_probs is None:
        return jnp.full((config.n_tiers,), 1.0 / config.n_tiers, jnp.float32)
    return jnp.asarray(params.tier_probs, jnp.float32)


def zero_accounts(config: OTCConfig) -> dict[str, jax.Array]:
    """The state fields that start each episode at zero: float32 accounts and int32 counters."""
    f0 = lambda *shape: jnp.zeros(shape, jnp.float32)  # noqa: E731
    return {
        **{name: f0(config.n_lps) for name in LP_ZERO_FIELDS},
        **{name: f0(config.n_clients) for name in CLIENT_ZERO_FIELDS},
        **{name: f0() for name in MARKET_ZERO_FIELDS},
        **{name: jnp.array(0, jnp.int32) for name in COUNTER_FIELDS},
        "tier_eps": f0(config.n_lps, config.n_tiers),
        "tier_spread": f0(config.n_tiers),
        **{name: f0(seasonality.HOURS_PER_DAY) for name in HOUR_FIELDS},
        "lt_choice": jnp.zeros((config.n_lts,), jnp.int32),
    }


def reset(key: jax.Array, config: OTCConfig, params: OTCParams) -> OTCState:
    """A fresh episode: types, connectivity, tiers, the opening price and ECN spread.

    Args:
      key: a typed PRNG key (split six ways: LP types, client types, connectivity, tiers, ECN
        spread, replay offset).
      config: the static configuration.
      params: the numeric parameters.

    Returns:
      The opening state: every account at zero, LP types (n_lps, len(LP_TYPE_FIELDS)) and every
      client's type (n_clients, len(LT_TYPE_FIELDS)) drawn from the supertypes, connectivity
      (n_lps, n_clients) and tiers (n_clients,) drawn, the price at ``price0`` (GBM) or at a random
      offset of the series (replay), and the first ECN spread.
    """
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
    return OTCState(
        price=price,
        price0=price,
        offset=offset.astype(jnp.int32),
        s0=spread_draw(k_spread, params),
        lp_types=sample_types(k_lp, params.lp_supertype, LP_TYPE_FIELDS, n_lps),
        client_types=sample_types(k_lt, params.lt_supertype, LT_TYPE_FIELDS, n_c),
        connected=jax.random.uniform(k_conn, (n_lps, n_c)) < connect_probability(params),
        tier=jax.random.categorical(k_tier, jnp.log(tier_probabilities(config, params)), shape=(n_c,)).astype(jnp.int32),
        **zero_accounts(config),
    )


def connect_probability(params: OTCParams) -> jax.Array:
    """``p_connect`` as a column that broadcasts over (n_lps, n_clients): (1, 1) or (n_lps, 1) float32."""
    return jnp.reshape(jnp.asarray(params.p_connect, jnp.float32), (-1, 1))


def spread_draw(key: jax.Array, params: OTCParams) -> jax.Array:
    """One ECN spread ``s0`` (relative, float32 scalar) from the params' normal and clip range."""
    return ecn.draw_spread(key, params.ecn_spread_mean, params.ecn_spread_std, params.ecn_spread_min, params.ecn_spread_max)


def curve(v: jax.Array, state: OTCState, params: OTCParams) -> jax.Array:
    """``S_ref(v)`` this round (relative to the mid)."""
    return ecn.half_spread(v, state.s0, params.ecn_depth, params.ecn_lambda, params.max_fill)


def sanitize_lp_action(
    action: Any, config: OTCConfig, params: OTCParams
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Split (n_lps, n_tiers + 2) LP actions into tier multipliers, skews and hedge fractions.

    Values are clipped to ``[eps_min, eps_max]``, ``[-skew_max, skew_max]`` and ``[0, 1]``; a
    non-finite entry is replaced by its own safe value: a tier multiplier by ``eps_max`` (the
    widest spread), the skew by 0, the hedge fraction by 0.

    Returns:
      ``(tier_eps (n_lps, n_tiers), skew (n_lps,), hedge (n_lps,))`` float32, and the int32 number
      of LPs whose action had an invalid entry.
    """
    k = config.n_tiers
    action = jnp.asarray(action, jnp.float32).reshape(config.n_lps, k + LP_ACTION_EXTRA)
    eps, skew, hedge = action[:, :k], action[:, SKEW_COLUMN], action[:, HEDGE_COLUMN]
    bad_eps = ~jnp.isfinite(eps) | (eps < params.eps_min) | (eps > params.eps_max)
    bad_skew = ~jnp.isfinite(skew) | (jnp.abs(skew) > params.skew_max)
    bad_hedge = ~jnp.isfinite(hedge) | (hedge < HEDGE_MIN) | (hedge > HEDGE_MAX)
    invalid = bad_eps.any(axis=1) | bad_skew | bad_hedge
    eps = jnp.clip(jnp.where(jnp.isfinite(eps), eps, params.eps_max), params.eps_min, params.eps_max)
    skew = jnp.clip(jnp.where(jnp.isfinite(skew), skew, NO_SKEW), -params.skew_max, params.skew_max)
    hedge = jnp.clip(jnp.where(jnp.isfinite(hedge), hedge, HEDGE_MIN), HEDGE_MIN, HEDGE_MAX)
    return eps, skew, hedge, invalid.sum().astype(jnp.int32)


def pack_lp_action(tier_eps: jax.Array, skew: jax.Array, hedge: jax.Array) -> jax.Array:
    """LP action rows (n, n_tiers + 2) from tier multipliers (n, n_tiers), skews (n,) and hedge fractions (n,)."""
    return jnp.concatenate([tier_eps, skew[:, None], hedge[:, None]], axis=1)


def quote(state: OTCState, action: Any, config: OTCConfig, params: OTCParams) -> OTCState:
    """The LPs set their quotes and hedge fractions.

    Args:
      state: the current state.
      action: (n_lps, n_tiers + 2) float (any shape with that many entries): per LP, the spread
        multiplier of each tier, the skew (column ``SKEW_COLUMN``) and the hedge fraction (column
        ``HEDGE_COLUMN``). Out-of-range entries are clipped; a non-finite entry means the widest
        spread, no skew and no hedge.

    Returns:
      The state with ``tier_eps``, ``skew`` and ``hedge`` set and ``n_invalid_lp`` increased by
      the number of LPs whose action had an out-of-range or non-finite entry.
    """
    eps, skew, hedge, n_bad = sanitize_lp_action(action, config, params)
    return state.replace(tier_eps=eps, skew=skew, hedge=hedge, n_invalid_lp=state.n_invalid_lp + n_bad)


def decode_lt_action(code: jax.Array, n_lps: int) -> tuple[jax.Array, jax.Array]:
    """(venue, side) of LT action codes: venue in [0, n_lps] (n_lps is the ECN) or n_lps + 1
    (no trade); side +1 buy, -1 sell, 0 no trade."""
    trade = code >= FIRST_TRADE_CODE
    venue = jnp.where(trade, (code - FIRST_TRADE_CODE) // SIDES_PER_VENUE, no_trade_venue(n_lps))
    side_offset = (code - FIRST_TRADE_CODE) % SIDES_PER_VENUE
    side = jnp.where(trade, jnp.where(side_offset == BUY_OFFSET, clients.BUY, clients.SELL), 0.0)
    return venue, side


def encode_lt_action(venue: jax.Array, buy: jax.Array) -> jax.Array:
    """The trading LT action code at ``venue`` (an LP index, or ``ecn_venue(n_lps)``), buying where ``buy``."""
    return FIRST_TRADE_CODE + SIDES_PER_VENUE * venue + jnp.where(buy, BUY_OFFSET, SELL_OFFSET)


def choose(state: OTCState, action: Any, config: OTCConfig) -> OTCState:
    """The RL clients choose venue and side.

    Args:
      state: the current state.
      action: (n_lts,) integer codes in ``[0, n_lt_actions)`` (see ``OTCConfig.n_lt_actions``),
        any shape with n_lts entries.

    Returns:
      The state with ``lt_choice`` (n_lts,) int32 set. An out-of-range or non-integer code, or an
      LP the client is not connected to, becomes ``NO_TRADE`` and is counted in ``n_invalid_lt``.
    """
    n_lts, n_lps = config.n_lts, config.n_lps
    code, in_range = discrete_index(jnp.asarray(action).reshape(n_lts), config.n_lt_actions)
    code = jnp.where(in_range, code, NO_TRADE)
    venue, _ = decode_lt_action(code, n_lps)
    lp_link = jnp.concatenate([state.connected[:, :n_lts], jnp.ones((2, n_lts), bool)], axis=0)  # + ECN, no trade
    reachable = jnp.take_along_axis(lp_link, venue[None, :], axis=0)[0]
    valid = in_range & reachable
    code = jnp.where(valid, code, NO_TRADE)
    return state.replace(lt_choice=code, n_invalid_lt=state.n_invalid_lt + (~valid).sum().astype(jnp.int32))


def client_orders(
    state: OTCState, key: jax.Array, price_up: jax.Array, hour: jax.Array, config: OTCConfig, params: OTCParams
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Sides and sizes (n_clients,) of every client this round (RL clients from their choices,
    flow clients drawn at their arrival probability for the round's ``hour`` of day), and the RL
    clients' venues (n_lts,)."""
    types = state.client_types
    size_col, p_col, inf_col = (column(LT_TYPE_FIELDS, f) for f in ("size_scale", "p_trade", "informed"))
    max_size = params.max_fill * params.ecn_depth
    rl_venue, rl_side = decode_lt_action(state.lt_choice, config.n_lps)
    rl_size = jnp.where(rl_side != 0, jnp.minimum(types[: config.n_lts, size_col], max_size), 0.0)
    flow = types[config.n_lts :]
    p_trade = seasonality.arrival_probability(flow[:, p_col], params.hour_profile, hour)
    flow_side, flow_size = clients.flow_orders(
        key, p_trade, flow[:, size_col], flow[:, inf_col], price_up, params.p_buy, params.size_log_std, max_size
    )
    side = jnp.concatenate([rl_side, flow_side])
    size = jnp.concatenate([rl_size, flow_size])
    side = jnp.where(size > 0, side, 0.0)
    return side, size, rl_venue


def venue_costs(state: OTCState, side: jax.Array, size: jax.Array, params: OTCParams) -> jax.Array:
    """Relative cost per unit (n_lps + 1, n_clients) of each LP's quote and of the ECN."""
    s_v = curve(size, state, params)
    s_0 = ecn.zero_size_half_spread(state.s0)
    lp = client_costs(state.tier_eps, state.skew, state.tier, side, s_v, s_0)
    return jnp.concatenate([lp, s_v[None, :]], axis=0)


def next_price(state: OTCState, z: jax.Array, config: OTCConfig, params: OTCParams) -> jax.Array:
    """The next reference price before impact."""
    if config.reference == "replay":
        return reference.replay_price(jnp.asarray(params.series, jnp.float32), state.offset, state.round + 1)
    sigma = reference.round_volatility(params.annual_vol, params.rounds_per_year)
    return reference.gbm_next(state.price, z, sigma)


class Trades(NamedTuple):
    """This round's client trades, every client (n_clients,) unless noted."""

    side: jax.Array  # +1 buy, -1 sell, 0 no trade
    size: jax.Array  # units (0 when not trading)
    venue: jax.Array  # int: an LP, ecn_venue(n_lps), or no_trade_venue(n_lps)
    trading: jax.Array  # bool
    onehot: jax.Array  # (n_lps + 1, n_clients) float32, the venue of each trade (none for no trade)
    paid: jax.Array  # money each client pays over the mid
    signed: jax.Array  # units each client buys


class Booking(NamedTuple):
    """The client trades booked against the LPs (n_lps,) and the ECN (scalars)."""

    lp_spread: jax.Array  # money the LPs earned over the mid
    ecn_paid: jax.Array  # money clients paid the ECN over the mid
    lp_inventory: jax.Array  # units, before the hedge
    lp_buys: jax.Array  # units clients bought from each LP
    lp_sells: jax.Array  # units clients sold to each LP
    lp_volume: jax.Array  # units traded with each LP
    ecn_client_net: jax.Array  # units clients bought on the ECN, net
    ecn_client_volume: jax.Array  # units clients traded on the ECN
    client_inventory: jax.Array  # (n_clients,) units after the trades


class Hedges(NamedTuple):
    """Each LP's hedge on the ECN (n_lps,)."""

    quantity: jax.Array  # signed units bought on the ECN
    size: jax.Array  # units
    cost: jax.Array  # money paid over the mid
    lp_inventory: jax.Array  # units after the hedge


def trade_clients(
    state: OTCState, k_flow: jax.Array, k_tie: jax.Array, raw_next: jax.Array, hour: jax.Array, config: OTCConfig,
    params: OTCParams,
) -> Trades:
    """Client orders and venues: RL clients at their chosen venue, flow clients at the cheapest."""
    n_lps, n_lts = config.n_lps, config.n_lts
    side, size, rl_venue = client_orders(state, k_flow, raw_next >= state.price, hour, config, params)
    costs = venue_costs(state, side, size, params)
    available = jnp.concatenate([state.connected, jnp.ones((1, config.n_clients), bool)], axis=0)
    flow_venue = clients.cheapest_venue(costs[:, n_lts:], available[:, n_lts:], k_tie)
    venue = jnp.concatenate([rl_venue, flow_venue])
    trading = side != 0
    venue = jnp.where(trading, venue, no_trade_venue(n_lps))
    onehot = (venue[None, :] == jnp.arange(n_lps + 1)[:, None]).astype(jnp.float32)  # (n_lps + 1, n_clients)
    unit_cost = jnp.sum(onehot * costs, axis=0)
    paid = size * state.price * unit_cost  # money each client pays over the mid
    signed = side * size  # units each client buys
    return Trades(side, size, venue, trading, onehot, paid, signed)


def book_trades(state: OTCState, trades: Trades, n_lps: int) -> Booking:
    """Booking: every client trade against its LP or the ECN."""
    per_venue = lambda x: jnp.sum(trades.onehot * x[None, :], axis=1)  # noqa: E731  (n_lps + 1,)
    spread_all = per_venue(trades.paid)
    buys_all, sells_all = per_venue(jnp.maximum(trades.signed, 0.0)), per_venue(jnp.maximum(-trades.signed, 0.0))
    net_all = buys_all - sells_all
    ecn = ecn_venue(n_lps)
    lp_buys, lp_sells = buys_all[:n_lps], sells_all[:n_lps]
    return Booking(
        lp_spread=spread_all[:n_lps],
        ecn_paid=spread_all[ecn],
        lp_inventory=state.lp_inventory - net_all[:n_lps],
        lp_buys=lp_buys,
        lp_sells=lp_sells,
        lp_volume=lp_buys + lp_sells,
        ecn_client_net=net_all[ecn],
        ecn_client_volume=buys_all[ecn] + sells_all[ecn],
        client_inventory=state.client_inventory + trades.signed,
    )


def hedge_on_ecn(state: OTCState, lp_inventory: jax.Array, params: OTCParams) -> Hedges:
    """Hedging: each LP trades ``-hedge * inventory`` on the ECN, capped at ``max_fill * ecn_depth``."""
    cap = params.max_fill * params.ecn_depth
    quantity = jnp.clip(-state.hedge * lp_inventory, -cap, cap)
    size = jnp.abs(quantity)
    cost = size * state.price * curve(size, state, params)
    return Hedges(quantity, size, cost, lp_inventory + quantity)


def move_price(raw_next: jax.Array, net_ecn: jax.Array, config: OTCConfig, params: OTCParams) -> jax.Array:
    """The next reference price: ``raw_next`` times the impact of the net ECN volume (GBM only)."""
    impact = 0.0 if config.reference == "replay" else params.impact
    return raw_next * reference.impact_factor(impact, net_ecn)


def lp_round_rewards(
    state: OTCState, booking: Booking, hedges: Hedges, lp_inv_pnl: jax.Array, mu: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """LP rewards (n_lps,) in bp-units, and each LP's share (n_lps,) of this round's client volume."""
    total_vol = booking.lp_volume.sum() + booking.ecn_client_volume
    has_volume = total_vol > 0
    share = jnp.where(has_volume, booking.lp_volume / jnp.where(has_volume, total_vol, 1.0), 0.0)
    lpt = state.lp_types
    col = LP_TYPE_FIELDS.index
    lp_r = rewards.lp_reward(
        booking.lp_spread / mu, lp_inv_pnl / mu, hedges.cost / mu, share, has_volume,
        lpt[:, col("gamma")], lpt[:, col("omega")], lpt[:, col("target_share")], lpt[:, col("share_weight")],
    )
    return lp_r, share


def lt_round_rewards(
    state: OTCState, paid: jax.Array, client_inv_pnl: jax.Array, executed: jax.Array, t_next: jax.Array,
    config: OTCConfig, params: OTCParams, mu: jax.Array,
) -> jax.Array:
    """RL client rewards (n_lts,) in bp-units, from every client's (n_clients,) round terms."""
    n_lts = config.n_lts
    ltt = state.client_types[:n_lts]
    tcol = LT_TYPE_FIELDS.index
    schedule = ltt[:, tcol("target")] * t_next / params.n_rounds
    return rewards.lt_reward(
        -paid[:n_lts] / mu, client_inv_pnl[:n_lts] / mu, executed[:n_lts], schedule,
        ltt[:, tcol("omega")], ltt[:, tcol("alpha")], ltt[:, tcol("gamma")],
    )


def settle(
    key: jax.Array, state: OTCState, config: OTCConfig, params: OTCParams
) -> tuple[OTCState, jax.Array, jax.Array, dict[str, jax.Array]]:
    """Trade, hedge, move the price and reward: the end of a round.

    Args:
      key: a typed PRNG key (split four ways: flow orders, venue ties, the price move, the next
        ECN spread).
      state: the state after ``quote`` and ``choose``.
      config: the static configuration.
      params: the numeric parameters.

    Returns:
      ``(state, lp_rewards, lt_rewards, round_info)``: the state of the next round (``phase``
      0); LP rewards (n_lps,) and RL client rewards (n_lts,), float32 in bp-units (see
      ``jaxmarket.otc.rewards``); and ``round_info``, this round's trades for plots and tests:
      per client (n_clients,) ``venue`` (int), ``side``, ``size`` (units), ``paid`` (money over
      the mid); per LP (n_lps,) ``hedge`` (signed units), ``lp_spread``, ``lp_hedge_cost``,
      ``lp_inventory_pnl`` (money) and ``share``.
    """
    k_flow, k_tie, k_price, k_spread = jax.random.split(key, 4)
    n_lps = config.n_lps
    price = state.price
    mu = money_unit(state)
    raw_next = next_price(state, jax.random.normal(k_price, (), jnp.float32), config, params)

    hour = seasonality.round_hour(state.round, params.open_hour, params.hours_per_round)  # of the round settling
    trades = trade_clients(state, k_flow, k_tie, raw_next, hour, config, params)
    booking = book_trades(state, trades, n_lps)
    hedges = hedge_on_ecn(state, booking.lp_inventory, params)
    hedge_net = hedges.quantity.sum()
    ecn_inv = state.ecn_inventory - booking.ecn_client_net - hedge_net

    # price move and inventory PnL
    new_price = move_price(raw_next, booking.ecn_client_net + hedge_net, config, params)
    move = new_price - price
    lp_inv_pnl = hedges.lp_inventory * move
    client_inv_pnl = booking.client_inventory * move

    lp_r, share = lp_round_rewards(state, booking, hedges, lp_inv_pnl, mu)
    executed = state.client_executed + trades.signed
    t_next = state.round + 1
    lt_r = lt_round_rewards(state, trades.paid, client_inv_pnl, executed, t_next, config, params, mu)

    at_hour = jax.nn.one_hot(hour, seasonality.HOURS_PER_DAY, dtype=jnp.float32)
    log_return = jnp.log(new_price / price)
    round_volume = booking.lp_volume.sum() + booking.ecn_client_volume
    quoted = (1.0 + state.tier_eps).mean(axis=0) * ecn.zero_size_half_spread(state.s0) / rewards.BASIS_POINT
    new_state = state.replace(
        round=t_next,
        phase=jnp.array(0, jnp.int32),
        price=new_price,
        s0=spread_draw(k_spread, params),
        last_return=log_return,
        lp_inventory=hedges.lp_inventory,
        lp_wealth=state.lp_wealth + booking.lp_spread - hedges.cost + lp_inv_pnl,
        client_inventory=booking.client_inventory,
        client_wealth=state.client_wealth - trades.paid + client_inv_pnl,
        client_executed=executed,
        ecn_inventory=ecn_inv,
        ecn_wealth=state.ecn_wealth + booking.ecn_paid + hedges.cost.sum() + ecn_inv * move,
        lp_spread_pnl=state.lp_spread_pnl + booking.lp_spread,
        lp_inventory_pnl=state.lp_inventory_pnl + lp_inv_pnl,
        lp_hedge_cost=state.lp_hedge_cost + hedges.cost,
        lp_volume=state.lp_volume + booking.lp_volume,
        lp_hedge_volume=state.lp_hedge_volume + hedges.size,
        lp_last_buy=booking.lp_buys,
        lp_last_sell=booking.lp_sells,
        lp_last_share=share,
        ecn_client_volume=state.ecn_client_volume + booking.ecn_client_volume,
        n_client_trades=state.n_client_trades + trades.trading.sum().astype(jnp.int32),
        n_no_trade=state.n_no_trade + (~trades.trading).sum().astype(jnp.int32),
        tier_spread=state.tier_spread + quoted,
        hour_volume=state.hour_volume + at_hour * round_volume,
        hour_sq_return=state.hour_sq_return + at_hour * log_return**2,
        hour_rounds=state.hour_rounds + at_hour,
    )
    info = {
        "venue": trades.venue, "side": trades.side, "size": trades.size, "paid": trades.paid, "hedge": hedges.quantity,
        "lp_spread": booking.lp_spread, "lp_hedge_cost": hedges.cost, "lp_inventory_pnl": lp_inv_pnl, "share": share,
    }
    return new_state, lp_r, lt_r, info
